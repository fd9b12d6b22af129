//! Decompressor-side test infrastructure and the unpacker adapter.
//!
//! * [`BeatBench`]: a thread-free, cycle-stepped AXI4-Stream bench for DUTs
//!   with one or more input streams (each with its own seeded random
//!   `tvalid` stalls) and one output stream of up to 128-bit beats (random
//!   `tready` stalls), an in-order scoreboard with a first-mismatch report,
//!   and the protocol checks of [`crate::axis::AxisBench`] (a beat shown and
//!   not taken must stay unchanged; no `tvalid`/`tready` during reset). The
//!   dequantizer and inverse-transform adapters use it too.
//! * The [`VarWidthUnpacker`] adapter (port 0: words, port 1: widths),
//!   expected beats from [`actcomp_golden::unpacker::unpack_beats`], and
//!   random streams built with [`actcomp_golden::packer::pack_beats`].

use std::collections::VecDeque;

use actcomp_golden::packer::{pack_beats, PackBeat};
use actcomp_golden::unpacker::{unpack_beats, UnpackBeat};
use actcomp_hdl::VarWidthUnpacker;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_hdl::prelude::*;

use crate::axis::SETTLE_ITERS;

/// One beat on an input stream (fields a port does not have are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InBeat {
    /// `tdata`.
    pub data: u128,
    /// `tuser`.
    pub user: u64,
    /// `tlast`.
    pub last: bool,
}

/// One output beat (also an expected beat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutBeat {
    /// `m_axis_tdata`.
    pub data: u128,
    /// `m_axis_tlast`.
    pub last: bool,
}

/// Why a [`BeatBench`] run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeatFailure {
    /// An output beat differs from the expected one.
    #[error("mismatch at beat {index} at cycle {cycle}: expected data=0x{expected:x} last={expected_last}, got data=0x{got:x} last={got_last}{detail}")]
    Mismatch {
        /// Beat index in the output stream.
        index: usize,
        /// Cycle of the transfer.
        cycle: u64,
        /// Expected data.
        expected: u128,
        /// Expected tlast.
        expected_last: bool,
        /// Observed data.
        got: u128,
        /// Observed tlast.
        got_last: bool,
        /// Per-lane decoding of the difference (from the bench's lane format).
        detail: String,
    },
    /// More output beats than expected.
    #[error("extra beat {index} at cycle {cycle}: data=0x{got:x} (only {expected_len} expected)")]
    Extra {
        /// Index.
        index: usize,
        /// Cycle.
        cycle: u64,
        /// Observed data.
        got: u128,
        /// Expected count.
        expected_len: usize,
    },
    /// The cycle limit was hit.
    #[error("timeout after {cycles} cycles: inputs accepted {accepted:?} of {offered:?}, {seen}/{expected} output beats")]
    Timeout {
        /// Cycles.
        cycles: u64,
        /// Per-port accepted beats.
        accepted: Vec<usize>,
        /// Per-port offered beats.
        offered: Vec<usize>,
        /// Output beats seen.
        seen: usize,
        /// Output beats expected.
        expected: usize,
    },
    /// AXI4-Stream rule broken by the DUT.
    #[error("protocol violation at cycle {cycle}: {what}")]
    Protocol {
        /// Cycle.
        cycle: u64,
        /// What.
        what: String,
    },
    /// `simulate()` did not settle.
    #[error("combinational logic did not settle at cycle {cycle}")]
    NoConvergence {
        /// Cycle.
        cycle: u64,
    },
}

/// Port access of a DUT with `inputs()` AXI4-Stream inputs and one output.
pub trait BeatDut: Block {
    /// Number of input streams.
    fn inputs(&self) -> usize;
    /// Drive the clock level.
    fn set_clock(&mut self, high: bool);
    /// Drive the synchronous reset.
    fn set_reset(&mut self, on: bool);
    /// Present `beat` on input `port` with `tvalid = 1`, or `tvalid = 0`.
    fn drive(&mut self, port: usize, beat: Option<&InBeat>);
    /// `tready` of input `port` after settling.
    fn ready(&self, port: usize) -> bool;
    /// Drive `m_axis_tready`.
    fn set_output_ready(&mut self, ready: bool);
    /// The output beat if `m_axis_tvalid` is high.
    fn output(&self) -> Option<OutBeat>;
}

