//! The emitted inverse-transform Verilog (module `actcomp_inverse`) under
//! Icarus Verilog against the golden `BlockMatrices::inverse`, random and
//! extreme blocks, both code ranges, with random stalls. Without `iverilog`
//! this fails when `CI=true` and otherwise prints a skip banner.

use std::path::{Path, PathBuf};

use actcomp_golden::policy::{BlockPolicy, CodeRange};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{check_emitted, emit_verilog, Inverse4, Inverse8};
use actcomp_sim::inverse::{expected_xhat, inv_in_beat, random_yhat};
use actcomp_sim::unpacker::{beat_stall_pattern, run_beat_verilog, VPort};
use actcomp_sim::vtb::require_tool;
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
