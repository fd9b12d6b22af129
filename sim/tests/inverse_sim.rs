//! rust-hdl simulation of the fully parallel inverse transform against the
//! golden `BlockMatrices::inverse`: random policies (B = 4, 8) in both code
//! ranges, extreme matrices (all −32768, ±32767 mixes) and ŷ, shifts 1, 34,
//! 35, 48, extreme inverse means; random stalls, a reset mid-run, full rate.
//! Wide blocks (B = 16, 32, 64, on lane-beat streams): random and
//! calibrated PCA / DCT / identity matrices, all −32768 at shifts around
//! the hardware's shift cap, a reset, and lanes 0 / 32 kept apart.

use actcomp_golden::policy::{BlockPolicy, CodeRange, Policy, TransformKind};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{Inverse4, Inverse64, Inverse8, InverseTransform};
use actcomp_sim::axis::StallConfig;
use actcomp_sim::inverse::{
    calibrated_block, expected_xhat, inv_in_beat, inverse_expected_lanes, inverse_lane_beats, random_yhat,
};
use actcomp_sim::transform::{StreamBench, StreamDut};
use actcomp_sim::{BeatBench, BeatDut, InBeat, OutBeat, Stalls};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn policy(rng: &mut StdRng, b: usize) -> Policy {
    let p = random_policy(rng, &PolicySpec { channels: Some(b), block_size: Some(b), ..Default::default() });
    p.validate().expect("testkit policy validates");
    p
}

/// Block variants: as drawn, then extreme versions.
pub fn variants(blk: &BlockPolicy, rng: &mut StdRng) -> Vec<BlockPolicy> {
    let b = blk.mean.len();
    let mut out = vec![blk.clone()];
    let mut v = blk.clone();
    v.inverse = vec![vec![-32768; b]; b];
    v.inverse_shift = 1;
    v.inverse_mean = (0..b).map(|i| if i % 2 == 0 { -1024 } else { 1023 }).collect();
    out.push(v);
    for r in [34u32, 35, 48, 16] {
        let mut v = blk.clone();
        v.inverse = (0..b).map(|_| (0..b).map(|_| [-32768, 32767, -1, 0, 1][rng.gen_range(0..5)]).collect()).collect();
        v.inverse_shift = r;
        out.push(v);
    }
    out
}

fn stream(blk: &BlockPolicy, range: CodeRange, rng: &mut StdRng, n: usize) -> (Vec<Vec<InBeat>>, Vec<OutBeat>) {
    let ys = random_yhat(rng, blk, n);
    let lasts: Vec<bool> = (0..n).map(|k| k + 1 == n || rng.gen_bool(0.2)).collect();
    let ins = ys.iter().zip(&lasts).map(|(y, &l)| inv_in_beat(y, l)).collect();
    let exp = ys.iter().zip(&lasts).map(|(y, &l)| expected_xhat(blk, range, y, l)).collect();
    (vec![ins], exp)
}

fn run_block<D: BeatDut>(make: &dyn Fn() -> D, blk: &BlockPolicy, range: CodeRange, b: usize, rng: &mut StdRng, seed: u64, n: usize) -> (u64, usize) {
    let sets = [Stalls::none(), Stalls { inputs: vec![0.0], output: 0.5 }, Stalls { inputs: vec![0.5], output: 0.0 }, Stalls::all(0.3), Stalls::all(0.8)];
    let (mut cycles, mut pending) = (0, 0);
    for (k, st) in sets.into_iter().enumerate() {
        let mut bench = BeatBench::new(make(), seed * 10 + k as u64, st.clone(), 8, b);
        let (ins, exp) = stream(blk, range, rng, n);
        bench.load(ins, exp);
        bench.run_to_completion(40 * n as u64 + 100, 8, true).unwrap_or_else(|e| panic!("B={b} {range:?} run 1 {st:?}: {e}"));
        // cut by a reset with the sink stalled: beats in all pipeline stages
        let (ins, exp) = stream(blk, range, rng, 30);
        bench.load(ins, exp);
        bench.run_outputs(rng.gen_range(1..10), 10_000).unwrap_or_else(|e| panic!("B={b} run 2 {st:?}: {e}"));
        bench.set_stalls(Stalls { inputs: st.inputs.clone(), output: 1.0 });
        for _ in 0..5 {
            bench.step().unwrap();
        }
        pending += bench.dut.output().is_some() as usize;
        bench.reset(1 + k as u64 % 3).unwrap_or_else(|e| panic!("reset: {e}"));
        bench.set_stalls(st.clone());
        let (ins, exp) = stream(blk, range, rng, n);
        bench.load(ins, exp);
        bench.run_to_completion(40 * n as u64 + 100, 8, true).unwrap_or_else(|e| panic!("B={b} {range:?} run 3 (after reset) {st:?}: {e}"));
        cycles += bench.total_cycles();
    }
    (cycles, pending)
}