/// Stall probabilities of a [`BeatBench`]: per input port and for the sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Stalls {
    /// Probability that an idle source does not present its next beat (per port; the last value repeats).
    pub inputs: Vec<f64>,
    /// Probability that the sink is not ready in a cycle.
    pub output: f64,
}

impl Stalls {
    /// Every source and the sink with probability `p`.
    pub fn all(p: f64) -> Self {
        Stalls { inputs: vec![p], output: p }
    }
    /// No stalls.
    pub fn none() -> Self {
        Self::all(0.0)
    }
    fn input(&self, port: usize) -> f64 {
        *self.inputs.get(port).or(self.inputs.last()).unwrap_or(&0.0)
    }
}

/// Counters of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BeatStats {
    /// Cycles since the run was loaded.
    pub cycles: u64,
    /// Transfers per input port.
    pub accepted: Vec<usize>,
    /// Output transfers.
    pub outputs: usize,
    /// Cycle of the first / last output transfer.
    pub first_out: Option<u64>,
    /// Cycle of the last output transfer.
    pub last_out: Option<u64>,
}

/// Renders a beat difference lane by lane (`lane_bits` per lane).
pub fn lane_diff(expected: u128, got: u128, lane_bits: u32, lanes: usize) -> String {
    let mask = if lane_bits >= 128 { u128::MAX } else { (1u128 << lane_bits) - 1 };
    let mut s = String::new();
    for i in 0..lanes {
        let (e, g) = ((expected >> (lane_bits as usize * i)) & mask, (got >> (lane_bits as usize * i)) & mask);
        if e != g {
            s.push_str(&format!(" lane{i}: expected 0x{e:x} got 0x{g:x};"));
        }
    }
    s
}

/// Multi-input, thread-free AXI4-Stream bench with random stalls and an
/// in-order scoreboard.
pub struct BeatBench<D: BeatDut> {
    /// The device under test.
    pub dut: D,
    rng: StdRng,
    stalls: Stalls,
    queues: Vec<VecDeque<InBeat>>,
    presenting: Vec<bool>,
    offered: Vec<usize>,
    expected: Vec<OutBeat>,
    next: usize,
    held: Option<OutBeat>,
    stats: BeatStats,
    total_cycles: u64,
    lane_bits: u32,
    lanes: usize,
    vcd: Option<crate::vcd::VcdTrace>,
}

impl<D: BeatDut> BeatBench<D> {
    /// Connects and checks `dut`; clock low, reset low, nothing presented.
    /// `lane_bits`/`lanes` describe the output beat for mismatch reports.
    pub fn new(mut dut: D, seed: u64, stalls: Stalls, lane_bits: u32, lanes: usize) -> Self {
        dut.connect_all();
        check_all(&dut).expect("rust-hdl check_all failed");
        let n = dut.inputs();
        dut.set_clock(false);
        dut.set_reset(false);
        for p in 0..n {
            dut.drive(p, None);
        }
        dut.set_output_ready(false);
        assert!(simulate(&mut dut, SETTLE_ITERS), "initial settle failed");
        BeatBench {
            dut,
            rng: StdRng::seed_from_u64(seed),
            stalls,
            queues: vec![VecDeque::new(); n],
            presenting: vec![false; n],
            offered: vec![0; n],
            expected: Vec::new(),
            next: 0,
            held: None,
            stats: BeatStats { accepted: vec![0; n], ..Default::default() },
            total_cycles: 0,
            vcd: None,
            lane_bits,
            lanes,
        }
    }

    /// Changes the stall probabilities.
    pub fn set_stalls(&mut self, stalls: Stalls) {
        self.stalls = stalls;
    }

    /// Queues input beats per port and the expected output; resets counters.
    pub fn load(&mut self, inputs: Vec<Vec<InBeat>>, expected: Vec<OutBeat>) {
        assert_eq!(inputs.len(), self.queues.len(), "one beat list per input port");
        for (p, v) in inputs.into_iter().enumerate() {
            self.offered[p] = self.queues[p].len() + v.len();
            self.queues[p].extend(v);
        }
        self.expected = expected;
        self.next = 0;
        self.stats = BeatStats { accepted: vec![0; self.queues.len()], ..Default::default() };
    }

