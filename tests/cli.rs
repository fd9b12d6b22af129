//! End-to-end tests of the `actcomp` program on the real fixtures: the
//! calibrate → compress → decompress round trip, the rate and quality claims
//! checked independently, and clear errors (never panics) on bad input.

mod common;
use common::*;

/// Scratch directories of this file: `target/tmp/cli/<tag>`.
const SUITE: &str = "cli";

use std::path::{Path, PathBuf};
use std::process::Command;


/// `fixtures/activations/<name>`.
fn fixture(name: &str) -> PathBuf {
    fixture_path(&format!("activations/{name}"))
}

/// Reads a float32 .npy independently of the golden crate (header parse + raw LE floats).
fn read_f32_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let sh = &header[header.find("'shape': (").unwrap() + 10..];
    let sh = &sh[..sh.find(')').unwrap()];
    let shape: Vec<usize> = sh.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    let data = b[10 + hlen..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    (shape, data)
}

#[test]
fn roundtrip_meets_rate_and_reports_reproducible_sqnr() {
    let d = tmpdir(SUITE, "roundtrip");
    let policy = d.join("policy.json");
    let calib = fixture("mnist_conv1_relu_calib.npy");
    let test = fixture("mnist_conv1_relu_test.npy");
    ok(&["calibrate", "--activations", calib.to_str().unwrap(), "--target-bpv", "2.5", "-o", policy.to_str().unwrap(), "--json"]);
    let acz = d.join("t.acz");
    let out = ok(&["compress", "--policy", policy.to_str().unwrap(), test.to_str().unwrap(), "-o", acz.to_str().unwrap(), "--json"]);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let hat = d.join("t_hat.npy");
    ok(&["decompress", "--policy", policy.to_str().unwrap(), acz.to_str().unwrap(), "-o", hat.to_str().unwrap()]);

    let (shape, x) = read_f32_npy(&test);
    let (shape_hat, xh) = read_f32_npy(&hat);
    assert_eq!(shape, shape_hat);
    let values = x.len() as f64;
    let file_bits = std::fs::metadata(&acz).unwrap().len() as f64 * 8.0;
    let header_bits = summary["header_bytes"].as_f64().unwrap() * 8.0;
    assert!((file_bits - header_bits) / values <= 2.5 + 1e-9, "payload {} bits/value", (file_bits - header_bits) / values);

    // SQNR from the decompressed file, computed here, vs the one `report` states
    let (sx, se) = x.iter().zip(&xh).fold((0.0f64, 0.0f64), |a, (&p, &q)| (a.0 + (p as f64).powi(2), a.1 + (p as f64 - q as f64).powi(2)));
    let sqnr = 10.0 * (sx / se).log10();
    let rep = ok(&[
        "report", "--policy", policy.to_str().unwrap(), "--activations", test.to_str().unwrap(), "--calib", calib.to_str().unwrap(),
        "--rates", "2.5", "-o", d.join("report").to_str().unwrap(), "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&rep).unwrap();
    let reported = r["ours"]["point"]["sqnr_db"].as_f64().unwrap();
    assert!((reported - sqnr).abs() < 0.01, "reported {reported} dB, recomputed {sqnr} dB");
    assert!(d.join("report/report.json").exists());

    // at 2.5 bits/value ours beats every baseline that spends no more bits
    let ours_bpv = r["ours"]["payload_bpv"].as_f64().unwrap();
    for b in r["baselines"].as_array().unwrap() {
        let (bpv, s) = (b["bpv"].as_f64().unwrap(), b["sqnr_db"].as_f64().unwrap());
        if bpv <= ours_bpv + 1e-9 {
            assert!(reported > s, "{} reaches {s} dB at {bpv} bpv, ours {reported} dB", b["method"]);
        }
    }
    // and the report states the gap to the bound
    assert!(r["ours"]["point"]["gap_bpv"].as_f64().unwrap() > 0.0);
}

#[test]
fn sqnr_target_is_met_on_calibration_data() {
    let d = tmpdir(SUITE, "sqnr");
    let policy = d.join("p.json");
    let calib = fixture("mnist_conv2_relu_calib.npy");
    let out = ok(&["calibrate", "--activations", calib.to_str().unwrap(), "--target-sqnr", "20", "-o", policy.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = v["calibration"]["sqnr_db"].as_f64().unwrap();
    assert!(s >= 19.9, "calibration SQNR {s} dB for a 20 dB target");
    let bpv = v["payload_bpv"].as_f64().unwrap();
    assert!(bpv < 8.0, "{bpv}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let d = tmpdir(SUITE, "bad");
    let calib = fixture("mnist_conv1_relu_calib.npy");
    let conv2 = fixture("mnist_conv2_relu_test.npy");
    let p = d.join("p.json");
    ok(&["calibrate", "--activations", calib.to_str().unwrap(), "--target-bpv", "2", "--block", "8", "--groups", "4", "-o", p.to_str().unwrap()]);
    let ps = p.to_str().unwrap();

    // malformed .npy
    let junk = d.join("junk.npy");
    std::fs::write(&junk, b"not a numpy file").unwrap();
    fails(&["compress", "--policy", ps, junk.to_str().unwrap(), "-o", d.join("x.acz").to_str().unwrap()], &["junk.npy", "magic"]);
    // missing file
    fails(&["compress", "--policy", ps, d.join("nope.npy").to_str().unwrap(), "-o", "x.acz"], &["nope.npy"]);
    // NaN in the data
    let mut bytes = std::fs::read(&calib).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    let nan = d.join("nan.npy");
    std::fs::write(&nan, &bytes).unwrap();
    fails(&["compress", "--policy", ps, nan.to_str().unwrap(), "-o", d.join("x.acz").to_str().unwrap()], &["NaN", "not finite"]);
    fails(&["calibrate", "--activations", nan.to_str().unwrap(), "-o", d.join("q.json").to_str().unwrap()], &["not finite"]);
    // shape mismatch: 64-channel tensor, 32-channel policy
    fails(&["compress", "--policy", ps, conv2.to_str().unwrap(), "-o", d.join("x.acz").to_str().unwrap()], &["64 channels", "32"]);
    // malformed JSON and impossible policies
    let bad = d.join("bad.json");
    std::fs::write(&bad, "{ \"format\": ").unwrap();
    fails(&["compress", "--policy", bad.to_str().unwrap(), calib.to_str().unwrap(), "-o", "x.acz"], &["bad.json"]);
    let text = std::fs::read_to_string(&p).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["blocks"][0]["groups"][0]["bits"] = serde_json::json!(9);
    std::fs::write(&bad, v.to_string()).unwrap();
    fails(&["compress", "--policy", bad.to_str().unwrap(), calib.to_str().unwrap(), "-o", "x.acz"], &["bad.json", "bits", "at most 8"]);
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let size = v["blocks"][0]["groups"][0]["size"].as_u64().unwrap();
    v["blocks"][0]["groups"][0]["size"] = serde_json::json!(size + 1);
    std::fs::write(&bad, v.to_string()).unwrap();
    fails(&["compress", "--policy", bad.to_str().unwrap(), calib.to_str().unwrap(), "-o", "x.acz"], &["group sizes add up"]);
    // bad calibration arguments
    fails(&["calibrate", "--activations", calib.to_str().unwrap(), "--block", "5", "-o", "q.json"], &["block", "does not divide"]);
    fails(&["calibrate", "--activations", calib.to_str().unwrap(), "--groups", "9", "-o", "q.json"], &["groups"]);
    fails(&["calibrate", "--activations", calib.to_str().unwrap(), "--target-bpv", "9", "-o", "q.json"], &["target bits per value"]);
    fails(&["calibrate", "--activations", calib.to_str().unwrap(), "--word-bits", "48", "-o", "q.json"], &["word"]);

    // truncated, corrupted and foreign .acz files
    let acz = d.join("c.acz");
    ok(&["compress", "--policy", ps, calib.to_str().unwrap(), "-o", acz.to_str().unwrap()]);
    let good = std::fs::read(&acz).unwrap();
    let t = d.join("trunc.acz");
    std::fs::write(&t, &good[..good.len() / 2]).unwrap();
    fails(&["decompress", "--policy", ps, t.to_str().unwrap(), "-o", d.join("o.npy").to_str().unwrap()], &["trunc.acz", "truncated"]);
    let mut bad_bytes = good.clone();
    bad_bytes[100] ^= 0x10;
    std::fs::write(&t, &bad_bytes).unwrap();
    fails(&["decompress", "--policy", ps, t.to_str().unwrap(), "-o", d.join("o.npy").to_str().unwrap()], &["checksum"]);
    let p2 = d.join("p2.json");
    ok(&["calibrate", "--activations", calib.to_str().unwrap(), "--target-bpv", "3", "--block", "8", "-o", p2.to_str().unwrap()]);
    fails(&["decompress", "--policy", p2.to_str().unwrap(), acz.to_str().unwrap(), "-o", d.join("o.npy").to_str().unwrap()], &["c.acz", "policy"]);
    assert!(!d.join("o.npy").exists(), "no output may be written on error");
}

#[test]
fn demo_runs_on_the_builtin_fixture() {
    let d = tmpdir(SUITE, "demo");
    let out = ok(&["demo", "--rates", "2.5", "-o", d.to_str().unwrap()]);
    assert!(out.contains("ours"), "{out}");
    for f in ["policy.json", "mnist_conv2_relu_test.acz", "mnist_conv2_relu_test_hat.npy", "report/report.json"] {
        assert!(d.join(f).exists(), "demo did not write {f}");
    }
}

/// `--block hw` (the default) picks the largest block the hardware top levels build that
/// divides C, so a default policy goes straight into `actcomp verilog`; `--block all` is one
/// block of all channels and is flagged as software-only; bad values are clear errors.
#[test]
fn default_block_is_16_all_is_one_block_and_unbuilt_sizes_are_flagged() {
    let d = tmpdir(SUITE, "block");
    let calib = fixture("mnist_conv1_relu_calib.npy"); // C = 32
    let cs = calib.to_str().unwrap();
    let quick = ["--transform", "pca", "--grouping", "static", "--target-bpv", "2.5"];
    let block_of = |p: &Path| -> u64 {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["block_size"].as_u64().expect("policy has block_size")
    };

    let hw = d.join("hw.json");
    let mut args = vec!["calibrate", "--activations", cs, "-o", hw.to_str().unwrap(), "--json"];
    args.extend(quick);
    let v: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(block_of(&hw), 16, "C = 32: the largest hardware block dividing it is 16");
    assert_eq!(v["hardware"], serde_json::json!(true), "{v}");
    let rtl = d.join("rtl");
    ok(&["verilog", "--policy", hw.to_str().unwrap(), "-o", rtl.to_str().unwrap()]);
    assert!(rtl.join("actcomp_compressor.v").is_file());

    let all = d.join("all.json");
    let mut args = vec!["calibrate", "--activations", cs, "--block", "all", "-o", all.to_str().unwrap()];
    args.extend(quick);
    let text = ok(&args);
    assert_eq!(block_of(&all), 32, "--block all is one block of all 32 channels");
    assert!(!text.contains("software-only policy"), "B = 32 is built by the top levels: {text}");
    let rtl_all = d.join("rtl_all");
    ok(&["verilog", "--policy", all.to_str().unwrap(), "-o", rtl_all.to_str().unwrap()]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rtl_all.join("manifest.json")).unwrap()).unwrap();
    let s_axis = manifest.to_string();
    assert!(s_axis.contains("\"width\":144"), "B = 32 takes 16-lane (144-bit) port beats: {manifest}");

    // a block size the top levels do not build (B = 2) is flagged and refused with the reason
    let two = d.join("two.json");
    let mut args = vec!["calibrate", "--activations", cs, "--block", "2", "-o", two.to_str().unwrap()];
    args.extend(quick);
    let text = ok(&args);
    assert!(text.contains("software-only policy") && text.contains("B = 2"), "{text}");
    fails(&["verilog", "--policy", two.to_str().unwrap(), "-o", rtl.to_str().unwrap()], &["block size B = 2", "--block hw"]);

    for (bad, needle) in [("0", "0 channels"), ("x", "'x' is not hw, all or a channel count"), ("5", "does not divide")] {
        fails(&["calibrate", "--activations", cs, "--block", bad, "-o", d.join("bad.json").to_str().unwrap()], &[needle]);
    }
}

/// `actcomp ... | head` closes stdout early: the program must end quietly (SIGPIPE, as Unix
/// tools do), not panic with "failed printing to stdout".
#[test]
fn closed_stdout_ends_quietly_without_a_panic() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/models/mnist_cnn.onnx");
    let mut child = Command::new(BIN)
        .args(["eval", "--list-tensors", "--model", model.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs actcomp");
    drop(child.stdout.take()); // the reader goes away before the listing is printed
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "actcomp panicked on a closed stdout:\n{err}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "status {:?}, stderr:\n{err}", out.status);
    }
}
