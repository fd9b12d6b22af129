//! rust-hdl simulation of the group importance sorter against the golden
//! `dynamic_group_map`: random dynamic policies (testkit), random tiles of
//! 1..=T vectors with extremes and ties (all-zero tiles, duplicated and
//! sign-flipped columns, all −32768 / 32767), a final partial tile, random
//! stalls on the input and on both outputs, a reset mid-run; plus tiles
//! longer than T (split by the hardware), the 24-bit energy limit at
//! T = 256, full rate and latency, and the bench's mismatch report.

use std::time::Instant;

use actcomp_golden::grouping::static_group_map;
use actcomp_golden::policy::{BlockPolicy, Grouping};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{sorter_stages, GroupSorter};
use actcomp_sim::grouping::{sorter_expected, sorter_suite, sorter_tiles, SorterDut, SORTER_STALL_SETS};
use actcomp_sim::transform::LaneBeat;
use actcomp_sim::{SorterBench, SorterStalls, StreamFailure};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn block(b: usize, t: usize, seed: u64) -> BlockPolicy {
    let spec = PolicySpec {
        grouping: Some(Grouping::Dynamic),
        channels: Some(b),
        block_size: Some(b),
        tile: Some(t),
        ..Default::default()
    };
    random_policy(&mut StdRng::seed_from_u64(seed), &spec).blocks[0].clone()
}

/// Every stall set: random policy, full run, run cut by reset with both
/// sinks stalled, clean run.
fn random_suite<D: SorterDut>(make: fn(&BlockPolicy) -> D, b: usize, t: usize, tiles: usize, seed: u64) {
    let t0 = Instant::now();
    let (mut total, mut held_data, mut held_map) = (0, 0, 0);
    for (k, s) in SORTER_STALL_SETS.iter().enumerate() {
        let blk = block(b, t, seed * 31 + k as u64);
        let mut rng = StdRng::seed_from_u64(seed * 7 + k as u64);
        let (c, hd, hm) = sorter_suite(
            &|| make(&blk),
            &mut || sorter_tiles(&mut rng, b, t, tiles),
            &|beats: &[LaneBeat]| sorter_expected(&blk, beats, t),
            *s,
            sorter_stages(b) as u64 + 6,
            seed * 10 + k as u64,
            &format!("sorter B={b} T={t} G={}", blk.groups.len()),
        );
        total += c;
        held_data += hd as usize;
        held_map += hm as usize;
    }
    assert!(held_data >= 1 && held_map >= 1, "no reset hit a held replay beat / map ({held_data}, {held_map})");
    eprintln!("sorter B={b} T={t}: {total} cycles in {:.2?}", t0.elapsed());
}

#[test]
fn sorter4_matches_golden_with_stalls() {
    random_suite(GroupSorter::<4, 64, 12, 65, 4>::new, 4, 8, 300, 1);
}

#[test]
fn sorter8_matches_golden_with_stalls() {
    random_suite(GroupSorter::<8, 128, 24, 129, 5>::new, 8, 16, 120, 2);
}

#[test]
fn sorter16_matches_golden_with_stalls() {
    random_suite(GroupSorter::<16, 256, 48, 257, 5>::new, 16, 16, 50, 3);
}

#[test]
fn sorter32_matches_golden_with_stalls() {
    random_suite(GroupSorter::<32, 512, 96, 513, 5>::new, 32, 16, 16, 4);
}

/// B = 64 simulates slowly (1024-bit vectors, 21 stages of 64 keys): T = 8, few tiles.
#[test]
fn sorter64_matches_golden_with_stalls() {
    random_suite(GroupSorter::<64, 1024, 192, 1025, 4>::new, 64, 8, 8, 5);
}