    /// Counters of the current run.
    pub fn stats(&self) -> &BeatStats {
        &self.stats
    }

    /// Cycles since the bench was built.
    pub fn total_cycles(&self) -> u64 {
        self.total_cycles
    }

    /// Writes a VCD waveform of every signal of the device to `path` from
    /// now on (sampled after each clock edge).
    pub fn trace_vcd(&mut self, path: &std::path::Path) -> std::io::Result<()> {
        self.vcd = Some(crate::vcd::VcdTrace::create(path, &self.dut)?);
        Ok(())
    }

    fn settle(&mut self) -> Result<(), BeatFailure> {
        if simulate(&mut self.dut, SETTLE_ITERS) {
            if let Some(t) = self.vcd.as_mut() {
                t.sample(&self.dut);
            }
            Ok(())
        } else {
            Err(BeatFailure::NoConvergence { cycle: self.total_cycles })
        }
    }

    /// One clock cycle with random stalls.
    pub fn step(&mut self) -> Result<(), BeatFailure> {
        let p = self.stalls.output;
        let ready = p <= 0.0 || !self.rng.gen_bool(p.min(1.0));
        self.step_with(ready)
    }

    fn step_with(&mut self, sink_ready: bool) -> Result<(), BeatFailure> {
        let cycle = self.stats.cycles;
        let n = self.queues.len();
        for port in 0..n {
            if !self.presenting[port] && !self.queues[port].is_empty() {
                let p = self.stalls.input(port);
                self.presenting[port] = p <= 0.0 || !self.rng.gen_bool(p.min(1.0));
            }
            let beat = if self.presenting[port] { self.queues[port].front().copied() } else { None };
            self.dut.drive(port, beat.as_ref());
        }
        self.dut.set_output_ready(sink_ready);
        self.dut.set_clock(false);
        self.settle()?;
        let fired: Vec<bool> = (0..n).map(|p| self.presenting[p] && self.dut.ready(p)).collect();
        let out = self.dut.output();
        if let Some(h) = self.held {
            if out != Some(h) {
                return Err(BeatFailure::Protocol { cycle, what: format!("output beat {h:x?} was not taken but changed to {out:x?}") });
            }
        }
        if let Some(o) = out {
            if sink_ready {
                self.held = None;
                let Some(e) = self.expected.get(self.next).copied() else {
                    return Err(BeatFailure::Extra { index: self.next, cycle, got: o.data, expected_len: self.expected.len() });
                };
                if e != o {
                    return Err(BeatFailure::Mismatch {
                        index: self.next,
                        cycle,
                        expected: e.data,
                        expected_last: e.last,
                        got: o.data,
                        got_last: o.last,
                        detail: lane_diff(e.data, o.data, self.lane_bits, self.lanes),
                    });
                }
                self.next += 1;
                self.stats.outputs += 1;
                self.stats.first_out.get_or_insert(cycle);
                self.stats.last_out = Some(cycle);
            } else {
                self.held = Some(o);
            }
        }
        self.dut.set_clock(true);
        self.settle()?;
        for p in 0..n {
            if fired[p] {
                self.queues[p].pop_front();
                self.presenting[p] = false;
                self.stats.accepted[p] += 1;
            }
        }
        self.stats.cycles += 1;
        self.total_cycles += 1;
        Ok(())
    }

    fn timeout(&self) -> BeatFailure {
        BeatFailure::Timeout {
            cycles: self.stats.cycles,
            accepted: self.stats.accepted.clone(),
            offered: self.offered.clone(),
            seen: self.next,
            expected: self.expected.len(),
        }
    }

    /// Steps until every expected beat has arrived (and, if
    /// `drain_inputs`, every input beat was accepted), then `idle` more
    /// cycles with the sink ready to catch extra beats.
    pub fn run_to_completion(&mut self, max_cycles: u64, idle: u64, drain_inputs: bool) -> Result<BeatStats, BeatFailure> {
        while self.next < self.expected.len() || (drain_inputs && self.queues.iter().any(|q| !q.is_empty())) {
            if self.stats.cycles >= max_cycles {
                return Err(self.timeout());
            }
            self.step()?;
        }
        let stats = self.stats.clone();
        for _ in 0..idle {
            self.step_with(true)?;
        }
        Ok(stats)
    }

