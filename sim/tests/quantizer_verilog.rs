//! The emitted quantizer Verilog (module `actcomp_quantizer`) under Icarus
//! Verilog against the golden `GroupQuantizer`, with random stalls.
//!
//! Without `iverilog` on PATH this test fails when `CI=true` and otherwise
//! prints a loud skip banner.

use std::path::{Path, PathBuf};

use actcomp_golden::policy::BlockPolicy;
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{check_emitted, emit_verilog, module_names, Quantizer16, Quantizer4, Quantizer8};
use actcomp_sim::quantizer::{quantizer_beats, quantizer_expected, quantizer_in_format, quantizer_out_format};
use actcomp_sim::transform::{stream_testbench, write_beat_vectors, LaneBeat};
use actcomp_sim::vtb::{require_tool, run_iverilog, stall_pattern};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("quantizer_verilog").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn emit(b: usize, blk: &BlockPolicy) -> String {
    let v = match b {
        4 => emit_verilog(&mut Quantizer4::new(blk), "actcomp_quantizer"),
        8 => emit_verilog(&mut Quantizer8::new(blk), "actcomp_quantizer"),
        16 => emit_verilog(&mut Quantizer16::new(blk), "actcomp_quantizer"),
        _ => unreachable!(),
    }
    .unwrap();
    let problems = check_emitted(&v);
    assert!(problems.is_empty(), "B={b}: check_emitted: {problems:#?}");
    assert_eq!(module_names(&v)[0], "actcomp_quantizer");
    v
}

fn run_case(dir: &Path, verilog: &str, b: usize, beats: &[LaneBeat], exp: &[LaneBeat], stalls: &[u8]) -> String {
    std::fs::write(dir.join("dut.v"), verilog).unwrap();
    let (fi, fo) = (quantizer_in_format(b), quantizer_out_format(b));
    write_beat_vectors(dir, fi, fo, beats, exp, stalls).unwrap();
    let tb =
        stream_testbench("actcomp_quantizer", fi, fo, beats.len(), exp.len(), stalls.len(), 40 * beats.len() + 200);
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    run_iverilog(dir, &[dir.join("tb.v"), dir.join("dut.v")], "tb").unwrap_or_else(|e| panic!("{e}"))
}

fn tools() -> bool {
    require_tool("iverilog", "iverilog").is_some() && require_tool("vvp", "iverilog").is_some()
}

fn check_config(b: usize, beats_per_run: usize, seed: u64) {
    for (k, (pin, pout)) in [(0.0, 0.0), (0.3, 0.3), (0.7, 0.2), (0.2, 0.7)].into_iter().enumerate() {
        let spec = PolicySpec { channels: Some(b), block_size: Some(b), ..Default::default() };
        let blk = random_policy(&mut StdRng::seed_from_u64(seed * 10 + k as u64), &spec).blocks[0].clone();
        let beats = quantizer_beats(&mut StdRng::seed_from_u64(seed + k as u64), b, blk.groups.len(), beats_per_run);
        let exp = quantizer_expected(&blk, &beats);
        let stalls = stall_pattern(seed * 10 + k as u64, 997, pin, pout);
        let dir = work_dir(&format!("q{b}_{k}"));
        let out = run_case(&dir, &emit(b, &blk), b, &beats, &exp, &stalls);
        assert!(
            out.contains(&format!("PASS beats={} outs={}", beats.len(), exp.len())),
            "quantizer B={b} G={} stalls in={pin} out={pout} (files in {}): {}",
            blk.groups.len(),
            dir.display(),
            out.trim()
        );
        if k == 0 {
            let cycles: usize = out.split("cycles=").nth(1).unwrap().trim().parse().unwrap();
            eprintln!("quantizer B={b}: iverilog no-stall run {} beats in {cycles} cycles", beats.len());
            assert!(cycles <= beats.len() + 4, "B={b}: {cycles} cycles for {} beats", beats.len());
        }
    }
}

#[test]
fn quantizer_verilog_matches_golden_under_iverilog() {
    if !tools() {
        return;
    }
    check_config(4, 300, 1);
    check_config(8, 300, 2);
    check_config(16, 100, 3);
}

/// A corrupted expected width is reported as the first mismatch.
#[test]
fn quantizer_verilog_testbench_reports_first_mismatch() {
    if !tools() {
        return;
    }
    let spec = PolicySpec { channels: Some(4), block_size: Some(4), ..Default::default() };
    let blk = random_policy(&mut StdRng::seed_from_u64(8), &spec).blocks[0].clone();
    let beats = quantizer_beats(&mut StdRng::seed_from_u64(8), 4, blk.groups.len(), 30);
    let mut exp = quantizer_expected(&blk, &beats);
    exp[13].aux[1] ^= 1;
    let dir = work_dir("corrupted");
    let out = run_case(&dir, &emit(4, &blk), 4, &beats, &exp, &stall_pattern(1, 101, 0.3, 0.3));
    assert!(out.contains("FAIL mismatch at beat 13 "), "{out}");
}