fn golden_with_stalls(b: usize, seed: u64, n: usize) {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut cycles, mut pending) = (0, 0);
    for range in [CodeRange::Int8, CodeRange::Uint8] {
        let p = policy(&mut rng, b);
        for blk in variants(&p.blocks[0], &mut rng) {
            let (c, pd) = if b == 4 {
                run_block(&|| Inverse4::new(&blk, range), &blk, range, b, &mut rng, seed, n)
            } else {
                run_block(&|| Inverse8::new(&blk, range), &blk, range, b, &mut rng, seed, n)
            };
            cycles += c;
            pending += pd;
        }
    }
    assert!(pending >= 10, "reset rarely hit a pending output beat ({pending})");
    eprintln!("inverse B={b}: {cycles} cycles in {:.2?}", t0.elapsed());
}

#[test]
fn inverse_b4_matches_golden_with_stalls() {
    golden_with_stalls(4, 1, 60);
}

#[test]
fn inverse_b8_matches_golden_with_stalls() {
    golden_with_stalls(8, 2, 40);
}

/// Input always valid, sink always ready: one beat per cycle after a
/// latency of 3 cycles.
#[test]
fn inverse_full_rate() {
    let mut rng = StdRng::seed_from_u64(3);
    let p = policy(&mut rng, 8);
    let (ins, exp) = stream(&p.blocks[0], CodeRange::Int8, &mut rng, 300);
    let mut bench = BeatBench::new(Inverse8::new(&p.blocks[0], CodeRange::Int8), 3, Stalls::none(), 8, 8);
    bench.load(ins, exp);
    let s = bench.run_to_completion(2000, 8, true).unwrap();
    assert_eq!(s.first_out, Some(3), "latency 3");
    assert_eq!(s.last_out.unwrap() - s.first_out.unwrap() + 1, 300, "one beat per cycle");
}

/// The check discriminates: hardware built for shift r, expected values
/// from the golden model with r + 1 (or a different mean), must mismatch;
/// and random blocks produce unclamped, varied outputs.
#[test]
fn inverse_bench_detects_wrong_constants() {
    let mut rng = StdRng::seed_from_u64(4);
    let p = policy(&mut rng, 4);
    let mut blk = p.blocks[0].clone();
    // a shift that keeps most outputs inside the int8 range, whatever the random draw
    blk.inverse_shift = 25;
    let mut other = blk.clone();
    other.inverse_shift += 1;
    let ys: Vec<Vec<i32>> = (0..50).map(|_| (0..4).map(|_| rng.gen_range(-32768..=32767)).collect()).collect();
    let exp: Vec<OutBeat> = ys.iter().map(|y| expected_xhat(&other, CodeRange::Int8, y, false)).collect();
    let good: Vec<OutBeat> = ys.iter().map(|y| expected_xhat(&blk, CodeRange::Int8, y, false)).collect();
    let distinct: std::collections::BTreeSet<u128> = good.iter().map(|e| e.data).collect();
    assert!(distinct.len() > 25, "outputs not varied: {}", distinct.len());
    let ins = vec![ys.iter().map(|y| inv_in_beat(y, false)).collect::<Vec<_>>()];
    let mut bench = BeatBench::new(Inverse4::new(&blk, CodeRange::Int8), 1, Stalls::none(), 8, 4);
    bench.load(ins.clone(), exp);
    assert!(matches!(bench.run_to_completion(1000, 4, true), Err(actcomp_sim::BeatFailure::Mismatch { .. })));
    let mut bench = BeatBench::new(Inverse4::new(&blk, CodeRange::Int8), 1, Stalls::none(), 8, 4);
    bench.load(ins, good);
    bench.run_to_completion(1000, 4, true).unwrap();
}

// ---- wide blocks: B = 16, 32, 64 on `LaneBeat` streams ----

/// Wide-block variants: the testkit's random matrices, calibrated PCA
/// (normalized gains), DCT (one gain per block) and identity matrices, and
/// the extremes (every `V` −32768 at shifts 1, 36, 37, 38, 48; random
/// ±32767/−32768/±1/0 entries at 34; inverse means ±1024).
fn wide_variants(blk: &BlockPolicy, rng: &mut StdRng) -> Vec<(String, BlockPolicy)> {
    let b = blk.mean.len();
    let mut out = vec![("random".to_string(), blk.clone())];
    for (kind, norm) in [(TransformKind::Pca, true), (TransformKind::Dct, false), (TransformKind::Identity, true)] {
        out.push((format!("{kind:?}"), calibrated_block(rng, blk, kind, norm)));
    }
    for r in [1u32, 36, 37, 38, 48] {
        let mut v = blk.clone();
        v.inverse = vec![vec![-32768; b]; b];
        v.inverse_shift = r;
        // extreme means at r = 1 (clamped anyway); near-zero means at the
        // large shifts, so a rounding result of 0 vs 1 is not clamped away
        v.inverse_mean = (0..b).map(|i| if r == 1 { [-1024, 1023][i % 2] } else { [0, 3, -5][i % 3] }).collect();
        out.push((format!("all -32768, r={r}"), v));
    }
    let mut v = blk.clone();
    v.inverse = (0..b).map(|_| (0..b).map(|_| [-32768, 32767, -1, 0, 1][rng.gen_range(0..5)]).collect()).collect();
    v.inverse_shift = 34;
    out.push(("extreme entries, r=34".to_string(), v));
    out
}

