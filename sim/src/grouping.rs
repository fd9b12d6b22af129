//! Bench for the group importance sorter ([`actcomp_hdl::GroupSorter`]):
//! one input stream and two output streams (replayed vectors with their
//! lanes' groups, and one group-map beat per tile).
//!
//! * [`SorterDut`] / [`SorterBench`]: the thread-free, cycle-stepped bench of
//!   [`crate::StreamBench`] (same stall model and protocol checks) with an
//!   independent random `tready` per output stream and an in-order
//!   scoreboard per stream; failures are [`StreamFailure`]s naming the
//!   stream, beat, cycle and first differing lane.
//! * [`sorter_expected`]: expected maps and replayed beats from the golden
//!   [`dynamic_group_map`] (tiles end at `tlast` or after `T` vectors).
//! * [`sorter_tiles`]: random tiles with extremes and ties.
//! * [`write_sorter_vectors`], [`sorter_testbench`]: hex vectors and a
//!   plain-Verilog testbench for the emitted Verilog under Icarus.

use std::collections::VecDeque;
use std::path::Path;

use actcomp_golden::grouping::{dynamic_group_map, rank_positions};
use actcomp_golden::policy::BlockPolicy;
use actcomp_hdl::GroupSorter;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_hdl::prelude::*;

use crate::axis::{RunStats, SETTLE_ITERS};
use crate::transform::{bits_to_lanes, lanes_to_bits, BeatFormat, LaneBeat, StreamFailure};

/// Input format: `B` lanes of `y` (16 bits), no `tuser`.
pub fn sorter_in_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 16, user_bits: 0 }
}

/// Replay format: `B` lanes of `y` (16 bits) with the 3-bit group in `tuser`
/// (the quantizer's input format).
pub fn sorter_out_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 16, user_bits: 3 }
}

/// Map format: `B` group indices of 3 bits (`tlast` bit unused, 0).
pub fn sorter_map_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 3, user_bits: 0 }
}

/// Stall probabilities of the three streams (0.0 = never stall).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SorterStalls {
    /// An idle source does not present its next vector this cycle.
    pub input: f64,
    /// The replay sink is not ready.
    pub data: f64,
    /// The map sink is not ready.
    pub map: f64,
}

impl SorterStalls {
    /// No stalls anywhere.
    pub const NONE: SorterStalls = SorterStalls { input: 0.0, data: 0.0, map: 0.0 };
}

/// Stall sets of the random tests: none, replay sink only, map sink only,
/// source only, all moderate, all heavy.
pub const SORTER_STALL_SETS: [SorterStalls; 6] = [
    SorterStalls { input: 0.0, data: 0.0, map: 0.0 },
    SorterStalls { input: 0.0, data: 0.5, map: 0.0 },
    SorterStalls { input: 0.0, data: 0.0, map: 0.7 },
    SorterStalls { input: 0.5, data: 0.0, map: 0.0 },
    SorterStalls { input: 0.3, data: 0.3, map: 0.3 },
    SorterStalls { input: 0.8, data: 0.8, map: 0.8 },
];

/// Port access of a sorter-like DUT.
pub trait SorterDut: Block {
    /// Drive the clock level.
    fn set_clock(&mut self, high: bool);
    /// Drive the synchronous reset.
    fn set_reset(&mut self, on: bool);
    /// Present a vector (`lanes` = y, `last` = tile end) or nothing.
    fn drive_input(&mut self, beat: Option<&LaneBeat>);
    /// `s_axis_tready` after settling.
    fn input_ready(&self) -> bool;
    /// Drive `m_axis_tready` and `m_map_tready`.
    fn set_ready(&mut self, data: bool, map: bool);
    /// The replay beat if `m_axis_tvalid` is high.
    fn output(&self) -> Option<LaneBeat>;
    /// The map beat (group per lane) if `m_map_tvalid` is high.
    fn map_output(&self) -> Option<Vec<i64>>;
}

