//! The emitted inverse-transform Verilog (module `actcomp_inverse`) under
//! Icarus Verilog against the golden `BlockMatrices::inverse`, random and
//! extreme blocks, both code ranges, with random stalls (B = 4, 8; and
//! B = 32, 64 with calibrated DCT / PCA matrices on the lane-beat stream
//! testbench). Without `iverilog` this fails when `CI=true` and otherwise
//! prints a skip banner.

use std::path::{Path, PathBuf};

use actcomp_golden::policy::{BlockPolicy, CodeRange, TransformKind};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{check_emitted, emit_verilog, Inverse4, Inverse8, InverseTransform};
use actcomp_sim::inverse::{
    calibrated_block, expected_xhat, inv_in_beat, inverse_expected_lanes, inverse_in_format, inverse_lane_beats,
    inverse_out_format, random_yhat,
};
use actcomp_sim::transform::{stream_testbench, write_beat_vectors, LaneBeat};
use actcomp_sim::unpacker::{beat_stall_pattern, run_beat_verilog, VPort};
use actcomp_sim::vtb::{require_tool, run_iverilog, stall_pattern};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("inverse_verilog").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn emit(blk: &BlockPolicy, range: CodeRange) -> String {
    let v = if blk.mean.len() == 4 {
        emit_verilog(&mut Inverse4::new(blk, range), "actcomp_inverse").unwrap()
    } else {
        emit_verilog(&mut Inverse8::new(blk, range), "actcomp_inverse").unwrap()
    };
    let problems = check_emitted(&v);
    assert!(problems.is_empty(), "{problems:?}");
    v
}

#[test]
fn emitted_inverse_matches_golden_under_iverilog() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(31);
    for b in [4usize, 8] {
        for (j, range) in [CodeRange::Int8, CodeRange::Uint8, CodeRange::Int8].into_iter().enumerate() {
            let p = random_policy(&mut rng, &PolicySpec { channels: Some(b), block_size: Some(b), ..Default::default() });
            let mut blk = p.blocks[0].clone();
            match j {
                1 => {
                    blk.inverse = vec![vec![-32768; b]; b];
                    blk.inverse_shift = 1;
                }
                2 => {
                    blk.inverse = (0..b).map(|_| (0..b).map(|_| [-32768, 32767, -1][rng.gen_range(0..3)]).collect()).collect();
                    blk.inverse_shift = 34;
                    blk.inverse_mean = vec![-1024; b];
                    blk.inverse_mean[0] = 1023;
                }
                _ => {}
            }
            let v = emit(&blk, range);
            for (k, (pin, pout)) in [(0.0, 0.0), (0.3, 0.3), (0.2, 0.7)].into_iter().enumerate() {
                let ys = random_yhat(&mut rng, &blk, 300);
                let lasts: Vec<bool> = (0..300).map(|i| i % 7 == 6 || i == 299).collect();
                let ins = vec![ys.iter().zip(&lasts).map(|(y, &l)| inv_in_beat(y, l)).collect()];
                let exp: Vec<_> = ys.iter().zip(&lasts).map(|(y, &l)| expected_xhat(&blk, range, y, l)).collect();
                let stalls = beat_stall_pattern(k as u64 + 10 * j as u64, 499, 1, pin, pout);
                let dir = work_dir(&format!("b{b}_{j}_{k}"));
                let out = run_beat_verilog(&dir, &v, "actcomp_inverse", &[VPort::new("s_axis", 16 * b, 0, true)], &ins, 8 * b, &exp, &stalls);
                assert!(out.contains("PASS inputs=300 outputs=300"), "B={b} variant {j} stalls {pin}/{pout} (files in {}): {}", dir.display(), out.trim());
                if k == 0 {
                    let cycles: usize = out.split("cycles=").nth(1).unwrap().trim().parse().unwrap();
                    assert!(cycles <= 300 + 4, "B={b}: {cycles} cycles for 300 beats");
                }
            }
        }
    }
}

