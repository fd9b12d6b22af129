//! Benches for the compressor's lane-parallel units (forward transform,
//! quantizer) and the transform adapters.
//!
//! * [`LaneBeat`]: one AXI4-Stream beat as lane values (`lanes` in `tdata`,
//!   `aux` in `tuser`) plus `tlast`; used for inputs, outputs and expected
//!   outputs of both units, at any width (the transform's output is up to
//!   256 bits, beyond [`crate::axis::OutWord`]'s 64).
//! * [`StreamBench`]: the thread-free, cycle-stepped bench of
//!   [`crate::axis::AxisBench`] (same stall model, same protocol checks, same
//!   [`StallConfig`]/[`RunStats`]) for any [`StreamDut`], with an in-order
//!   scoreboard whose failure names the first differing beat and lane.
//! * [`BeatFormat`], [`write_beat_vectors`], [`stream_testbench`]: hex
//!   vectors and a plain-Verilog testbench for the emitted Verilog under
//!   Icarus (run with [`crate::vtb::run_iverilog`]).
//! * The [`TransformFull`]/[`TransformSerial`] adapter, expected outputs from
//!   [`BlockMatrices::forward`], and input generators.

use std::collections::VecDeque;
use std::path::Path;

use actcomp_golden::policy::{BlockPolicy, Policy};
use actcomp_golden::transform::BlockMatrices;
use actcomp_hdl::{TransformFull, TransformSerial};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_hdl::prelude::*;

use crate::axis::{RunStats, StallConfig, SETTLE_ITERS};

/// One beat as lane values (two's complement where signed) and `tlast`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LaneBeat {
    /// `tdata` lanes, lane 0 in the low bits.
    pub lanes: Vec<i64>,
    /// `tuser` lanes (empty for a port without `tuser`).
    pub aux: Vec<i64>,
    /// `tlast`.
    pub last: bool,
}

/// Lane layout of one stream direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatFormat {
    /// Number of lanes.
    pub lanes: usize,
    /// Bits per `tdata` lane.
    pub data_bits: usize,
    /// Bits per `tuser` lane (0: no `tuser` port).
    pub user_bits: usize,
}

impl BeatFormat {
    /// `tdata` width.
    pub fn data_width(&self) -> usize {
        self.lanes * self.data_bits
    }
    /// `tuser` width (0 if none).
    pub fn user_width(&self) -> usize {
        self.lanes * self.user_bits
    }
    /// Bits of `{tlast, tuser, tdata}`.
    pub fn total_width(&self) -> usize {
        self.data_width() + self.user_width() + 1
    }
    /// `{tlast, tuser, tdata}` of `beat`, LSB first.
    pub fn to_bits(&self, beat: &LaneBeat) -> Vec<bool> {
        let mut v = Vec::with_capacity(self.total_width());
        push_lanes(&mut v, &beat.lanes, self.data_bits, self.lanes);
        push_lanes(&mut v, &beat.aux, self.user_bits, if self.user_bits > 0 { self.lanes } else { 0 });
        v.push(beat.last);
        v
    }
    /// `{tlast, tuser, tdata}` as a hex string (MSB first, for `$readmemh`).
    pub fn to_hex(&self, beat: &LaneBeat) -> String {
        bits_to_hex(&self.to_bits(beat))
    }
}

fn push_lanes(v: &mut Vec<bool>, lanes: &[i64], bits: usize, n: usize) {
    assert_eq!(lanes.len(), n, "beat has {} lanes, format has {n}", lanes.len());
    for &x in lanes {
        for b in 0..bits {
            v.push((x >> b) & 1 == 1);
        }
    }
}

fn bits_to_hex(bits: &[bool]) -> String {
    let digits = bits.len().div_ceil(4);
    (0..digits)
        .rev()
        .map(|d| {
            let n = (0..4).fold(0u32, |acc, j| acc | ((*bits.get(4 * d + j).unwrap_or(&false) as u32) << j));
            char::from_digit(n, 16).unwrap()
        })
        .collect()
}

/// `Bits<N>` holding `lanes` (each `bits` wide, lane 0 lowest).
pub fn lanes_to_bits<const N: usize>(lanes: &[i64], bits: usize) -> Bits<N> {
    assert!(lanes.len() * bits <= N);
    let mut out = Bits::<N>::default();
    for (i, &x) in lanes.iter().enumerate() {
        for b in 0..bits {
            if (x >> b) & 1 == 1 {
                out = out.replace_bit(i * bits + b, true);
            }
        }
    }
    out
}