impl<const B: usize, const YW: usize, const GW: usize, const RW: usize, const AW: usize> SorterDut
    for GroupSorter<B, YW, GW, RW, AW>
{
    fn set_clock(&mut self, high: bool) {
        self.clock.next = Clock { clk: high };
    }
    fn set_reset(&mut self, on: bool) {
        self.reset.next = on;
    }
    fn drive_input(&mut self, beat: Option<&LaneBeat>) {
        match beat {
            Some(b) => {
                assert_eq!(b.lanes.len(), B, "beat has {} lanes, unit has {B}", b.lanes.len());
                self.s_axis_tdata.next = lanes_to_bits::<YW>(&b.lanes, 16);
                self.s_axis_tlast.next = b.last;
                self.s_axis_tvalid.next = true;
            }
            None => self.s_axis_tvalid.next = false,
        }
    }
    fn input_ready(&self) -> bool {
        self.s_axis_tready.val()
    }
    fn set_ready(&mut self, data: bool, map: bool) {
        self.m_axis_tready.next = data;
        self.m_map_tready.next = map;
    }
    fn output(&self) -> Option<LaneBeat> {
        self.m_axis_tvalid.val().then(|| LaneBeat {
            lanes: bits_to_lanes(self.m_axis_tdata.val(), B, 16, true),
            aux: bits_to_lanes(self.m_axis_tuser.val(), B, 3, false),
            last: self.m_axis_tlast.val(),
        })
    }
    fn map_output(&self) -> Option<Vec<i64>> {
        self.m_map_tvalid.val().then(|| bits_to_lanes(self.m_map_tdata.val(), B, 3, false))
    }
}

/// Expected outputs of the sorter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SorterExpected {
    /// One group map per tile (group of component k at index k).
    pub maps: Vec<Vec<i64>>,
    /// The input vectors in order, each lane with its tile's group, `last`
    /// on the tile's final vector.
    pub beats: Vec<LaneBeat>,
}

/// Expected sorter output for `beats` (lanes = y): tiles end at `last` or
/// after `max_tile` vectors; each tile's map is the golden
/// [`dynamic_group_map`] of its energies `Σ |y_k|` with the block's static
/// positions and group sizes.
pub fn sorter_expected(blk: &BlockPolicy, beats: &[LaneBeat], max_tile: usize) -> SorterExpected {
    let b = blk.rank.len();
    let positions = rank_positions(&blk.rank);
    let sizes: Vec<usize> = blk.groups.iter().map(|g| g.size).collect();
    let mut out = SorterExpected::default();
    let mut order = Vec::new();
    let mut start = 0;
    while start < beats.len() {
        let mut end = start;
        while !(beats[end].last || end + 1 - start == max_tile || end + 1 == beats.len()) {
            end += 1;
        }
        let mut energy = vec![0u64; b];
        for bt in &beats[start..=end] {
            for (e, &y) in energy.iter_mut().zip(&bt.lanes) {
                *e += y.unsigned_abs();
            }
        }
        let mut map = vec![0u8; b];
        dynamic_group_map(&energy, &positions, &sizes, &mut order, &mut map);
        let map: Vec<i64> = map.into_iter().map(i64::from).collect();
        for (n, bt) in beats[start..=end].iter().enumerate() {
            out.beats.push(LaneBeat { lanes: bt.lanes.clone(), aux: map.clone(), last: start + n == end });
        }
        out.maps.push(map);
        start = end + 1;
    }
    out
}

