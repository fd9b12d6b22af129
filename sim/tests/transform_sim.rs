//! rust-hdl simulation of the forward-transform units (fully parallel and
//! time-multiplexed) against the golden `BlockMatrices::forward`: random
//! policies, directed extreme policies and inputs, random stalls, a reset in
//! the middle of a run, full-rate throughput and latency.

use std::time::Instant;

use actcomp_golden::policy::{BlockPolicy, Dtype, Policy};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{
    TransformFull16, TransformFull4, TransformFull8, TransformSerial16, TransformSerial4, TransformSerial8,
};
use actcomp_sim::transform::{full_rate_run, stall_suite, transform_beats, transform_expected, LaneBeat, STALL_SETS};
use actcomp_sim::{StallConfig, StreamDut};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn policy(b: usize, dtype: Dtype, seed: u64) -> Policy {
    let spec = PolicySpec { channels: Some(b), block_size: Some(b), dtype: Some(dtype), ..Default::default() };
    random_policy(&mut StdRng::seed_from_u64(seed), &spec)
}

/// Random policy per stall set (int8 and uint8 codes alternate), random beats.
fn random_suite<D: StreamDut>(
    make: fn(&BlockPolicy) -> D,
    b: usize,
    beats_per_run: usize,
    cycles_per_beat: u64,
    stalls: &[StallConfig],
    seed: u64,
) {
    let t0 = Instant::now();
    let mut total = 0;
    let mut held = 0;
    for (k, s) in stalls.iter().enumerate() {
        let dtype = if k % 2 == 0 { Dtype::I8 } else { Dtype::U8 };
        let p = policy(b, dtype, seed * 31 + k as u64);
        let blk = p.blocks[0].clone();
        let mut rng = StdRng::seed_from_u64(seed + 7 * k as u64);
        let (c, h) = stall_suite(
            &|| make(&blk),
            &mut || transform_beats(&mut rng, &p, beats_per_run),
            &|beats: &[LaneBeat]| transform_expected(&blk, beats),
            std::slice::from_ref(s),
            cycles_per_beat,
            seed * 10 + k as u64,
            &format!("B={b} {dtype:?}"),
        );
        total += c;
        held += h;
    }
    assert!(held >= 1, "no reset hit a held output beat");
    eprintln!("B={b}: {total} cycles in {:.2?} ({held} resets with a held output)", t0.elapsed());
}

#[test]
fn transform_full4_matches_golden_with_stalls() {
    random_suite(TransformFull4::new, 4, 400, 1, &STALL_SETS, 1);
}

#[test]
fn transform_full8_matches_golden_with_stalls() {
    random_suite(TransformFull8::new, 8, 300, 1, &STALL_SETS, 2);
}

#[test]
fn transform_serial4_matches_golden_with_stalls() {
    random_suite(TransformSerial4::new, 4, 250, 4, &STALL_SETS, 3);
}

#[test]
fn transform_serial8_matches_golden_with_stalls() {
    random_suite(TransformSerial8::new, 8, 150, 8, &STALL_SETS, 4);
}

#[test]
fn transform_b16_matches_golden_with_stalls() {
    random_suite(TransformFull16::new, 16, 100, 1, &[StallConfig::both(0.3)], 5);
    random_suite(TransformSerial16::new, 16, 40, 16, &[StallConfig::both(0.3)], 6);
}

/// Policies that hit the corners: extreme matrices (all +32767, all -32768,
/// checkerboard of both) with means at the code range ends, shift 1
/// (saturation both ways), shifts 29..=40 (results 0/-1/+1 and the clamp
/// of the shift to 31), and mixed shifts 1..=16.
fn extreme_blocks(p: &Policy) -> Vec<BlockPolicy> {
    let b = p.block_size;
    let (lo, hi) = (p.input.code_range.min(), p.input.code_range.max());
    let base = p.blocks[0].clone();
    let with = |f: &dyn Fn(usize, usize) -> i32, mean: &dyn Fn(usize) -> i32, shift: &dyn Fn(usize) -> u32| {
        let mut blk = base.clone();
        blk.forward = (0..b).map(|k| (0..b).map(|i| f(k, i)).collect()).collect();
        blk.mean = (0..b).map(mean).collect();
        blk.forward_shift = (0..b).map(shift).collect();
        blk
    };
    vec![
        with(&|_, _| 32767, &|_| lo, &|_| 1),
        with(&|_, _| -32768, &|_| hi, &|_| 1),
        with(&|k, i| if (k + i) % 2 == 0 { 32767 } else { -32768 }, &|i| if i % 2 == 0 { lo } else { hi }, &|k| {
            1 + k as u32
        }),
        with(&|_, _| -32768, &|_| lo, &|k| [29, 30, 31, 32, 33, 36, 39, 40][k % 8]),
        with(&|_, _| 32767, &|_| hi, &|k| [40, 31, 30, 29, 28, 27, 26, 25][k % 8]),
        with(&|k, i| base.forward[k][i], &|i| if i % 3 == 0 { lo } else { hi }, &|k| 1 + (k as u32 * 5) % 16),
    ]
}

