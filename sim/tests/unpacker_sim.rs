//! rust-hdl simulation of the variable bit-width unpacker against the golden
//! `unpack_beats` (payloads made by the golden `pack_beats`), with random
//! stalls on both inputs and the output, a reset in the middle of a run,
//! directed corner cases and a full-rate check.

use actcomp_golden::packer::PackBeat;
use actcomp_hdl::{Unpacker4x32, Unpacker4x64, Unpacker8x32, Unpacker8x64};
use actcomp_sim::unpacker::{random_pack_beats, UnpackCase};
use actcomp_sim::{BeatBench, BeatDut, Stalls};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn bench<D: BeatDut>(dut: D, seed: u64, stalls: Stalls, lanes: usize) -> BeatBench<D> {
    BeatBench::new(dut, seed, stalls, 8, lanes)
}

fn check(b: &mut BeatBench<impl BeatDut>, beats: &[PackBeat], w: u32, what: &str) {
    let case = UnpackCase::from_pack_beats(beats, w);
    let n = case.beats.len() + case.words.len();
    b.load(case.inputs(), case.expected());
    let s = b.run_to_completion(30 * n as u64 + 200, 8, true).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(s.accepted, vec![case.words.len(), case.beats.len()], "{what}");
}

fn stall_sets() -> Vec<Stalls> {
    vec![
        Stalls::none(),
        Stalls { inputs: vec![0.0, 0.0], output: 0.5 },
        Stalls { inputs: vec![0.5, 0.0], output: 0.0 },
        Stalls { inputs: vec![0.0, 0.5], output: 0.2 },
        Stalls::all(0.3),
        Stalls::all(0.8),
    ]
}

/// Random streams at several stall settings; in each, a run cut off by a
/// reset (output stalled so beats pile up in the output and skid registers,
/// bits left in the accumulator), then a clean run after the reset.
fn golden_with_stalls<D: BeatDut>(make: fn() -> D, lanes: usize, w: u32, seed: u64) {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cycles = 0;
    let mut pending = 0;
    for (k, st) in stall_sets().into_iter().enumerate() {
        let mut b = bench(make(), seed * 100 + k as u64, st.clone(), lanes);
        let beats = random_pack_beats(&mut rng, lanes, 250, 10);
        check(&mut b, &beats, w, &format!("{lanes}x{w} run 1 {st:?}"));
        // run 2: cut by a reset
        let beats = random_pack_beats(&mut rng, lanes, 20, 10);
        let case = UnpackCase::from_pack_beats(&beats, w);
        let cut = rng.gen_range(1..case.beats.len());
        b.load(case.inputs(), case.expected());
        b.run_outputs(cut, 100_000).unwrap_or_else(|e| panic!("{lanes}x{w} run 2 {st:?}: {e}"));
        b.set_stalls(Stalls { inputs: st.inputs.clone(), output: 1.0 });
        for _ in 0..4 {
            b.step().unwrap_or_else(|e| panic!("{lanes}x{w} stalled before reset: {e}"));
        }
        pending += b.dut.output().is_some() as usize;
        b.reset(1 + k as u64 % 3).unwrap_or_else(|e| panic!("reset: {e}"));
        b.set_stalls(st.clone());
        let beats = random_pack_beats(&mut rng, lanes, 250, 10);
        check(&mut b, &beats, w, &format!("{lanes}x{w} run 3 (after reset) {st:?}"));
        cycles += b.total_cycles();
    }
    assert!(pending >= 3, "reset never hit a pending output beat");
    eprintln!("unpacker {lanes}x{w}: {cycles} cycles in {:.2?}", t0.elapsed());
}

#[test]
fn unpacker_4x32_matches_golden_with_stalls() {
    golden_with_stalls(Unpacker4x32::new, 4, 32, 1);
}

#[test]
fn unpacker_4x64_matches_golden_with_stalls() {
    golden_with_stalls(Unpacker4x64::new, 4, 64, 2);
}

#[test]
fn unpacker_8x32_matches_golden_with_stalls() {
    golden_with_stalls(Unpacker8x32::new, 8, 32, 3);
}

#[test]
fn unpacker_8x64_matches_golden_with_stalls() {
    golden_with_stalls(Unpacker8x64::new, 8, 64, 4);
}
