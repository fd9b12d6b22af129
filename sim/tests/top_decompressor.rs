//! The decompressor top level (`actcomp_decompressor`) in rust-hdl's
//! simulator against `Codec::reconstruct` on golden payloads: random static
//! and dynamic-grouping policies with 1, 2, 4 blocks of B = 4, 8 and 1, 2 of B = 16, W = 32, 64; random and extreme
//! tensors; stalls, a reset mid-stream with beats in flight, a clean run
//! after it; latency and full rate; the first-mismatch report.

use actcomp_golden::codec::Codec;
use actcomp_golden::policy::{Grouping, Policy};
use actcomp_golden::testkit::{random_codes, random_policy, PolicySpec};
use actcomp_hdl::{decompressor_latency, DECOMPRESSOR_LATENCY};
use actcomp_sim::top::{decompressor_expected, decompressor_run, decompressor_words, first_vectors, NumVectors};
use actcomp_sim::{BeatBench, BeatDut, Stalls};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn policy_with(rng: &mut StdRng, b: usize, nb: usize, w: u32, grouping: Grouping) -> Policy {
    let spec = PolicySpec { grouping: Some(grouping), channels: Some(b * nb), block_size: Some(b), word_bits: Some(w), ..Default::default() };
    random_policy(rng, &spec)
}

fn static_policy(rng: &mut StdRng, b: usize, nb: usize, w: u32) -> Policy {
    policy_with(rng, b, nb, w, Grouping::Static)
}

fn tensor(rng: &mut StdRng, policy: &Policy, extremes: bool) -> (Vec<usize>, Vec<i16>, Vec<u64>, usize) {
    let (shape, codes) = if extremes {
        let (lo, hi) = (policy.input.code_range.min() as i16, policy.input.code_range.max() as i16);
        let (c, v) = (policy.channels, 11);
        let codes = (0..c * v).map(|i| match (i / v + i % v) % 4 { 0 => lo, 1 => hi, 2 => 0i16.clamp(lo, hi), _ => rng.gen_range(lo..=hi) }).collect();
        (vec![1, c, v], codes)
    } else {
        let (s, c) = random_codes(rng, policy);
        first_vectors(&c, &s, 40)
    };
    let words = Codec::new(policy).unwrap().compress(&codes, &shape).unwrap();
    let v = shape[0] * shape[2..].iter().product::<usize>();
    (shape, codes, words, v)
}

fn run_case<D: BeatDut + NumVectors>(make: &dyn Fn() -> D, policy: &Policy, rng: &mut StdRng, p: f64, seed: u64, what: &str) -> u64 {
    let mut bench = BeatBench::new(make(), seed, Stalls::all(p), 8, actcomp_hdl::port_lanes(policy.block_size));
    let (shape, codes, words, v) = tensor(rng, policy, false);
    let exp = decompressor_expected(policy, &codes, &shape).unwrap();
    decompressor_run(&mut bench, policy, &words, &exp, v, p, "run 1").unwrap_or_else(|e| panic!("{what} run 1: {e}"));
    // run 2 (a new tensor: a reset restarts the vector count), cut by a
    // reset with the sink stalled
    bench.reset(1).unwrap_or_else(|e| panic!("{what} reset between tensors: {e}"));
    let (shape, codes, words, v) = tensor(rng, policy, false);
    let exp = decompressor_expected(policy, &codes, &shape).unwrap();
    bench.dut.set_num_vectors(v as u64);
    bench.load(vec![decompressor_words(&words)], exp.clone());
    bench.run_outputs(rng.gen_range(0..exp.len()), 100_000).unwrap_or_else(|e| panic!("{what} run 2: {e}"));
    bench.set_stalls(Stalls { inputs: vec![p], output: 1.0 });
    for _ in 0..6 {
        bench.step().unwrap();
    }
    bench.reset(2).unwrap_or_else(|e| panic!("{what} reset: {e}"));
    // run 3: extremes, clean after the reset
    let (shape, codes, words, v) = tensor(rng, policy, true);
    let exp = decompressor_expected(policy, &codes, &shape).unwrap();
    decompressor_run(&mut bench, policy, &words, &exp, v, p, "run 3").unwrap_or_else(|e| panic!("{what} run 3 (after reset): {e}"));
    bench.total_cycles()
}

macro_rules! dispatch {
    ($policy:expr, $f:ident, $($arg:expr),*) => {{
        let p: &Policy = $policy;
        let r: Result<_, actcomp_hdl::TopError> =
            actcomp_hdl::with_decompressor_type!(p, T => Ok($f(&|| T::new(p).unwrap(), p, $($arg),*)));
        r.unwrap()
    }};
}

