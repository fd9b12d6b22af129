//! Directed unpacker cases, full-rate throughput, and self-checks of the
//! multi-input bench.

use actcomp_golden::packer::PackBeat;
use actcomp_hdl::{Unpacker4x32, Unpacker4x64, Unpacker8x32, Unpacker8x64};
use actcomp_sim::unpacker::{random_pack_beats, UnpackCase, WIDTHS};
use actcomp_sim::{BeatBench, BeatDut, BeatFailure, OutBeat, Stalls};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn beat(lanes: usize, width: u32, code: i32, last: bool) -> PackBeat {
    PackBeat { codes: vec![code; lanes], widths: vec![width; lanes], last }
}

/// A beat whose widths sum to exactly `bits`.
fn beat_bits(lanes: usize, bits: u32, code: i32, last: bool) -> PackBeat {
    let widths: Vec<u32> = (0..lanes as u32).map(|i| (bits.saturating_sub(8 * i)).min(8)).collect();
    PackBeat { codes: vec![code; lanes], widths, last }
}

/// Corner cases: empty tiles, a tile ending exactly on a word boundary
/// (no padding to skip), W-1 bits then a full beat with tlast (a tile end
/// straddling two words), every width with -128/127/-1 codes, all-8-bit
/// and all-0-bit runs.
fn directed(lanes: usize, w: u32) -> Vec<PackBeat> {
    let l8 = 8 * lanes as u32;
    let mut v = vec![beat(lanes, 0, -1, true), beat(lanes, 0, 5, false), beat(lanes, 0, 5, true), beat_bits(lanes, 1, -1, true)];
    let mut filled = 0;
    while filled < w {
        let b = (w - filled).min(l8);
        v.push(beat_bits(lanes, b, -128, false));
        filled += b;
    }
    v.push(beat(lanes, 0, 0, true));
    let mut filled = 0;
    while filled < w - 1 {
        let b = (w - 1 - filled).min(l8);
        v.push(beat_bits(lanes, b, 127, false));
        filled += b;
    }
    v.push(beat(lanes, 8, -128, true));
    for width in 0..=8 {
        for code in [-128, 127, -1, 1] {
            v.push(beat(lanes, width, code, false));
        }
    }
    v.push(beat(lanes, 8, -1, true));
    for k in 0..10 {
        v.push(beat(lanes, 8, k - 5, k == 9));
    }
    for k in 0..10 {
        v.push(beat(lanes, 0, 3, k == 9));
    }
    v
}

fn run_directed<D: BeatDut>(make: fn() -> D, lanes: usize, w: u32) {
    for (k, st) in [Stalls::none(), Stalls::all(0.5), Stalls { inputs: vec![0.9, 0.0], output: 0.0 }].into_iter().enumerate() {
        let case = UnpackCase::from_pack_beats(&directed(lanes, w), w);
        let mut b = BeatBench::new(make(), 7 + k as u64, st.clone(), 8, lanes);
        let n = case.beats.len() + case.words.len();
        b.load(case.inputs(), case.expected());
        b.run_to_completion(100 * n as u64, 8, true).unwrap_or_else(|e| panic!("{lanes}x{w} directed {st:?}: {e}"));
    }
}

#[test]
fn unpacker_directed_corner_cases_all_configs() {
    run_directed(Unpacker4x32::new, 4, 32);
    run_directed(Unpacker4x64::new, 4, 64);
    run_directed(Unpacker8x32::new, 8, 32);
    run_directed(Unpacker8x64::new, 8, 64);
}

/// Widths 9..=15 on `s_widths_tdata` act as 8 (outside the golden contract,
/// checked against the golden result for width 8).
#[test]
fn unpacker_clamps_widths_above_8() {
    let beats: Vec<PackBeat> = (0..40).map(|k| beat(4, 8, k * 7 - 128, k % 5 == 4)).collect();
    let case = UnpackCase::from_pack_beats(&beats, 32);
    let mut inputs = case.inputs();
    for (k, b) in inputs[WIDTHS].iter_mut().enumerate() {
        b.data = [0x9999u128, 0xFFFF, 0x8ABC, 0xC8D8][k % 4];
    }
    let mut b = BeatBench::new(Unpacker4x32::new(), 1, Stalls::all(0.3), 8, 4);
    b.load(inputs, case.expected());
    b.run_to_completion(10_000, 8, true).unwrap();
}

