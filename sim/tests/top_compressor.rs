//! The compressor top level (`actcomp_compressor`) in rust-hdl's simulator
//! against `Codec::compress`: random static and dynamic-grouping policies
//! (testkit, tiles 1..=32) with 1, 2, 4
//! blocks of B = 4, 8 and 1, 2 blocks of B = 16, W = 32, 64, full and serial multiplier budgets, both
//! `tlast` conventions; random code tensors plus an extremes tensor; every
//! case runs with stalls, is cut mid-stream by a reset with words in
//! flight, and must then run clean. Also: latency = the manifest's value,
//! full rate, and the first-mismatch report.

use actcomp_golden::policy::{Grouping, Policy};
use actcomp_golden::testkit::{random_codes, random_policy, PolicySpec};
use actcomp_hdl::{compressor_latency, Multipliers};
use actcomp_sim::top::{compressor_beats, compressor_expected, compressor_run, first_vectors, TlastMode};
use actcomp_sim::transform::LaneBeat;
use actcomp_sim::{AxisBench, AxisDut, Scoreboard, StallConfig};
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

/// A tensor of extreme vectors: all min, all max, alternating, zeros, one-hot.
fn extremes(policy: &Policy, rng: &mut StdRng) -> (Vec<usize>, Vec<i16>) {
    let (lo, hi) = (policy.input.code_range.min() as i16, policy.input.code_range.max() as i16);
    let (c, v) = (policy.channels, 13);
    let mut codes = vec![0i16; c * v];
    for p in 0..v {
        for ch in 0..c {
            codes[ch * v + p] = match p % 6 {
                0 => lo,
                1 => hi,
                2 => [lo, hi][(ch + p) % 2],
                3 => 0i16.clamp(lo, hi),
                4 => if ch == p % c { hi } else { lo },
                _ => rng.gen_range(lo..=hi),
            };
        }
    }
    (vec![1, c, v], codes)
}

fn run_case<D: AxisDut<Beat = LaneBeat>>(make: &dyn Fn() -> D, policy: &Policy, rng: &mut StdRng, stalls: StallConfig, mode: TlastMode, seed: u64, what: &str) -> u64 {
    let mut bench = AxisBench::new(make(), seed, stalls);
    let tensor = |rng: &mut StdRng| {
        let (s, c) = random_codes(rng, policy);
        first_vectors(&c, &s, 40)
    };
    // run 1: random tensor with stalls
    let (shape, codes) = tensor(rng);
    let v = shape[0] * shape[2..].iter().product::<usize>();
    let exp = compressor_expected(policy, &codes, &shape).unwrap();
    let beats = compressor_beats(policy, &codes, &shape, mode);
    compressor_run(&mut bench, policy, &beats, &exp, v, stalls.in_stall, "run 1").unwrap_or_else(|e| panic!("{what} run 1: {e}"));
    // run 2: cut by a reset with the sink stalled (words and beats in flight)
    let (shape, codes) = tensor(rng);
    let exp = compressor_expected(policy, &codes, &shape).unwrap();
    let beats = compressor_beats(policy, &codes, &shape, mode);
    let cut = rng.gen_range(1..=beats.len());
    bench.load(beats, Scoreboard::new(exp, policy.word_bits));
    bench.run_beats(cut, 100_000).unwrap_or_else(|e| panic!("{what} run 2: {e}"));
    bench.set_stalls(StallConfig { in_stall: stalls.in_stall, out_stall: 1.0 });
    for _ in 0..6 {
        bench.step().unwrap();
    }
    bench.reset(2).unwrap_or_else(|e| panic!("{what} reset: {e}"));
    bench.set_stalls(stalls);
    // run 3: extremes, clean after the reset
    let (shape, codes) = extremes(policy, rng);
    let v = shape[0] * shape[2..].iter().product::<usize>();
    let exp = compressor_expected(policy, &codes, &shape).unwrap();
    let beats = compressor_beats(policy, &codes, &shape, mode);
    compressor_run(&mut bench, policy, &beats, &exp, v, stalls.in_stall, "run 3").unwrap_or_else(|e| panic!("{what} run 3 (after reset): {e}"));
    bench.total_cycles()
}

macro_rules! dispatch {
    ($policy:expr, $mult:expr, $f:ident, $($arg:expr),*) => {{
        let p: &Policy = $policy;
        let r: Result<_, actcomp_hdl::TopError> =
            actcomp_hdl::with_compressor_type!(p, T => Ok($f(&|| T::new(p, $mult).unwrap(), p, $($arg),*)));
        r.unwrap()
    }};
}

