//! `actcomp lint` and `actcomp synth` end to end on a small static policy
//! (C = 8 in blocks of 4, serial multipliers): verilator lint is clean with
//! the checked-in waivers (and the waivers are precise: a new width
//! mismatch still fails), yosys reports non-zero LUTs and no latches for
//! the generic and iCE40-UP5K flows. Without the tools the tests skip
//! loudly, except with CI=true (then they fail).

mod common;
use common::*;

/// Scratch directories of this file: `target/tmp/eda_cli/<tag>`.
const SUITE: &str = "eda_cli";

use actcomp_golden::policy::{Dtype, Grouping, Policy};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_sim::vtb::require_tool;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small static int8 policy: C = 8 in blocks of 4, T = 3, W = 32.
fn small_policy(dir: &Path) -> PathBuf {
    policy_with_channels(dir, 8)
}

fn policy_with_channels(dir: &Path, channels: usize) -> PathBuf {
    let mut rng = StdRng::seed_from_u64(11);
    let spec = PolicySpec {
        grouping: Some(Grouping::Static),
        channels: Some(channels),
        block_size: Some(4),
        word_bits: Some(32),
        dtype: Some(Dtype::I8),
        tile: Some(3),
        ..Default::default()
    };
    let p: Policy = random_policy(&mut rng, &spec);
    let pp = dir.join("policy.json");
    p.save(&pp).unwrap();
    pp
}

