//! The emitted unpacker Verilog (module `actcomp_unpacker`) under Icarus
//! Verilog: a plain-Verilog testbench replays golden-packed payload words
//! and widths beats with random stalls and checks every output beat against
//! the golden `unpack_beats`. Without `iverilog` this fails when `CI=true`
//! and otherwise prints a skip banner.

use std::path::{Path, PathBuf};

use actcomp_hdl::{check_emitted, emit_verilog, Unpacker4x32, Unpacker4x64, Unpacker8x32, Unpacker8x64};
use actcomp_sim::unpacker::{beat_stall_pattern, random_pack_beats, run_beat_verilog, UnpackCase, VPort};
use actcomp_sim::vtb::require_tool;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("unpacker_verilog").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ports(lanes: usize, w: usize) -> Vec<VPort> {
    vec![VPort::new("s_axis", w, 0, false), VPort::new("s_widths", 4 * lanes, 0, true)]
}

fn check_config(name: &str, verilog: String, lanes: usize, w: u32, seed: u64) {
    let problems = check_emitted(&verilog);
    assert!(problems.is_empty(), "{name}: {problems:?}");
    let mut rng = StdRng::seed_from_u64(seed);
    for (k, (pin, pout)) in [(0.0, 0.0), (0.3, 0.3), (0.7, 0.2), (0.2, 0.7)].into_iter().enumerate() {
        let beats = random_pack_beats(&mut rng, lanes, 120, 10);
        let case = UnpackCase::from_pack_beats(&beats, w);
        let exp = case.expected();
        let stalls = beat_stall_pattern(seed * 10 + k as u64, 997, 2, pin, pout);
        let dir = work_dir(&format!("{name}_{k}"));
        let out = run_beat_verilog(&dir, &verilog, "actcomp_unpacker", &ports(lanes, w as usize), &case.inputs(), 8 * lanes, &exp, &stalls);
        let pass = format!("PASS inputs={},{} outputs={}", case.words.len(), case.beats.len(), exp.len());
        assert!(out.contains(&pass), "{name} stalls in={pin} out={pout} (files in {}): {}", dir.display(), out.trim());
        if k == 0 {
            let cycles: usize = out.split("cycles=").nth(1).unwrap().trim().parse().unwrap();
            eprintln!("{name}: iverilog no-stall run {} beats, {} words, {cycles} cycles", exp.len(), case.words.len());
            if 8 * lanes as u32 <= w {
                assert!(cycles <= exp.len() + 2, "{name}: {cycles} cycles for {} beats", exp.len());
            }
        }
    }
}

#[test]
fn emitted_unpacker_matches_golden_under_iverilog() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    check_config("4x32", emit_verilog(&mut Unpacker4x32::new(), "actcomp_unpacker").unwrap(), 4, 32, 1);
    check_config("4x64", emit_verilog(&mut Unpacker4x64::new(), "actcomp_unpacker").unwrap(), 4, 64, 2);
    check_config("8x32", emit_verilog(&mut Unpacker8x32::new(), "actcomp_unpacker").unwrap(), 8, 32, 3);
    check_config("8x64", emit_verilog(&mut Unpacker8x64::new(), "actcomp_unpacker").unwrap(), 8, 64, 4);
}

/// The Verilog bench must be able to fail: a corrupted expected beat is
/// reported as the first mismatch, a missing one as an extra beat.
#[test]
fn unpacker_verilog_bench_reports_first_mismatch() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(5);
    let beats = random_pack_beats(&mut rng, 4, 30, 6);
    let case = UnpackCase::from_pack_beats(&beats, 32);
    let mut exp = case.expected();
    exp[9].data ^= 0x80;
    let stalls = beat_stall_pattern(5, 101, 2, 0.3, 0.3);
    let dir = work_dir("corrupted");
    let v = emit_verilog(&mut Unpacker4x32::new(), "actcomp_unpacker").unwrap();
    let out = run_beat_verilog(&dir, &v, "actcomp_unpacker", &ports(4, 32), &case.inputs(), 32, &exp, &stalls);
    assert!(out.contains("FAIL mismatch at beat 9 "), "{out}");
    let exp = case.expected();
    let out = run_beat_verilog(&dir, &v, "actcomp_unpacker", &ports(4, 32), &case.inputs(), 32, &exp[..exp.len() - 1], &stalls);
    assert!(out.contains("FAIL extra beat"), "{out}");
}