    /// Steps until `n` more output beats were checked.
    pub fn run_outputs(&mut self, n: usize, max_cycles: u64) -> Result<(), BeatFailure> {
        let target = self.next + n;
        while self.next < target.min(self.expected.len()) {
            if self.stats.cycles >= max_cycles {
                return Err(self.timeout());
            }
            self.step()?;
        }
        Ok(())
    }

    /// Holds reset for `cycles` cycles (random sink readiness), checking that
    /// no `tvalid`/`tready` output is high, then drops queues, expectations
    /// and counters.
    pub fn reset(&mut self, cycles: u64) -> Result<(), BeatFailure> {
        let n = self.queues.len();
        self.queues.iter_mut().for_each(|q| q.clear());
        self.presenting.iter_mut().for_each(|p| *p = false);
        self.held = None;
        self.expected.clear();
        self.next = 0;
        self.dut.set_reset(true);
        for _ in 0..cycles {
            let r = self.rng.gen_bool(0.5);
            for p in 0..n {
                // keep offering garbage: nothing may be accepted during reset
                self.dut.drive(p, Some(&InBeat { data: 0x5a5a, user: 0x3, last: true }));
            }
            self.dut.set_output_ready(r);
            self.dut.set_clock(false);
            self.settle()?;
            if self.dut.output().is_some() || (0..n).any(|p| self.dut.ready(p)) {
                return Err(BeatFailure::Protocol { cycle: self.total_cycles, what: "tvalid or tready high during reset".into() });
            }
            self.dut.set_clock(true);
            self.settle()?;
            self.total_cycles += 1;
        }
        self.dut.set_reset(false);
        for p in 0..n {
            self.dut.drive(p, None);
        }
        self.dut.set_clock(false);
        self.settle()?;
        self.stats = BeatStats { accepted: vec![0; n], ..Default::default() };
        Ok(())
    }
}

/// `u128` to `Bits<N>` (low `N` bits).
pub fn to_bits<const N: usize>(v: u128) -> Bits<N> {
    let v = if N >= 128 { v } else { v & ((1u128 << N) - 1) };
    if N <= 64 {
        (v as u64).into()
    } else {
        (Bits::<N>::from((v >> 64) as u64) << 64u64) | Bits::<N>::from(v as u64)
    }
}

// ---------------------------------------------------------------- unpacker

/// Port 0 of the unpacker: payload words; port 1: widths beats.
pub const WORDS: usize = 0;
/// Port 1 of the unpacker: widths (`data` = `s_widths_tdata`) with the tile end (`last`).
pub const WIDTHS: usize = 1;

impl<const LANES: usize, const DW: usize, const UW: usize, const W: usize, const A: usize> BeatDut
    for VarWidthUnpacker<LANES, DW, UW, W, A>
{
    fn inputs(&self) -> usize {
        2
    }
    fn set_clock(&mut self, high: bool) {
        self.clock.next = Clock { clk: high };
    }
    fn set_reset(&mut self, on: bool) {
        self.reset.next = on;
    }
    fn drive(&mut self, port: usize, beat: Option<&InBeat>) {
        match (port, beat) {
            (WORDS, Some(b)) => {
                self.s_axis_tdata.next = to_bits::<W>(b.data);
                self.s_axis_tvalid.next = true;
            }
            (WORDS, None) => self.s_axis_tvalid.next = false,
            (_, Some(b)) => {
                self.s_widths_tdata.next = to_bits::<UW>(b.data);
                self.s_widths_tlast.next = b.last;
                self.s_widths_tvalid.next = true;
            }
            (_, None) => self.s_widths_tvalid.next = false,
        }
    }
    fn ready(&self, port: usize) -> bool {
        if port == WORDS {
            self.s_axis_tready.val()
        } else {
            self.s_widths_tready.val()
        }
    }
    fn set_output_ready(&mut self, ready: bool) {
        self.m_axis_tready.next = ready;
    }
    fn output(&self) -> Option<OutBeat> {
        self.m_axis_tvalid.val().then(|| OutBeat { data: self.m_axis_tdata.val().to_u128(), last: self.m_axis_tlast.val() })
    }
}

