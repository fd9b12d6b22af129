//! rust-hdl simulation of the fully parallel inverse transform against the
//! golden `BlockMatrices::inverse`: random policies (B = 4, 8) in both code
//! ranges, extreme matrices (all −32768, ±32767 mixes) and ŷ, shifts 1, 34,
//! 35, 48, extreme inverse means; random stalls, a reset mid-run, full rate.

use actcomp_golden::policy::{BlockPolicy, CodeRange, Policy};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{Inverse4, Inverse8};
use actcomp_sim::inverse::{expected_xhat, inv_in_beat, random_yhat};
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