#[test]
fn transform_extreme_policies_and_inputs() {
    let t0 = Instant::now();
    for (n, dtype) in [Dtype::I8, Dtype::U8].into_iter().enumerate() {
        for b in [4usize, 8] {
            let p = policy(b, dtype, 100 + n as u64 + b as u64);
            for (j, blk) in extreme_blocks(&p).into_iter().enumerate() {
                let mut rng = StdRng::seed_from_u64(j as u64);
                let beats = transform_beats(&mut rng, &p, 3 * b + 10);
                let exp = transform_expected(&blk, &beats);
                let sat = exp.iter().flat_map(|e| &e.lanes).filter(|&&y| y == 32767 || y == -32768).count();
                if j < 2 {
                    assert!(sat > 0, "extreme block {j} does not saturate");
                }
                let what = format!("{dtype:?} B={b} extreme block {j}");
                let s = [StallConfig::both(0.3)];
                let e = |bt: &[LaneBeat]| transform_expected(&blk, bt);
                let mut beats_src = || beats.clone();
                if b == 4 {
                    stall_suite(&|| TransformFull4::new(&blk), &mut beats_src, &e, &s, 1, j as u64, &what);
                    stall_suite(&|| TransformSerial4::new(&blk), &mut beats_src, &e, &s, 4, j as u64, &what);
                } else {
                    stall_suite(&|| TransformFull8::new(&blk), &mut beats_src, &e, &s, 1, j as u64, &what);
                    stall_suite(&|| TransformSerial8::new(&blk), &mut beats_src, &e, &s, 8, j as u64, &what);
                }
            }
        }
    }
    eprintln!("extremes: {:.2?}", t0.elapsed());
}

/// Output always ready, input always valid: the fully parallel unit takes
/// one beat per cycle (latency 3), the time-multiplexed one a beat every B
/// cycles (latency B + 3).
#[test]
fn transform_full_rate_and_latency() {
    for b in [4usize, 8] {
        let p = policy(b, Dtype::I8, 50 + b as u64);
        let blk = &p.blocks[0];
        let beats = transform_beats(&mut StdRng::seed_from_u64(9), &p, 300);
        let exp = transform_expected(blk, &beats);
        let (n, span, lat) = if b == 4 {
            full_rate_run(TransformFull4::new(blk), beats.clone(), exp.clone())
        } else {
            full_rate_run(TransformFull8::new(blk), beats.clone(), exp.clone())
        };
        eprintln!("full B={b}: {n} beats in {span} cycles, latency {lat}");
        assert_eq!(span, n as u64, "fully parallel B={b} must take one beat per cycle");
        assert_eq!(lat, 3);
        let beats: Vec<LaneBeat> = beats.into_iter().take(60).collect();
        let exp = transform_expected(blk, &beats);
        let (n, span, lat) = if b == 4 {
            full_rate_run(TransformSerial4::new(blk), beats, exp)
        } else {
            full_rate_run(TransformSerial8::new(blk), beats, exp)
        };
        eprintln!("serial B={b}: {n} beats in {span} cycles, latency {lat}");
        // beats 0 and 1 go back to back (hold register, skid register), then one every B cycles
        assert_eq!(span, (b * (n - 2) + 2) as u64, "time-multiplexed B={b} must take a beat every B cycles");
        assert_eq!(lat, b as u64 + 3);
    }
}

/// The bench must be able to fail: a corrupted expected lane is reported.
#[test]
fn transform_bench_reports_first_mismatch() {
    let p = policy(4, Dtype::I8, 77);
    let blk = &p.blocks[0];
    let beats = transform_beats(&mut StdRng::seed_from_u64(1), &p, 20);
    let mut exp = transform_expected(blk, &beats);
    exp[7].lanes[2] ^= 1;
    let mut bench = actcomp_sim::StreamBench::new(TransformFull4::new(blk), 3, StallConfig::both(0.3));
    bench.load(beats, exp);
    let err = bench.run_to_completion(10_000, 8).unwrap_err().to_string();
    assert!(err.contains("mismatch at beat 7") && err.contains("tdata lane 2"), "{err}");
}
