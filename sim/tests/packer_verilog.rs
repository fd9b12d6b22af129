//! The emitted packer Verilog under Icarus Verilog (an independent
//! simulator): a plain-Verilog testbench replays random beats with random
//! stalls from hex files and checks every word against the golden model.
//!
//! Without `iverilog` on PATH this test fails when `CI=true` and otherwise
//! prints a loud skip banner.

use std::path::{Path, PathBuf};

use actcomp_golden::packer::PackBeat;
use actcomp_hdl::{emit_verilog, Packer4x32, Packer4x64, Packer8x32, Packer8x64};
use actcomp_sim::packer::{expected_words, random_tiles};
use actcomp_sim::vtb::{packer_testbench, require_tool, run_iverilog, stall_pattern, write_packer_vectors};
use actcomp_sim::ExpectedWord;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("packer_verilog").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes DUT, testbench and vectors into `dir`, runs Icarus, returns stdout.
fn run_case(dir: &Path, verilog: &str, lanes: usize, w: u32, beats: &[PackBeat], exp: &[ExpectedWord], stalls: &[u8]) -> String {
    std::fs::write(dir.join("dut.v"), verilog).unwrap();
    write_packer_vectors(dir, lanes, w, beats, exp, stalls).unwrap();
    let tb = packer_testbench("actcomp_packer", lanes, w, beats.len(), exp.len(), stalls.len(), 50 * (beats.len() + exp.len()) + 100);
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    run_iverilog(dir, &[dir.join("tb.v"), dir.join("dut.v")], "tb").unwrap_or_else(|e| panic!("{e}"))
}

/// Tile of word `i` named in a FAIL line (for a more useful message).
fn explain(out: &str, exp: &[ExpectedWord]) -> String {
    let tile = out
        .split("word ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|i| exp.get(i))
        .map(|e| format!(" (tile {})", e.tile))
        .unwrap_or_default();
    format!("{}{tile}", out.trim())
}

fn check_config(name: &str, verilog: String, lanes: usize, w: u32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for (k, (pin, pout)) in [(0.0, 0.0), (0.3, 0.3), (0.7, 0.2), (0.2, 0.7)].into_iter().enumerate() {
        let beats = random_tiles(&mut rng, lanes, 150, 10);
        let exp = expected_words(&beats, w);
        let stalls = stall_pattern(seed * 10 + k as u64, 997, pin, pout);
        let dir = work_dir(&format!("{name}_{k}"));
        let out = run_case(&dir, &verilog, lanes, w, &beats, &exp, &stalls);
        assert!(
            out.contains(&format!("PASS beats={} words={}", beats.len(), exp.len())),
            "{name} stalls in={pin} out={pout} (files in {}): {}",
            dir.display(),
            explain(&out, &exp)
        );
        if k == 0 {
            // no stalls: the Verilog must also run at one beat per cycle
            let cycles: usize = out.split("cycles=").nth(1).unwrap().trim().parse().unwrap();
            eprintln!("{name}: iverilog no-stall run {} beats, {} words, {cycles} cycles", beats.len(), exp.len());
            if 8 * lanes as u32 <= w {
                assert!(cycles <= beats.len() + 2, "{name}: {cycles} cycles for {} beats", beats.len());
            }
        }
    }
}

#[test]
fn emitted_verilog_matches_golden_under_iverilog() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    check_config("4x32", emit_verilog(&mut Packer4x32::new(), "actcomp_packer").unwrap(), 4, 32, 1);
    check_config("4x64", emit_verilog(&mut Packer4x64::new(), "actcomp_packer").unwrap(), 4, 64, 2);
    check_config("8x32", emit_verilog(&mut Packer8x32::new(), "actcomp_packer").unwrap(), 8, 32, 3);
    check_config("8x64", emit_verilog(&mut Packer8x64::new(), "actcomp_packer").unwrap(), 8, 64, 4);
}

/// The Verilog testbench must be able to fail: a corrupted expected word
/// is reported as the first mismatch with its index.
#[test]
fn verilog_testbench_reports_first_mismatch() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(5);
    let beats = random_tiles(&mut rng, 4, 40, 8);
    let mut exp = expected_words(&beats, 32);
    exp[9].data ^= 0x8000_0000;
    let stalls = stall_pattern(5, 101, 0.3, 0.3);
    let dir = work_dir("corrupted");
    let v = emit_verilog(&mut Packer4x32::new(), "actcomp_packer").unwrap();
    let out = run_case(&dir, &v, 4, 32, &beats, &exp, &stalls);
    assert!(out.contains("FAIL mismatch at word 9 "), "{out}");
    // a missing expected word shows up as an extra word
    let exp = expected_words(&beats, 32);
    let out = run_case(&dir, &v, 4, 32, &beats, &exp[..exp.len() - 1], &stalls);
    assert!(out.contains("FAIL extra word"), "{out}");
}
