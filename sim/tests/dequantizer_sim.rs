//! rust-hdl simulation of the dequantizer against the golden
//! `GroupQuantizer::dequantize`: random policies (B = 4, 8), extreme level
//! tables, all-8-bit and all-0-bit blocks, random stalls, a reset mid-run
//! and a full-rate check. Wide blocks (B = 16, 32, 64, on lane-beat
//! streams): the same kinds of blocks, stalls and reset, and lanes 0 / 16 /
//! 32 kept apart.

use actcomp_golden::policy::{BlockPolicy, GroupPolicy, Policy};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{Dequantizer, Dequantizer4, Dequantizer64, Dequantizer8};
use actcomp_sim::axis::StallConfig;
use actcomp_sim::dequantizer::{expected_beat, random_deq_beats, DeqBeat};
use actcomp_sim::transform::{LaneBeat, StreamBench, StreamDut};
use actcomp_sim::{BeatBench, BeatDut, Stalls};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn policy(rng: &mut StdRng, b: usize) -> Policy {
    let p = random_policy(rng, &PolicySpec { channels: Some(2 * b), block_size: Some(b), ..Default::default() });
    p.validate().expect("testkit policy validates");
    p
}

/// Level tables at the 16-bit extremes (−32768, 32767, alternating).
fn extreme_levels(blk: &mut BlockPolicy) {
    for g in &mut blk.groups {
        for (j, l) in g.levels.iter_mut().enumerate() {
            *l = match j % 3 {
                0 => -32768,
                1 => 32767,
                _ => -1,
            };
        }
    }
}

/// One group of all `b` components at `bits` bits (uniform levels).
fn single_group(blk: &mut BlockPolicy, bits: u32) {
    let b = blk.mean.len();
    let levels = if bits == 0 { vec![] } else { (0..1i32 << bits).map(|j| j * 255 - 32768).collect() };
    let encode = if bits == 0 { vec![] } else { (0..256).map(|f: i32| (f - 128) >> (8 - bits)).collect() };
    blk.groups = vec![GroupPolicy { size: b, bits, qmul: if bits == 0 { 0 } else { 1000 }, encode, levels }];
}

fn inputs(beats: &[DeqBeat]) -> Vec<Vec<actcomp_sim::InBeat>> {
    vec![beats.iter().map(DeqBeat::in_beat).collect()]
}

fn run_block<D: BeatDut>(make: &dyn Fn() -> D, blk: &BlockPolicy, b: usize, rng: &mut StdRng, seed: u64, n: usize) -> u64 {
    let mut cycles = 0;
    let mut pending = 0;
    let sets = [Stalls::none(), Stalls { inputs: vec![0.0], output: 0.5 }, Stalls { inputs: vec![0.5], output: 0.0 }, Stalls::all(0.3), Stalls::all(0.8)];
    for (k, st) in sets.into_iter().enumerate() {
        let mut bench = BeatBench::new(make(), seed * 10 + k as u64, st.clone(), 16, b);
        let beats = random_deq_beats(rng, blk, n);
        let exp: Vec<_> = beats.iter().map(|x| expected_beat(blk, x)).collect();
        if blk.groups.iter().any(|g| g.bits > 0) {
            assert!(exp.iter().filter(|e| e.data != 0).count() > n / 2, "expected beats are mostly zero: weak test");
        }
        bench.load(inputs(&beats), exp);
        bench.run_to_completion(40 * n as u64 + 100, 8, true).unwrap_or_else(|e| panic!("B={b} run 1 {st:?}: {e}"));
        // cut by a reset with the sink stalled (output + skid full)
        let beats = random_deq_beats(rng, blk, 40);
        let exp: Vec<_> = beats.iter().map(|x| expected_beat(blk, x)).collect();
        bench.load(inputs(&beats), exp);
        bench.run_outputs(rng.gen_range(1..20), 10_000).unwrap_or_else(|e| panic!("B={b} run 2 {st:?}: {e}"));
        bench.set_stalls(Stalls { inputs: st.inputs.clone(), output: 1.0 });
        for _ in 0..4 {
            bench.step().unwrap();
        }
        pending += bench.dut.output().is_some() as usize;
        bench.reset(1 + k as u64 % 3).unwrap_or_else(|e| panic!("reset: {e}"));
        bench.set_stalls(st.clone());
        let beats = random_deq_beats(rng, blk, n);
        let exp: Vec<_> = beats.iter().map(|x| expected_beat(blk, x)).collect();
        bench.load(inputs(&beats), exp);
        bench.run_to_completion(40 * n as u64 + 100, 8, true).unwrap_or_else(|e| panic!("B={b} run 3 (after reset) {st:?}: {e}"));
        cycles += bench.total_cycles();
    }
    assert!(pending >= 2, "reset never hit a pending output beat");
    cycles
}