fn random_policies_with_stalls_and_reset(grouping: Grouping, seed: u64) {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cycles = 0;
    let mut k = 0u64;
    for (b, nb) in [(4, 1), (4, 2), (4, 4), (8, 1), (8, 2), (8, 4), (16, 1), (16, 2)] {
        {
            for w in [32u32, 64] {
                let p = policy_with(&mut rng, b, nb, w, grouping);
                let mult = if k % 2 == 0 { Multipliers::Full } else { Multipliers::Serial };
                let mode = if k % 3 == 0 { TlastMode::EveryTile } else { TlastMode::TensorEnd };
                let stalls = [StallConfig::both(0.3), StallConfig { in_stall: 0.0, out_stall: 0.5 }, StallConfig { in_stall: 0.5, out_stall: 0.1 }][k as usize % 3];
                let what = format!("{grouping:?} B={b} NB={nb} W={w} T={} {mult:?} {mode:?} {stalls:?}", p.tile);
                cycles += dispatch!(&p, mult, run_case, &mut rng, stalls, mode, k, &what);
                k += 1;
            }
        }
    }
    println!("{grouping:?}: {k} policies, {cycles} cycles in {:.1}s", t0.elapsed().as_secs_f64());
}

#[test]
fn compressor_matches_golden_random_static_policies_with_stalls_and_reset() {
    random_policies_with_stalls_and_reset(Grouping::Static, 2024);
}

#[test]
fn compressor_matches_golden_random_dynamic_policies_with_stalls_and_reset() {
    random_policies_with_stalls_and_reset(Grouping::Dynamic, 4048);
}

fn latency_case<D: AxisDut<Beat = LaneBeat>>(make: &dyn Fn() -> D, policy: &Policy, rng: &mut StdRng) -> (u64, f64) {
    let mut bench = AxisBench::new(make(), 1, StallConfig::NONE);
    let (shape, codes) = random_codes(rng, policy);
    let v = shape[0] * shape[2..].iter().product::<usize>();
    let exp = compressor_expected(policy, &codes, &shape).unwrap();
    let beats = compressor_beats(policy, &codes, &shape, TlastMode::TensorEnd);
    let r = compressor_run(&mut bench, policy, &beats, &exp, v, 0.0, "full rate").unwrap();
    (r.latency.unwrap(), r.values as f64 / (r.cycles - r.latency.unwrap()) as f64)
}

#[test]
fn compressor_latency_and_full_rate() {
    let mut rng = StdRng::seed_from_u64(77);
    for (b, mult) in [
        (4, Multipliers::Full),
        (8, Multipliers::Full),
        (16, Multipliers::Full),
        (4, Multipliers::Serial),
        (8, Multipliers::Serial),
        (16, Multipliers::Serial),
    ] {
        // T = 1, one block, every group non-empty: the first beat closes a word
        let mut p = static_policy(&mut rng, b, 1, 64);
        p.tile = 1;
        for g in &mut p.blocks[0].groups {
            if g.bits == 0 {
                g.bits = 1;
                g.qmul = 1;
                g.encode = vec![0; 256];
                g.levels = vec![0, 0];
            }
        }
        let (lat, _) = dispatch!(&p, mult, latency_case, &mut rng);
        assert_eq!(lat, compressor_latency(b, mult), "B={b} {mult:?}: measured latency vs manifest");
    }
    // full rate: one block per cycle with the full budget (8 lanes into 64-bit words)
    let p = static_policy(&mut rng, 8, 4, 64);
    let (_, vpc) = dispatch!(&p, Multipliers::Full, latency_case, &mut rng);
    assert!(vpc > 7.9, "B=8 full budget: {vpc} values/cycle");
    // B = 16: two 8-lane packer sub-beats per block beat, 8 values/cycle
    let p = static_policy(&mut rng, 16, 2, 64);
    let (_, vpc) = dispatch!(&p, Multipliers::Full, latency_case, &mut rng);
    assert!((7.8..8.4).contains(&vpc), "B=16 full budget: {vpc} values/cycle (8 in the steady state; cycles minus latency)");
    // serial budget with NB >= B is also full rate; NB < B gives NB/B beats per cycle
    let p = static_policy(&mut rng, 4, 4, 64);
    let (_, vpc) = dispatch!(&p, Multipliers::Serial, latency_case, &mut rng);
    assert!(vpc > 3.9, "B=4 NB=4 serial: {vpc} values/cycle");
    let p = static_policy(&mut rng, 8, 2, 64);
    let (_, vpc) = dispatch!(&p, Multipliers::Serial, latency_case, &mut rng);
    assert!((1.9..=2.5).contains(&vpc), "B=8 NB=2 serial: {vpc} values/cycle (2 blocks per 8 cycles; the skid registers take a few beats early and the cycle count excludes the latency)");
}