fn wide_case<const B: usize, const YW: usize, const OW: usize>(seed: u64, n: usize) {
    eprintln!("InverseTransform<{B}>: {} bytes", std::mem::size_of::<InverseTransform<B, YW, OW>>());
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let p = policy(&mut rng, B);
    let stall_sets = [StallConfig::NONE, StallConfig::both(0.3), StallConfig { in_stall: 0.1, out_stall: 0.6 }];
    let mut cycles = 0;
    for (j, (name, blk)) in wide_variants(&p.blocks[0], &mut rng).into_iter().enumerate() {
        let range = [CodeRange::Int8, CodeRange::Uint8][j % 2];
        let st = stall_sets[j % stall_sets.len()];
        let mut bench = StreamBench::new(InverseTransform::<B, YW, OW>::new(&blk, range), seed * 100 + j as u64, st);
        // the largest accumulator (every V and ŷ −32768: B·2^30) first
        let mut ys = random_yhat(&mut rng, &blk, n);
        ys[0] = vec![-32768; B];
        let lasts: Vec<bool> = (0..n).map(|k| k + 1 == n || rng.gen_bool(0.2)).collect();
        let beats = inverse_lane_beats(&ys, &lasts);
        let exp = inverse_expected_lanes(&blk, range, &beats);
        bench.load(beats, exp);
        bench.run_to_completion(40 * n as u64 + 100, 4).unwrap_or_else(|e| panic!("B={B} {name} {range:?} {st:?}: {e}"));
        if j == 0 {
            // a reset with beats in the pipeline, then a fresh run
            let ys = random_yhat(&mut rng, &blk, 8);
            let beats = inverse_lane_beats(&ys, &[false; 8]);
            let exp = inverse_expected_lanes(&blk, range, &beats);
            bench.load(beats, exp);
            bench.set_stalls(StallConfig { in_stall: 0.0, out_stall: 1.0 });
            for _ in 0..4 {
                bench.step().unwrap();
            }
            assert!(StreamDut::output(&bench.dut).is_some(), "B={B}: no beat pending before the reset");
            bench.reset(2).unwrap();
            bench.set_stalls(st);
            let ys = random_yhat(&mut rng, &blk, n);
            let beats = inverse_lane_beats(&ys, &vec![true; n]);
            let exp = inverse_expected_lanes(&blk, range, &beats);
            bench.load(beats, exp);
            bench.run_to_completion(40 * n as u64 + 100, 4).unwrap_or_else(|e| panic!("B={B} after reset: {e}"));
        }
        cycles += bench.total_cycles();
    }
    eprintln!("inverse B={B}: {cycles} cycles in {:.2?}", t0.elapsed());
}

#[test]
fn inverse_b16_matches_golden_with_stalls() {
    wide_case::<16, 256, 128>(16, 24);
}

#[test]
fn inverse_b32_matches_golden_with_stalls() {
    wide_case::<32, 512, 256>(32, 16);
}

#[test]
fn inverse_b64_matches_golden_with_stalls() {
    wide_case::<64, 1024, 512>(64, 10);
}

/// Channels 0 and 32 (and 0 and 16) come out in their own lanes: an
/// identity block with a different ŷ in every lane gives a different x̂ in
/// every lane, so an output offset that wrapped at 256 bits (an 8-bit
/// constant for `8*i`) would merge lane 32 into lane 0 and fail.
#[test]
fn inverse_b64_lanes_0_and_32_are_distinct() {
    let mut rng = StdRng::seed_from_u64(65);
    let p = policy(&mut rng, 64);
    let mut blk = p.blocks[0].clone();
    blk.inverse = (0..64).map(|i| (0..64).map(|k| if i == k { 1 } else { 0 }).collect()).collect();
    blk.inverse_shift = 1;
    blk.inverse_mean = vec![0; 64];
    // x̂_i = (2·(i+1) + 1) >> 1 = i + 1 (int8), then a second beat with 100 − i
    let ys: Vec<Vec<i32>> = vec![(0..64).map(|i| 2 * (i + 1)).collect(), (0..64).map(|i| 2 * (100 - i)).collect()];
    let beats = inverse_lane_beats(&ys, &[false, true]);
    let exp = inverse_expected_lanes(&blk, CodeRange::Int8, &beats);
    assert_eq!(exp[0].lanes[0], 1);
    assert_eq!(exp[0].lanes[32], 33);
    assert_eq!(exp[0].lanes[16], 17);
    let mut bench = StreamBench::new(Inverse64::new(&blk, CodeRange::Int8), 1, StallConfig::NONE);
    bench.load(beats, exp);
    bench.run_to_completion(100, 4).unwrap();
}