/// Writes the B=8 Verilog to `target/tmp/inverse_verilog/actcomp_inverse_b8.v`
/// (input of the yosys run in docs/hardware.md).
#[test]
fn write_inverse_b8_verilog_for_synthesis() {
    let mut rng = StdRng::seed_from_u64(8);
    let p = random_policy(&mut rng, &PolicySpec { channels: Some(8), block_size: Some(8), ..Default::default() });
    let v = emit(&p.blocks[0], CodeRange::Int8);
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("inverse_verilog");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("actcomp_inverse_b8.v"), v).unwrap();
}

/// Runs `verilog` (module `actcomp_inverse`) on lane beats under Icarus with
/// the plain-Verilog stream testbench; returns its output.
fn run_wide(dir: &Path, verilog: &str, b: usize, beats: &[LaneBeat], exp: &[LaneBeat], stalls: &[u8]) -> String {
    std::fs::write(dir.join("dut.v"), verilog).unwrap();
    let (fi, fo) = (inverse_in_format(b), inverse_out_format(b));
    write_beat_vectors(dir, fi, fo, beats, exp, stalls).unwrap();
    let tb = stream_testbench("actcomp_inverse", fi, fo, beats.len(), exp.len(), stalls.len(), 40 * beats.len() + 200);
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    run_iverilog(dir, &[dir.join("tb.v"), dir.join("dut.v")], "tb").unwrap_or_else(|e| panic!("{e}"))
}

/// B = 32 and 64: calibrated DCT / PCA matrices, the testkit's random ones,
/// all −32768 at shift 37 (just below the hardware's cap of 38), both code
/// ranges, random stalls.
fn wide_verilog<const B: usize, const YW: usize, const OW: usize>(seed: u64, n: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let p = random_policy(&mut rng, &PolicySpec { channels: Some(B), block_size: Some(B), ..Default::default() });
    let mut extreme = p.blocks[0].clone();
    extreme.inverse = vec![vec![-32768; B]; B];
    extreme.inverse_shift = 37;
    let blocks = [
        ("dct", calibrated_block(&mut rng, &p.blocks[0], TransformKind::Dct, false), CodeRange::Int8, (0.0, 0.0)),
        ("pca", calibrated_block(&mut rng, &p.blocks[0], TransformKind::Pca, true), CodeRange::Uint8, (0.3, 0.3)),
        ("random", p.blocks[0].clone(), CodeRange::Int8, (0.2, 0.7)),
        ("extreme", extreme, CodeRange::Uint8, (0.3, 0.3)),
    ];
    for (k, (name, blk, range, (pin, pout))) in blocks.into_iter().enumerate() {
        let v = emit_verilog(&mut InverseTransform::<B, YW, OW>::new(&blk, range), "actcomp_inverse").unwrap();
        let problems = check_emitted(&v);
        assert!(problems.is_empty(), "B={B}: {problems:?}");
        let ys = random_yhat(&mut rng, &blk, n);
        let lasts: Vec<bool> = (0..n).map(|i| i % 5 == 4 || i + 1 == n).collect();
        let beats = inverse_lane_beats(&ys, &lasts);
        let exp = inverse_expected_lanes(&blk, range, &beats);
        let stalls = stall_pattern(seed * 10 + k as u64, 97, pin, pout);
        let dir = work_dir(&format!("b{B}_{name}"));
        let out = run_wide(&dir, &v, B, &beats, &exp, &stalls);
        assert!(out.contains(&format!("PASS beats={n} outs={n}")), "B={B} {name} (files in {}): {}", dir.display(), out.trim());
        if k == 0 {
            let cycles: usize = out.split("cycles=").nth(1).unwrap().trim().parse().unwrap();
            assert!(cycles <= n + 4, "B={B}: {cycles} cycles for {n} beats");
        }
    }
}

#[test]
fn emitted_inverse_b32_b64_match_golden_under_iverilog() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    wide_verilog::<32, 512, 256>(32, 40);
    wide_verilog::<64, 1024, 512>(64, 30);
}
