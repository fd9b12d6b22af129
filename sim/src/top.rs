//! Benches for the top levels (`actcomp_compressor`, `actcomp_decompressor`)
//! against the golden codec, on real or random tensors.
//!
//! * The compressor is an [`AxisDut`] (beats = one block of one pixel
//!   vector as a [`LaneBeat`] of 9-bit lanes, output = payload words) and
//!   runs in [`AxisBench`]; expected words come from
//!   [`Codec::compress`], and a mismatch is located down to the tile,
//!   vector, block and lane whose field holds the first differing bit.
//! * The decompressor is a [`BeatDut`] (port 0 = payload words) and runs
//!   in [`BeatBench`]; expected beats come from [`Codec::reconstruct`].
//! * [`simulate_tops`] runs both (a full-rate run, a reset, a run with
//!   random stalls) and returns bit-exactness and statistics; it is what
//!   `actcomp sim` prints.

use std::time::Instant;

use actcomp_golden::codec::Codec;
use actcomp_golden::bitstream::BitReader;
use actcomp_golden::grouping::static_group_map;
use actcomp_golden::policy::{group_index_bits, Grouping, Policy};
use actcomp_hdl::{check_top_policy, port_beats, port_lanes, Compressor, Decompressor, Multipliers, TopError};
use rust_hdl::prelude::*;

use crate::axis::{AxisBench, AxisDut, OutWord, StallConfig};
use crate::scoreboard::{ExpectedWord, Scoreboard, SimFailure};
use crate::transform::{lanes_to_bits, LaneBeat};
use crate::unpacker::{to_bits, BeatBench, BeatDut, BeatFailure, InBeat, OutBeat, Stalls};

impl<
        const B: usize,
        const XW: usize,
        const YW: usize,
        const KB: usize,
        const GW: usize,
        const DW: usize,
        const UW: usize,
        const W: usize,
        const A: usize,
        const RW: usize,
        const AW: usize,
        const PL: usize,
        const PDW: usize,
        const PUW: usize,
        const IW: usize,
    > AxisDut for Compressor<B, XW, YW, KB, GW, DW, UW, W, A, RW, AW, PL, PDW, PUW, IW>
{
    type Beat = LaneBeat;
    crate::axis_handshake!();
    fn drive_input(&mut self, beat: Option<&LaneBeat>) {
        match beat {
            Some(b) => {
                self.s_axis_tdata.next = lanes_to_bits::<IW>(&b.lanes, 9);
                self.s_axis_tlast.next = b.last;
                self.s_axis_tvalid.next = true;
            }
            None => self.s_axis_tvalid.next = false,
        }
    }
    fn output(&self) -> Option<OutWord> {
        self.m_axis_tvalid.val().then(|| OutWord { data: self.m_axis_tdata.val().to_u64(), last: self.m_axis_tlast.val() })
    }
}

impl<
        const B: usize,
        const CW: usize,
        const GW: usize,
        const YW: usize,
        const UW: usize,
        const W: usize,
        const A: usize,
        const UL: usize,
        const UDW: usize,
        const UUW: usize,
        const OW: usize,
        const OS: usize,
    >
    BeatDut for Decompressor<B, CW, GW, YW, UW, W, A, UL, UDW, UUW, OW, OS>
{
    fn inputs(&self) -> usize {
        1
    }
    fn set_clock(&mut self, high: bool) {
        self.clock.next = Clock { clk: high };
    }
    fn set_reset(&mut self, on: bool) {
        self.reset.next = on;
    }
    fn drive(&mut self, _port: usize, beat: Option<&InBeat>) {
        match beat {
            Some(b) => {
                self.s_axis_tdata.next = to_bits::<W>(b.data);
                self.s_axis_tvalid.next = true;
            }
            None => self.s_axis_tvalid.next = false,
        }
    }
    fn ready(&self, _port: usize) -> bool {
        self.s_axis_tready.val()
    }
    fn set_output_ready(&mut self, ready: bool) {
        self.m_axis_tready.next = ready;
    }
    fn output(&self) -> Option<OutBeat> {
        self.m_axis_tvalid.val().then(|| OutBeat { data: self.m_axis_tdata.val().to_u128(), last: self.m_axis_tlast.val() })
    }
}

/// Access to the decompressor's `num_vectors` input (set before a run).
pub trait NumVectors {
    /// Drives `num_vectors`.
    fn set_num_vectors(&mut self, n: u64);
}

