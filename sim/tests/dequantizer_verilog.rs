//! The emitted dequantizer Verilog (module `actcomp_dequantizer`, level
//! ROMs as `case` statements) under Icarus Verilog against the golden
//! `GroupQuantizer::dequantize`, with random stalls (B = 4, 8; B = 32, 64
//! on the lane-beat stream testbench). Without `iverilog`
//! this fails when `CI=true` and otherwise prints a skip banner.

use std::path::{Path, PathBuf};

use actcomp_golden::policy::GroupPolicy;
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{check_emitted, emit_verilog, Dequantizer, Dequantizer4, Dequantizer8};
use actcomp_sim::dequantizer::{deq_in_format, deq_out_format, expected_beat, random_deq_beats, DeqBeat};
use actcomp_sim::transform::{stream_testbench, write_beat_vectors, LaneBeat};
use actcomp_sim::unpacker::{beat_stall_pattern, run_beat_verilog, VPort};
use actcomp_sim::vtb::{require_tool, run_iverilog, stall_pattern};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dequantizer_verilog").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn emitted_dequantizer_matches_golden_under_iverilog() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(21);
    for b in [4usize, 8] {
        let p = random_policy(&mut rng, &PolicySpec { channels: Some(2 * b), block_size: Some(b), ..Default::default() });
        for (j, blk) in p.blocks.iter().enumerate() {
            let mut blk = blk.clone();
            if j == 1 {
                // extreme level values
                for g in &mut blk.groups {
                    for (k, l) in g.levels.iter_mut().enumerate() {
                        *l = if k % 2 == 0 { -32768 } else { 32767 };
                    }
                }
            }
            let v = if b == 4 {
                emit_verilog(&mut Dequantizer4::new(&blk), "actcomp_dequantizer").unwrap()
            } else {
                emit_verilog(&mut Dequantizer8::new(&blk), "actcomp_dequantizer").unwrap()
            };
            let problems = check_emitted(&v);
            assert!(problems.is_empty(), "B={b}: {problems:?}");
            let ports = [VPort::new("s_axis", 8 * b, 3 * b, true)];
            for (k, (pin, pout)) in [(0.0, 0.0), (0.3, 0.3), (0.2, 0.7)].into_iter().enumerate() {
                let beats = random_deq_beats(&mut rng, &blk, 400);
                let exp: Vec<_> = beats.iter().map(|x| expected_beat(&blk, x)).collect();
                let ins = vec![beats.iter().map(DeqBeat::in_beat).collect()];
                let stalls = beat_stall_pattern(k as u64 + 7 * j as u64, 499, 1, pin, pout);
                let dir = work_dir(&format!("b{b}_blk{j}_{k}"));
                let out = run_beat_verilog(&dir, &v, "actcomp_dequantizer", &ports, &ins, 16 * b, &exp, &stalls);
                assert!(out.contains(&format!("PASS inputs=400 outputs=400")), "B={b} block {j} stalls {pin}/{pout} (files in {}): {}", dir.display(), out.trim());
                if k == 0 {
                    let cycles: usize = out.split("cycles=").nth(1).unwrap().trim().parse().unwrap();
                    assert!(cycles <= 402, "B={b}: {cycles} cycles for 400 beats");
                }
            }
        }
    }
}

/// A corrupted expected beat is reported as the first mismatch.
#[test]
fn dequantizer_verilog_bench_reports_first_mismatch() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(22);
    let p = random_policy(&mut rng, &PolicySpec { channels: Some(4), block_size: Some(4), ..Default::default() });
    let blk = &p.blocks[0];
    let beats = random_deq_beats(&mut rng, blk, 50);
    let mut exp: Vec<_> = beats.iter().map(|x| expected_beat(blk, x)).collect();
    exp[13].data ^= 1 << 40;
    let v = emit_verilog(&mut Dequantizer4::new(blk), "actcomp_dequantizer").unwrap();
    let dir = work_dir("corrupted");
    let ins = vec![beats.iter().map(DeqBeat::in_beat).collect()];
    let out = run_beat_verilog(&dir, &v, "actcomp_dequantizer", &[VPort::new("s_axis", 32, 12, true)], &ins, 64, &exp, &beat_stall_pattern(1, 31, 1, 0.3, 0.3));
    assert!(out.contains("FAIL mismatch at beat 13 "), "{out}");
}