fn golden_with_stalls(b: usize, seed: u64) {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cycles = 0;
    for pi in 0..3 {
        let p = policy(&mut rng, b);
        for blk in &p.blocks {
            let mut blk = blk.clone();
            if pi == 1 {
                extreme_levels(&mut blk);
            }
            cycles += if b == 4 {
                run_block(&|| Dequantizer4::new(&blk), &blk, b, &mut rng, seed, 150)
            } else {
                run_block(&|| Dequantizer8::new(&blk), &blk, b, &mut rng, seed, 150)
            };
        }
    }
    // all-8-bit and all-0-bit blocks
    for bits in [8, 0] {
        let mut blk = policy(&mut rng, b).blocks[0].clone();
        single_group(&mut blk, bits);
        if bits == 8 {
            extreme_levels(&mut blk);
        }
        cycles += if b == 4 {
            run_block(&|| Dequantizer4::new(&blk), &blk, b, &mut rng, seed + 1, 300)
        } else {
            run_block(&|| Dequantizer8::new(&blk), &blk, b, &mut rng, seed + 1, 300)
        };
    }
    eprintln!("dequantizer B={b}: {cycles} cycles in {:.2?}", t0.elapsed());
}

#[test]
fn dequantizer_b4_matches_golden_with_stalls() {
    golden_with_stalls(4, 1);
}

#[test]
fn dequantizer_b8_matches_golden_with_stalls() {
    golden_with_stalls(8, 2);
}

/// Input always valid, sink always ready: one beat per cycle, latency 1.
#[test]
fn dequantizer_full_rate() {
    let mut rng = StdRng::seed_from_u64(3);
    let blk = policy(&mut rng, 8).blocks[1].clone();
    let beats = random_deq_beats(&mut rng, &blk, 1000);
    let exp: Vec<_> = beats.iter().map(|x| expected_beat(&blk, x)).collect();
    let mut bench = BeatBench::new(Dequantizer8::new(&blk), 3, Stalls::none(), 16, 8);
    bench.load(inputs(&beats), exp);
    let s = bench.run_to_completion(5000, 8, true).unwrap();
    assert_eq!(s.first_out, Some(1), "latency 1");
    assert_eq!(s.last_out.unwrap() - s.first_out.unwrap() + 1, 1000, "one beat per cycle");
}

// ---- wide blocks: B = 16, 32, 64 on `LaneBeat` streams ----

fn wide_run<const L: usize, const CW: usize, const GW: usize, const OW: usize>(
    blk: &BlockPolicy,
    what: &str,
    rng: &mut StdRng,
    seed: u64,
    st: StallConfig,
    n: usize,
) -> u64 {
    let mut bench = StreamBench::new(Dequantizer::<L, CW, GW, OW>::new(blk), seed, st);
    let beats = random_deq_beats(rng, blk, n);
    let exp: Vec<LaneBeat> = beats.iter().map(|x| x.expected_lanes(blk)).collect();
    if blk.groups.iter().any(|g| g.bits > 0) {
        assert!(exp.iter().filter(|e| e.lanes.iter().any(|&v| v != 0)).count() > n / 2, "expected beats mostly zero: weak test");
    }
    bench.load(beats.iter().map(DeqBeat::lane_beat), exp);
    bench.run_to_completion(40 * n as u64 + 100, 4).unwrap_or_else(|e| panic!("B={L} {what} {st:?}: {e}"));
    // a reset with the sink stalled (output + skid full), then a fresh run
    let beats = random_deq_beats(rng, blk, 6);
    bench.load(beats.iter().map(DeqBeat::lane_beat), beats.iter().map(|x| x.expected_lanes(blk)).collect());
    bench.set_stalls(StallConfig { in_stall: 0.0, out_stall: 1.0 });
    for _ in 0..3 {
        bench.step().unwrap();
    }
    assert!(StreamDut::output(&bench.dut).is_some(), "B={L}: no beat pending before the reset");
    bench.reset(2).unwrap();
    bench.set_stalls(st);
    let beats = random_deq_beats(rng, blk, n);
    bench.load(beats.iter().map(DeqBeat::lane_beat), beats.iter().map(|x| x.expected_lanes(blk)).collect());
    bench.run_to_completion(40 * n as u64 + 100, 4).unwrap_or_else(|e| panic!("B={L} {what} after reset {st:?}: {e}"));
    bench.total_cycles()
}