impl<
        const B: usize,
        const CW: usize,
        const GW: usize,
        const YW: usize,
        const UW: usize,
        const W: usize,
        const A: usize,
        const UL: usize,
        const UDW: usize,
        const UUW: usize,
        const OW: usize,
        const OS: usize,
    >
    NumVectors for Decompressor<B, CW, GW, YW, UW, W, A, UL, UDW, UUW, OW, OS>
{
    fn set_num_vectors(&mut self, n: u64) {
        self.num_vectors.next = n.into();
    }
}

/// Where the compressor's `s_axis_tlast` is set (always on every block
/// beat of the marked vector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlastMode {
    /// Only on the last vector of the tensor (the unit counts T vectors).
    TensorEnd,
    /// On the last vector of every tile.
    EveryTile,
}

/// The first `max` pixel vectors of a tensor (all if `max >= V`), as a
/// `1 x C x n` tensor when cut (vector order is preserved).
pub fn first_vectors(codes: &[i16], shape: &[usize], max: usize) -> (Vec<usize>, Vec<i16>) {
    let c = shape[1];
    let s: usize = shape[2..].iter().product();
    let v = shape[0] * s;
    if max >= v {
        return (shape.to_vec(), codes.to_vec());
    }
    let mut out = vec![0i16; c * max];
    for p in 0..max {
        let (n, sp) = (p / s, p % s);
        for ch in 0..c {
            out[ch * max + p] = codes[(n * c + ch) * s + sp];
        }
    }
    (vec![1, c, max], out)
}

/// Pixel vectors of a tensor of shape `N x C x ...`.
pub(crate) fn vectors_of(shape: &[usize]) -> usize {
    shape[0] * shape[2..].iter().product::<usize>()
}

/// Compressor input beats: vector-major, then block; lanes = 9-bit codes;
/// `last` on all NB beats of each vector `mode` marks.
pub fn compressor_beats(policy: &Policy, codes: &[i16], shape: &[usize], mode: TlastMode) -> Vec<LaneBeat> {
    let (c, b, t) = (policy.channels, policy.block_size, policy.tile);
    let pl = port_lanes(b);
    let s: usize = shape[2..].iter().product();
    let v = vectors_of(shape);
    let nb = policy.num_blocks();
    let mut beats = Vec::with_capacity(v * c / pl);
    for p in 0..v {
        let (n, sp) = (p / s, p % s);
        let last = match mode {
            TlastMode::TensorEnd => p + 1 == v,
            TlastMode::EveryTile => p + 1 == v || p % t == t - 1,
        };
        for j in 0..nb {
            for q in 0..port_beats(b) {
                let lane0 = j * b + q * pl;
                let lanes = (0..pl).map(|i| codes[(n * c + lane0 + i) * s + sp] as i64).collect();
                beats.push(LaneBeat { lanes, aux: vec![], last });
            }
        }
    }
    beats
}

/// Expected payload words ([`Codec::compress`]) with their tile and `tlast`
/// (last word of each tile that has words).
pub fn compressor_expected(policy: &Policy, codes: &[i16], shape: &[usize]) -> Result<Vec<ExpectedWord>, String> {
    let words = Codec::new(policy).map_err(|e| e.to_string())?.compress(codes, shape).map_err(|e| e.to_string())?;
    let v = vectors_of(shape);
    let mut out = Vec::with_capacity(words.len());
    let mut first = 0;
    let mut tile = 0;
    while first < v {
        let count = policy.tile.min(v - first);
        let n = policy.words_per_tile(count) as usize;
        for k in 0..n {
            out.push(ExpectedWord { data: words[out.len()], last: k + 1 == n, tile });
        }
        first += count;
        tile += 1;
    }
    assert_eq!(out.len(), words.len(), "golden payload length");
    Ok(out)
}

/// The payload field that holds one bit (see [`locate_payload_bit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadField {
    /// A group-map field (dynamic grouping): the group index of `lane` of `block`.
    Map { tile: usize, block: usize, lane: usize },
    /// The code of `lane` of `block` of pixel vector `vector`.
    Code { tile: usize, vector: usize, block: usize, lane: usize },
    /// Tile padding (or beyond the payload).
    Padding { tile: usize },
}