/// `n_tiles` random tiles of 1..=`max_tile` vectors of `b` lanes (the
/// final tile often partial), `last` on each tile's final vector. Per tile
/// one style: uniform 16-bit values with −32768/32767 over-represented;
/// all zero (every energy ties: static order); duplicated and sign-flipped
/// columns (ties between some components); all −32768 or all 32767 (the
/// largest energies, equal); small values −2..=2 (many ties); a single hot
/// lane; one column −32768 against another 32767 (energies differing by one
/// per vector).
pub fn sorter_tiles<R: Rng>(rng: &mut R, b: usize, max_tile: usize, n_tiles: usize) -> Vec<LaneBeat> {
    let mut beats = Vec::new();
    for t in 0..n_tiles {
        let len = if rng.gen_bool(0.3) { max_tile } else { rng.gen_range(1..=max_tile) };
        let style = rng.gen_range(0..9);
        // column sources for the duplicated style: lane k copies lane src[k] (maybe negated)
        let src: Vec<usize> = (0..b).map(|k| if rng.gen_bool(0.5) { rng.gen_range(0..b) } else { k }).collect();
        let neg: Vec<bool> = (0..b).map(|_| rng.gen_bool(0.5)).collect();
        let hot = rng.gen_range(0..b);
        for n in 0..len {
            let mut lanes: Vec<i64> = (0..b)
                .map(|_| match rng.gen_range(0..10) {
                    0 => -32768,
                    1 => 32767,
                    2 => 0,
                    3 => rng.gen_range(-300..=300),
                    _ => rng.gen_range(-32768..=32767),
                })
                .collect();
            match style {
                0 => lanes.iter_mut().for_each(|y| *y = 0),
                1 => {
                    let base = lanes.clone();
                    for k in 0..b {
                        let v = base[src[k]];
                        lanes[k] = if neg[k] && v != -32768 { -v } else { v };
                    }
                }
                2 => lanes.iter_mut().for_each(|y| *y = -32768),
                3 => lanes.iter_mut().for_each(|y| *y = 32767),
                4 => lanes.iter_mut().for_each(|y| *y = rng.gen_range(-2..=2)),
                5 => {
                    for (k, y) in lanes.iter_mut().enumerate() {
                        *y = if k == hot { rng.gen_range(-32768..=32767) } else { 0 };
                    }
                }
                6 => {
                    lanes[hot] = -32768;
                    lanes[(hot + 1) % b] = 32767;
                }
                _ => {}
            }
            beats.push(LaneBeat { lanes, aux: vec![], last: n + 1 == len });
        }
        if t + 1 == n_tiles && len > 1 && rng.gen_bool(0.5) {
            // a final partial tile shorter than the others
            let cut = rng.gen_range(1..len);
            beats.truncate(beats.len() - (len - cut));
            beats.last_mut().unwrap().last = true;
        }
    }
    beats
}

fn first_difference(e: &LaneBeat, g: &LaneBeat) -> String {
    if let Some(i) = (0..e.lanes.len().max(g.lanes.len())).find(|&i| e.lanes.get(i) != g.lanes.get(i)) {
        return format!("tdata lane {i}: expected {:?}, got {:?}", e.lanes.get(i), g.lanes.get(i));
    }
    if let Some(i) = (0..e.aux.len().max(g.aux.len())).find(|&i| e.aux.get(i) != g.aux.get(i)) {
        return format!("tuser (group) lane {i}: expected {:?}, got {:?}", e.aux.get(i), g.aux.get(i));
    }
    format!("tlast: expected {}, got {}", e.last, g.last)
}

/// Counters of a [`SorterBench`] run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SorterStats {
    /// Input / replay counters (`words` = replay beats).
    pub run: RunStats,
    /// Map beats received.
    pub maps: usize,
    /// Cycle of the first map transfer.
    pub first_map_cycle: Option<u64>,
    /// Cycle of the first replay transfer.
    pub first_out_cycle: Option<u64>,
}

/// A sorter DUT with a stalling source, two stalling sinks and scoreboards.
pub struct SorterBench<D: SorterDut> {
    /// The device under test.
    pub dut: D,
    rng: StdRng,
    stalls: SorterStalls,
    queue: VecDeque<LaneBeat>,
    presenting: bool,
    expected: Option<(SorterExpected, usize, usize)>,
    held: Option<LaneBeat>,
    held_map: Option<Vec<i64>>,
    stats: SorterStats,
    total_cycles: u64,
}

