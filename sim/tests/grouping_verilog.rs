//! The emitted sorter Verilog (module `actcomp_sorter`) under Icarus Verilog
//! against the golden `dynamic_group_map`, with random stalls on the input
//! and on both outputs.
//!
//! Without `iverilog` on PATH this test fails when `CI=true` and otherwise
//! prints a loud skip banner.

use std::path::{Path, PathBuf};

use actcomp_golden::policy::{BlockPolicy, Grouping};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{check_emitted, emit_verilog, module_names, GroupSorter};
use actcomp_sim::grouping::{
    sorter_expected, sorter_stall_pattern, sorter_testbench, sorter_tiles, write_sorter_vectors,
};
use actcomp_sim::transform::LaneBeat;
use actcomp_sim::vtb::{require_tool, run_iverilog};
use actcomp_sim::{SorterExpected, SorterStalls};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("grouping_verilog").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

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

/// Emits the sorter for `b` lanes and the largest tile `t` (8 or 16; B = 64: 8).
fn emit(b: usize, t: usize, blk: &BlockPolicy) -> String {
    let v = match (b, t) {
        (4, 8) => emit_verilog(&mut GroupSorter::<4, 64, 12, 65, 4>::new(blk), "actcomp_sorter"),
        (4, 16) => emit_verilog(&mut GroupSorter::<4, 64, 12, 65, 5>::new(blk), "actcomp_sorter"),
        (8, 8) => emit_verilog(&mut GroupSorter::<8, 128, 24, 129, 4>::new(blk), "actcomp_sorter"),
        (8, 16) => emit_verilog(&mut GroupSorter::<8, 128, 24, 129, 5>::new(blk), "actcomp_sorter"),
        (16, 16) => emit_verilog(&mut GroupSorter::<16, 256, 48, 257, 5>::new(blk), "actcomp_sorter"),
        (32, 16) => emit_verilog(&mut GroupSorter::<32, 512, 96, 513, 5>::new(blk), "actcomp_sorter"),
        (64, 8) => emit_verilog(&mut GroupSorter::<64, 1024, 192, 1025, 4>::new(blk), "actcomp_sorter"),
        _ => unreachable!(),
    }
    .unwrap();
    let problems = sorter_problems(&v);
    assert!(problems.is_empty(), "B={b} T={t}: check_emitted: {problems:#?}");
    assert_eq!(module_names(&v)[0], "actcomp_sorter");
    v
}

/// `check_emitted` findings; the rust-hdl `RAM` widget's memory
/// (`reg[N:0] mem[M:0];`, indexed by the address signals) must not be one.
fn sorter_problems(v: &str) -> Vec<String> {
    assert!(v.contains("reg[") && v.contains("] mem["), "RAM widget template changed");
    check_emitted(v)
}

fn run_case(dir: &Path, verilog: &str, b: usize, beats: &[LaneBeat], exp: &SorterExpected, stalls: &[u8]) -> String {
    std::fs::write(dir.join("dut.v"), verilog).unwrap();
    write_sorter_vectors(dir, b, beats, exp, stalls).unwrap();
    let tb = sorter_testbench(
        "actcomp_sorter",
        b,
        beats.len(),
        exp.beats.len(),
        exp.maps.len(),
        stalls.len(),
        40 * beats.len() + 400,
    );
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    run_iverilog(dir, &[dir.join("tb.v"), dir.join("dut.v")], "tb").unwrap_or_else(|e| panic!("{e}"))
}

fn tools() -> bool {
    require_tool("iverilog", "iverilog").is_some() && require_tool("vvp", "iverilog").is_some()
}

fn check_config(b: usize, t: usize, tiles: usize, seed: u64) {
    let settings = [
        SorterStalls::NONE,
        SorterStalls { input: 0.3, data: 0.3, map: 0.3 },
        SorterStalls { input: 0.6, data: 0.2, map: 0.7 },
        SorterStalls { input: 0.1, data: 0.7, map: 0.1 },
    ];
    for (k, s) in settings.into_iter().enumerate() {
        let blk = block(b, t, seed * 10 + k as u64);
        let mut beats = sorter_tiles(&mut StdRng::seed_from_u64(seed + k as u64), b, t, tiles);
        if k == 0 {
            // full tiles of T and a partial final tile: the no-stall run must be full rate
            let n = beats.len();
            for (i, bt) in beats.iter_mut().enumerate() {
                bt.last = i % t == t - 1 || i + 1 == n;
            }
        }
        let exp = sorter_expected(&blk, &beats, t);
        let stalls = sorter_stall_pattern(seed * 10 + k as u64, 997, s);
        let dir = work_dir(&format!("b{b}_t{t}_{k}"));
        let v = emit(b, t, &blk);
        if (b, t, k) == (8, 16, 0) {
            // kept for synthesis (docs/hardware.md, yosys synth_ice40): a
            // block with 4 groups (with one group the map is constant and
            // synthesis removes the whole sorter)
            let synth = (100..).map(|s| block(8, 16, s)).find(|x| x.groups.len() == 4).unwrap();
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("grouping_verilog").join("actcomp_sorter_b8_t16.v");
            std::fs::write(out, emit(8, 16, &synth)).unwrap();
        }
        let out = run_case(&dir, &v, b, &beats, &exp, &stalls);
        assert!(
            out.contains(&format!("PASS beats={} outs={} maps={}", beats.len(), exp.beats.len(), exp.maps.len())),
            "sorter B={b} T={t} G={} stalls {s:?} (files in {}): {}",
            blk.groups.len(),
            dir.display(),
            out.trim()
        );
        if k == 0 {
            let cycles: usize = out.split("cycles=").nth(1).unwrap().trim().parse().unwrap();
            // input at one vector per cycle; the replay of a tile of T ends
            // T + stages + 3 cycles after the tile's last input vector
            let bound = beats.len() + actcomp_hdl::sorter_stages(b) + t + 3;
            eprintln!(
                "sorter B={b} T={t}: iverilog no-stall run {} vectors in {cycles} cycles (bound {bound})",
                beats.len()
            );
            // full rate needs T >= stages + 3 (the 2T buffer holds the tile
            // being sorted plus the vectors arriving meanwhile)
            if t >= actcomp_hdl::sorter_stages(b) + 3 {
                assert!(cycles <= bound, "B={b}: {cycles} cycles for {} vectors", beats.len());
            }
        }
    }
}