impl std::fmt::Display for PayloadField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            PayloadField::Map { tile, block, lane } => write!(f, "tile {tile}, group map of block {block}, lane {lane}"),
            PayloadField::Code { tile, vector, block, lane } => write!(f, "tile {tile}, vector {vector}, block {block}, lane {lane}"),
            PayloadField::Padding { tile } => write!(f, "tile {tile}, padding"),
        }
    }
}

/// Where bit `bit` of word `index` of the (golden) payload `words` of a
/// tensor of `vectors` pixel vectors lies. With dynamic grouping the
/// tile's code widths come from the group maps stored in `words`.
pub fn locate_payload_bit(policy: &Policy, vectors: usize, words: &[u64], index: usize, bit: u32) -> PayloadField {
    let bpv = policy.bits_per_vector() as usize;
    let w = policy.word_bits as usize;
    let b = policy.block_size;
    let wpt = policy.words_per_tile(policy.tile) as usize;
    let tile = if wpt == 0 { 0 } else { index / wpt };
    let mut pos = (index - tile * wpt) * w + bit as usize;
    let count = policy.tile.min(vectors.saturating_sub(tile * policy.tile));
    let dynamic = policy.grouping == Grouping::Dynamic;
    // The tile's group maps: read from the payload (dynamic) or static.
    let mut maps: Vec<Vec<u8>> = policy.blocks.iter().map(static_group_map).collect();
    if dynamic {
        let mut rd = BitReader::new(words.get(tile * wpt..).unwrap_or(&[]), policy.word_bits);
        for (j, blk) in policy.blocks.iter().enumerate() {
            let gb = group_index_bits(blk.groups.len());
            for i in 0..b {
                if pos < gb as usize {
                    return PayloadField::Map { tile, block: j, lane: i };
                }
                pos -= gb as usize;
                maps[j][i] = rd.read(gb).unwrap_or(0) as u8;
            }
        }
    }
    if bpv == 0 || pos >= count * bpv {
        return PayloadField::Padding { tile };
    }
    let (vin, mut rem) = (pos / bpv, pos % bpv);
    for (j, blk) in policy.blocks.iter().enumerate() {
        for (i, &g) in maps[j].iter().enumerate() {
            let wdt = blk.groups.get(g as usize).map_or(0, |gr| gr.bits as usize);
            if rem < wdt {
                return PayloadField::Code { tile, vector: tile * policy.tile + vin, block: j, lane: i };
            }
            rem -= wdt;
        }
    }
    PayloadField::Padding { tile }
}

/// Decompressor input: the payload words.
pub fn decompressor_words(words: &[u64]) -> Vec<InBeat> {
    words.iter().map(|&w| InBeat { data: w as u128, ..Default::default() }).collect()
}

/// Expected decompressor beats ([`Codec::reconstruct`]): per vector, per
/// block, lane `i` = x̂ as 8 bits; `tlast` on the last block of every tile.
pub fn decompressor_expected(policy: &Policy, codes: &[i16], shape: &[usize]) -> Result<Vec<OutBeat>, String> {
    let rec = Codec::new(policy).map_err(|e| e.to_string())?.reconstruct(codes, shape).map_err(|e| e.to_string())?;
    let (c, b, t) = (policy.channels, policy.block_size, policy.tile);
    let pl = port_lanes(b);
    let s: usize = shape[2..].iter().product();
    let v = vectors_of(shape);
    let nb = policy.num_blocks();
    let mut out = Vec::with_capacity(v * nb);
    for p in 0..v {
        let (n, sp) = (p / s, p % s);
        for j in 0..nb {
            for q in 0..port_beats(b) {
                let lane0 = j * b + q * pl;
                let data = (0..pl).fold(0u128, |a, i| a | (((rec[(n * c + lane0 + i) * s + sp] as u8) as u128) << (8 * i)));
                let last = j + 1 == nb && q + 1 == port_beats(b) && (p + 1 == v || p % t == t - 1);
                out.push(OutBeat { data, last });
            }
        }
    }
    Ok(out)
}