/// `s_widths_tdata` of a beat: lane `i` width at bits `4i..4i+4`.
pub fn widths_word(widths: &[u32]) -> u64 {
    widths.iter().enumerate().fold(0, |a, (i, &w)| a | (((w & 0xF) as u64) << (4 * i)))
}

/// Packs 8-bit lane values into one beat (lane `i` at bits `8i..8i+8`).
pub fn codes_word(codes: &[i32]) -> u128 {
    codes.iter().enumerate().fold(0, |a, (i, &c)| a | (((c as u8) as u128) << (8 * i)))
}

/// A complete unpacker test case.
#[derive(Debug, Clone)]
pub struct UnpackCase {
    /// Payload words (`pack_beats` of the beats).
    pub words: Vec<u64>,
    /// Widths beats.
    pub beats: Vec<UnpackBeat>,
    /// Expected codes per beat (golden `unpack_beats`).
    pub codes: Vec<Vec<i32>>,
}

impl UnpackCase {
    /// Packs `beats` with the golden packer and unpacks them with the golden
    /// unpacker (checking that this returns the sign-extended codes).
    pub fn from_pack_beats(beats: &[PackBeat], word_bits: u32) -> Self {
        let words = pack_beats(beats, word_bits);
        let ub: Vec<UnpackBeat> = beats.iter().map(UnpackBeat::from).collect();
        let codes = unpack_beats(&words, word_bits, &ub).expect("golden unpack of a golden pack");
        UnpackCase { words, beats: ub, codes }
    }

    /// The two input streams: words, widths.
    pub fn inputs(&self) -> Vec<Vec<InBeat>> {
        vec![
            self.words.iter().map(|&w| InBeat { data: w as u128, ..Default::default() }).collect(),
            self.beats.iter().map(|b| InBeat { data: widths_word(&b.widths) as u128, last: b.last, ..Default::default() }).collect(),
        ]
    }

    /// Expected output beats.
    pub fn expected(&self) -> Vec<OutBeat> {
        self.codes.iter().zip(&self.beats).map(|(c, b)| OutBeat { data: codes_word(c), last: b.last }).collect()
    }
}

/// Random beats for the packer/unpacker pair: widths 0..=8 per lane (10 %
/// all-0, 10 % all-8 beats, and a random fraction of beats that use one
/// fixed per-lane width map like a static group map), extreme codes
/// over-represented, tiles of 1..=`max_tile_beats` beats, 10 % empty tiles.
pub fn random_pack_beats<R: Rng>(rng: &mut R, lanes: usize, tiles: usize, max_tile_beats: usize) -> Vec<PackBeat> {
    let static_map: Vec<u32> = (0..lanes).map(|_| rng.gen_range(0..=8)).collect();
    let mut beats = Vec::new();
    for _ in 0..tiles {
        let n = rng.gen_range(1..=max_tile_beats);
        let empty = rng.gen_bool(0.1);
        let use_map = rng.gen_bool(0.3);
        for k in 0..n {
            let mode = rng.gen_range(0..10);
            let widths: Vec<u32> = (0..lanes)
                .map(|i| match (empty, use_map, mode) {
                    (true, _, _) => 0,
                    (_, true, _) => static_map[i],
                    (_, _, 0) => 0,
                    (_, _, 1) => 8,
                    _ => rng.gen_range(0..=8),
                })
                .collect();
            let codes = (0..lanes)
                .map(|_| match rng.gen_range(0..8) {
                    0 => -128,
                    1 => 127,
                    2 => -1,
                    3 => 0,
                    _ => rng.gen_range(-128..=127),
                })
                .collect();
            beats.push(PackBeat { codes, widths, last: k + 1 == n });
        }
    }
    beats
}

// ------------------------------------------------- Icarus Verilog testbench