impl<D: SorterDut> SorterBench<D> {
    /// Connects and checks `dut`; clock low, no input, sinks not ready.
    pub fn new(mut dut: D, seed: u64, stalls: SorterStalls) -> Self {
        dut.connect_all();
        check_all(&dut).expect("rust-hdl check_all failed");
        dut.set_clock(false);
        dut.set_reset(false);
        dut.drive_input(None);
        dut.set_ready(false, false);
        assert!(simulate(&mut dut, SETTLE_ITERS), "initial settle failed");
        SorterBench {
            dut,
            rng: StdRng::seed_from_u64(seed),
            stalls,
            queue: VecDeque::new(),
            presenting: false,
            expected: None,
            held: None,
            held_map: None,
            stats: SorterStats::default(),
            total_cycles: 0,
        }
    }

    /// Changes the stall probabilities from the next cycle on.
    pub fn set_stalls(&mut self, stalls: SorterStalls) {
        self.stalls = stalls;
    }

    /// Queues `beats` and the outputs they must produce; resets the counters.
    pub fn load(&mut self, beats: impl IntoIterator<Item = LaneBeat>, expected: SorterExpected) {
        self.queue.extend(beats);
        self.expected = Some((expected, 0, 0));
        self.stats = SorterStats::default();
    }

    /// Counters of the current run.
    pub fn stats(&self) -> SorterStats {
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

    fn draw(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen_bool(p.min(1.0))
    }

    /// One clock cycle with random stalls.
    pub fn step(&mut self) -> Result<(), StreamFailure> {
        let (sd, sm) = (self.stalls.data, self.stalls.map);
        let data_ready = !self.draw(sd);
        let map_ready = !self.draw(sm);
        self.step_with(data_ready, map_ready)
    }

    fn step_with(&mut self, data_ready: bool, map_ready: bool) -> Result<(), StreamFailure> {
        let cycle = self.stats.run.cycles;
        if !self.presenting && !self.queue.is_empty() {
            let p = self.stalls.input;
            self.presenting = !self.draw(p);
        }
        let beat = if self.presenting { self.queue.front().cloned() } else { None };
        self.dut.drive_input(beat.as_ref());
        self.dut.set_ready(data_ready, map_ready);
        self.dut.set_clock(false);
        self.settle()?;
        let fire_in = self.presenting && self.dut.input_ready();
        if self.presenting && !fire_in {
            self.stats.run.input_blocked_cycles += 1;
        }
        // replay stream
        let out = self.dut.output();
        if let Some(h) = &self.held {
            if out.as_ref() != Some(h) {
                return Err(StreamFailure::Protocol {
                    cycle,
                    what: format!("replay beat {h:?} was not taken but changed to {out:?}"),
                });
            }
        }
        if let Some(w) = out {
            if data_ready {
                self.held = None;
                self.stats.run.words += 1;
                self.stats.first_out_cycle.get_or_insert(cycle);
                let Some((exp, next, _)) = self.expected.as_mut() else {
                    return Err(StreamFailure::Extra { index: 0, cycle, got: w, expected_len: 0 });
                };
                let Some(e) = exp.beats.get(*next) else {
                    return Err(StreamFailure::Extra { index: *next, cycle, got: w, expected_len: exp.beats.len() });
                };
                if *e != w {
                    return Err(StreamFailure::Mismatch {
                        index: *next,
                        cycle,
                        what: format!("replay stream, {}", first_difference(e, &w)),
                        expected: e.clone(),
                        got: w,
                    });
                }
                *next += 1;
            } else {
                self.held = Some(w);
            }
        }
        // map stream
        let m = self.dut.map_output();
        if let Some(h) = &self.held_map {
            if m.as_ref() != Some(h) {
                return Err(StreamFailure::Protocol {
                    cycle,
                    what: format!("map beat {h:?} was not taken but changed to {m:?}"),
                });
            }
        }
        if let Some(mv) = m {
            if map_ready {
                self.held_map = None;
                self.stats.maps += 1;
                self.stats.first_map_cycle.get_or_insert(cycle);
                let got = LaneBeat { lanes: mv, aux: vec![], last: false };
                let Some((exp, _, next)) = self.expected.as_mut() else {
                    return Err(StreamFailure::Extra { index: 0, cycle, got, expected_len: 0 });
                };
                let Some(e) = exp.maps.get(*next) else {
                    return Err(StreamFailure::Extra { index: *next, cycle, got, expected_len: exp.maps.len() });
                };
                let e = LaneBeat { lanes: e.clone(), aux: vec![], last: false };
                if e != got {
                    return Err(StreamFailure::Mismatch {
                        index: *next,
                        cycle,
                        what: format!("map stream (tile {next}), {}", first_difference(&e, &got)),
                        expected: e,
                        got,
                    });
                }
                *next += 1;
            } else {
                self.held_map = Some(mv);
            }
        }
        self.dut.set_clock(true);
        self.settle()?;
        if fire_in {
            self.queue.pop_front();
            self.presenting = false;
            self.stats.run.beats += 1;
            self.stats.run.first_beat_cycle.get_or_insert(cycle);
            self.stats.run.last_beat_cycle = Some(cycle);
        }
        self.stats.run.cycles += 1;
        self.total_cycles += 1;
        Ok(())
    }

    fn done(&self) -> bool {
        self.queue.is_empty()
            && self.expected.as_ref().map(|(e, n, m)| *n == e.beats.len() && *m == e.maps.len()).unwrap_or(true)
    }

    fn timeout(&self) -> StreamFailure {
        let (seen, expected) = self.expected.as_ref().map(|(e, n, _)| (*n, e.beats.len())).unwrap_or((0, 0));
        StreamFailure::Timeout {
            cycles: self.stats.run.cycles,
            beats_sent: self.stats.run.beats,
            beats_total: self.stats.run.beats + self.queue.len(),
            seen,
            expected,
        }
    }

    /// Steps until every vector is accepted and every expected replay beat
    /// and map has arrived, then `idle_cycles` more with both sinks ready
    /// (extra beats fail).
    pub fn run_to_completion(&mut self, max_cycles: u64, idle_cycles: u64) -> Result<SorterStats, StreamFailure> {
        while !self.done() {
            if self.stats.run.cycles >= max_cycles {
                return Err(self.timeout());
            }
            self.step()?;
        }
        let stats = self.stats;
        for _ in 0..idle_cycles {
            self.step_with(true, true)?;
        }
        Ok(stats)
    }

    /// Steps until `n` more vectors have been accepted (outputs still checked).
    pub fn run_beats(&mut self, n: usize, max_cycles: u64) -> Result<(), StreamFailure> {
        let target = self.stats.run.beats + n;
        while self.stats.run.beats < target {
            if self.stats.run.cycles >= max_cycles {
                return Err(self.timeout());
            }
            self.step()?;
        }
        Ok(())
    }

    /// Holds reset for `cycles` cycles (random sink readiness) checking that
    /// no `tvalid` or `tready` is high, then drops queue, expectations and counters.
    pub fn reset(&mut self, cycles: u64) -> Result<(), StreamFailure> {
        self.queue.clear();
        self.presenting = false;
        self.held = None;
        self.held_map = None;
        self.expected = None;
        self.dut.set_reset(true);
        for _ in 0..cycles {
            let (a, b) = (self.rng.gen_bool(0.5), self.rng.gen_bool(0.5));
            self.dut.drive_input(None);
            self.dut.set_ready(a, b);
            self.dut.set_clock(false);
            self.settle()?;
            if self.dut.output().is_some() || self.dut.map_output().is_some() || self.dut.input_ready() {
                return Err(StreamFailure::Protocol {
                    cycle: self.total_cycles,
                    what: "m_axis_tvalid, m_map_tvalid or s_axis_tready high during reset".into(),
                });
            }
            self.dut.set_clock(true);
            self.settle()?;
            self.total_cycles += 1;
        }
        self.dut.set_reset(false);
        self.dut.set_clock(false);
        self.settle()?;
        self.stats = SorterStats::default();
        Ok(())
    }

    /// Whether a replay beat or a map is shown (e.g. held by a stalled sink).
    pub fn outputs_pending(&self) -> (bool, bool) {
        (self.dut.output().is_some(), self.dut.map_output().is_some())
    }
}

/// Runs one stall set: a complete run of `gen()`; a run cut after a random
/// number of vectors, both sinks then stalled for `hold` cycles (so beats
/// and maps are in flight and held) and `reset` asserted; and a complete
/// run from the clean state. Returns (cycles, whether the reset hit a held
/// replay beat, whether it hit a held map). Panics with the first mismatch.
#[allow(clippy::too_many_arguments)]
pub fn sorter_suite<D: SorterDut>(
    make: &dyn Fn() -> D,
    gen: &mut dyn FnMut() -> Vec<LaneBeat>,
    expect: &dyn Fn(&[LaneBeat]) -> SorterExpected,
    stalls: SorterStalls,
    hold: u64,
    seed: u64,
    what: &str,
) -> (u64, bool, bool) {
    let mut rng = StdRng::seed_from_u64(seed);
    let limit = |n: usize| 40 * n as u64 + 400;
    let mut bench = SorterBench::new(make(), seed, stalls);
    let beats = gen();
    let exp = expect(&beats);
    let (n, nm) = (beats.len(), exp.maps.len());
    bench.load(beats, exp);
    let st = bench.run_to_completion(limit(n), 40).unwrap_or_else(|e| panic!("{what} run 1, {stalls:?}: {e}"));
    assert_eq!((st.run.beats, st.run.words, st.maps), (n, n, nm), "{what} run 1, {stalls:?}");
    // run 2: cut by a reset with vectors, maps and energies in flight
    let beats = gen();
    let exp = expect(&beats);
    let n = beats.len();
    let cut = rng.gen_range(1..n.max(2)).min(n);
    bench.load(beats, exp);
    bench.run_beats(cut, limit(n)).unwrap_or_else(|e| panic!("{what} run 2 (before reset), {stalls:?}: {e}"));
    bench.set_stalls(SorterStalls { input: stalls.input, data: 1.0, map: 1.0 });
    for _ in 0..hold {
        bench.step().unwrap_or_else(|e| panic!("{what} stalled before reset, {stalls:?}: {e}"));
    }
    let (hd, hm) = bench.outputs_pending();
    bench.reset(1 + seed % 3).unwrap_or_else(|e| panic!("{what} reset, {stalls:?}: {e}"));
    bench.set_stalls(stalls);
    // run 3: clean start after the reset
    let beats = gen();
    let exp = expect(&beats);
    let (n, nm) = (beats.len(), exp.maps.len());
    bench.load(beats, exp);
    let st =
        bench.run_to_completion(limit(n), 40).unwrap_or_else(|e| panic!("{what} run 3 (after reset), {stalls:?}: {e}"));
    assert_eq!((st.run.beats, st.run.words, st.maps), (n, n, nm), "{what} run 3, {stalls:?}");
    (bench.total_cycles(), hd, hm)
}

/// Writes `beats.hex` (`{tlast, y}` per vector), `outs.hex`
/// (`{tlast, groups, y}` per replay beat), `maps.hex` (`{0, map}` per tile)
/// and `stalls.hex` (`{map_stall, out_stall, in_stall}` per cycle) into `dir`.
pub fn write_sorter_vectors(
    dir: &Path,
    b: usize,
    beats: &[LaneBeat],
    expected: &SorterExpected,
    stalls: &[u8],
) -> std::io::Result<()> {
    let lines = |f: BeatFormat, v: &[LaneBeat]| v.iter().map(|x| f.to_hex(x) + "\n").collect::<String>();
    std::fs::write(dir.join("beats.hex"), lines(sorter_in_format(b), beats))?;
    std::fs::write(dir.join("outs.hex"), lines(sorter_out_format(b), &expected.beats))?;
    let maps: Vec<LaneBeat> =
        expected.maps.iter().map(|m| LaneBeat { lanes: m.clone(), aux: vec![], last: false }).collect();
    std::fs::write(dir.join("maps.hex"), lines(sorter_map_format(b), &maps))?;
    std::fs::write(dir.join("stalls.hex"), stalls.iter().map(|s| format!("{s:x}\n")).collect::<String>())
}

/// Random per-cycle stalls for the Verilog bench: bit 0 input, bit 1 replay
/// sink, bit 2 map sink.
pub fn sorter_stall_pattern(seed: u64, cycles: usize, s: SorterStalls) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..cycles)
        .map(|_| {
            (rng.gen_bool(s.input) as u8) | ((rng.gen_bool(s.data) as u8) << 1) | ((rng.gen_bool(s.map) as u8) << 2)
        })
        .collect()
}