/// Lanes of a `Bits<N>` bus: `n` lanes of `bits` bits, sign-extended if `signed`.
pub fn bits_to_lanes<const N: usize>(v: Bits<N>, n: usize, bits: usize, signed: bool) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let raw = (0..bits).fold(0u64, |acc, b| acc | ((v.get_bit(i * bits + b) as u64) << b));
            if signed && bits < 64 {
                ((raw << (64 - bits)) as i64) >> (64 - bits)
            } else {
                raw as i64
            }
        })
        .collect()
}

/// Port access of a DUT with one input and one output stream of [`LaneBeat`]s.
pub trait StreamDut: Block {
    /// Drive the clock level.
    fn set_clock(&mut self, high: bool);
    /// Drive the synchronous reset.
    fn set_reset(&mut self, on: bool);
    /// Present `beat` with `tvalid = 1`, or `tvalid = 0` for `None`.
    fn drive_input(&mut self, beat: Option<&LaneBeat>);
    /// `s_axis_tready` after settling.
    fn input_ready(&self) -> bool;
    /// Drive `m_axis_tready`.
    fn set_output_ready(&mut self, ready: bool);
    /// The output beat if `m_axis_tvalid` is high after settling.
    fn output(&self) -> Option<LaneBeat>;
}

/// Why a [`StreamBench`] run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamFailure {
    /// An output beat differs from the expected one.
    #[error("mismatch at beat {index} at cycle {cycle}: {what}\n  expected {expected:?}\n  got      {got:?}")]
    Mismatch {
        /// Beat index in the output stream.
        index: usize,
        /// Cycle of the transfer.
        cycle: u64,
        /// First differing field.
        what: String,
        /// Expected beat.
        expected: LaneBeat,
        /// Observed beat.
        got: LaneBeat,
    },
    /// More output beats than expected.
    #[error("extra beat {index} at cycle {cycle}: {got:?} (only {expected_len} expected)")]
    Extra {
        /// Index.
        index: usize,
        /// Cycle.
        cycle: u64,
        /// Observed beat.
        got: LaneBeat,
        /// Expected count.
        expected_len: usize,
    },
    /// The cycle limit was hit.
    #[error(
        "timeout after {cycles} cycles: {beats_sent}/{beats_total} beats accepted, {seen}/{expected} output beats"
    )]
    Timeout {
        /// Cycles.
        cycles: u64,
        /// Accepted input beats.
        beats_sent: usize,
        /// Offered input beats.
        beats_total: usize,
        /// Output beats seen.
        seen: usize,
        /// Output beats expected.
        expected: usize,
    },
    /// An AXI4-Stream rule was broken by the DUT.
    #[error("protocol violation at cycle {cycle}: {what}")]
    Protocol {
        /// Cycle.
        cycle: u64,
        /// Description.
        what: String,
    },
    /// `simulate()` did not settle.
    #[error("combinational logic did not settle at cycle {cycle}")]
    NoConvergence {
        /// Cycle.
        cycle: u64,
    },
}

fn first_difference(e: &LaneBeat, g: &LaneBeat) -> String {
    if let Some(i) = (0..e.lanes.len().max(g.lanes.len())).find(|&i| e.lanes.get(i) != g.lanes.get(i)) {
        return format!("tdata lane {i}: expected {:?}, got {:?}", e.lanes.get(i), g.lanes.get(i));
    }
    if let Some(i) = (0..e.aux.len().max(g.aux.len())).find(|&i| e.aux.get(i) != g.aux.get(i)) {
        return format!("tuser lane {i}: expected {:?}, got {:?}", e.aux.get(i), g.aux.get(i));
    }
    format!("tlast: expected {}, got {}", e.last, g.last)
}

/// A DUT plus a stalling source, a stalling sink and an in-order scoreboard
/// (the [`crate::axis::AxisBench`] model for [`LaneBeat`] streams).
pub struct StreamBench<D: StreamDut> {
    /// The device under test.
    pub dut: D,
    rng: StdRng,
    stalls: StallConfig,
    queue: VecDeque<LaneBeat>,
    presenting: bool,
    expected: Option<(Vec<LaneBeat>, usize)>,
    held: Option<LaneBeat>,
    stats: RunStats,
    total_cycles: u64,
}