/// A block with 8 groups whose boundaries all fall among the sorted
/// positions of lanes 16..B when those carry the largest energies: B = 64
/// at 3, 8, 14, 21, 30, 40, 48; B = 32 at 2, 4, 7, 11, 15, 20, 24.
fn eight_group_block(b: usize, t: usize, seed: u64) -> BlockPolicy {
    let mut blk = (seed..).map(|s| block(b, t, s)).find(|x| x.groups.len() == 8).unwrap();
    let sizes: &[usize] = if b == 64 { &[3, 5, 6, 7, 9, 10, 8, 16] } else { &[2, 2, 3, 4, 4, 5, 4, 8] };
    for (g, &n) in blk.groups.iter_mut().zip(sizes) {
        g.size = n;
    }
    blk
}

/// Tiles whose energies differ only on lanes 16..B: lanes 0..15 all equal
/// (0 or a middle value, so they tie and follow the static rank), lanes
/// 16..B a fresh random permutation of distinct energies per tile. With the
/// group boundaries among the sorted positions of the upper lanes, a
/// comparator of the 32- or 64-wire merges with the wrong direction or
/// partner moves some component across a boundary.
fn upper_wire_tiles(rng: &mut StdRng, b: usize, t: usize, n_tiles: usize) -> Vec<LaneBeat> {
    let mut beats = Vec::new();
    for n in 0..n_tiles {
        let low = if n % 2 == 0 { 0 } else { 700 };
        let mut upper: Vec<i64> = (0..(b - 16) as i64).map(|i| 40 + 30 * i).collect();
        for i in (1..upper.len()).rev() {
            upper.swap(i, rng.gen_range(0..=i));
        }
        let len = rng.gen_range(1..=t);
        for v in 0..len {
            // |y| is the same in every vector of the tile, signs vary
            let lanes = (0..b)
                .map(|k| match k {
                    0..=15 if v % 2 == 0 => low,
                    0..=15 => -low,
                    _ if v % 3 == 1 => -upper[k - 16],
                    _ => upper[k - 16],
                })
                .collect();
            beats.push(LaneBeat { lanes, aux: vec![], last: v + 1 == len });
        }
    }
    beats
}