/// Statistics of one simulated run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// What the run was ("full rate", "stalls p=0.2", ...).
    pub label: String,
    /// Stall probability of the source and the sink.
    pub stall_prob: f64,
    /// Cycles from the start of the run to the last output transfer (inclusive).
    pub cycles: u64,
    /// Input transfers (beats or words).
    pub inputs: usize,
    /// Output transfers (words or beats).
    pub outputs: usize,
    /// Tensor values carried (pixel vectors x C).
    pub values: usize,
    /// `values / cycles`.
    pub values_per_cycle: f64,
    /// Cycles from the first input transfer to the first output transfer.
    pub latency: Option<u64>,
    /// Wall-clock seconds of the simulation.
    pub wall_s: f64,
    /// Simulated cycles per wall-clock second.
    pub cycles_per_s: f64,
}

/// Result of simulating one top level over a tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TopReport {
    /// `actcomp_compressor` or `actcomp_decompressor`.
    pub unit: String,
    /// Every output matched the golden model in every run.
    pub bit_exact: bool,
    /// First mismatch (or protocol error / timeout), if any.
    pub mismatch: Option<String>,
    /// The runs, in order (a reset separates them).
    pub runs: Vec<RunReport>,
}

/// Options of [`simulate_tops`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopSimOptions {
    /// Probability of a source or sink stall per cycle in the stalled run.
    pub stall_prob: f64,
    /// Seed of the stall RNG.
    pub seed: u64,
    /// Multiplier budget of the compressor's transforms.
    pub multipliers: Multipliers,
    /// Where the compressor's `s_axis_tlast` goes.
    pub tlast: TlastMode,
}

impl Default for TopSimOptions {
    fn default() -> Self {
        TopSimOptions { stall_prob: 0.2, seed: 1, multipliers: Multipliers::Full, tlast: TlastMode::TensorEnd }
    }
}

/// Describes a compressor scoreboard failure, locating the first differing
/// bit of a mismatching word in the golden payload `words`.
pub fn describe_compressor_failure(policy: &Policy, vectors: usize, words: &[u64], e: &SimFailure) -> String {
    match e {
        SimFailure::Mismatch { index, expected, got, expected_last, got_last, .. } => {
            let place = if expected != got {
                let bit = (expected ^ got).trailing_zeros();
                match locate_payload_bit(policy, vectors, words, *index, bit) {
                    f @ PayloadField::Code { block, lane, .. } => {
                        format!(" (first differing bit {bit}: {f}, channel {})", block * policy.block_size + lane)
                    }
                    f => format!(" (first differing bit {bit}: {f})"),
                }
            } else {
                format!(" (tlast differs: expected {expected_last}, got {got_last})")
            };
            format!("{e}{place}")
        }
        _ => e.to_string(),
    }
}

/// A decompressor failure with its vector, block and lane.
pub(crate) fn describe_decompressor_failure(policy: &Policy, e: &BeatFailure) -> String {
    match e {
        BeatFailure::Mismatch { index, expected, got, .. } => {
            let (b, nb) = (policy.block_size, policy.num_blocks());
            let (pl, pb) = (port_lanes(b), port_beats(b));
            let (vector, block, part) = (index / (nb * pb), index % (nb * pb) / pb, index % pb);
            let lane = (0..pl).find(|&i| (expected >> (8 * i)) & 0xFF != (got >> (8 * i)) & 0xFF);
            let lane = lane.map_or("tlast".to_string(), |i| {
                let k = part * pl + i;
                format!("lane {k}, channel {}", block * b + k)
            });
            format!("{e} (vector {vector}, block {block}, {lane})")
        }
        _ => e.to_string(),
    }
}

/// A [`RunReport`] with the derived rates filled in.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_report(label: &str, p: f64, cycles: u64, inputs: usize, outputs: usize, values: usize, latency: Option<u64>, wall: f64) -> RunReport {
    RunReport {
        label: label.into(),
        stall_prob: p,
        cycles,
        inputs,
        outputs,
        values,
        values_per_cycle: if cycles > 0 { values as f64 / cycles as f64 } else { 0.0 },
        latency,
        wall_s: wall,
        cycles_per_s: if wall > 0.0 { cycles as f64 / wall } else { 0.0 },
    }
}