/// One input stream of a Verilog testbench: its port-name prefix and field widths.
#[derive(Debug, Clone)]
pub struct VPort {
    /// Port prefix, e.g. `s_axis` (ports `<prefix>_tdata`, `_tvalid`, `_tready`, ...).
    pub prefix: String,
    /// `tdata` width.
    pub data_bits: usize,
    /// `tuser` width (0 = no `tuser` port).
    pub user_bits: usize,
    /// Has a `tlast` port.
    pub has_last: bool,
}

impl VPort {
    /// A port description.
    pub fn new(prefix: &str, data_bits: usize, user_bits: usize, has_last: bool) -> Self {
        VPort { prefix: prefix.into(), data_bits, user_bits, has_last }
    }
    fn line_bits(&self) -> usize {
        self.data_bits + self.user_bits + 1
    }
}

/// Writes `in<p>.hex` (`{last, user, data}` per beat), `out.hex`
/// (`{last, data}` per expected beat) and `stalls.hex` (per cycle: bit `p`
/// = input `p` idle, bit `n` = sink not ready) into `dir`.
pub fn write_beat_vectors(
    dir: &std::path::Path,
    ports: &[VPort],
    inputs: &[Vec<InBeat>],
    out_bits: usize,
    expected: &[OutBeat],
    stalls: &[u8],
) -> std::io::Result<()> {
    use crate::vtb::write_hex;
    for (p, (port, beats)) in ports.iter().zip(inputs).enumerate() {
        let (dw, uw) = (port.data_bits, port.user_bits);
        write_hex(
            &dir.join(format!("in{p}.hex")),
            beats.iter().map(|b| {
                let d = if dw >= 128 { b.data } else { b.data & ((1u128 << dw) - 1) };
                let u = if uw == 0 { 0 } else { (b.user as u128) & ((1u128 << uw) - 1) };
                // {last, user, data}; for beats of 128 bits or more, tlast goes to a side file
                let l = if dw + uw >= 128 { 0 } else { (b.last as u128) << (dw + uw) };
                d | if uw == 0 { 0 } else { u << dw } | l
            }),
            port.line_bits().min(128),
        )?;
        if dw + uw >= 128 {
            // wide beats: tlast in a side file
            write_hex(&dir.join(format!("in{p}_last.hex")), beats.iter().map(|b| b.last as u128), 1)?;
        }
    }
    write_hex(&dir.join("out.hex"), expected.iter().map(|e| e.data), out_bits)?;
    write_hex(&dir.join("out_last.hex"), expected.iter().map(|e| e.last as u128), 1)?;
    write_hex(&dir.join("stalls.hex"), stalls.iter().map(|&s| s as u128), 4)
}

/// Random per-cycle stall bits for `inputs` inputs and the sink.
pub fn beat_stall_pattern(seed: u64, cycles: usize, inputs: usize, p_in: f64, p_out: f64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..cycles)
        .map(|_| {
            let mut v = 0u8;
            for p in 0..inputs {
                v |= (rng.gen_bool(p_in) as u8) << p;
            }
            v | ((rng.gen_bool(p_out) as u8) << inputs)
        })
        .collect()
}