fn corrupt_case<D: AxisDut<Beat = LaneBeat>>(make: &dyn Fn() -> D, policy: &Policy, rng: &mut StdRng) -> String {
    let mut bench = AxisBench::new(make(), 1, StallConfig::both(0.2));
    let (shape, codes) = extremes(policy, rng);
    let v = shape[0] * shape[2..].iter().product::<usize>();
    let mut exp = compressor_expected(policy, &codes, &shape).unwrap();
    let k = exp.len() / 2;
    exp[k].data ^= 1 << 3;
    let beats = compressor_beats(policy, &codes, &shape, TlastMode::TensorEnd);
    compressor_run(&mut bench, policy, &beats, &exp, v, 0.2, "corrupted").unwrap_err()
}

#[test]
fn compressor_reports_first_mismatch_location() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut p = static_policy(&mut rng, 4, 2, 32);
    for blk in &mut p.blocks {
        for g in &mut blk.groups {
            if g.bits == 0 {
                g.bits = 2;
                g.qmul = 1;
                g.encode = vec![0; 256];
                g.levels = vec![0; 4];
            }
        }
    }
    let msg = dispatch!(&p, Multipliers::Full, corrupt_case, &mut rng);
    assert!(msg.contains("mismatch at word") && msg.contains("tile") && msg.contains("cycle"), "{msg}");
    assert!(msg.contains("vector") && msg.contains("block") && msg.contains("lane"), "{msg}");
}

/// B = 32 and 64 (block beats arrive as 16-lane port beats and are
/// gathered): random policies of one and two blocks, tiles up to 16,
/// both budgets, W = 32 and 64, with stalls, a reset mid-stream and the
/// extremes tensor; dynamic grouping needs the 32/64-wire sorter.
fn wide_block_policies(grouping: Grouping, seed: u64) {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut k = 0u64;
    for (b, nb, w, mult) in [
        (32, 1, 32, Multipliers::Full),
        (32, 2, 64, Multipliers::Serial),
        (64, 1, 64, Multipliers::Full),
        (64, 1, 32, Multipliers::Serial),
    ] {
        let tile = [1, 8, 16, 5][k as usize % 4];
        let spec = PolicySpec { grouping: Some(grouping), channels: Some(b * nb), block_size: Some(b), word_bits: Some(w), tile: Some(tile), ..Default::default() };
        let p = random_policy(&mut rng, &spec);
        let mode = if k % 2 == 0 { TlastMode::EveryTile } else { TlastMode::TensorEnd };
        let stalls = [StallConfig::both(0.3), StallConfig { in_stall: 0.5, out_stall: 0.1 }][k as usize % 2];
        let what = format!("{grouping:?} B={b} NB={nb} W={w} T={} {mult:?} {mode:?} {stalls:?}", p.tile);
        dispatch!(&p, mult, run_case, &mut rng, stalls, mode, k, &what);
        k += 1;
    }
    println!("{grouping:?} B = 32/64: {k} policies in {:.1}s", t0.elapsed().as_secs_f64());
}

#[test]
fn compressor_matches_golden_with_32_and_64_channel_blocks_static() {
    wide_block_policies(Grouping::Static, 3232);
}

#[test]
fn compressor_matches_golden_with_32_and_64_channel_blocks_dynamic() {
    wide_block_policies(Grouping::Dynamic, 6464);
}

#[test]
fn compressor_latency_and_rate_with_32_and_64_channel_blocks() {
    let mut rng = StdRng::seed_from_u64(78);
    for (b, mult) in [(32, Multipliers::Full), (64, Multipliers::Full), (32, Multipliers::Serial)] {
        // T = 1, one block of exactly 64 code bits (64 / B bits per lane):
        // the block's last packer sub-beat completes the first word.
        let mut p = static_policy(&mut rng, b, 1, 64);
        p.tile = 1;
        let bits = (64 / b) as u32;
        for g in &mut p.blocks[0].groups {
            g.bits = bits;
            g.qmul = 1;
            g.encode = vec![0; 256];
            g.levels = vec![0; 1 << bits];
        }
        p.validate().unwrap();
        let (lat, _) = dispatch!(&p, mult, latency_case, &mut rng);
        assert_eq!(lat, compressor_latency(b, mult), "B={b} {mult:?}: measured latency (first port beat to first word) vs manifest");
    }
    // B = 64, full budget: four port beats per block in, eight 8-lane packer
    // sub-beats out: the packer bounds the rate at 8 values/cycle.
    let p = static_policy(&mut rng, 64, 1, 64);
    let (_, vpc) = dispatch!(&p, Multipliers::Full, latency_case, &mut rng);
    let expect = actcomp_hdl::compressor_throughput(&p, Multipliers::Full);
    assert!(vpc > 0.95 * expect && vpc < 8.4, "B=64 full budget: {vpc} values/cycle, manifest {expect}");
}
