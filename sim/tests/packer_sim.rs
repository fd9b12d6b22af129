//! rust-hdl simulation of the variable bit-width packer against the golden
//! `pack_beats`, with random stalls, mid-run resets and a full-rate check.

use actcomp_golden::packer::PackBeat;
use actcomp_hdl::{Packer4x32, Packer4x64, Packer8x32, Packer8x64};
use actcomp_sim::packer::{expected_words, random_tiles};
use actcomp_sim::{AxisBench, AxisDut, Scoreboard, StallConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn max_cycles(beats: usize, words: usize) -> u64 {
    20 * (beats + words) as u64 + 200
}

/// Runs `beats` through the bench and checks the output against golden.
fn check_run<D: AxisDut<Beat = PackBeat>>(bench: &mut AxisBench<D>, beats: Vec<PackBeat>, word_bits: u32, what: &str) {
    let exp = expected_words(&beats, word_bits);
    let (nb, nw) = (beats.len(), exp.len());
    bench.load(beats, Scoreboard::new(exp, word_bits));
    let stats = bench
        .run_to_completion(max_cycles(nb, nw), 8)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(stats.beats, nb, "{what}");
    assert_eq!(stats.words, nw, "{what}");
}

/// Random runs at several stall probabilities, with a reset in the middle
/// of a run (words, bits in the accumulator and a pending output in flight)
/// between two runs.
fn golden_with_stalls<D: AxisDut<Beat = PackBeat>>(make: fn() -> D, lanes: usize, word_bits: u32, seed: u64) {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let stall_sets = [
        StallConfig::NONE,
        StallConfig { in_stall: 0.0, out_stall: 0.5 },
        StallConfig { in_stall: 0.5, out_stall: 0.0 },
        StallConfig::both(0.3),
        StallConfig::both(0.8),
    ];
    let mut cycles = 0;
    let mut pending_at_reset = 0;
    for (k, stalls) in stall_sets.iter().enumerate() {
        let mut bench = AxisBench::new(make(), seed * 100 + k as u64, *stalls);
        // run 1: complete stream
        let beats = random_tiles(&mut rng, lanes, 300, 12);
        check_run(&mut bench, beats, word_bits, &format!("{lanes}x{word_bits} run 1 stalls {stalls:?}"));
        // run 2: cut off mid-tile by a reset; output so far must be a prefix
        let beats = random_tiles(&mut rng, lanes, 20, 12);
        let cut = rng.gen_range(1..beats.len());
        let exp = expected_words(&beats, word_bits);
        let partial_expected = exp.clone();
        bench.load(beats, Scoreboard::new(partial_expected, word_bits));
        bench
            .run_beats(cut, max_cycles(cut, exp.len()))
            .unwrap_or_else(|e| panic!("{lanes}x{word_bits} run 2 (before reset) stalls {stalls:?}: {e}"));
        // stall the sink so words pile up (output register + accumulator)
        bench.set_stalls(StallConfig { in_stall: stalls.in_stall, out_stall: 1.0 });
        for _ in 0..4 {
            bench.step().unwrap_or_else(|e| panic!("{lanes}x{word_bits} stalled before reset: {e}"));
        }
        pending_at_reset += bench.dut.output().is_some() as usize;
        bench.reset(1 + (k as u64 % 3)).unwrap_or_else(|e| panic!("reset: {e}"));
        bench.set_stalls(*stalls);
        // run 3: after reset the packer must start from an empty state
        let beats = random_tiles(&mut rng, lanes, 300, 12);
        check_run(&mut bench, beats, word_bits, &format!("{lanes}x{word_bits} run 3 (after reset) stalls {stalls:?}"));
        cycles += bench.total_cycles();
    }
    assert!(pending_at_reset >= 2, "reset never hit a pending output word ({pending_at_reset})");
    eprintln!("{lanes}x{word_bits}: {cycles} cycles in {:.2?}", t0.elapsed());
}

#[test]
fn packer_4x32_matches_golden_with_stalls() {
    golden_with_stalls(Packer4x32::new, 4, 32, 1);
}

#[test]
fn packer_4x64_matches_golden_with_stalls() {
    golden_with_stalls(Packer4x64::new, 4, 64, 2);
}

#[test]
fn packer_8x32_matches_golden_with_stalls() {
    golden_with_stalls(Packer8x32::new, 8, 32, 3);
}

#[test]
fn packer_8x64_matches_golden_with_stalls() {
    golden_with_stalls(Packer8x64::new, 8, 64, 4);
}