/// B = 32 and 64 on the lane-beat stream testbench: a random block
/// (widths 0..=8, static and permuted maps), one with extreme levels, an
/// all-8-bit block with distinct levels per code (lanes 0 / 16 / 32 differ
/// in every beat), random stalls.
fn wide_verilog<const L: usize, const CW: usize, const GW: usize, const OW: usize>(seed: u64, n: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let p = random_policy(&mut rng, &PolicySpec { channels: Some(2 * L), block_size: Some(L), ..Default::default() });
    let mut extreme = p.blocks[1].clone();
    for g in &mut extreme.groups {
        for (k, l) in g.levels.iter_mut().enumerate() {
            *l = if k % 2 == 0 { -32768 } else { 32767 };
        }
    }
    let mut eight = p.blocks[0].clone();
    eight.groups = vec![GroupPolicy {
        size: L,
        bits: 8,
        qmul: 1000,
        encode: (0..256).map(|f: i32| f - 128).collect(),
        levels: (0..256).map(|j| 257 * j - 32768).collect(),
    }];
    let blocks = [("random", p.blocks[0].clone(), (0.0, 0.0)), ("extreme", extreme, (0.3, 0.3)), ("eight", eight, (0.2, 0.7))];
    for (k, (name, blk, (pin, pout))) in blocks.into_iter().enumerate() {
        let v = emit_verilog(&mut Dequantizer::<L, CW, GW, OW>::new(&blk), "actcomp_dequantizer").unwrap();
        let problems = check_emitted(&v);
        assert!(problems.is_empty(), "B={L}: {problems:?}");
        let mut beats = random_deq_beats(&mut rng, &blk, n);
        if name == "eight" {
            for (t, b) in beats.iter_mut().enumerate() {
                b.codes = (0..L as i32).map(|i| ((i + 3 * t as i32) % 256) - 128).collect();
            }
        }
        let ins: Vec<LaneBeat> = beats.iter().map(DeqBeat::lane_beat).collect();
        let exp: Vec<LaneBeat> = beats.iter().map(|x| x.expected_lanes(&blk)).collect();
        let (fi, fo) = (deq_in_format(L), deq_out_format(L));
        let stalls = stall_pattern(seed * 10 + k as u64, 97, pin, pout);
        let dir = work_dir(&format!("b{L}_{name}"));
        std::fs::write(dir.join("dut.v"), &v).unwrap();
        write_beat_vectors(&dir, fi, fo, &ins, &exp, &stalls).unwrap();
        let tb = stream_testbench("actcomp_dequantizer", fi, fo, n, n, stalls.len(), 40 * n + 200);
        std::fs::write(dir.join("tb.v"), tb).unwrap();
        let out = run_iverilog(&dir, &[dir.join("tb.v"), dir.join("dut.v")], "tb").unwrap_or_else(|e| panic!("{e}"));
        assert!(out.contains(&format!("PASS beats={n} outs={n}")), "B={L} {name} (files in {}): {}", dir.display(), out.trim());
        if k == 0 {
            let cycles: usize = out.split("cycles=").nth(1).unwrap().trim().parse().unwrap();
            assert!(cycles <= n + 2, "B={L}: {cycles} cycles for {n} beats");
        }
    }
}

#[test]
fn emitted_dequantizer_b32_b64_match_golden_under_iverilog() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    wide_verilog::<32, 256, 96, 512>(32, 60);
    wide_verilog::<64, 512, 192, 1024>(64, 40);
}
