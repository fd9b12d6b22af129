//! rust-hdl simulation of the quantizer unit against the golden
//! `fine_index` / `GroupQuantizer`: random policies (1..=8 groups, widths
//! 0..=8), directed qmul/y extremes with an identity code table (so the
//! code *is* the fine index), random stalls, a reset mid-run, full rate.

use std::time::Instant;

use actcomp_golden::policy::{BlockPolicy, GroupPolicy};
use actcomp_golden::quantizer::fine_index;
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{Quantizer16, Quantizer4, Quantizer8};
use actcomp_sim::quantizer::{quantizer_beats, quantizer_expected};
use actcomp_sim::transform::{full_rate_run, stall_suite, LaneBeat, STALL_SETS};
use actcomp_sim::{StallConfig, StreamBench, StreamDut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn block(b: usize, seed: u64) -> BlockPolicy {
    let spec = PolicySpec { channels: Some(b), block_size: Some(b), ..Default::default() };
    random_policy(&mut StdRng::seed_from_u64(seed), &spec).blocks[0].clone()
}

fn random_suite<D: StreamDut>(make: fn(&BlockPolicy) -> D, b: usize, beats_per_run: usize, seed: u64) {
    let t0 = Instant::now();
    let (mut total, mut held) = (0, 0);
    for (k, s) in STALL_SETS.iter().enumerate() {
        let blk = block(b, seed * 31 + k as u64);
        let g = blk.groups.len();
        let mut rng = StdRng::seed_from_u64(seed + 7 * k as u64);
        let (c, h) = stall_suite(
            &|| make(&blk),
            &mut || quantizer_beats(&mut rng, b, g, beats_per_run),
            &|beats: &[LaneBeat]| quantizer_expected(&blk, beats),
            std::slice::from_ref(s),
            1,
            seed * 10 + k as u64,
            &format!("quantizer B={b} G={g}"),
        );
        total += c;
        held += h;
    }
    assert!(held >= 1, "no reset hit a held output beat");
    eprintln!("quantizer B={b}: {total} cycles in {:.2?}", t0.elapsed());
}

#[test]
fn quantizer4_matches_golden_with_stalls() {
    random_suite(Quantizer4::new, 4, 400, 1);
}

#[test]
fn quantizer8_matches_golden_with_stalls() {
    random_suite(Quantizer8::new, 8, 300, 2);
}

#[test]
fn quantizer16_matches_golden_with_stalls() {
    random_suite(Quantizer16::new, 16, 100, 3);
}

/// A block of 8 one-lane groups whose code tables are the identity on the
/// fine grid (bits 8: `code = fine`), with qmul 1, 2, 255, 256, 12345,
/// 32766, 32767 and a 0-bit group: the unit's code is the fine index.
pub fn identity_block(b: usize) -> BlockPolicy {
    let mut blk = block(b, 99);
    let qmuls = [1u32, 2, 255, 256, 12345, 32766, 32767];
    let mut groups: Vec<GroupPolicy> = qmuls
        .iter()
        .map(|&q| GroupPolicy {
            size: 1,
            bits: 8,
            qmul: q,
            encode: (0..256).map(|f| f - 128).collect(),
            levels: (0..256).collect(),
        })
        .collect();
    groups.push(GroupPolicy { size: b - 7, bits: 0, qmul: 0, encode: vec![], levels: vec![] });
    blk.groups = groups;
    blk
}

#[test]
fn quantizer_fine_index_extremes() {
    let b = 8;
    let blk = identity_block(b);
    let ys: Vec<i64> =
        vec![-32768, 32767, 0, -1, 1, -2, 2, 127, 128, -128, -129, 255, 256, -256, 16384, -16384, 32766, -32767];
    let mut beats = Vec::new();
    for (n, &y) in ys.iter().enumerate() {
        for g in 0..8i64 {
            beats.push(LaneBeat {
                lanes: vec![y; b],
                aux: (0..b as i64).map(|i| (i + g) % 8).collect(),
                last: n % 3 == 0,
            });
        }
    }
    // y just around each rounding threshold of the fine grid for every qmul
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..200 {
        let g = rng.gen_range(0..7);
        let q = blk.groups[g].qmul as i64;
        let f = rng.gen_range(-130i64..=130);
        let y = (((2 * f - 1) << 15) / (2 * q)).clamp(-32768, 32767) + rng.gen_range(-1..=1);
        beats.push(LaneBeat {
            lanes: vec![y.clamp(-32768, 32767); b],
            aux: vec![g as i64; b],
            last: rng.gen_bool(0.3),
        });
    }
    beats.last_mut().unwrap().last = true;
    let exp = quantizer_expected(&blk, &beats);
    // the expected codes really are the fine indices (and 0 for the 0-bit group)
    for (bt, e) in beats.iter().zip(&exp) {
        for i in 0..b {
            let g = bt.aux[i] as usize;
            let want = if g < 7 { fine_index(bt.lanes[i] as i32, blk.groups[g].qmul) as i64 } else { 0 };
            assert_eq!(e.lanes[i], want);
            assert_eq!(e.aux[i], if g < 7 { 8 } else { 0 });
        }
    }
    assert!(
        exp.iter().flat_map(|e| &e.lanes).any(|&c| c == -128) && exp.iter().flat_map(|e| &e.lanes).any(|&c| c == 127)
    );
    for s in [StallConfig::NONE, StallConfig::both(0.5)] {
        let mut bench = StreamBench::new(Quantizer8::new(&blk), 4, s);
        bench.load(beats.clone(), exp.clone());
        bench.run_to_completion(100_000, 8).unwrap_or_else(|e| panic!("identity tables, {s:?}: {e}"));
    }
}

/// Group indices beyond the block's groups give code 0 and width 0.
#[test]
fn quantizer_unused_group_index_gives_zero() {
    let mut blk = block(4, 7);
    blk.groups.truncate(1);
    blk.groups[0].size = 4;
    let beats: Vec<LaneBeat> =
        (0..8).map(|g| LaneBeat { lanes: vec![12345, -32768, 32767, -7], aux: vec![g; 4], last: g == 7 }).collect();
    let exp = quantizer_expected(&blk, &beats);
    assert!(exp[1..].iter().all(|e| e.lanes == vec![0; 4] && e.aux == vec![0; 4]));
    let mut bench = StreamBench::new(Quantizer4::new(&blk), 1, StallConfig::both(0.3));
    bench.load(beats, exp);
    bench.run_to_completion(10_000, 8).unwrap_or_else(|e| panic!("{e}"));
}

/// Output always ready, input always valid: one beat per cycle, latency
/// `QUANTIZER_LATENCY` (4).
#[test]
fn quantizer_full_rate_and_latency() {
    for b in [4usize, 8] {
        let blk = block(b, 40 + b as u64);
        let beats = quantizer_beats(&mut StdRng::seed_from_u64(1), b, blk.groups.len(), 400);
        let exp = quantizer_expected(&blk, &beats);
        let (n, span, lat) = if b == 4 {
            full_rate_run(Quantizer4::new(&blk), beats, exp)
        } else {
            full_rate_run(Quantizer8::new(&blk), beats, exp)
        };
        eprintln!("quantizer B={b}: {n} beats in {span} cycles, latency {lat}");
        assert_eq!(span, n as u64);
        assert_eq!(lat, actcomp_hdl::QUANTIZER_LATENCY);
    }
}