#[test]
fn sorter_verilog_matches_golden_under_iverilog() {
    if !tools() {
        return;
    }
    check_config(4, 8, 80, 1);
    check_config(4, 16, 30, 2);
    check_config(8, 16, 40, 3);
    check_config(8, 8, 40, 4);
}

/// B = 16 once (moderate stalls).
#[test]
fn sorter16_verilog_matches_golden_under_iverilog() {
    if !tools() {
        return;
    }
    let blk = block(16, 16, 5);
    let beats = sorter_tiles(&mut StdRng::seed_from_u64(5), 16, 16, 20);
    let exp = sorter_expected(&blk, &beats, 16);
    let stalls = sorter_stall_pattern(5, 997, SorterStalls { input: 0.3, data: 0.3, map: 0.3 });
    let dir = work_dir("b16");
    let out = run_case(&dir, &emit(16, 16, &blk), 16, &beats, &exp, &stalls);
    assert!(out.contains("PASS"), "B=16 (files in {}): {}", dir.display(), out.trim());
}

/// B = 32 (T = 16) and B = 64 (T = 8): a block with 8 groups, random tiles
/// (ties, extremes, a partial final tile), then tiles whose energies differ
/// only on lanes 16..B (comparators of the upper wires), moderate stalls.
#[test]
fn sorter_large_b_verilog_matches_golden_under_iverilog() {
    if !tools() {
        return;
    }
    for (b, t, seed) in [(32usize, 16usize, 40u64), (64, 8, 41)] {
        let blk = (seed..).map(|s| block(b, t, s)).find(|x| x.groups.len() == 8).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut beats = sorter_tiles(&mut rng, b, t, 6);
        for n in 0..6 {
            let mut upper: Vec<i64> = (0..(b - 16) as i64).map(|i| 50 + 25 * i).collect();
            upper.shuffle(&mut rng);
            for v in 0..3 {
                let lanes = (0..b).map(|k| if k < 16 { 300 * (n % 2) } else { upper[k - 16] }).collect();
                beats.push(LaneBeat { lanes, aux: vec![], last: v == 2 });
            }
        }
        let exp = sorter_expected(&blk, &beats, t);
        let stalls = sorter_stall_pattern(seed, 997, SorterStalls { input: 0.3, data: 0.3, map: 0.3 });
        let dir = work_dir(&format!("b{b}_t{t}"));
        let out = run_case(&dir, &emit(b, t, &blk), b, &beats, &exp, &stalls);
        assert!(
            out.contains(&format!("PASS beats={} outs={} maps={}", beats.len(), exp.beats.len(), exp.maps.len())),
            "B={b} T={t} (files in {}): {}",
            dir.display(),
            out.trim()
        );
        eprintln!("sorter B={b} T={t}: iverilog {}", out.trim());
    }
}

/// A corrupted expected map and a corrupted replay group are reported as
/// the first mismatch.
#[test]
fn sorter_verilog_testbench_reports_first_mismatch() {
    if !tools() {
        return;
    }
    let blk = block(4, 8, 8);
    let beats = sorter_tiles(&mut StdRng::seed_from_u64(8), 4, 8, 12);
    let good = sorter_expected(&blk, &beats, 8);
    let v = emit(4, 8, &blk);
    let stalls = sorter_stall_pattern(1, 101, SorterStalls { input: 0.3, data: 0.3, map: 0.3 });
    let mut exp = good.clone();
    exp.maps[5][1] = (exp.maps[5][1] + 1) % 8;
    let out = run_case(&work_dir("corrupt_map"), &v, 4, &beats, &exp, &stalls);
    assert!(out.contains("FAIL mismatch at map 5 "), "{out}");
    let mut exp = good;
    exp.beats[13].aux[2] = (exp.beats[13].aux[2] + 1) % 8;
    let out = run_case(&work_dir("corrupt_beat"), &v, 4, &beats, &exp, &stalls);
    assert!(out.contains("FAIL mismatch at beat 13 "), "{out}");
}