fn upper_wire_case<D: SorterDut>(make: fn(&BlockPolicy) -> D, b: usize, t: usize, seed: u64) {
    let blk = eight_group_block(b, t, seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let beats = upper_wire_tiles(&mut rng, b, t, 10);
    let exp = sorter_expected(&blk, &beats, t);
    let distinct: std::collections::HashSet<&Vec<i64>> = exp.maps.iter().collect();
    assert!(distinct.len() >= 8, "B={b}: only {} distinct maps in 10 tiles", distinct.len());
    for s in [SorterStalls::NONE, SorterStalls { input: 0.3, data: 0.3, map: 0.3 }] {
        let mut bench = SorterBench::new(make(&blk), seed, s);
        bench.load(beats.clone(), exp.clone());
        bench.run_to_completion(100_000, 40).unwrap_or_else(|e| panic!("B={b} upper wires {s:?}: {e}"));
    }
}

/// Comparator order on wires 16..B: only the upper lanes' energies differ.
#[test]
fn sorter_large_b_orders_upper_wires() {
    upper_wire_case(GroupSorter::<64, 1024, 192, 1025, 3>::new, 64, 4, 91);
    upper_wire_case(GroupSorter::<32, 512, 96, 513, 3>::new, 32, 4, 90);
}

/// B = 32 and 64: latency of the map and of the first replayed vector after
/// the tile-end transfer = sorter_stages(B) + 3 / + 4 (15 / 21 stages).
#[test]
fn sorter_large_b_latency() {
    for b in [32usize, 64] {
        let blk = block(b, 8, 97 + b as u64);
        let tile = sorter_tiles(&mut StdRng::seed_from_u64(97), b, 8, 1);
        let mut beats: Vec<LaneBeat> = tile.into_iter().cycle().take(5).collect();
        for (i, bt) in beats.iter_mut().enumerate() {
            bt.last = i == 4;
        }
        let exp = sorter_expected(&blk, &beats, 8);
        let st = match b {
            32 => lat_run(GroupSorter::<32, 512, 96, 513, 4>::new(&blk), beats, exp),
            _ => lat_run(GroupSorter::<64, 1024, 192, 1025, 4>::new(&blk), beats, exp),
        };
        let end = st.run.last_beat_cycle.unwrap();
        let (lm, lo) = (st.first_map_cycle.unwrap() - end, st.first_out_cycle.unwrap() - end);
        eprintln!("sorter B={b}: latency tile end -> map {lm} cycles, -> first replayed vector {lo} cycles");
        assert_eq!((lm, lo), (sorter_stages(b) as u64 + 3, sorter_stages(b) as u64 + 4), "B={b} latency");
    }
}

/// B = 32 and 64 with hardware tiles T = 1 (every vector a tile), 8 and
/// 16, and a policy tile below the hardware's (tiles end at `tlast`; the
/// final tile partial), 8 groups, moderate stalls.
#[test]
fn sorter_large_b_tile_sizes() {
    let s = SorterStalls { input: 0.2, data: 0.3, map: 0.3 };
    let mut rng = StdRng::seed_from_u64(95);
    let run = |bench_exp: &mut dyn FnMut() -> Result<actcomp_sim::SorterStats, StreamFailure>, what: &str| {
        bench_exp().unwrap_or_else(|e| panic!("{what}: {e}"));
    };
    for b in [32usize, 64] {
        for (t, policy_t) in [(1usize, 1usize), (8, 8), (16, 16), (16, 5)] {
            let blk = eight_group_block(b, policy_t, 100 + t as u64);
            let mut beats = sorter_tiles(&mut rng, b, policy_t, if t == 1 { 8 } else { 3 });
            beats.last_mut().unwrap().last = true;
            let exp = sorter_expected(&blk, &beats, t);
            let what = format!("B={b} T={t} policy tile {policy_t}");
            macro_rules! go {
                ($dut:ty) => {{
                    let mut bench = SorterBench::new(<$dut>::new(&blk), 95, s);
                    bench.load(beats.clone(), exp.clone());
                    run(&mut || bench.run_to_completion(100_000, 40), &what);
                }};
            }
            match (b, t) {
                (32, 1) => go!(GroupSorter<32, 512, 96, 513, 1>),
                (32, 8) => go!(GroupSorter<32, 512, 96, 513, 4>),
                (32, 16) => go!(GroupSorter<32, 512, 96, 513, 5>),
                (64, 1) => go!(GroupSorter<64, 1024, 192, 1025, 1>),
                (64, 8) => go!(GroupSorter<64, 1024, 192, 1025, 4>),
                _ => go!(GroupSorter<64, 1024, 192, 1025, 5>),
            }
        }
    }
}

/// A policy tile smaller than the hardware's largest tile: tiles end at
/// `tlast` only (B = 8, hardware T = 32, tiles of 1..=12).
#[test]
fn sorter_policy_tile_below_hardware_max() {
    let blk = block(8, 12, 11);
    let mut rng = StdRng::seed_from_u64(11);
    for s in [SorterStalls::NONE, SorterStalls { input: 0.3, data: 0.3, map: 0.3 }] {
        let beats = sorter_tiles(&mut rng, 8, 12, 40);
        let exp = sorter_expected(&blk, &beats, 32);
        assert_eq!(exp, sorter_expected(&blk, &beats, 12));
        let mut bench = SorterBench::new(GroupSorter::<8, 128, 24, 129, 6>::new(&blk), 5, s);
        bench.load(beats, exp);
        bench.run_to_completion(100_000, 40).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
}

/// Input without `tlast` for longer than T: the hardware ends a tile after
/// T vectors (and sets `m_axis_tlast` there).
#[test]
fn sorter_splits_tiles_longer_than_t() {
    let blk = block(4, 8, 12);
    let mut rng = StdRng::seed_from_u64(12);
    let mut beats = sorter_tiles(&mut rng, 4, 8, 30);
    for bt in beats.iter_mut() {
        bt.last = rng.gen_bool(0.03);
    }
    beats.last_mut().unwrap().last = true;
    let exp = sorter_expected(&blk, &beats, 8);
    assert!(exp.maps.len() > beats.iter().filter(|b| b.last).count(), "no forced split");
    for s in [SorterStalls::NONE, SorterStalls { input: 0.4, data: 0.4, map: 0.6 }] {
        let mut bench = SorterBench::new(GroupSorter::<4, 64, 12, 65, 4>::new(&blk), 6, s);
        bench.load(beats.clone(), exp.clone());
        bench.run_to_completion(100_000, 40).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
}

/// Ties: an all-zero tile gives the static map; equal columns follow the
/// static rank; equal energies from different values (−32768 vs 32768
/// in magnitude, sign flips).
#[test]
fn sorter_ties_follow_static_rank() {
    for b in [4usize, 8] {
        let blk = block(b, 8, 20 + b as u64);
        let zero = LaneBeat { lanes: vec![0; b], aux: vec![], last: false };
        let mut beats = vec![zero.clone(), zero.clone(), LaneBeat { last: true, ..zero.clone() }];
        // every lane equal magnitude, mixed signs: all energies tie
        for n in 0..5 {
            let lanes = (0..b).map(|k| if (k + n) % 2 == 0 { -32767 } else { 32767 }).collect();
            beats.push(LaneBeat { lanes, aux: vec![], last: n == 4 });
        }
        for n in 0..4 {
            let lanes = (0..b as i64).map(|k| if k % 2 == 0 { 1000 + n } else { -1000 - n }).collect();
            beats.push(LaneBeat { lanes, aux: vec![], last: n == 3 });
        }
        // pairs of equal columns, descending by pair
        for n in 0..3 {
            let lanes = (0..b as i64).map(|k| (k / 2) * 100 + n).collect();
            beats.push(LaneBeat { lanes, aux: vec![], last: n == 2 });
        }
        let exp = sorter_expected(&blk, &beats, 8);
        let stat: Vec<i64> = static_group_map(&blk).into_iter().map(i64::from).collect();
        assert_eq!(exp.maps[0], stat);
        assert_eq!(exp.maps[1], stat);
        assert_eq!(exp.maps[2], stat);
        for s in [SorterStalls::NONE, SorterStalls { input: 0.5, data: 0.5, map: 0.5 }] {
            let ok = if b == 4 {
                let mut bench = SorterBench::new(GroupSorter::<4, 64, 12, 65, 4>::new(&blk), 7, s);
                bench.load(beats.clone(), exp.clone());
                bench.run_to_completion(10_000, 40)
            } else {
                let mut bench = SorterBench::new(GroupSorter::<8, 128, 24, 129, 4>::new(&blk), 7, s);
                bench.load(beats.clone(), exp.clone());
                bench.run_to_completion(10_000, 40)
            };
            ok.unwrap_or_else(|e| panic!("B={b} {s:?}: {e}"));
        }
    }
}

/// T = 256 with |y| = 32768 in every vector: E = 2^23 needs all 24 bits
/// (a 23-bit accumulator would wrap to 0); 32767 per vector is 256 less.
#[test]
fn sorter_energy_width_at_t256() {
    let mut blk = block(4, 256, 30);
    blk.rank = vec![3, 2, 1, 0]; // static order opposite to the energy order
    let mk = |n: usize, last: bool| LaneBeat {
        lanes: vec![-32768, 32767, if n & 1 == 0 { -32768 } else { 32767 }, 0],
        aux: vec![],
        last,
    };
    let mut beats: Vec<LaneBeat> = (0..256).map(|n| mk(n, n == 255)).collect();
    beats.extend((0..256).map(|n| mk(n + 1, false))); // tile end forced at 256
    beats.extend((0..3).map(|n| mk(n, n == 2)));
    let exp = sorter_expected(&blk, &beats, 256);
    assert_eq!(exp.maps.len(), 3);
    for s in [SorterStalls::NONE, SorterStalls { input: 0.2, data: 0.5, map: 0.5 }] {
        let mut bench = SorterBench::new(GroupSorter::<4, 64, 12, 65, 9>::new(&blk), 8, s);
        bench.load(beats.clone(), exp.clone());
        bench.run_to_completion(100_000, 40).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
}

fn full_rate<D: SorterDut>(dut: D, blk: &BlockPolicy, beats: Vec<LaneBeat>, t: usize) -> (usize, u64, u64) {
    let exp = sorter_expected(blk, &beats, t);
    let n = beats.len();
    let mut bench = SorterBench::new(dut, 1, SorterStalls::NONE);
    bench.load(beats, exp);
    let st = bench.run_to_completion(100 * n as u64, 40).unwrap_or_else(|e| panic!("full rate: {e}"));
    let span = st.run.last_beat_cycle.unwrap() - st.run.first_beat_cycle.unwrap() + 1;
    (st.run.beats, span, st.run.input_blocked_cycles)
}

/// No stalls: one vector per cycle for tiles of T and of any one length of
/// at least 2 with a partial final tile; within 10 % of it for random
/// lengths 2..=T; one vector per two cycles for 1-vector tiles; latency of
/// the map and of the first replayed vector after the tile-end transfer =
/// stages + 3 / + 4.
#[test]
fn sorter_full_rate_and_latency() {
    let mut rng = StdRng::seed_from_u64(50);
    for b in [4usize, 8, 16] {
        let t = 16;
        let blk = block(b, t, 60 + b as u64);
        let mk = |beats: Vec<LaneBeat>| -> (usize, u64, u64) {
            match b {
                4 => full_rate(GroupSorter::<4, 64, 12, 65, 5>::new(&blk), &blk, beats, t),
                8 => full_rate(GroupSorter::<8, 128, 24, 129, 5>::new(&blk), &blk, beats, t),
                _ => full_rate(GroupSorter::<16, 256, 48, 257, 5>::new(&blk), &blk, beats, t),
            }
        };
        // full tiles
        let mut beats = sorter_tiles(&mut rng, b, t, 30);
        for (i, bt) in beats.iter_mut().enumerate() {
            bt.last = i % t == t - 1;
        }
        beats.last_mut().unwrap().last = true;
        let (n, span, blocked) = mk(beats);
        eprintln!("sorter B={b} T={t}: full tiles: {n} vectors in {span} cycles ({blocked} blocked)");
        assert_eq!((span, blocked), (n as u64, 0), "B={b}: full tiles");
        // tiles of one length L >= 2 (the policy tile) and a partial final tile
        for l in [2usize, 3, 5, 9] {
            let mut beats = sorter_tiles(&mut rng, b, t, 30);
            beats.truncate(20 * l + l / 2 + 1);
            let n = beats.len();
            for (i, bt) in beats.iter_mut().enumerate() {
                bt.last = i % l == l - 1 || i + 1 == n;
            }
            let (n, span, blocked) = mk(beats);
            assert_eq!((span, blocked), (n as u64, 0), "B={b}: tiles of {l}");
        }
        // random tiles of 2..=T: the pipeline (stages + snapshot + pending
        // map) holds the maps waiting for replay; many short tiles arriving
        // while a long one is replayed can stall the input briefly
        let mut beats = Vec::new();
        while beats.len() < 400 {
            let len = rng.gen_range(2..=t);
            let mut tile = sorter_tiles(&mut rng, b, t, 1);
            tile.truncate(len.min(tile.len()));
            if tile.len() < 2 {
                continue;
            }
            tile.last_mut().unwrap().last = true;
            beats.extend(tile);
        }
        let (n, span, blocked) = mk(beats);
        eprintln!("sorter B={b} T={t}: random tiles of 2..={t}: {n} vectors in {span} cycles ({blocked} blocked)");
        assert!(span * 10 <= 11 * n as u64, "B={b}: random tiles >= 2");
        // tiles of one vector: one per two cycles
        let beats: Vec<LaneBeat> = sorter_tiles(&mut rng, b, t, 10)
            .into_iter()
            .take(100)
            .map(|mut bt| {
                bt.last = true;
                bt
            })
            .collect();
        let (n, span, _) = mk(beats);
        eprintln!("sorter B={b} T={t}: 1-vector tiles: {n} vectors in {span} cycles");
        assert_eq!(span, 2 * n as u64 - 1, "B={b}: 1-vector tiles");
        // latency: one tile of 5 vectors from idle
        let beats = sorter_tiles(&mut rng, b, t, 1).into_iter().cycle().take(5).collect::<Vec<_>>();
        let mut beats = beats;
        for (i, bt) in beats.iter_mut().enumerate() {
            bt.last = i == 4;
        }
        let exp = sorter_expected(&blk, &beats, t);
        let st = match b {
            4 => lat_run(GroupSorter::<4, 64, 12, 65, 5>::new(&blk), beats, exp),
            8 => lat_run(GroupSorter::<8, 128, 24, 129, 5>::new(&blk), beats, exp),
            _ => lat_run(GroupSorter::<16, 256, 48, 257, 5>::new(&blk), beats, exp),
        };
        let end = st.run.last_beat_cycle.unwrap();
        let (lm, lo) = (st.first_map_cycle.unwrap() - end, st.first_out_cycle.unwrap() - end);
        eprintln!("sorter B={b}: latency tile end -> map {lm} cycles, -> first replayed vector {lo} cycles");
        assert_eq!((lm, lo), (sorter_stages(b) as u64 + 3, sorter_stages(b) as u64 + 4), "B={b} latency");
    }
}

/// T below stages + 3 (B = 8, T = 8): the 2T buffer cannot hold a tile
/// plus the vectors arriving while it is sorted, so full tiles stall the
/// input for a few cycles per tile.
#[test]
fn sorter_small_tile_rate() {
    let blk = block(8, 8, 80);
    let mut beats = sorter_tiles(&mut StdRng::seed_from_u64(80), 8, 8, 60);
    beats.truncate(320);
    for (i, bt) in beats.iter_mut().enumerate() {
        bt.last = i % 8 == 7;
    }
    let (n, span, blocked) = full_rate(GroupSorter::<8, 128, 24, 129, 4>::new(&blk), &blk, beats, 8);
    eprintln!("sorter B=8 T=8: full tiles: {n} vectors in {span} cycles ({blocked} blocked)");
    assert!(blocked > 0 && span <= n as u64 * 10 / 8, "B=8 T=8: {n} vectors in {span} cycles");
}

fn lat_run<D: SorterDut>(dut: D, beats: Vec<LaneBeat>, exp: actcomp_sim::SorterExpected) -> actcomp_sim::SorterStats {
    let mut bench = SorterBench::new(dut, 1, SorterStalls::NONE);
    bench.load(beats, exp);
    bench.run_to_completion(1000, 10).unwrap_or_else(|e| panic!("latency: {e}"))
}

/// A corrupted expected map / replay group is reported as the first mismatch.
#[test]
fn sorter_bench_reports_first_mismatch() {
    let blk = block(4, 8, 70);
    let beats = sorter_tiles(&mut StdRng::seed_from_u64(70), 4, 8, 12);
    let good = sorter_expected(&blk, &beats, 8);
    let mut exp = good.clone();
    exp.maps[3][2] = (exp.maps[3][2] + 1) % 8;
    let mut bench = SorterBench::new(GroupSorter::<4, 64, 12, 65, 4>::new(&blk), 1, SorterStalls::NONE);
    bench.load(beats.clone(), exp);
    match bench.run_to_completion(10_000, 20) {
        Err(StreamFailure::Mismatch { index: 3, what, .. }) => {
            assert!(what.contains("map stream (tile 3), tdata lane 2"), "{what}")
        }
        other => panic!("expected a map mismatch at tile 3, got {other:?}"),
    }
    let mut exp = good;
    exp.beats[17].aux[1] = (exp.beats[17].aux[1] + 1) % 8;
    let mut bench = SorterBench::new(
        GroupSorter::<4, 64, 12, 65, 4>::new(&blk),
        1,
        SorterStalls { input: 0.3, data: 0.3, map: 0.3 },
    );
    bench.load(beats, exp);
    match bench.run_to_completion(10_000, 20) {
        Err(StreamFailure::Mismatch { index: 17, what, .. }) => {
            assert!(what.contains("replay stream, tuser (group) lane 1"), "{what}")
        }
        other => panic!("expected a replay mismatch at beat 17, got {other:?}"),
    }
}