fn random_policies_with_stalls_and_reset(grouping: Grouping, seed: u64) {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut cycles, mut k) = (0, 0u64);
    for (b, nb) in [(4, 1), (4, 2), (4, 4), (8, 1), (8, 2), (8, 4), (16, 1), (16, 2)] {
        {
            for w in [32u32, 64] {
                let p = policy_with(&mut rng, b, nb, w, grouping);
                let stall = [0.3, 0.5, 0.1][k as usize % 3];
                let what = format!("{grouping:?} B={b} NB={nb} W={w} T={} stall {stall}", p.tile);
                cycles += dispatch!(&p, run_case, &mut rng, stall, k, &what);
                k += 1;
            }
        }
    }
    println!("{grouping:?}: {k} policies, {cycles} cycles in {:.1}s", t0.elapsed().as_secs_f64());
}

#[test]
fn decompressor_matches_golden_random_static_policies_with_stalls_and_reset() {
    random_policies_with_stalls_and_reset(Grouping::Static, 4048);
}

#[test]
fn decompressor_matches_golden_random_dynamic_policies_with_stalls_and_reset() {
    random_policies_with_stalls_and_reset(Grouping::Dynamic, 8096);
}

fn rate_case<D: BeatDut + NumVectors>(make: &dyn Fn() -> D, policy: &Policy, rng: &mut StdRng, corrupt: bool) -> Result<(u64, f64), String> {
    let mut bench = BeatBench::new(make(), 1, Stalls::none(), 8, actcomp_hdl::port_lanes(policy.block_size));
    let (shape, codes, words, v) = tensor(rng, policy, false);
    let mut exp = decompressor_expected(policy, &codes, &shape).unwrap();
    if corrupt {
        let k = exp.len() / 2;
        exp[k].data ^= 1 << 9;
    }
    let r = decompressor_run(&mut bench, policy, &words, &exp, v, 0.0, "full rate")?;
    Ok((r.latency.unwrap(), r.values_per_cycle))
}

#[test]
fn decompressor_latency_full_rate_and_mismatch_report() {
    let mut rng = StdRng::seed_from_u64(9);
    let p = static_policy(&mut rng, 8, 4, 64);
    let (lat, vpc) = dispatch!(&p, rate_case, &mut rng, false).unwrap();
    assert_eq!(lat, DECOMPRESSOR_LATENCY);
    assert!(vpc > 6.0, "{vpc} values/cycle (8 per cycle minus pipeline fill)");
    let p = static_policy(&mut rng, 16, 2, 64);
    let (lat, vpc) = dispatch!(&p, rate_case, &mut rng, false).unwrap();
    assert_eq!(lat, decompressor_latency(16));
    assert!(vpc > 6.0 && vpc <= 8.0, "B=16: {vpc} values/cycle (8 per cycle, one 8-lane sub-beat per cycle)");
    let p = static_policy(&mut rng, 4, 2, 32);
    let msg = dispatch!(&p, rate_case, &mut rng, true).unwrap_err();
    assert!(msg.contains("mismatch at beat") && msg.contains("vector") && msg.contains("block") && msg.contains("lane 1"), "{msg}");
}

/// B = 32 and 64: four / eight 8-lane unpacker sub-beats gathered into the
/// block, the reconstructed block split into 16-lane port beats; random
/// static policies (one and two blocks, W = 32, 64, tiles up to 16) with
/// stalls, a reset mid-stream and the extremes tensor; then latency and
/// rate of a B = 64 block.
#[test]
fn decompressor_matches_golden_with_32_and_64_channel_blocks() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(6464);
    for (k, (b, nb, w, grouping)) in
        [(32, 1, 32, Grouping::Static), (32, 2, 64, Grouping::Dynamic), (64, 1, 64, Grouping::Dynamic), (64, 1, 32, Grouping::Static)].into_iter().enumerate()
    {
        let tile = [3, 8, 16, 1][k];
        let spec = PolicySpec { grouping: Some(grouping), channels: Some(b * nb), block_size: Some(b), word_bits: Some(w), tile: Some(tile), ..Default::default() };
        let p = random_policy(&mut rng, &spec);
        let stall = [0.3, 0.1][k % 2];
        let what = format!("{grouping:?} B={b} NB={nb} W={w} T={tile} stall {stall}");
        dispatch!(&p, run_case, &mut rng, stall, k as u64, &what);
    }
    let p = static_policy(&mut rng, 64, 1, 64);
    let (lat, vpc) = dispatch!(&p, rate_case, &mut rng, false).unwrap();
    assert_eq!(lat, decompressor_latency(64), "B = 64: measured latency vs manifest");
    let expect = actcomp_hdl::decompressor_throughput(&p);
    assert!(vpc > 0.9 * expect && vpc <= 8.0, "B = 64: {vpc} values/cycle, manifest {expect}");
    println!("B = 32/64: {:.1}s", t0.elapsed().as_secs_f64());
}