/// Random policies (widths 0..=8, up to 8 groups, static and permuted
/// group maps), extreme level tables, all-8-bit and all-0-bit blocks.
fn wide_case<const L: usize, const CW: usize, const GW: usize, const OW: usize>(seed: u64, n: usize) {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let stall_sets = [StallConfig::NONE, StallConfig::both(0.3), StallConfig { in_stall: 0.1, out_stall: 0.6 }];
    let mut blocks: Vec<(String, BlockPolicy)> = Vec::new();
    for pi in 0..2 {
        for (j, blk) in policy(&mut rng, L).blocks.into_iter().enumerate() {
            let mut blk = blk;
            if pi == 1 {
                extreme_levels(&mut blk);
            }
            blocks.push((format!("policy {pi} block {j}"), blk));
        }
    }
    for bits in [8, 0] {
        let mut blk = policy(&mut rng, L).blocks[0].clone();
        single_group(&mut blk, bits);
        if bits == 8 {
            extreme_levels(&mut blk);
        }
        blocks.push((format!("single {bits}-bit group"), blk));
    }
    let mut cycles = 0;
    for (j, (what, blk)) in blocks.iter().enumerate() {
        cycles += wide_run::<L, CW, GW, OW>(blk, what, &mut rng, seed * 100 + j as u64, stall_sets[j % 3], n);
    }
    eprintln!("dequantizer B={L}: {cycles} cycles in {:.2?}", t0.elapsed());
}

#[test]
fn dequantizer_b16_matches_golden_with_stalls() {
    wide_case::<16, 128, 48, 256>(16, 40);
}

#[test]
fn dequantizer_b32_matches_golden_with_stalls() {
    wide_case::<32, 256, 96, 512>(32, 30);
}

#[test]
fn dequantizer_b64_matches_golden_with_stalls() {
    wide_case::<64, 512, 192, 1024>(64, 20);
}

/// Lanes 0, 16 and 32 come out in their own places: one 8-bit group whose
/// level for code `c` is `c`, lane `i` given code `i − 64` (all distinct),
/// so an output offset that wrapped (an 8-bit constant for `16*lane` wraps
/// at lane 16) would merge lanes and fail.
#[test]
fn dequantizer_b64_lanes_0_16_32_are_distinct() {
    let mut rng = StdRng::seed_from_u64(66);
    let mut blk = policy(&mut rng, 64).blocks[0].clone();
    single_group(&mut blk, 8);
    blk.groups[0].levels = (0..256).map(|j| j - 128).collect();
    let beats: Vec<DeqBeat> = (0..3)
        .map(|k| DeqBeat { codes: (0..64).map(|i| i - 64 + k).collect(), groups: vec![0; 64], last: k == 2 })
        .collect();
    let exp: Vec<LaneBeat> = beats.iter().map(|x| x.expected_lanes(&blk)).collect();
    assert_eq!((exp[0].lanes[0], exp[0].lanes[16], exp[0].lanes[32]), (-64, -48, -32));
    let mut bench = StreamBench::new(Dequantizer64::new(&blk), 1, StallConfig::NONE);
    bench.load(beats.iter().map(DeqBeat::lane_beat), exp);
    bench.run_to_completion(100, 4).unwrap();
}