/// Words and widths always valid, sink always ready: one output beat every
/// cycle (8·LANES <= W), across tile ends and the two-word tile-end pattern.
fn full_rate<D: BeatDut>(dut: D, lanes: usize, w: u32, seed: u64) -> (usize, u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut beats = random_pack_beats(&mut rng, lanes, 300, 4);
    for _ in 0..30 {
        beats.extend(directed(lanes, w));
    }
    let case = UnpackCase::from_pack_beats(&beats, w);
    let n = case.beats.len();
    let mut b = BeatBench::new(dut, seed, Stalls::none(), 8, lanes);
    b.load(case.inputs(), case.expected());
    let s = b.run_to_completion(4 * n as u64 + 100, 8, true).unwrap_or_else(|e| panic!("{lanes}x{w} full rate: {e}"));
    let span = s.last_out.unwrap() - s.first_out.unwrap() + 1;
    eprintln!("unpacker {lanes}x{w}: {n} beats out over {span} cycles (first at cycle {}), {} words", s.first_out.unwrap(), case.words.len());
    (n, span)
}

#[test]
fn unpacker_full_rate_one_beat_per_cycle() {
    for (n, span) in [
        full_rate(Unpacker4x32::new(), 4, 32, 11),
        full_rate(Unpacker4x64::new(), 4, 64, 12),
        full_rate(Unpacker8x64::new(), 8, 64, 13),
    ] {
        assert_eq!(span, n as u64, "expected exactly one output beat per cycle");
    }
}

/// 8 lanes from 32-bit words: an all-8-bit beat needs two words, so the
/// word input is the bottleneck: 400 words in ~400 cycles.
#[test]
fn unpacker_8x32_word_limited() {
    let beats: Vec<PackBeat> = (0..200).map(|i| beat(8, 8, i - 100, i % 50 == 49)).collect();
    let case = UnpackCase::from_pack_beats(&beats, 32);
    assert_eq!(case.words.len(), 400);
    let mut b = BeatBench::new(Unpacker8x32::new(), 5, Stalls::none(), 8, 8);
    b.load(case.inputs(), case.expected());
    let s = b.run_to_completion(2000, 8, true).unwrap();
    eprintln!("unpacker 8x32 all-8-bit: 200 beats / 400 words in {} cycles", s.cycles);
    assert!(s.cycles <= 400 + 4, "word input not busy every cycle: {} cycles", s.cycles);
}

/// The bench reports a wrong beat (with the differing lane), a missing
/// expected beat (extra output) and an extra expected beat (timeout).
#[test]
fn beat_bench_detects_wrong_missing_and_extra_beats() {
    let mut rng = StdRng::seed_from_u64(99);
    let case = UnpackCase::from_pack_beats(&random_pack_beats(&mut rng, 4, 30, 6), 32);
    let exp = case.expected();
    let mut bad = exp.clone();
    bad[7].data ^= 1 << 17;
    let mut b = BeatBench::new(Unpacker4x32::new(), 1, Stalls::all(0.3), 8, 4);
    b.load(case.inputs(), bad);
    match b.run_to_completion(10_000, 8, true) {
        Err(e @ BeatFailure::Mismatch { index: 7, .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("beat 7") && msg.contains("lane2") && msg.contains("cycle"), "{msg}");
        }
        other => panic!("expected a mismatch at beat 7, got {other:?}"),
    }
    let mut b = BeatBench::new(Unpacker4x32::new(), 3, Stalls::none(), 8, 4);
    b.load(case.inputs(), exp[..exp.len() - 1].to_vec());
    assert!(matches!(b.run_to_completion(10_000, 8, true), Err(BeatFailure::Extra { .. })));
    let mut more = exp.clone();
    more.push(OutBeat { data: 0, last: true });
    let mut b = BeatBench::new(Unpacker4x32::new(), 4, Stalls::none(), 8, 4);
    b.load(case.inputs(), more);
    assert!(matches!(b.run_to_completion(2_000, 8, true), Err(BeatFailure::Timeout { .. })));
}