impl<D: StreamDut> StreamBench<D> {
    /// Connects and checks `dut`; clock low, reset low, no input, sink not ready.
    pub fn new(mut dut: D, seed: u64, stalls: StallConfig) -> Self {
        dut.connect_all();
        check_all(&dut).expect("rust-hdl check_all failed");
        dut.set_clock(false);
        dut.set_reset(false);
        dut.drive_input(None);
        dut.set_output_ready(false);
        assert!(simulate(&mut dut, SETTLE_ITERS), "initial settle failed");
        StreamBench {
            dut,
            rng: StdRng::seed_from_u64(seed),
            stalls,
            queue: VecDeque::new(),
            presenting: false,
            expected: None,
            held: None,
            stats: RunStats::default(),
            total_cycles: 0,
        }
    }

    /// Changes the stall probabilities from the next cycle on.
    pub fn set_stalls(&mut self, stalls: StallConfig) {
        self.stalls = stalls;
    }

    /// Queues `beats` and the output they must produce; resets the counters.
    pub fn load(&mut self, beats: impl IntoIterator<Item = LaneBeat>, expected: Vec<LaneBeat>) {
        self.queue.extend(beats);
        self.expected = Some((expected, 0));
        self.stats = RunStats::default();
    }

    /// Counters of the current run.
    pub fn stats(&self) -> RunStats {
        self.stats
    }

    /// Cycles since the bench was built.
    pub fn total_cycles(&self) -> u64 {
        self.total_cycles
    }

    fn settle(&mut self) -> Result<(), StreamFailure> {
        if simulate(&mut self.dut, SETTLE_ITERS) {
            Ok(())
        } else {
            Err(StreamFailure::NoConvergence { cycle: self.total_cycles })
        }
    }

    /// One clock cycle with random stalls.
    pub fn step(&mut self) -> Result<(), StreamFailure> {
        let ready = self.stalls.out_stall <= 0.0 || !self.rng.gen_bool(self.stalls.out_stall.min(1.0));
        self.step_with(ready)
    }

