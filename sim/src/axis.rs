//! Thread-free, cycle-stepped AXI4-Stream testbench driver.
//!
//! rust-hdl's `Simulation` runs the testbench in threads (~6 k cycles/s);
//! this driver calls `simulate()` directly (~50-100x faster). One cycle is:
//! drive inputs with the clock low and settle, sample both handshakes (a
//! transfer happens where `tvalid && tready`), raise the clock and settle.
//!
//! Stalls come from a seeded RNG: a source that is not presenting a beat
//! starts presenting one with probability `1 - in_stall` (once `tvalid` is
//! high it is held until the transfer, as AXI4-Stream requires), and the
//! sink is ready with probability `1 - out_stall`. The driver also checks
//! the DUT side of the protocol: a word shown with `tvalid` and not taken
//! must be shown unchanged on the next cycle.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_hdl::prelude::{check_all, simulate, Block};

use crate::scoreboard::{Scoreboard, SimFailure};

/// Maximum `update_all` rounds per `simulate()` call before declaring a
/// combinational loop.
pub const SETTLE_ITERS: usize = 200;

/// One output transfer of a word-stream DUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutWord {
    /// `m_axis_tdata` (low bits).
    pub data: u64,
    /// `m_axis_tlast`.
    pub last: bool,
}

/// Port access of a DUT with one AXI4-Stream input (beats of type `Beat`)
/// and one AXI4-Stream word output. Implement it for each unit (packer,
/// compressor top level, ...) to reuse [`AxisBench`].
pub trait AxisDut: Block {
    /// What one input transfer carries.
    type Beat: Clone;
    /// Drive the clock level (the bench settles the logic afterwards).
    fn set_clock(&mut self, high: bool);
    /// Drive the synchronous reset input.
    fn set_reset(&mut self, on: bool);
    /// Present `beat` with `tvalid = 1`, or `tvalid = 0` for `None`.
    fn drive_input(&mut self, beat: Option<&Self::Beat>);
    /// `s_axis_tready` after settling.
    fn input_ready(&self) -> bool;
    /// Drive `m_axis_tready`.
    fn set_output_ready(&mut self, ready: bool);
    /// The output word if `m_axis_tvalid` is high after settling.
    fn output(&self) -> Option<OutWord>;
}

/// Stall probabilities (0.0 = never stall).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StallConfig {
    /// Probability that an idle source does not present its next beat this cycle.
    pub in_stall: f64,
    /// Probability that the sink is not ready in a cycle.
    pub out_stall: f64,
}

impl StallConfig {
    /// No stalls: source always valid, sink always ready.
    pub const NONE: StallConfig = StallConfig { in_stall: 0.0, out_stall: 0.0 };

    /// The same probability on both sides.
    pub fn both(p: f64) -> Self {
        StallConfig { in_stall: p, out_stall: p }
    }
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Cycles simulated in this run (after the last reset).
    pub cycles: u64,
    /// Input transfers.
    pub beats: usize,
    /// Output transfers.
    pub words: usize,
    /// Cycles where the source presented a beat and `s_axis_tready` was low.
    pub input_blocked_cycles: u64,
    /// Cycle of the first input transfer.
    pub first_beat_cycle: Option<u64>,
    /// Cycle of the last input transfer.
    pub last_beat_cycle: Option<u64>,
}

/// A DUT plus a stalling source, a stalling sink and a scoreboard.
pub struct AxisBench<D: AxisDut> {
    /// The device under test (public for extra probing by tests).
    pub dut: D,
    rng: StdRng,
    stalls: StallConfig,
    queue: VecDeque<D::Beat>,
    presenting: bool,
    scoreboard: Option<Scoreboard>,
    held: Option<OutWord>,
    stats: RunStats,
    total_cycles: u64,
    vcd: Option<crate::vcd::VcdTrace>,
}

impl<D: AxisDut> AxisBench<D> {
    /// Connects and checks `dut` (rust-hdl `connect_all` + `check_all`),
    /// clock low, reset low, no input, sink not ready.
    pub fn new(mut dut: D, seed: u64, stalls: StallConfig) -> Self {
        dut.connect_all();
        check_all(&dut).expect("rust-hdl check_all failed");
        dut.set_clock(false);
        dut.set_reset(false);
        dut.drive_input(None);
        dut.set_output_ready(false);
        assert!(simulate(&mut dut, SETTLE_ITERS), "initial settle failed");
        AxisBench {
            dut,
            rng: StdRng::seed_from_u64(seed),
            stalls,
            queue: VecDeque::new(),
            presenting: false,
            scoreboard: None,
            held: None,
            stats: RunStats::default(),
            total_cycles: 0,
            vcd: None,
        }
    }

    /// Changes the stall probabilities from the next cycle on.
    pub fn set_stalls(&mut self, stalls: StallConfig) {
        self.stalls = stalls;
    }

    /// Queues `beats` for the source and installs the scoreboard their
    /// output is checked against; resets the run counters.
    pub fn load(&mut self, beats: impl IntoIterator<Item = D::Beat>, scoreboard: Scoreboard) {
        self.queue.extend(beats);
        self.scoreboard = Some(scoreboard);
        self.stats = RunStats::default();
    }

    /// Counters of the current run.
    pub fn stats(&self) -> RunStats {
        self.stats
    }

    /// Cycles simulated since the bench was built.
    pub fn total_cycles(&self) -> u64 {
        self.total_cycles
    }

    /// Beats still queued (including one being presented).
    pub fn beats_pending(&self) -> usize {
        self.queue.len()
    }