/// One compressor run in `bench`: loads the beats and the expected words,
/// steps until all words arrived (plus 16 idle cycles that must stay
/// quiet), measures the latency.
pub fn compressor_run<D: AxisDut<Beat = LaneBeat>>(
    bench: &mut AxisBench<D>,
    policy: &Policy,
    beats: &[LaneBeat],
    expected: &[ExpectedWord],
    vectors: usize,
    stall: f64,
    label: &str,
) -> Result<RunReport, String> {
    let t0 = Instant::now();
    let n_exp = expected.len();
    bench.set_stalls(StallConfig::both(stall));
    bench.load(beats.iter().cloned(), Scoreboard::new(expected.to_vec(), policy.word_bits));
    let max = 200 * (beats.len() as u64 + n_exp as u64) + 1000;
    let mut first_out = None;
    let golden: Vec<u64> = expected.iter().map(|w| w.data).collect();
    let fail = |e: SimFailure| describe_compressor_failure(policy, vectors, &golden, &e);
    while bench.beats_pending() > 0 || bench.stats().words < n_exp {
        if bench.stats().cycles >= max {
            return Err(format!("timeout after {max} cycles: {}/{} beats accepted, {}/{n_exp} words", bench.stats().beats, beats.len(), bench.stats().words));
        }
        bench.step().map_err(fail)?;
        if first_out.is_none() && bench.stats().words > 0 {
            first_out = Some(bench.stats().cycles - 1);
        }
    }
    let st = bench.run_to_completion(max, 16).map_err(fail)?;
    let latency = match (st.first_beat_cycle, first_out) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(run_report(label, stall, st.cycles, st.beats, st.words, vectors * policy.channels, latency, t0.elapsed().as_secs_f64()))
}

/// One decompressor run in `bench` (see [`compressor_run`]).
pub fn decompressor_run<D: BeatDut + NumVectors>(
    bench: &mut BeatBench<D>,
    policy: &Policy,
    words: &[u64],
    expected: &[OutBeat],
    vectors: usize,
    stall: f64,
    label: &str,
) -> Result<RunReport, String> {
    let t0 = Instant::now();
    bench.dut.set_num_vectors(vectors as u64);
    bench.set_stalls(Stalls::all(stall));
    bench.load(vec![decompressor_words(words)], expected.to_vec());
    let max = 200 * (words.len() as u64 + expected.len() as u64) + 1000;
    let mut first_in = None;
    let fail = |e: BeatFailure| describe_decompressor_failure(policy, &e);
    while bench.stats().outputs < expected.len() || bench.stats().accepted[0] < words.len() {
        if bench.stats().cycles >= max {
            return Err(format!(
                "timeout after {max} cycles: {}/{} words accepted, {}/{} beats",
                bench.stats().accepted[0],
                words.len(),
                bench.stats().outputs,
                expected.len()
            ));
        }
        bench.step().map_err(fail)?;
        if first_in.is_none() && bench.stats().accepted[0] > 0 {
            first_in = Some(bench.stats().cycles - 1);
        }
    }
    let st = bench.run_to_completion(max, 16, true).map_err(fail)?;
    let latency = match (first_in, st.first_out) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let cycles = st.last_out.map_or(st.cycles, |l| l + 1);
    Ok(run_report(label, stall, cycles, st.accepted[0], st.outputs, vectors * policy.channels, latency, t0.elapsed().as_secs_f64()))
}

/// Runs the compressor of `policy` on the tensor: a full-rate run (source
/// always valid, sink always ready), a reset, then a run with random
/// stalls of probability `opts.stall_prob` on both sides.
pub fn simulate_compressor(policy: &Policy, codes: &[i16], shape: &[usize], opts: &TopSimOptions) -> Result<TopReport, TopError> {
    simulate_compressor_traced(policy, codes, shape, opts, None)
}