/// One block of all 64 channels of the real conv2 map (`calibrate --block
/// all`: B = 64, the calibration's own choice of transform and grouping):
/// both top levels lint clean with the same waivers (the 16-lane port
/// gatherer / splitter, 64-wire sorter and >64-bit constants add no new
/// warning class).
#[test]
fn lint_is_clean_for_one_block_of_64_channels() {
    if require_tool("verilator", "verilator").is_none() {
        return;
    }
    let d = tmpdir(SUITE, "lint64");
    let calib = fixture_path("activations/mnist_conv2_relu_calib.npy");
    let p = d.join("all64.json");
    ok(&["calibrate", "--activations", calib.to_str().unwrap(), "--target-bpv", "2.5", "--block", "all", "--tile", "16", "-o", p.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&ok(&["lint", "--policy", p.to_str().unwrap(), "-o", d.join("rtl").to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(v["clean"], true, "{v}");
}

#[test]
fn lint_is_clean_with_the_waivers_and_the_waivers_are_precise() {
    let Some(verilator) = require_tool("verilator", "verilator") else { return };
    let d = tmpdir(SUITE, "lint");
    let p = small_policy(&d);
    for mult in ["full", "serial"] {
        let out = d.join(mult);
        let v: serde_json::Value = serde_json::from_str(&ok(&["lint", "--policy", p.to_str().unwrap(), "--multipliers", mult, "-o", out.to_str().unwrap(), "--json"])).unwrap();
        assert_eq!(v["clean"], true, "{v}");
        assert_eq!(v["results"].as_array().unwrap().len(), 2, "{v}");
        assert!(out.join("actcomp_compressor.v").exists() && out.join("verilator.vlt").exists());
    }
    // Without the waivers the same Verilog fails, printing verilator's own lines.
    let o = run(&["lint", "--policy", p.to_str().unwrap(), "--multipliers", "serial", "-o", d.join("nw").to_str().unwrap(), "--no-waivers"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("%Warning-WIDTH") && err.contains("lint failed"), "{err}");
    // A width mismatch that is not one of rust-hdl's idioms is not waived.
    let dir = d.join("serial");
    let f = dir.join("actcomp_decompressor.v");
    let text = std::fs::read_to_string(&f).unwrap();
    let i = text.find("// Local signals").unwrap();
    std::fs::write(&f, format!("{}wire [3:0] not_waived = 5'h1f;\n{}", &text[..i], &text[i..])).unwrap();
    let o = Command::new(verilator)
        .current_dir(&dir)
        .args(["--lint-only", "-Wall", "verilator.vlt", "--top-module", "actcomp_decompressor", "actcomp_decompressor.v"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("%Warning-WIDTH") && err.contains("5'h1f"), "{err}");
    assert!(err.contains("not_waived") && err.matches("%Warning").count() == 2, "only the injected line warns: {err}");
}

fn synth(target: &str, name: &str, mult: &str) -> serde_json::Value {
    let d = tmpdir(SUITE, name);
    let p = small_policy(&d);
    let out = d.join("out");
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "synth", "--policy", p.to_str().unwrap(), "--target", target, "--multipliers", mult, "--unit", "compressor", "-o", out.to_str().unwrap(), "--json",
    ]))
    .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let u = &v["units"][0];
    assert_eq!(u["module"], "actcomp_compressor");
    assert!(u["luts"].as_u64().unwrap() > 0, "{v}");
    assert!(u["ffs"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(u["latches"], 0, "{v}");
    assert_eq!(u["check_problems"], 0, "{v}");
    assert_eq!(u["warnings"].as_array().unwrap().len(), 0, "{v}");
    assert!(out.join(format!("yosys_{target}_actcomp_compressor.log")).exists());
    v
}

#[test]
fn synth_generic_reports_luts_and_no_latches() {
    if require_tool("yosys", "yosys").is_none() {
        return;
    }
    let v = synth("generic", "generic", "serial");
    assert_eq!(v["device"], serde_json::Value::Null);
}

#[test]
fn synth_ice40_up5k_reports_luts_dsps_and_the_fit() {
    if require_tool("yosys", "yosys").is_none() {
        return;
    }
    // auto: the full budget needs 2*16 + 8 = 40 multipliers > 8 SB_MAC16
    let v = synth("ice40-up5k", "up5k", "auto");
    assert_eq!(v["multipliers"], "serial", "{v}");
    assert!(v["multipliers_reason"].as_str().unwrap().contains("40 multipliers > 8"), "{v}");
    let u = &v["units"][0];
    assert_eq!(v["device"]["dsps"], 8);
    let dsps = u["dsps"].as_u64().unwrap();
    assert!(dsps > 0, "synth_ice40 -dsp maps multipliers to SB_MAC16: {v}");
    assert!(u["carry"].as_u64().unwrap() > 0, "{v}");
    // The fit verdict agrees with the figures.
    let fits = u["luts"].as_u64().unwrap() <= 5280 && u["brams"].as_u64().unwrap() <= 30 && dsps <= 8;
    assert_eq!(u["fit"]["fits"], fits, "{v}");
    assert_eq!(v["fits"], fits, "{v}");
    if !fits {
        assert!(v["misfits"][0].as_str().unwrap().contains("DOES NOT FIT iCE40-UP5K"), "{v}");
    }
}

/// nextpnr end to end: a C = 4, B = 4 serial compressor synthesised for
/// the iCE40-HX8K, placed and routed with the breakout board's pins (clock
/// on J3, every port bit on a user I/O) — Fmax reported from the post-route
/// timing.
#[test]
fn synth_ice40_hx8k_place_and_route_with_board_pins() {
    if require_tool("yosys", "yosys").is_none() || require_tool("nextpnr-ice40", "nextpnr-ice40").is_none() {
        return;
    }
    let d = tmpdir(SUITE, "hx8k_pnr");
    let p = policy_with_channels(&d, 4);
    let out = d.join("out");
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "synth", "--policy", p.to_str().unwrap(), "--target", "ice40-hx8k", "--multipliers", "serial", "--unit", "compressor", "--pnr", "-o",
        out.to_str().unwrap(), "--json",
    ]))
    .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["fits"], true, "{v}");
    let pnr = &v["pnr"][0];
    let fmax = pnr["fmax_mhz"].as_f64().unwrap();
    assert!(fmax > 1.0 && fmax < 1000.0, "{v}");
    let pcf = std::fs::read_to_string(pnr["pcf"].as_str().unwrap()).unwrap();
    assert!(pcf.contains("set_io clock J3"), "{pcf}");
    // 36 input data bits + 32 output data bits + 6 control bits + reset on pins
    assert_eq!(pcf.lines().filter(|l| l.starts_with("set_io")).count(), 1 + 1 + 36 + 3 + 32 + 3, "{pcf}");
    let log = std::fs::read_to_string(pnr["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("Max frequency for clock"), "nextpnr log without timing");
}

/// `actcomp dse` with two tiny configurations: a table row, a plot and JSON
/// per configuration, with Fmax from place and route.
#[test]
fn dse_writes_table_plot_and_json() {
    if require_tool("yosys", "yosys").is_none() || require_tool("nextpnr-ice40", "nextpnr-ice40").is_none() {
        return;
    }
    let d = tmpdir(SUITE, "dse");
    let act = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/activations/mnist_conv1_relu_calib.npy");
    let out = d.join("out");
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "dse", "--activations", act.to_str().unwrap(), "--channels", "4", "--configs", "4:serial:32,4:full:32:dynamic", "--target", "ice40-hx8k",
        "-o", out.to_str().unwrap(), "--json",
    ]))
    .unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    for r in rows {
        assert!(r["luts"].as_u64().unwrap() > 0 && r["values_per_cycle"].as_f64().unwrap() > 0.0, "{r}");
        if r["fits"] == true {
            assert!(r["fmax_mhz"].as_f64().unwrap() > 1.0, "{r}");
        }
    }
    // dynamic grouping adds the sorter: more LUTs than the static design
    assert!(rows[1]["luts"].as_u64() > rows[0]["luts"].as_u64(), "{v}");
    let md = std::fs::read_to_string(out.join("dse.md")).unwrap();
    assert!(md.contains("| B=4 serial W=32 static |") && md.contains("Fmax MHz"), "{md}");
    for f in ["dse.svg", "dse.png", "dse.json"] {
        assert!(std::fs::metadata(out.join(f)).unwrap().len() > 0, "{f}");
    }
    // a malformed configuration is a clear error
    let o = run(&["dse", "--activations", act.to_str().unwrap(), "--configs", "4:fast:32", "-o", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown multiplier budget `fast`"));
}

/// The first `c` channels of the first `n` images of an activation fixture
/// (real activations, a small design for the Verilator build).
fn fixture_slice(name: &str, n: usize, c: usize, out: &Path) -> PathBuf {
    use actcomp_golden::tensor::{Tensor, TensorData};
    let t = Tensor::load_npy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/activations").join(name)).unwrap();
    let TensorData::F32(data) = &t.data else { panic!("{name}: not float32") };
    let (cc, s) = (t.shape[1], t.spatial());
    let mut v = Vec::with_capacity(n * c * s);
    for i in 0..n {
        for ch in 0..c {
            v.extend_from_slice(&data[(i * cc + ch) * s..(i * cc + ch + 1) * s]);
        }
    }
    let mut shape = t.shape.clone();
    shape[0] = n;
    shape[1] = c;
    Tensor::new(shape, TensorData::F32(v)).unwrap().save_npy(out).unwrap();
    out.to_path_buf()
}

#[test]
fn sim_backend_both_on_real_activations_is_bit_exact_and_reports_the_speed_ratio() {
    if require_tool("verilator", "verilator").is_none() {
        return;
    }
    let d = tmpdir(SUITE, "sim_verilator");
    // policy calibrated (static grouping, blocks of 8) on 16 channels of the real conv2 activations
    let calib = fixture_slice("mnist_conv2_relu_calib.npy", 4, 16, &d.join("calib.npy"));
    let test = fixture_slice("mnist_conv2_relu_test.npy", 2, 16, &d.join("test.npy"));
    let p = d.join("policy.json");
    ok(&["calibrate", "--activations", calib.to_str().unwrap(), "--target-bpv", "2.5", "--block", "8", "--grouping", "static", "-o", p.to_str().unwrap()]);
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("verilator-cache");
    let args = ["sim", "--policy", p.to_str().unwrap(), "--activations", test.to_str().unwrap(), "--backend", "both", "--verilator-cache", cache.to_str().unwrap()];
    let v: serde_json::Value = serde_json::from_str(&ok(&[&args[..], &["--json"]].concat())).unwrap();
    assert_eq!(v["bit_exact"], true, "{v}");
    assert_eq!(v["backend"], "both");
    assert_eq!(v["vectors"], 2 * 14 * 14);
    for u in ["compressor", "decompressor"] {
        let ver = &v["verilator"][u];
        assert_eq!(ver["bit_exact"], true, "{u}: {v}");
        let runs = ver["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 3, "full rate, stalls, stalls + reset mid-run: {v}");
        assert!(runs[2]["run"].as_str().unwrap().contains("reset mid-run"));
        // same tensor, same word / beat counts in both backends
        assert_eq!(runs[0]["outputs"], v["rust_hdl"][u]["runs"][0]["outputs"], "{v}");
        assert_eq!(runs[0]["cycles"], v["rust_hdl"][u]["runs"][0]["cycles"], "full-rate cycles agree: {v}");
        assert!(ver["build_s"].as_f64().unwrap() >= 0.0);
        let s = &v["speed"][u];
        let ratio = s["verilator_over_rust_hdl"].as_f64().unwrap();
        assert!(ratio > 0.0 && s["verilator_cycles_per_s"].as_f64().unwrap() > 0.0, "{v}");
    }
    // text output names both backends and the ratio; the second run reuses the build
    let out = ok(&args);
    assert!(out.contains("actcomp_compressor: bit-exact (rust-hdl)") && out.contains("actcomp_decompressor: bit-exact (verilator)"), "{out}");
    assert!(out.contains("verilator build of actcomp_compressor: cached"), "{out}");
    assert!(out.contains("simulated cycles/s = "), "{out}");
}

/// The README's first command writes `demo-out/policy.json`; that policy
/// (conv2, 64 channels, the demo's hardware block B = 16, grouping and
/// transform as calibration chooses) goes through `actcomp verilog`, lint,
/// and the Verilator backend on the whole held-out conv2 tensor (full rate,
/// stalls, a reset mid-run), bit-exact.
#[test]
fn demo_policy_is_bit_exact_under_verilator_and_lints_clean() {
    if require_tool("verilator", "verilator").is_none() {
        return;
    }
    let d = tmpdir(SUITE, "demo_policy");
    let demo = d.join("demo");
    let out = ok(&["demo", "--rates", "2.5", "-o", demo.to_str().unwrap()]);
    assert!(out.contains("block B = 16"), "{out}");
    let p = demo.join("policy.json");
    let policy = Policy::load(&p).unwrap();
    assert_eq!((policy.channels, policy.block_size), (64, 16));
    let (ps, vs) = (p.to_str().unwrap(), d.join("v"));
    ok(&["verilog", "--policy", ps, "-o", vs.to_str().unwrap()]);
    assert!(vs.join("actcomp_compressor.v").exists() && vs.join("actcomp_decompressor.v").exists());
    ok(&["lint", "--policy", ps, "-o", d.join("lint").to_str().unwrap()]);
    let test = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/activations/mnist_conv2_relu_test.npy");
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("verilator-cache");
    let args = ["sim", "--policy", ps, "--activations", test.to_str().unwrap(), "--backend", "verilator", "--verilator-cache", cache.to_str().unwrap(), "--json"];
    let v: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(v["bit_exact"], true, "{v}");
    assert_eq!(v["vectors"], 32 * 14 * 14, "the whole held-out tensor");
    for u in ["compressor", "decompressor"] {
        assert_eq!(v["verilator"][u]["bit_exact"], true, "{u}: {v}");
        assert_eq!(v["verilator"][u]["runs"].as_array().unwrap().len(), 3, "{u}: {v}");
    }
}

#[test]
fn sim_verilator_backend_without_verilator_names_the_tool() {
    let d = tmpdir(SUITE, "sim_no_verilator");
    let p = small_policy(&d);
    let shape = vec![1, 8, 2, 3];
    let t = actcomp_golden::tensor::Tensor::new(shape, actcomp_golden::tensor::TensorData::I8(vec![1; 48])).unwrap();
    t.save_npy(&d.join("x.npy")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_actcomp"))
        .args(["sim", "--policy", p.to_str().unwrap(), "--activations", d.join("x.npy").to_str().unwrap(), "--backend", "verilator"])
        .env("PATH", d.to_str().unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`verilator` not found on PATH; install it with `apt-get install verilator`"), "{err}");
}
