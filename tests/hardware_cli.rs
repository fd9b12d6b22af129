//! `actcomp verilog` and `actcomp sim` end to end: deterministic Verilog
//! with the right module names and a manifest, a bit-exact simulation
//! report in JSON for static and dynamic grouping, and clear errors (a
//! dynamic tile beyond the sorter buffer, unsupported B, missing
//! files) with a non-zero exit.

mod common;
use common::*;

/// Scratch directories of this file: `target/tmp/hardware_cli/<tag>`.
const SUITE: &str = "hardware_cli";

use actcomp_golden::policy::{Dtype, Grouping, Policy};
use actcomp_golden::tensor::{Tensor, TensorData};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// A small static int8 policy (C = 8 in blocks of 4, T = 3, W = 32) and a tensor for it.
fn small_case(dir: &Path, grouping: Grouping, b: usize) -> (PathBuf, PathBuf) {
    let mut rng = StdRng::seed_from_u64(11);
    let spec = PolicySpec {
        grouping: Some(grouping),
        channels: Some(8),
        block_size: Some(b),
        word_bits: Some(32),
        dtype: Some(Dtype::I8),
        tile: Some(3),
        ..Default::default()
    };
    let p: Policy = random_policy(&mut rng, &spec);
    let pp = dir.join("policy.json");
    p.save(&pp).unwrap();
    let shape = vec![2, 8, 2, 5];
    let n: usize = shape.iter().product();
    let data: Vec<i8> = (0..n).map(|i| if i % 7 == 0 { [-128, 127][i % 2] } else { rng.gen() }).collect();
    let tp = dir.join("x.npy");
    Tensor::new(shape, TensorData::I8(data)).unwrap().save_npy(&tp).unwrap();
    (pp, tp)
}

#[test]
fn verilog_is_deterministic_with_named_modules_and_manifest() {
    let d = tmpdir(SUITE, "verilog");
    let (p, _) = small_case(&d, Grouping::Static, 4);
    let (a, b) = (d.join("a"), d.join("b"));
    ok(&["verilog", "--policy", p.to_str().unwrap(), "-o", a.to_str().unwrap()]);
    ok(&["verilog", "--policy", p.to_str().unwrap(), "-o", b.to_str().unwrap()]);
    for f in ["actcomp_compressor.v", "actcomp_decompressor.v", "manifest.json"] {
        let (x, y) = (std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
        assert!(!x.is_empty(), "{f} empty");
        assert_eq!(x, y, "{f} differs between two runs");
    }
    for m in ["actcomp_compressor", "actcomp_decompressor"] {
        let v = std::fs::read_to_string(a.join(format!("{m}.v"))).unwrap();
        let names = actcomp_hdl::module_names(&v);
        assert!(names.contains(&m.to_string()), "{m}: {names:?}");
        assert!(names.iter().all(|n| n.starts_with(m)), "{m}: {names:?}");
    }
    let man: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(a.join("manifest.json")).unwrap()).unwrap();
    let pr = &man["parameters"];
    assert_eq!((pr["C"].as_u64(), pr["B"].as_u64(), pr["T"].as_u64(), pr["W"].as_u64(), pr["LANES"].as_u64()), (Some(8), Some(4), Some(3), Some(32), Some(4)));
    assert_eq!(man["compressor"]["module"], "actcomp_compressor");
    let ports = man["compressor"]["ports"].as_array().unwrap();
    assert!(ports.iter().any(|p| p["name"] == "s_axis_tdata" && p["width"] == 36));
    assert!(ports.iter().any(|p| p["name"] == "m_axis_tdata" && p["width"] == 32));
    assert_eq!(man["compressor"]["forward_multipliers"], 2 * 16);
    // the serial budget is a different design
    let s = d.join("s");
    ok(&["verilog", "--policy", p.to_str().unwrap(), "-o", s.to_str().unwrap(), "--multipliers", "serial"]);
    assert_ne!(std::fs::read(s.join("actcomp_compressor.v")).unwrap(), std::fs::read(a.join("actcomp_compressor.v")).unwrap());
    assert_eq!(std::fs::read(s.join("actcomp_decompressor.v")).unwrap(), std::fs::read(a.join("actcomp_decompressor.v")).unwrap());
}

