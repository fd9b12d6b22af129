//! actcomp-sim: testbenches and scoreboards that check the actcomp hardware
//! against the golden model.
//!
//! * [`axis`]: a thread-free, cycle-stepped AXI4-Stream testbench driver
//!   ([`axis::AxisBench`]) for any DUT that implements [`axis::AxisDut`],
//!   with seeded random `tvalid`/`tready` stalls and protocol checks.
//! * [`scoreboard`]: in-order comparison of output words against expected
//!   words, reporting the first mismatch (word, tile, cycle, hex values).
//! * [`packer`]: the [`axis::AxisDut`] adapter for the variable bit-width
//!   packer, expected words from `actcomp_golden::packer::pack_beats`,
//!   and random beat generators.
//! * [`top`]: the compressor / decompressor top levels against the golden
//!   codec ([`top::simulate_tops`], used by `actcomp sim`).
//! * [`verilator`]: a generated C++ harness per top level, cached
//!   `verilator --build`, raw output capture; [`top_verilator`] checks
//!   the emitted top levels under Verilator against the golden codec.
//! * [`vtb`]: hex stimulus files and a plain-Verilog testbench for running
//!   emitted Verilog under Icarus Verilog, plus tool discovery.

/// The four handshake methods every one-in / one-out stream bench trait
/// ([`StreamDut`], [`AxisDut`]) implements the same way for a rust-hdl unit
/// with `clock`, `reset`, `s_axis_tready` and `m_axis_tready` ports:
/// `set_clock`, `set_reset`, `input_ready`, `set_output_ready`. Use it
/// inside the trait impl.
#[macro_export]
macro_rules! axis_handshake {
    () => {
        fn set_clock(&mut self, high: bool) {
            self.clock.next = rust_hdl::prelude::Clock { clk: high };
        }
        fn set_reset(&mut self, on: bool) {
            self.reset.next = on;
        }
        fn input_ready(&self) -> bool {
            self.s_axis_tready.val()
        }
        fn set_output_ready(&mut self, ready: bool) {
            self.m_axis_tready.next = ready;
        }
    };
}

pub mod axis;
pub mod dequantizer;
pub mod grouping;
pub mod inverse;
pub mod lane_split;
pub mod packer;
pub mod quantizer;
pub mod scoreboard;
pub mod top;
pub mod top_verilator;
pub mod transform;
pub mod unpacker;
pub mod vcd;
pub mod verilator;
pub mod vtb;

pub use axis::{AxisBench, AxisDut, OutWord, RunStats, StallConfig};
pub use scoreboard::{ExpectedWord, Scoreboard, SimFailure};
pub use unpacker::{BeatBench, BeatDut, BeatFailure, BeatStats, InBeat, OutBeat, Stalls};
pub use transform::{BeatFormat, LaneBeat, StreamBench, StreamDut, StreamFailure};
pub use grouping::{SorterBench, SorterDut, SorterExpected, SorterStalls, SorterStats};
