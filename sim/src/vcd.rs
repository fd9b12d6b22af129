//! Optional VCD waveform output for the thread-free benches
//! ([`crate::AxisBench`], [`crate::BeatBench`]): rust-hdl's own VCD writer
//! (`write_vcd_header` / `write_vcd_change`), sampled after every settled
//! clock edge, 5 ns per half cycle (a nominal 100 MHz clock).

use rust_hdl::core::vcd_probe::VCDProbe;
use rust_hdl::prelude::*;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Picoseconds per half clock cycle in the trace.
pub const HALF_CYCLE_PS: u64 = 5_000;

/// A VCD file being written.
pub struct VcdTrace {
    probe: Option<VCDProbe<BufWriter<File>>>,
    time_ps: u64,
}

impl VcdTrace {
    /// Creates `path` and writes the header (every signal of `dut`) and the
    /// initial values.
    pub fn create(path: &Path, dut: &dyn Block) -> std::io::Result<VcdTrace> {
        let f = BufWriter::new(File::create(path)?);
        let probe = write_vcd_dump(write_vcd_header(f, dut), dut);
        Ok(VcdTrace { probe: Some(probe), time_ps: 0 })
    }

    /// Records the signals that changed, half a cycle after the last sample.
    pub fn sample(&mut self, dut: &dyn Block) {
        self.time_ps += HALF_CYCLE_PS;
        if let Some(mut p) = self.probe.take() {
            // a write error leaves the trace truncated; the simulation goes on
            if p.timestamp(self.time_ps).is_ok() {
                self.probe = Some(write_vcd_change(p, dut));
            }
        }
    }
}