/// A plain-Verilog testbench for `dut_module` with the given input ports
/// and an `m_axis` output of `out_bits` bits (with `tlast`): replays the
/// hex files of [`write_beat_vectors`] with the stall pattern, checks every
/// output beat in order and the AXI rule that a beat shown and not taken
/// stays unchanged, and prints `PASS inputs=... outputs=N cycles=C` or a
/// `FAIL ...` line (first mismatch with beat index and cycle). The DUT is
/// held in reset for 3 cycles first (no `tvalid`/`tready` allowed).
pub fn beat_testbench(
    dut_module: &str,
    ports: &[VPort],
    n_in: &[usize],
    out_bits: usize,
    n_out: usize,
    n_stalls: usize,
    max_cycles: usize,
) -> String {
    assert!(n_in.iter().all(|&n| n > 0) && n_out > 0 && n_stalls > 0, "empty vector files are not supported by $readmemh");
    let np = ports.len();
    let mut decl = String::new();
    let mut conn = String::new();
    let mut load = String::new();
    let mut init = String::new();
    let mut drive = String::new();
    let mut fire = String::new();
    let mut adv = String::new();
    let mut pend = Vec::new();
    let mut xcheck = Vec::new();
    for (p, port) in ports.iter().enumerate() {
        let (dw, uw) = (port.data_bits, port.user_bits);
        let wide = dw + uw >= 128;
        let lb = port.line_bits().min(128);
        let n = n_in[p];
        decl.push_str(&format!(
            "  reg [{lb}-1:0] in{p} [0:{n}-1];\n  reg in{p}_last [0:{n}-1];\n  reg [{dw}-1:0] p{p}_tdata;\n  reg p{p}_tvalid, p{p}_tlast, p{p}_fire;\n  wire p{p}_tready;\n  integer i{p};\n"
        ));
        if uw > 0 {
            decl.push_str(&format!("  reg [{uw}-1:0] p{p}_tuser;\n"));
        }
        let pre = &port.prefix;
        conn.push_str(&format!("    .{pre}_tdata(p{p}_tdata), .{pre}_tvalid(p{p}_tvalid), .{pre}_tready(p{p}_tready),\n"));
        if uw > 0 {
            conn.push_str(&format!("    .{pre}_tuser(p{p}_tuser),\n"));
        }
        if port.has_last {
            conn.push_str(&format!("    .{pre}_tlast(p{p}_tlast),\n"));
        }
        load.push_str(&format!("    $readmemh(\"in{p}.hex\", in{p});\n"));
        if wide {
            load.push_str(&format!("    $readmemh(\"in{p}_last.hex\", in{p}_last);\n"));
        }
        init.push_str(&format!("    p{p}_tvalid = 0; p{p}_tlast = 0; p{p}_tdata = 0; i{p} = 0;\n"));
        if uw > 0 {
            init.push_str(&format!("    p{p}_tuser = 0;\n"));
        }
        let user_assign = if uw > 0 { format!(" p{p}_tuser = in{p}[i{p}][{dw}+{uw}-1:{dw}];") } else { String::new() };
        let last_assign = if wide { format!("p{p}_tlast = in{p}_last[i{p}];") } else { format!("p{p}_tlast = in{p}[i{p}][{dw}+{uw}];") };
        drive.push_str(&format!(
            "      if (i{p} < {n}) begin\n        if (!p{p}_tvalid) p{p}_tvalid = !st[{p}];\n        p{p}_tdata = in{p}[i{p}][{dw}-1:0];{user_assign} {last_assign}\n      end else p{p}_tvalid = 0;\n"
        ));
        fire.push_str(&format!("      p{p}_fire = p{p}_tvalid & p{p}_tready;\n"));
        adv.push_str(&format!("      if (p{p}_fire) begin i{p} = i{p} + 1; p{p}_tvalid = 0; end\n"));
        pend.push(format!("i{p} < {n}"));
        xcheck.push(format!("p{p}_tready"));
    }
    let in_list: Vec<String> = (0..np).map(|p| format!("i{p}")).collect();
    let fmt_in = vec!["%0d"; np].join(",");
    let ready_zero: Vec<String> = (0..np).map(|p| format!("p{p}_tready !== 1'b0")).collect();
    format!(
        r#"`timescale 1ns/1ps
// Plain-Verilog testbench for {dut_module}: replays in<p>.hex with stalls
// from stalls.hex and checks every output beat against out.hex.
module tb;
  localparam OW = {out_bits}, NOUT = {n_out}, NSTALL = {n_stalls}, MAXCYC = {max_cycles};
{decl}  reg [OW-1:0] outs [0:NOUT-1];
  reg outs_last [0:NOUT-1];
  reg [7:0] stalls [0:NSTALL-1];
  reg clock, reset, m_tready, held_v;
  reg [OW:0] held;
  reg [7:0] st;
  wire m_tvalid, m_tlast;
  wire [OW-1:0] m_tdata;
  integer oi, cyc, k;

  {dut_module} dut(
    .clock(clock), .reset(reset),
{conn}    .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready), .m_axis_tlast(m_tlast));

  initial begin
{load}    $readmemh("out.hex", outs);
    $readmemh("out_last.hex", outs_last);
    $readmemh("stalls.hex", stalls);
    clock = 0; reset = 1; m_tready = 0; held_v = 0; held = 0; oi = 0;
{init}    for (k = 0; k < 3; k = k + 1) begin
      #5 clock = 1; #5 clock = 0;
      if (m_tvalid !== 1'b0 || {ready_zero}) begin
        $display("FAIL reset: tvalid/tready high during reset");
        $finish;
      end
    end
    reset = 0;
    for (cyc = 0; cyc < MAXCYC && ({pend} || oi < NOUT); cyc = cyc + 1) begin
      st = stalls[cyc % NSTALL];
{drive}      m_tready = !st[{np}];
      #1;
      if (^{{m_tvalid, m_tlast, {xcheck}}} === 1'bx || ^m_tdata === 1'bx) begin
        $display("FAIL X/Z on outputs at cycle %0d", cyc);
        $finish;
      end
      if (held_v && !(m_tvalid && {{m_tlast, m_tdata}} == held)) begin
        $display("FAIL protocol at cycle %0d: beat %h not taken but changed to %h (tvalid=%b)", cyc, held, {{m_tlast, m_tdata}}, m_tvalid);
        $finish;
      end
      held_v = 0;
      if (m_tvalid) begin
        if (m_tready) begin
          if (oi >= NOUT) begin
            $display("FAIL extra beat %0d at cycle %0d: got data=%h last=%0d", oi, cyc, m_tdata, m_tlast);
            $finish;
          end
          if (m_tdata !== outs[oi] || m_tlast !== outs_last[oi]) begin
            $display("FAIL mismatch at beat %0d cycle %0d: expected data=%h last=%0d, got data=%h last=%0d",
                     oi, cyc, outs[oi], outs_last[oi], m_tdata, m_tlast);
            $finish;
          end
          oi = oi + 1;
        end else begin
          held = {{m_tlast, m_tdata}};
          held_v = 1;
        end
      end
{fire}      #4 clock = 1;
      #5 clock = 0;
{adv}    end
    if ({pend} || oi < NOUT) begin
      $display("FAIL timeout after %0d cycles: inputs accepted {fmt_in}, %0d/%0d output beats", cyc, {in_list}, oi, NOUT);
      $finish;
    end
    m_tready = 1;
{idle_off}    for (k = 0; k < 16; k = k + 1) begin
      #1;
      if (m_tvalid !== 1'b0) begin
        $display("FAIL extra beat after the last expected one (idle cycle %0d): data=%h", k, m_tdata);
        $finish;
      end
      #4 clock = 1; #5 clock = 0;
    end
    $display("PASS inputs={fmt_in} outputs=%0d cycles=%0d", {in_list}, oi, cyc);
    $finish;
  end
endmodule
"#,
        pend = pend.join(" || "),
        xcheck = xcheck.join(", "),
        ready_zero = ready_zero.join(" || "),
        in_list = in_list.join(", "),
        idle_off = (0..np).map(|p| format!("    p{p}_tvalid = 0;\n")).collect::<String>(),
    )
}

/// Writes the DUT, the testbench and the vectors into `dir`, runs Icarus,
/// returns the simulator's stdout (or panics with the tool output).
#[allow(clippy::too_many_arguments)]
pub fn run_beat_verilog(
    dir: &std::path::Path,
    verilog: &str,
    module: &str,
    ports: &[VPort],
    inputs: &[Vec<InBeat>],
    out_bits: usize,
    expected: &[OutBeat],
    stalls: &[u8],
) -> String {
    std::fs::write(dir.join("dut.v"), verilog).unwrap();
    write_beat_vectors(dir, ports, inputs, out_bits, expected, stalls).unwrap();
    let n_in: Vec<usize> = inputs.iter().map(|v| v.len()).collect();
    let total: usize = n_in.iter().sum::<usize>() + expected.len();
    let tb = beat_testbench(module, ports, &n_in, out_bits, expected.len(), stalls.len(), 60 * total + 200);
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    crate::vtb::run_iverilog(dir, &[dir.join("tb.v"), dir.join("dut.v")], "tb").unwrap_or_else(|e| panic!("{e}"))
}
