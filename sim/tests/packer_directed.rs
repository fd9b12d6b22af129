//! Directed packer cases, full-rate throughput, and scoreboard self-checks.

use actcomp_golden::packer::PackBeat;
use actcomp_hdl::{Packer4x32, Packer4x64, Packer8x32, Packer8x64};
use actcomp_sim::packer::{expected_words, random_tiles};
use actcomp_sim::{AxisBench, AxisDut, ExpectedWord, Scoreboard, SimFailure, StallConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn beat(lanes: usize, width: u32, code: i32, last: bool) -> PackBeat {
    PackBeat { codes: vec![code; lanes], widths: vec![width; lanes], last }
}

/// A beat whose widths sum to exactly `bits` (spread over the lanes).
fn beat_bits(lanes: usize, bits: u32, code: i32, last: bool) -> PackBeat {
    assert!(bits <= 8 * lanes as u32);
    let widths: Vec<u32> = (0..lanes as u32).map(|i| (bits.saturating_sub(8 * i)).min(8)).collect();
    PackBeat { codes: vec![code; lanes], widths, last }
}

/// Corner cases that random streams rarely hit.
fn directed(lanes: usize, w: u32) -> Vec<PackBeat> {
    let l8 = 8 * lanes as u32;
    let mut v = vec![
        // empty tiles: no word, no tlast
        beat(lanes, 0, -1, true),
        beat(lanes, 0, 5, false),
        beat(lanes, 0, 5, true),
        // a single 1-bit field in a tile
        beat_bits(lanes, 1, -1, true),
    ];
    // fill exactly one word, then end the tile with a zero-width beat:
    // the full word must come out with tlast
    let mut filled = 0;
    while filled < w {
        let b = (w - filled).min(l8);
        v.push(beat_bits(lanes, b, -128, false));
        filled += b;
    }
    v.push(beat(lanes, 0, 0, false));
    v.push(beat(lanes, 0, 0, true));
    // W-1 bits, then a full beat with last (two words at the tile end)
    let mut filled = 0;
    while filled < w - 1 {
        let b = (w - 1 - filled).min(l8);
        v.push(beat_bits(lanes, b, 127, false));
        filled += b;
    }
    v.push(beat(lanes, 8, -128, true));
    // every width on every lane, back to back, with -128 / 127
    for width in 0..=8 {
        v.push(beat(lanes, width, if width % 2 == 0 { -128 } else { 127 }, false));
    }
    v.push(beat(lanes, 8, -1, true));
    // (widths 9..=15 are outside the golden contract 0..=8 and not used)
    v
}

fn run_directed<D: AxisDut<Beat = PackBeat>>(make: fn() -> D, lanes: usize, w: u32) {
    for (k, stalls) in [StallConfig::NONE, StallConfig::both(0.5)].into_iter().enumerate() {
        let beats = directed(lanes, w);
        let exp = expected_words(&beats, w);
        let mut bench = AxisBench::new(make(), 7 + k as u64, stalls);
        let (nb, nw) = (beats.len(), exp.len());
        bench.load(beats, Scoreboard::new(exp, w));
        bench.run_to_completion(100 * (nb + nw) as u64, 8).unwrap_or_else(|e| panic!("{lanes}x{w} directed, {stalls:?}: {e}"));
    }
}

#[test]
fn directed_corner_cases_all_configs() {
    run_directed(Packer4x32::new, 4, 32);
    run_directed(Packer4x64::new, 4, 64);
    run_directed(Packer8x32::new, 8, 32);
    run_directed(Packer8x64::new, 8, 64);
}

/// Output always ready, input always valid: one beat per cycle, every
/// cycle, across tile ends (LANES*8 <= W). Returns (beats, cycles).
fn full_rate<D: AxisDut<Beat = PackBeat>>(dut: D, lanes: usize, w: u32, seed: u64) -> (usize, u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    // short tiles => many tile ends; plus the adversarial pattern that makes
    // two words at a tile end (W-1 bits, then a full beat with last)
    let mut beats = random_tiles(&mut rng, lanes, 300, 4);
    for _ in 0..50 {
        beats.extend(directed(lanes, w));
    }
    let exp = expected_words(&beats, w);
    let n = beats.len();
    let mut bench = AxisBench::new(dut, seed, StallConfig::NONE);
    bench.load(beats, Scoreboard::new(exp.clone(), w));
    let s = bench.run_to_completion(4 * n as u64 + 100, 8).unwrap_or_else(|e| panic!("{lanes}x{w} full rate: {e}"));
    assert_eq!(s.beats, n);
    assert_eq!(s.words, exp.len());
    let span = s.last_beat_cycle.unwrap() - s.first_beat_cycle.unwrap() + 1;
    eprintln!(
        "{lanes}x{w}: {n} beats accepted over {span} cycles (first at cycle {}), {} input-blocked cycles, {} words, run {} cycles",
        s.first_beat_cycle.unwrap(),
        s.input_blocked_cycles,
        s.words,
        s.cycles
    );
    (n, span + s.input_blocked_cycles)
}

#[test]
fn full_rate_one_beat_per_cycle() {
    for (n, cycles) in [
        full_rate(Packer4x32::new(), 4, 32, 11),
        full_rate(Packer4x64::new(), 4, 64, 12),
        full_rate(Packer8x64::new(), 8, 64, 13),
    ] {
        assert_eq!(cycles, n as u64, "expected exactly one beat accepted per cycle");
    }
}

/// 8 lanes into 32-bit words: a 64-bit beat yields two words, so the input
/// stalls; the output must still be busy every cycle while full beats flow.
#[test]
fn stalling_config_keeps_output_busy() {
    let lanes = 8;
    let beats: Vec<PackBeat> = (0..200).map(|i| beat(lanes, 8, i - 100, i % 50 == 49)).collect();
    let exp = expected_words(&beats, 32);
    assert_eq!(exp.len(), 400);
    let mut bench = AxisBench::new(Packer8x32::new(), 5, StallConfig::NONE);
    bench.load(beats, Scoreboard::new(exp, 32));
    let s = bench.run_to_completion(2000, 8).unwrap();
    eprintln!("8x32 all-8-bit: 200 beats / 400 words in {} cycles ({} input-blocked)", s.cycles, s.input_blocked_cycles);
    assert!(s.cycles <= 400 + 4, "output not busy every cycle: {} cycles for 400 words", s.cycles);
}

/// The scoreboard and the bench report wrong, missing and extra words.
#[test]
fn bench_detects_wrong_missing_and_extra_words() {
    let mut rng = StdRng::seed_from_u64(99);
    let beats = random_tiles(&mut rng, 4, 30, 6);
    let exp = expected_words(&beats, 32);
    assert!(exp.len() > 10);
    // wrong data in word 7
    let mut bad = exp.clone();
    bad[7].data ^= 1 << 13;
    let mut bench = AxisBench::new(Packer4x32::new(), 1, StallConfig::both(0.3));
    bench.load(beats.clone(), Scoreboard::new(bad, 32));
    match bench.run_to_completion(10_000, 8) {
        Err(e @ SimFailure::Mismatch { index: 7, .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("word 7") && msg.contains("tile") && msg.contains("cycle") && msg.contains("0x"), "{msg}");
        }
        other => panic!("expected a mismatch at word 7, got {other:?}"),
    }
    // wrong tlast
    let mut bad = exp.clone();
    let i = bad.iter().position(|e| e.last).unwrap();
    bad[i].last = false;
    let mut bench = AxisBench::new(Packer4x32::new(), 2, StallConfig::NONE);
    bench.load(beats.clone(), Scoreboard::new(bad, 32));
    assert!(matches!(bench.run_to_completion(10_000, 8), Err(SimFailure::Mismatch { .. })));
    // one word too few expected -> extra word; one too many -> timeout
    let mut bench = AxisBench::new(Packer4x32::new(), 3, StallConfig::NONE);
    bench.load(beats.clone(), Scoreboard::new(exp[..exp.len() - 1].to_vec(), 32));
    assert!(matches!(bench.run_to_completion(10_000, 8), Err(SimFailure::Extra { .. })));
    let mut more = exp.clone();
    more.push(ExpectedWord { data: 0, last: true, tile: 99 });
    let mut bench = AxisBench::new(Packer4x32::new(), 4, StallConfig::NONE);
    bench.load(beats, Scoreboard::new(more, 32));
    assert!(matches!(bench.run_to_completion(2_000, 8), Err(SimFailure::Timeout { .. })));
}