/// [`simulate_compressor`], writing a VCD waveform of all its runs to
/// `vcd` when given.
pub fn simulate_compressor_traced(
    policy: &Policy,
    codes: &[i16],
    shape: &[usize],
    opts: &TopSimOptions,
    vcd: Option<&std::path::Path>,
) -> Result<TopReport, TopError> {
    check_top_policy(policy)?;
    let expected = compressor_expected(policy, codes, shape).map_err(TopError)?;
    let beats = compressor_beats(policy, codes, shape, opts.tlast);
    let v = vectors_of(shape);
    fn go<D: AxisDut<Beat = LaneBeat>>(
        dut: D,
        policy: &Policy,
        beats: &[LaneBeat],
        expected: &[ExpectedWord],
        v: usize,
        opts: &TopSimOptions,
        vcd: Option<&std::path::Path>,
    ) -> Result<TopReport, TopError> {
        let mut bench = AxisBench::new(dut, opts.seed, StallConfig::NONE);
        if let Some(p) = vcd {
            bench.trace_vcd(p).map_err(|e| TopError(format!("cannot write VCD {}: {e}", p.display())))?;
        }
        let mut runs = Vec::new();
        let mut mismatch = None;
        match compressor_run(&mut bench, policy, beats, expected, v, 0.0, "full rate") {
            Ok(r) => runs.push(r),
            Err(e) => mismatch = Some(format!("full-rate run: {e}")),
        }
        if mismatch.is_none() {
            if let Err(e) = bench.reset(2) {
                mismatch = Some(format!("reset: {e}"));
            }
        }
        if mismatch.is_none() {
            let label = format!("stalls p={}", opts.stall_prob);
            match compressor_run(&mut bench, policy, beats, expected, v, opts.stall_prob, &label) {
                Ok(r) => runs.push(r),
                Err(e) => mismatch = Some(format!("stalled run: {e}")),
            }
        }
        Ok(TopReport { unit: "actcomp_compressor".into(), bit_exact: mismatch.is_none(), mismatch, runs })
    }
    let m = opts.multipliers;
    actcomp_hdl::with_compressor_type!(policy, T => go(T::new(policy, m)?, policy, &beats, &expected, v, opts, vcd))
}

/// Runs the decompressor of `policy` on the golden payload of the tensor:
/// a full-rate run, a reset, then a run with random stalls.
pub fn simulate_decompressor(policy: &Policy, codes: &[i16], shape: &[usize], opts: &TopSimOptions) -> Result<TopReport, TopError> {
    simulate_decompressor_traced(policy, codes, shape, opts, None)
}

/// [`simulate_decompressor`], writing a VCD waveform of all its runs to
/// `vcd` when given.
pub fn simulate_decompressor_traced(
    policy: &Policy,
    codes: &[i16],
    shape: &[usize],
    opts: &TopSimOptions,
    vcd: Option<&std::path::Path>,
) -> Result<TopReport, TopError> {
    check_top_policy(policy)?;
    let words = Codec::new(policy).map_err(|e| TopError(e.to_string()))?.compress(codes, shape).map_err(|e| TopError(e.to_string()))?;
    let expected = decompressor_expected(policy, codes, shape).map_err(TopError)?;
    let v = vectors_of(shape);
    fn go<D: BeatDut + NumVectors>(
        dut: D,
        policy: &Policy,
        words: &[u64],
        expected: &[OutBeat],
        v: usize,
        opts: &TopSimOptions,
        vcd: Option<&std::path::Path>,
    ) -> Result<TopReport, TopError> {
        let mut bench = BeatBench::new(dut, opts.seed, Stalls::none(), 8, port_lanes(policy.block_size));
        if let Some(p) = vcd {
            bench.trace_vcd(p).map_err(|e| TopError(format!("cannot write VCD {}: {e}", p.display())))?;
        }
        let mut runs = Vec::new();
        let mut mismatch = None;
        match decompressor_run(&mut bench, policy, words, expected, v, 0.0, "full rate") {
            Ok(r) => runs.push(r),
            Err(e) => mismatch = Some(format!("full-rate run: {e}")),
        }
        if mismatch.is_none() {
            if let Err(e) = bench.reset(2) {
                mismatch = Some(format!("reset: {e}"));
            }
        }
        if mismatch.is_none() {
            let label = format!("stalls p={}", opts.stall_prob);
            match decompressor_run(&mut bench, policy, words, expected, v, opts.stall_prob, &label) {
                Ok(r) => runs.push(r),
                Err(e) => mismatch = Some(format!("stalled run: {e}")),
            }
        }
        Ok(TopReport { unit: "actcomp_decompressor".into(), bit_exact: mismatch.is_none(), mismatch, runs })
    }
    actcomp_hdl::with_decompressor_type!(policy, T => go(T::new(policy)?, policy, &words, &expected, v, opts, vcd))
}

/// Both top levels on the tensor (see [`simulate_compressor`] and
/// [`simulate_decompressor`]).
pub fn simulate_tops(policy: &Policy, codes: &[i16], shape: &[usize], opts: &TopSimOptions) -> Result<[TopReport; 2], TopError> {
    Ok([simulate_compressor(policy, codes, shape, opts)?, simulate_decompressor(policy, codes, shape, opts)?])
}
