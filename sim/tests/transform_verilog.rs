//! The emitted forward-transform Verilog (module `actcomp_transform`) under
//! Icarus Verilog: a plain-Verilog testbench replays random and extreme
//! beats with random stalls from hex files and checks every output beat
//! against the golden `BlockMatrices::forward`.
//!
//! Without `iverilog` on PATH this test fails when `CI=true` and otherwise
//! prints a loud skip banner.

use std::path::{Path, PathBuf};

use actcomp_golden::policy::{BlockPolicy, Dtype};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{
    check_emitted, emit_verilog, module_names, TransformFull16, TransformFull4, TransformFull8, TransformSerial4,
    TransformSerial8,
};
use actcomp_sim::transform::{
    stream_testbench, transform_beats, transform_expected, transform_in_format, transform_out_format,
    write_beat_vectors, LaneBeat,
};
use actcomp_sim::vtb::{require_tool, run_iverilog, stall_pattern};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("transform_verilog").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_case(
    dir: &Path,
    verilog: &str,
    b: usize,
    beats: &[LaneBeat],
    exp: &[LaneBeat],
    stalls: &[u8],
    cpb: usize,
) -> String {
    std::fs::write(dir.join("dut.v"), verilog).unwrap();
    let (fi, fo) = (transform_in_format(b), transform_out_format(b));
    write_beat_vectors(dir, fi, fo, beats, exp, stalls).unwrap();
    let tb = stream_testbench(
        "actcomp_transform",
        fi,
        fo,
        beats.len(),
        exp.len(),
        stalls.len(),
        40 * cpb * beats.len() + 200,
    );
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    run_iverilog(dir, &[dir.join("tb.v"), dir.join("dut.v")], "tb").unwrap_or_else(|e| panic!("{e}"))
}

fn tools() -> bool {
    require_tool("iverilog", "iverilog").is_some() && require_tool("vvp", "iverilog").is_some()
}

fn emit(kind: &str, b: usize, blk: &BlockPolicy) -> String {
    let v = match (kind, b) {
        ("full", 4) => emit_verilog(&mut TransformFull4::new(blk), "actcomp_transform"),
        ("full", 8) => emit_verilog(&mut TransformFull8::new(blk), "actcomp_transform"),
        ("full", 16) => emit_verilog(&mut TransformFull16::new(blk), "actcomp_transform"),
        ("serial", 4) => emit_verilog(&mut TransformSerial4::new(blk), "actcomp_transform"),
        ("serial", 8) => emit_verilog(&mut TransformSerial8::new(blk), "actcomp_transform"),
        other => panic!("{other:?}"),
    }
    .unwrap();
    let problems = check_emitted(&v);
    assert!(problems.is_empty(), "{kind}{b}: check_emitted: {problems:#?}");
    assert_eq!(module_names(&v)[0], "actcomp_transform");
    v
}

/// One configuration: a random policy (and an extreme one: all -32768
/// coefficients, shift 1, so outputs saturate), stall settings
/// (0,0), (0.3,0.3), (0.7,0.2), (0.2,0.7).
fn check_config(kind: &str, b: usize, beats_per_run: usize, seed: u64) {
    let cpb = if kind == "serial" { b } else { 1 };
    for (k, (pin, pout)) in [(0.0, 0.0), (0.3, 0.3), (0.7, 0.2), (0.2, 0.7)].into_iter().enumerate() {
        let dtype = if k % 2 == 0 { Dtype::I8 } else { Dtype::U8 };
        let spec = PolicySpec { channels: Some(b), block_size: Some(b), dtype: Some(dtype), ..Default::default() };
        let p = random_policy(&mut StdRng::seed_from_u64(seed * 10 + k as u64), &spec);
        let mut blk = p.blocks[0].clone();
        if k == 3 {
            blk.forward.iter_mut().flatten().for_each(|f| *f = -32768);
            blk.forward_shift.iter_mut().enumerate().for_each(|(j, s)| *s = [1, 40, 2, 31][j % 4]);
        }
        let beats = transform_beats(&mut StdRng::seed_from_u64(seed + k as u64), &p, beats_per_run);
        let exp = transform_expected(&blk, &beats);
        let stalls = stall_pattern(seed * 10 + k as u64, 997, pin, pout);
        let dir = work_dir(&format!("{kind}{b}_{k}"));
        let out = run_case(&dir, &emit(kind, b, &blk), b, &beats, &exp, &stalls, cpb);
        assert!(
            out.contains(&format!("PASS beats={} outs={}", beats.len(), exp.len())),
            "{kind} B={b} stalls in={pin} out={pout} (files in {}): {}",
            dir.display(),
            out.trim()
        );
        if k == 0 {
            let cycles: usize = out.split("cycles=").nth(1).unwrap().trim().parse().unwrap();
            eprintln!("{kind} B={b}: iverilog no-stall run {} beats in {cycles} cycles", beats.len());
            if kind == "full" {
                assert!(cycles <= beats.len() + 4, "{kind} B={b}: {cycles} cycles for {} beats", beats.len());
            } else {
                assert!(cycles <= b * beats.len() + 4, "{kind} B={b}: {cycles} cycles for {} beats", beats.len());
            }
        }
    }
}

#[test]
fn transform_full_verilog_matches_golden_under_iverilog() {
    if !tools() {
        return;
    }
    check_config("full", 4, 150, 1);
    check_config("full", 8, 150, 2);
    check_config("full", 16, 60, 3);
}

#[test]
fn transform_serial_verilog_matches_golden_under_iverilog() {
    if !tools() {
        return;
    }
    check_config("serial", 4, 100, 4);
    check_config("serial", 8, 80, 5);
}

/// The Verilog testbench must be able to fail: a corrupted expected beat is
/// reported as the first mismatch with its index.
#[test]
fn transform_verilog_testbench_reports_first_mismatch() {
    if !tools() {
        return;
    }
    let spec = PolicySpec { channels: Some(4), block_size: Some(4), dtype: Some(Dtype::I8), ..Default::default() };
    let p = random_policy(&mut StdRng::seed_from_u64(3), &spec);
    let blk = &p.blocks[0];
    let beats = transform_beats(&mut StdRng::seed_from_u64(3), &p, 30);
    let mut exp = transform_expected(blk, &beats);
    exp[11].lanes[3] ^= 0x40;
    let stalls = stall_pattern(5, 101, 0.3, 0.3);
    let dir = work_dir("corrupted");
    let out = run_case(&dir, &emit("full", 4, blk), 4, &beats, &exp, &stalls, 1);
    assert!(out.contains("FAIL mismatch at beat 11 "), "{out}");
}