    fn step_with(&mut self, sink_ready: bool) -> Result<(), StreamFailure> {
        let cycle = self.stats.cycles;
        if !self.presenting && !self.queue.is_empty() {
            self.presenting = self.stalls.in_stall <= 0.0 || !self.rng.gen_bool(self.stalls.in_stall.min(1.0));
        }
        let beat = if self.presenting { self.queue.front().cloned() } else { None };
        self.dut.drive_input(beat.as_ref());
        self.dut.set_output_ready(sink_ready);
        self.dut.set_clock(false);
        self.settle()?;
        let fire_in = self.presenting && self.dut.input_ready();
        if self.presenting && !fire_in {
            self.stats.input_blocked_cycles += 1;
        }
        let out = self.dut.output();
        if let Some(h) = &self.held {
            if out.as_ref() != Some(h) {
                return Err(StreamFailure::Protocol {
                    cycle,
                    what: format!("output beat {h:?} was not taken but changed to {out:?}"),
                });
            }
        }
        if let Some(w) = out {
            if sink_ready {
                self.held = None;
                self.stats.words += 1;
                match self.expected.as_mut() {
                    Some((exp, next)) => {
                        let Some(e) = exp.get(*next) else {
                            return Err(StreamFailure::Extra { index: *next, cycle, got: w, expected_len: exp.len() });
                        };
                        if *e != w {
                            return Err(StreamFailure::Mismatch {
                                index: *next,
                                cycle,
                                what: first_difference(e, &w),
                                expected: e.clone(),
                                got: w,
                            });
                        }
                        *next += 1;
                    }
                    None => return Err(StreamFailure::Extra { index: 0, cycle, got: w, expected_len: 0 }),
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

    fn done(&self) -> bool {
        self.queue.is_empty() && self.expected.as_ref().map(|(e, n)| *n == e.len()).unwrap_or(true)
    }

    fn timeout(&self) -> StreamFailure {
        let (seen, expected) = self.expected.as_ref().map(|(e, n)| (*n, e.len())).unwrap_or((0, 0));
        StreamFailure::Timeout {
            cycles: self.stats.cycles,
            beats_sent: self.stats.beats,
            beats_total: self.stats.beats + self.queue.len(),
            seen,
            expected,
        }
    }

    /// Steps until every queued beat is accepted and every expected beat
    /// has arrived, then `idle_cycles` more with the sink ready (extra beats
    /// fail). Fails on the first mismatch, a protocol violation or after
    /// `max_cycles`.
    pub fn run_to_completion(&mut self, max_cycles: u64, idle_cycles: u64) -> Result<RunStats, StreamFailure> {
        while !self.done() {
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
    pub fn run_beats(&mut self, n: usize, max_cycles: u64) -> Result<(), StreamFailure> {
        let target = self.stats.beats + n;
        while self.stats.beats < target {
            if self.stats.cycles >= max_cycles {
                return Err(self.timeout());
            }
            self.step()?;
        }
        Ok(())
    }

    /// Holds reset for `cycles` cycles (random sink readiness), checking that
    /// neither `m_axis_tvalid` nor `s_axis_tready` is high, then drops the
    /// queue, the expected beats and the counters.
    pub fn reset(&mut self, cycles: u64) -> Result<(), StreamFailure> {
        self.queue.clear();
        self.presenting = false;
        self.held = None;
        self.expected = None;
        self.dut.set_reset(true);
        for _ in 0..cycles {
            let ready = self.rng.gen_bool(0.5);
            self.dut.drive_input(None);
            self.dut.set_output_ready(ready);
            self.dut.set_clock(false);
            self.settle()?;
            if self.dut.output().is_some() || self.dut.input_ready() {
                return Err(StreamFailure::Protocol {
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

/// Input format of the transform (`B` lanes of 9 bits, no `tuser`).
pub fn transform_in_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 9, user_bits: 0 }
}

/// Output format of the transform (`B` lanes of 16 bits, no `tuser`).
pub fn transform_out_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 16, user_bits: 0 }
}

macro_rules! transform_dut {
    ($ty:ident, $($cg:ident),*) => {
        impl<$(const $cg: usize),*> StreamDut for $ty<$($cg),*> {
            crate::axis_handshake!();
            fn drive_input(&mut self, beat: Option<&LaneBeat>) {
                match beat {
                    Some(b) => {
                        assert_eq!(b.lanes.len(), B, "beat has {} lanes, unit has {B}", b.lanes.len());
                        self.s_axis_tdata.next = lanes_to_bits::<XW>(&b.lanes, 9);
                        self.s_axis_tlast.next = b.last;
                        self.s_axis_tvalid.next = true;
                    }
                    None => self.s_axis_tvalid.next = false,
                }
            }            fn output(&self) -> Option<LaneBeat> {
                self.m_axis_tvalid.val().then(|| LaneBeat {
                    lanes: bits_to_lanes(self.m_axis_tdata.val(), B, 16, true),
                    aux: vec![],
                    last: self.m_axis_tlast.val(),
                })
            }
        }
    };
}

transform_dut!(TransformFull, B, XW, YW);
transform_dut!(TransformSerial, B, XW, YW, KB);

/// Expected transform output: [`BlockMatrices::forward`] of every beat, `tlast` passed through.
pub fn transform_expected(blk: &BlockPolicy, beats: &[LaneBeat]) -> Vec<LaneBeat> {
    let bm = BlockMatrices::new(blk);
    beats
        .iter()
        .map(|b| {
            let x: Vec<i16> = b.lanes.iter().map(|&v| v as i16).collect();
            let mut y = vec![0i32; bm.b];
            bm.forward(&x, &mut y);
            LaneBeat { lanes: y.into_iter().map(i64::from).collect(), aux: vec![], last: b.last }
        })
        .collect()
}

/// Pixel vectors of one block (channels `j*b .. (j+1)*b`) of a code tensor
/// from [`actcomp_golden::testkit::random_codes`].
pub fn pixel_vectors(shape: &[usize], codes: &[i16], block: usize, b: usize) -> Vec<Vec<i64>> {
    let c = shape[1];
    let s: usize = shape[2..].iter().product();
    let v = shape[0] * s;
    (0..v)
        .map(|p| {
            let (n, sp) = (p / s, p % s);
            (0..b).map(|i| codes[(n * c + block * b + i) * s + sp] as i64).collect()
        })
        .collect()
}

/// `n` transform input beats for `policy` (block 0): random tensors from
/// `random_codes` (uniform, constant and alternating styles) mixed with
/// directed vectors (all `code_min`, all `code_max`, zeros, alternating
/// min/max, the means, single hot lanes); `tlast` with probability 0.2.
pub fn transform_beats<R: Rng>(rng: &mut R, policy: &Policy, n: usize) -> Vec<LaneBeat> {
    let b = policy.block_size;
    let (lo, hi) = (policy.input.code_range.min() as i64, policy.input.code_range.max() as i64);
    let mean: Vec<i64> = policy.blocks[0].mean.iter().map(|&m| m as i64).collect();
    let mut vecs: Vec<Vec<i64>> = vec![
        vec![lo; b],
        vec![hi; b],
        vec![0.clamp(lo, hi); b],
        (0..b).map(|i| if i % 2 == 0 { lo } else { hi }).collect(),
        (0..b).map(|i| if i % 2 == 0 { hi } else { lo }).collect(),
        mean,
    ];
    for i in 0..b {
        vecs.push((0..b).map(|j| if i == j { hi } else { lo }).collect());
    }
    while vecs.len() < n {
        let (shape, codes) = actcomp_golden::testkit::random_codes(rng, policy);
        vecs.extend(pixel_vectors(&shape, &codes, 0, b));
    }
    vecs.truncate(n);
    let len = vecs.len();
    vecs.into_iter()
        .enumerate()
        .map(|(k, lanes)| LaneBeat { lanes, aux: vec![], last: k + 1 == len || rng.gen_bool(0.2) })
        .collect()
}

/// Writes `beats.hex` (`{tlast, tuser, tdata}` per input beat),
/// `outs.hex` (`{tlast, tuser, tdata}` per expected output beat) and
/// `stalls.hex` (`{out_stall, in_stall}` per cycle) into `dir`.
pub fn write_beat_vectors(
    dir: &Path,
    fin: BeatFormat,
    fout: BeatFormat,
    beats: &[LaneBeat],
    expected: &[LaneBeat],
    stalls: &[u8],
) -> std::io::Result<()> {
    let lines = |f: BeatFormat, v: &[LaneBeat]| v.iter().map(|b| f.to_hex(b) + "\n").collect::<String>();
    std::fs::write(dir.join("beats.hex"), lines(fin, beats))?;
    std::fs::write(dir.join("outs.hex"), lines(fout, expected))?;
    std::fs::write(dir.join("stalls.hex"), stalls.iter().map(|s| format!("{s:x}\n")).collect::<String>())
}

/// Plain-Verilog testbench for a unit `dut_module` with one input and one
/// output AXI4-Stream (ports named as in the hdl units; `tuser` ports exist
/// when the format has `user_bits > 0`). Replays `beats.hex` with the stalls
/// of `stalls.hex` (cyclically), checks every output beat against
/// `outs.hex`, checks that a beat shown and not taken stays unchanged, that
/// nothing is valid or ready in reset and that no extra beat follows, and
/// prints `PASS beats=.. outs=.. cycles=..` or `FAIL ...` (first mismatch).
pub fn stream_testbench(
    dut_module: &str,
    fin: BeatFormat,
    fout: BeatFormat,
    n_beats: usize,
    n_outs: usize,
    n_stalls: usize,
    max_cycles: usize,
) -> String {
    assert!(n_beats > 0 && n_outs > 0 && n_stalls > 0, "empty vector files are not supported by $readmemh");
    let (iw, iu, ow, ou) = (fin.data_width(), fin.user_width(), fout.data_width(), fout.user_width());
    let in_user_decl = if iu > 0 { format!("reg [{}:0] s_tuser;", iu - 1) } else { String::new() };
    let out_user_decl = if ou > 0 { format!("wire [{}:0] m_tuser;", ou - 1) } else { String::new() };
    let in_user_port = if iu > 0 { ".s_axis_tuser(s_tuser), " } else { "" };
    let out_user_port = if ou > 0 { ".m_axis_tuser(m_tuser), " } else { "" };
    let in_cat = if iu > 0 { "{s_tlast, s_tuser, s_tdata}" } else { "{s_tlast, s_tdata}" };
    let out_cat = if ou > 0 { "{m_tlast, m_tuser, m_tdata}" } else { "{m_tlast, m_tdata}" };
    let (itot, otot) = (fin.total_width(), fout.total_width());
    format!(
        r#"`timescale 1ns/1ps
// Plain-Verilog testbench for {dut_module}: replays beats.hex with stalls
// from stalls.hex and checks every output beat against outs.hex.
module tb;
  localparam NBEATS = {n_beats}, NOUTS = {n_outs}, NSTALL = {n_stalls}, MAXCYC = {max_cycles};
  reg [{itm}:0] beats [0:NBEATS-1];
  reg [{otm}:0] outs [0:NOUTS-1];
  reg [1:0] stalls [0:NSTALL-1];
  reg clock, reset, s_tvalid, s_tlast, m_tready, fire_in, held_v;
  reg [{iwm}:0] s_tdata;
  {in_user_decl}
  reg [{otm}:0] held;
  reg [1:0] st;
  wire s_tready, m_tvalid, m_tlast;
  wire [{owm}:0] m_tdata;
  {out_user_decl}
  wire [{otm}:0] got;
  integer bi, wi, cyc, k;
  assign got = {out_cat};

  {dut_module} dut(
    .clock(clock), .reset(reset),
    .s_axis_tdata(s_tdata), {in_user_port}.s_axis_tvalid(s_tvalid),
    .s_axis_tready(s_tready), .s_axis_tlast(s_tlast),
    .m_axis_tdata(m_tdata), {out_user_port}.m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready),
    .m_axis_tlast(m_tlast));

  initial begin
    $readmemh("beats.hex", beats);
    $readmemh("outs.hex", outs);
    $readmemh("stalls.hex", stalls);
    clock = 0; reset = 1; s_tvalid = 0; {in_cat} = 0;
    m_tready = 0; held_v = 0; held = 0; bi = 0; wi = 0;
    for (k = 0; k < 3; k = k + 1) begin
      #5 clock = 1; #5 clock = 0;
      if (m_tvalid !== 1'b0 || s_tready !== 1'b0) begin
        $display("FAIL reset: m_axis_tvalid=%b s_axis_tready=%b during reset", m_tvalid, s_tready);
        $finish;
      end
    end
    reset = 0;
    for (cyc = 0; cyc < MAXCYC && (bi < NBEATS || wi < NOUTS); cyc = cyc + 1) begin
      st = stalls[cyc % NSTALL];
      if (bi < NBEATS) begin
        if (!s_tvalid) s_tvalid = !st[0];
        {in_cat} = beats[bi];
      end else begin
        s_tvalid = 0;
      end
      m_tready = !st[1];
      #1;
      if (^{{m_tvalid, s_tready}} === 1'bx || ^got === 1'bx) begin
        $display("FAIL X/Z on outputs at cycle %0d: tvalid=%b tready=%b beat=%h", cyc, m_tvalid, s_tready, got);
        $finish;
      end
      if (held_v && !(m_tvalid && got == held)) begin
        $display("FAIL protocol at cycle %0d: beat %h not taken but changed to %h (tvalid=%b)", cyc, held, got, m_tvalid);
        $finish;
      end
      held_v = 0;
      if (m_tvalid) begin
        if (m_tready) begin
          if (wi >= NOUTS) begin
            $display("FAIL extra beat %0d at cycle %0d: got %h", wi, cyc, got);
            $finish;
          end
          if (got !== outs[wi]) begin
            $display("FAIL mismatch at beat %0d cycle %0d: expected %h, got %h", wi, cyc, outs[wi], got);
            $finish;
          end
          wi = wi + 1;
        end else begin
          held = got;
          held_v = 1;
        end
      end
      fire_in = s_tvalid & s_tready;
      #4 clock = 1;
      #5 clock = 0;
      if (fire_in) begin
        bi = bi + 1;
        s_tvalid = 0;
      end
    end
    if (bi < NBEATS || wi < NOUTS) begin
      $display("FAIL timeout after %0d cycles: %0d/%0d beats accepted, %0d/%0d output beats", cyc, bi, NBEATS, wi, NOUTS);
      $finish;
    end
    s_tvalid = 0;
    m_tready = 1;
    for (k = 0; k < 40; k = k + 1) begin
      #1;
      if (m_tvalid !== 1'b0) begin
        $display("FAIL extra beat after the last expected one (idle cycle %0d): %h", k, got);
        $finish;
      end
      #4 clock = 1; #5 clock = 0;
    end
    $display("PASS beats=%0d outs=%0d cycles=%0d", bi, wi, cyc);
    $finish;
  end
endmodule
"#,
        itm = itot - 1,
        otm = otot - 1,
        iwm = iw - 1,
        owm = ow - 1,
    )
}

/// The stall sets of the random tests: none, sink-only, source-only, both,
/// heavy.
pub const STALL_SETS: [StallConfig; 5] = [
    StallConfig { in_stall: 0.0, out_stall: 0.0 },
    StallConfig { in_stall: 0.0, out_stall: 0.5 },
    StallConfig { in_stall: 0.5, out_stall: 0.0 },
    StallConfig { in_stall: 0.3, out_stall: 0.3 },
    StallConfig { in_stall: 0.8, out_stall: 0.8 },
];

/// Runs `make()` against golden under every stall set of `stalls`: a
/// complete run of `gen()` beats; a second run cut off after a random
/// number of beats, with the sink then stalled for 4 cycles (so beats are in
/// flight and, usually, one is held at the output) and `reset` asserted;
/// then a third complete run that must start from a clean state. Returns
/// (cycles simulated, resets that hit a held output beat). Panics with the
/// first mismatch.
pub fn stall_suite<D: StreamDut>(
    make: &dyn Fn() -> D,
    gen: &mut dyn FnMut() -> Vec<LaneBeat>,
    expect: &dyn Fn(&[LaneBeat]) -> Vec<LaneBeat>,
    stalls: &[StallConfig],
    cycles_per_beat: u64,
    seed: u64,
    what: &str,
) -> (u64, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cycles = 0;
    let mut held_at_reset = 0;
    let limit = |n: usize| 30 * cycles_per_beat * n as u64 + 200;
    for (k, s) in stalls.iter().enumerate() {
        let mut bench = StreamBench::new(make(), seed * 100 + k as u64, *s);
        let beats = gen();
        let exp = expect(&beats);
        let n = beats.len();
        bench.load(beats, exp);
        let st = bench
            .run_to_completion(limit(n), 4 * cycles_per_beat + 8)
            .unwrap_or_else(|e| panic!("{what} run 1, {s:?}: {e}"));
        assert_eq!((st.beats, st.words), (n, n), "{what} run 1, {s:?}");
        // run 2: cut by a reset with beats in flight
        let beats = gen();
        let exp = expect(&beats);
        let cut = rng.gen_range(1..beats.len().max(2));
        let n = beats.len();
        bench.load(beats, exp);
        bench.run_beats(cut.min(n), limit(n)).unwrap_or_else(|e| panic!("{what} run 2 (before reset), {s:?}: {e}"));
        bench.set_stalls(StallConfig { in_stall: s.in_stall, out_stall: 1.0 });
        for _ in 0..4 {
            bench.step().unwrap_or_else(|e| panic!("{what} stalled before reset, {s:?}: {e}"));
        }
        held_at_reset += bench.dut.output().is_some() as usize;
        bench.reset(1 + k as u64 % 3).unwrap_or_else(|e| panic!("{what} reset, {s:?}: {e}"));
        bench.set_stalls(*s);
        // run 3: clean start after the reset
        let beats = gen();
        let exp = expect(&beats);
        let n = beats.len();
        bench.load(beats, exp);
        let st = bench
            .run_to_completion(limit(n), 4 * cycles_per_beat + 8)
            .unwrap_or_else(|e| panic!("{what} run 3 (after reset), {s:?}: {e}"));
        assert_eq!((st.beats, st.words), (n, n), "{what} run 3, {s:?}");
        cycles += bench.total_cycles();
    }
    (cycles, held_at_reset)
}

/// Full-rate run: source always valid, sink always ready. Returns
/// (beats, cycles from the first to the last input transfer + 1, latency in
/// cycles from the first input transfer to the first output beat).
pub fn full_rate_run<D: StreamDut>(dut: D, beats: Vec<LaneBeat>, expected: Vec<LaneBeat>) -> (usize, u64, u64) {
    let n = beats.len();
    let mut bench = StreamBench::new(dut, 1, StallConfig::NONE);
    bench.load(beats, expected);
    let mut first_out = None;
    while first_out.is_none() {
        bench.step().unwrap_or_else(|e| panic!("full rate: {e}"));
        if bench.dut.output().is_some() {
            first_out = Some(bench.stats().cycles);
        }
    }
    let st = bench.run_to_completion(1000 * n as u64, 8).unwrap_or_else(|e| panic!("full rate: {e}"));
    let span = st.last_beat_cycle.unwrap() - st.first_beat_cycle.unwrap() + 1;
    (st.beats, span, first_out.unwrap() - st.first_beat_cycle.unwrap())
}