    /// Writes a VCD waveform of every signal of the device to `path` from
    /// now on (sampled after each clock edge).
    pub fn trace_vcd(&mut self, path: &std::path::Path) -> std::io::Result<()> {
        self.vcd = Some(crate::vcd::VcdTrace::create(path, &self.dut)?);
        Ok(())
    }

    fn settle(&mut self) -> Result<(), SimFailure> {
        if simulate(&mut self.dut, SETTLE_ITERS) {
            if let Some(t) = self.vcd.as_mut() {
                t.sample(&self.dut);
            }
            Ok(())
        } else {
            Err(SimFailure::NoConvergence { cycle: self.total_cycles })
        }
    }

    /// Simulates one clock cycle with random stalls.
    pub fn step(&mut self) -> Result<(), SimFailure> {
        let ready = self.stalls.out_stall <= 0.0 || !self.rng.gen_bool(self.stalls.out_stall.min(1.0));
        self.step_with(ready)
    }

    fn step_with(&mut self, sink_ready: bool) -> Result<(), SimFailure> {
        let cycle = self.stats.cycles;
        if !self.presenting && !self.queue.is_empty() {
            self.presenting = self.stalls.in_stall <= 0.0 || !self.rng.gen_bool(self.stalls.in_stall.min(1.0));
        }
        let beat = if self.presenting { self.queue.front() } else { None };
        self.dut.drive_input(beat);
        self.dut.set_output_ready(sink_ready);
        self.dut.set_clock(false);
        self.settle()?;
        let fire_in = self.presenting && self.dut.input_ready();
        if self.presenting && !fire_in {
            self.stats.input_blocked_cycles += 1;
        }
        let out = self.dut.output();
        if let Some(h) = self.held {
            if out != Some(h) {
                return Err(SimFailure::Protocol {
                    cycle,
                    what: format!("output word {h:?} was not taken but changed to {out:?}"),
                });
            }
        }
        if let Some(w) = out {
            if sink_ready {
                self.held = None;
                self.stats.words += 1;
                match self.scoreboard.as_mut() {
                    Some(sb) => sb.check(w, cycle)?,
                    None => {
                        return Err(SimFailure::Extra { index: 0, cycle, got: w.data, got_last: w.last, expected_len: 0 })
                    }
                }
            } else {
                self.held = Some(w);
            }
        }
        self.dut.set_clock(true);
        self.settle()?;
        if fire_in {
            self.queue.pop_front();
            self.presenting = false;
            self.stats.beats += 1;
            self.stats.first_beat_cycle.get_or_insert(cycle);
            self.stats.last_beat_cycle = Some(cycle);
        }
        self.stats.cycles += 1;
        self.total_cycles += 1;
        Ok(())
    }

    fn timeout(&self) -> SimFailure {
        let sb = self.scoreboard.as_ref();
        SimFailure::Timeout {
            cycles: self.stats.cycles,
            beats_sent: self.stats.beats,
            beats_total: self.stats.beats + self.queue.len(),
            words_seen: sb.map_or(0, |s| s.seen()),
            words_expected: sb.map_or(0, |s| s.expected_len()),
        }
    }

    /// Steps until every queued beat is accepted and every expected word
    /// has arrived, then runs `idle_cycles` more cycles with the sink always
    /// ready to catch extra words. Fails on the first mismatch, on a
    /// protocol violation, or after `max_cycles`.
    pub fn run_to_completion(&mut self, max_cycles: u64, idle_cycles: u64) -> Result<RunStats, SimFailure> {
        while !(self.queue.is_empty() && self.scoreboard.as_ref().map(|s| s.done()).unwrap_or(true)) {
            if self.stats.cycles >= max_cycles {
                return Err(self.timeout());
            }
            self.step()?;
        }
        let stats = self.stats;
        for _ in 0..idle_cycles {
            self.step_with(true)?;
        }
        Ok(stats)
    }

    /// Steps until `n` more beats have been accepted (output still checked).
    pub fn run_beats(&mut self, n: usize, max_cycles: u64) -> Result<(), SimFailure> {
        let target = self.stats.beats + n;
        while self.stats.beats < target {
            if self.stats.cycles >= max_cycles {
                return Err(self.timeout());
            }
            self.step()?;
        }
        Ok(())
    }

    /// Holds reset for `cycles` cycles (random sink readiness), checks that
    /// the DUT shows neither `m_axis_tvalid` nor `s_axis_tready` while in
    /// reset, then drops the queued beats, the scoreboard and the counters.
    pub fn reset(&mut self, cycles: u64) -> Result<(), SimFailure> {
        self.queue.clear();
        self.presenting = false;
        self.held = None;
        self.scoreboard = None;
        self.dut.set_reset(true);
        for _ in 0..cycles {
            let ready = self.rng.gen_bool(0.5);
            self.dut.drive_input(None);
            self.dut.set_output_ready(ready);
            self.dut.set_clock(false);
            self.settle()?;
            if self.dut.output().is_some() || self.dut.input_ready() {
                return Err(SimFailure::Protocol {
                    cycle: self.total_cycles,
                    what: "m_axis_tvalid or s_axis_tready high during reset".into(),
                });
            }
            self.dut.set_clock(true);
            self.settle()?;
            self.total_cycles += 1;
        }
        self.dut.set_reset(false);
        self.dut.set_clock(false);
        self.settle()?;
        self.stats = RunStats::default();
        Ok(())
    }
}