/// Plain-Verilog testbench for a sorter module `dut_module` with `b` lanes:
/// replays `beats.hex` with the stalls of `stalls.hex` (cyclically), checks
/// every replay beat against `outs.hex` and every map against `maps.hex`,
/// checks that a beat shown and not taken stays unchanged (both outputs),
/// that nothing is valid or ready in reset and that no extra beat follows,
/// and prints `PASS beats=.. outs=.. maps=.. cycles=..` or `FAIL ...`.
pub fn sorter_testbench(
    dut_module: &str,
    b: usize,
    n_beats: usize,
    n_outs: usize,
    n_maps: usize,
    n_stalls: usize,
    max_cycles: usize,
) -> String {
    assert!(n_beats > 0 && n_outs > 0 && n_maps > 0 && n_stalls > 0, "empty vector files are not supported");
    let (fi, fo, fm) = (sorter_in_format(b), sorter_out_format(b), sorter_map_format(b));
    format!(
        r#"`timescale 1ns/1ps
// Plain-Verilog testbench for {dut_module}: replays beats.hex with stalls
// from stalls.hex; checks replay beats against outs.hex and maps against maps.hex.
module tb;
  localparam NBEATS = {n_beats}, NOUTS = {n_outs}, NMAPS = {n_maps}, NSTALL = {n_stalls}, MAXCYC = {max_cycles};
  reg [{itm}:0] beats [0:NBEATS-1];
  reg [{otm}:0] outs [0:NOUTS-1];
  reg [{mtm}:0] maps [0:NMAPS-1];
  reg [2:0] stalls [0:NSTALL-1];
  reg clock, reset, s_tvalid, s_tlast, m_tready, mm_tready, fire_in, held_v, hmap_v;
  reg [{iwm}:0] s_tdata;
  reg [{otm}:0] held;
  reg [{mtm}:0] hmap;
  reg [2:0] st;
  wire s_tready, m_tvalid, m_tlast, mm_tvalid;
  wire [{iwm}:0] m_tdata;
  wire [{gwm}:0] m_tuser;
  wire [{gwm}:0] mm_tdata;
  wire [{otm}:0] got;
  wire [{mtm}:0] gotmap;
  integer bi, wi, mi, cyc, k;
  assign got = {{m_tlast, m_tuser, m_tdata}};
  assign gotmap = {{1'b0, mm_tdata}};

  {dut_module} dut(
    .clock(clock), .reset(reset),
    .s_axis_tdata(s_tdata), .s_axis_tvalid(s_tvalid), .s_axis_tready(s_tready), .s_axis_tlast(s_tlast),
    .m_axis_tdata(m_tdata), .m_axis_tuser(m_tuser), .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready),
    .m_axis_tlast(m_tlast),
    .m_map_tdata(mm_tdata), .m_map_tvalid(mm_tvalid), .m_map_tready(mm_tready));

  initial begin
    $readmemh("beats.hex", beats);
    $readmemh("outs.hex", outs);
    $readmemh("maps.hex", maps);
    $readmemh("stalls.hex", stalls);
    clock = 0; reset = 1; s_tvalid = 0; {{s_tlast, s_tdata}} = 0;
    m_tready = 0; mm_tready = 0; held_v = 0; held = 0; hmap_v = 0; hmap = 0; bi = 0; wi = 0; mi = 0;
    for (k = 0; k < 3; k = k + 1) begin
      #5 clock = 1; #5 clock = 0;
      if (m_tvalid !== 1'b0 || mm_tvalid !== 1'b0 || s_tready !== 1'b0) begin
        $display("FAIL reset: m_axis_tvalid=%b m_map_tvalid=%b s_axis_tready=%b during reset", m_tvalid, mm_tvalid, s_tready);
        $finish;
      end
    end
    reset = 0;
    for (cyc = 0; cyc < MAXCYC && (bi < NBEATS || wi < NOUTS || mi < NMAPS); cyc = cyc + 1) begin
      st = stalls[cyc % NSTALL];
      if (bi < NBEATS) begin
        if (!s_tvalid) s_tvalid = !st[0];
        {{s_tlast, s_tdata}} = beats[bi];
      end else begin
        s_tvalid = 0;
      end
      m_tready = !st[1];
      mm_tready = !st[2];
      #1;
      if (^{{m_tvalid, mm_tvalid, s_tready}} === 1'bx || ^got === 1'bx || ^gotmap === 1'bx) begin
        $display("FAIL X/Z on outputs at cycle %0d: tvalid=%b map_tvalid=%b tready=%b beat=%h map=%h", cyc, m_tvalid, mm_tvalid, s_tready, got, gotmap);
        $finish;
      end
      if (held_v && !(m_tvalid && got == held)) begin
        $display("FAIL protocol at cycle %0d: replay beat %h not taken but changed to %h (tvalid=%b)", cyc, held, got, m_tvalid);
        $finish;
      end
      if (hmap_v && !(mm_tvalid && gotmap == hmap)) begin
        $display("FAIL protocol at cycle %0d: map %h not taken but changed to %h (tvalid=%b)", cyc, hmap, gotmap, mm_tvalid);
        $finish;
      end
      held_v = 0;
      hmap_v = 0;
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
      if (mm_tvalid) begin
        if (mm_tready) begin
          if (mi >= NMAPS) begin
            $display("FAIL extra map %0d at cycle %0d: got %h", mi, cyc, gotmap);
            $finish;
          end
          if (gotmap !== maps[mi]) begin
            $display("FAIL mismatch at map %0d cycle %0d: expected %h, got %h", mi, cyc, maps[mi], gotmap);
            $finish;
          end
          mi = mi + 1;
        end else begin
          hmap = gotmap;
          hmap_v = 1;
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
    if (bi < NBEATS || wi < NOUTS || mi < NMAPS) begin
      $display("FAIL timeout after %0d cycles: %0d/%0d beats accepted, %0d/%0d replay beats, %0d/%0d maps", cyc, bi, NBEATS, wi, NOUTS, mi, NMAPS);
      $finish;
    end
    s_tvalid = 0;
    m_tready = 1;
    mm_tready = 1;
    for (k = 0; k < 40; k = k + 1) begin
      #1;
      if (m_tvalid !== 1'b0 || mm_tvalid !== 1'b0) begin
        $display("FAIL extra output after the last expected one (idle cycle %0d): beat %h map %h", k, got, gotmap);
        $finish;
      end
      #4 clock = 1; #5 clock = 0;
    end
    $display("PASS beats=%0d outs=%0d maps=%0d cycles=%0d", bi, wi, mi, cyc);
    $finish;
  end
endmodule
"#,
        itm = fi.total_width() - 1,
        otm = fo.total_width() - 1,
        mtm = fm.total_width() - 1,
        iwm = fi.data_width() - 1,
        gwm = 3 * b - 1,
    )
}