#[test]
fn sim_reports_bit_exact_in_json() {
    for grouping in [Grouping::Static, Grouping::Dynamic] {
        sim_case(grouping);
    }
}

fn sim_case(grouping: Grouping) {
    let d = tmpdir(SUITE, &format!("sim_{grouping:?}"));
    let (p, x) = small_case(&d, grouping, 4);
    let out = ok(&["sim", "--policy", p.to_str().unwrap(), "--activations", x.to_str().unwrap(), "--stall-prob", "0.3", "--seed", "5", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["bit_exact"], true, "{v}");
    assert_eq!(v["vectors"], 20);
    for u in ["compressor", "decompressor"] {
        assert_eq!(v[u]["bit_exact"], true, "{u}: {v}");
        let runs = v[u]["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "full rate + stalled run");
        assert!(runs[0]["values_per_cycle"].as_f64().unwrap() > 0.0);
        assert!(runs[0]["latency_cycles"].as_u64().unwrap() > 0);
        assert!(runs[0]["simulated_cycles_per_s"].as_f64().unwrap() > 0.0);
    }
    // --vcd: one waveform per top level with the AXI ports in it
    let w = d.join("w.vcd");
    ok(&["sim", "--policy", p.to_str().unwrap(), "--activations", x.to_str().unwrap(), "--max-vectors", "4", "--vcd", w.to_str().unwrap()]);
    for unit in ["compressor", "decompressor"] {
        let v = std::fs::read_to_string(d.join(format!("w.{unit}.vcd"))).unwrap();
        assert!(v.contains("$enddefinitions") && v.contains("s_axis_tvalid") && v.contains("#5000"), "{unit} VCD");
    }
    // --max-vectors and the serial budget, text output
    let out = ok(&["sim", "--policy", p.to_str().unwrap(), "--activations", x.to_str().unwrap(), "--max-vectors", "7", "--multipliers", "serial"]);
    assert!(out.contains("7 of 20 pixel vectors"), "{out}");
    assert!(out.contains("actcomp_compressor: bit-exact") && out.contains("actcomp_decompressor: bit-exact"), "{out}");
}

#[test]
fn dynamic_policy_unsupported_b_and_missing_files_are_clear_errors() {
    let d = tmpdir(SUITE, "errors");
    let (p, x) = small_case(&d, Grouping::Dynamic, 4);
    let (ps, xs) = (p.to_str().unwrap(), x.to_str().unwrap());
    let out = d.join("out");
    let os = out.to_str().unwrap();
    // dynamic grouping is built, but the sorter's tile buffer holds T <= 256
    let mut big: Policy = Policy::load(&p).unwrap();
    big.tile = 300;
    big.save(&p).unwrap();
    let msg = "dynamic grouping with tile T = 300 is not supported";
    fails(&["verilog", "--policy", ps, "-o", os], &[msg]);
    fails(&["sim", "--policy", ps, "--activations", xs], &[msg]);
    let d2 = tmpdir(SUITE, "errors_b2");
    let (p2, x2) = small_case(&d2, Grouping::Static, 2);
    fails(&["verilog", "--policy", p2.to_str().unwrap(), "-o", os], &["block size B = 2"]);
    fails(&["sim", "--policy", p2.to_str().unwrap(), "--activations", x2.to_str().unwrap()], &["block size B = 2"]);
    fails(&["verilog", "--policy", d.join("nope.json").to_str().unwrap(), "-o", os], &["nope.json"]);
    let d3 = tmpdir(SUITE, "errors_ok");
    let (p3, _) = small_case(&d3, Grouping::Static, 4);
    fails(&["sim", "--policy", p3.to_str().unwrap(), "--activations", d.join("missing.npy").to_str().unwrap()], &["missing.npy"]);
    assert!(!out.join("actcomp_compressor.v").exists(), "nothing written on error");
}
