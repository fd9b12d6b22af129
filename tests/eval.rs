//! End-to-end tests of `actcomp eval` on the committed real network and images
//! (fixtures/models/mnist_cnn.onnx: the pretrained ccexam MNIST CNN; fixtures/images:
//! real MNIST digits, a 500-image calibration split and a disjoint 1000-image
//! evaluation split; see fixtures/models/README.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_actcomp");

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel).display().to_string()
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("actcomp-eval-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("runs actcomp")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "actcomp {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str], needles: &[&str]) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "actcomp {args:?} should fail");
    assert!(!err.contains("panicked"), "actcomp {args:?} panicked:\n{err}");
    for n in needles {
        assert!(err.contains(n), "actcomp {args:?}: expected '{n}' in:\n{err}");
    }
}

/// The evaluation command on the fixtures, without --at / policy flags.
fn base_args() -> Vec<String> {
    [
        "eval",
        "--model",
        &fixture("models/mnist_cnn.onnx"),
        "--images",
        &fixture("images/mnist_eval_images.npy"),
        "--labels",
        &fixture("images/mnist_eval_labels.npy"),
        "--mean",
        "0.1307",
        "--std",
        "0.3081",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn eval_json(extra: &[&str]) -> serde_json::Value {
    let mut args = base_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    serde_json::from_str(&ok(&refs)).expect("eval --json prints JSON")
}

#[test]
fn list_tensors_names_the_relu_feature_maps() {
    let model = fixture("models/mnist_cnn.onnx");
    let out = ok(&["eval", "--list-tensors", &model]);
    for line in ["relu1", "N x 32 x 28 x 28", "relu2", "N x 64 x 14 x 14"] {
        assert!(out.contains(line), "--list-tensors output lacks '{line}':\n{out}");
    }
    let j: serde_json::Value = serde_json::from_str(&ok(&["eval", "--list-tensors", "--model", &model, "--json"])).unwrap();
    let names: Vec<&str> = j["tensors"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"relu1") && names.contains(&"relu2"), "{names:?}");
    assert!(!names.contains(&"relu3"), "relu3 is 2-D (N x 128), not a feature map: {names:?}");
}

/// Baseline accuracy, and compression at relu1 + relu2 at 2.5 bits/value calibrated on the
/// disjoint calibration split. The configuration is pinned (PCA, static grouping) to keep the
/// test fast: the default `auto` tries six configurations per tensor (docs/accuracy.md has
/// the figures for the defaults).
#[test]
fn compression_at_two_tensors_keeps_accuracy() {
    let calib = fixture("images/mnist_calib_images.npy");
    let j = eval_json(&[
        "--at",
        "relu1,relu2",
        "--target-bpv",
        "2.5",
        "--calib-images",
        &calib,
        "--transform",
        "pca",
        "--grouping",
        "static",
    ]);
    let base = j["baseline_top1"].as_f64().unwrap();
    let comp = j["compressed_top1"].as_f64().unwrap();
    let delta = j["delta_points"].as_f64().unwrap();
    eprintln!("baseline {base:.2}%, compressed {comp:.2}%, delta {delta:+.2} points");
    assert_eq!(j["evaluated_images"], 1000);
    assert!(base >= 97.0, "uncompressed top-1 {base}% < 97%: model or preprocessing is wrong");
    assert!((comp - base - delta).abs() < 1e-9);
    assert!(delta >= -2.0, "compression at 2.5 bpv costs {delta} points (> 2)");
    assert!(j["policies"]["calibrated_on"].as_str().unwrap().contains("mnist_calib_images.npy"));
    let tensors = j["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 2);
    for (t, name) in tensors.iter().zip(["relu1", "relu2"]) {
        assert_eq!(t["tensor"], name);
        let bpv = t["payload_bpv"].as_f64().unwrap();
        assert!(bpv <= 2.5 + 1e-9 && bpv > 2.0, "{name}: {bpv} bits/value");
        let sqnr = t["sqnr_db"].as_f64().unwrap();
        assert!(sqnr > 10.0 && sqnr.is_finite(), "{name}: SQNR {sqnr} dB");
    }
}

/// A policy made by `actcomp calibrate` on the conv2 activation fixture (other images)
/// applies at relu2 through --policy; a policy for the wrong channel count is refused.
#[test]
fn policy_file_applies_at_its_tensor() {
    let dir = tmpdir("policy");
    let pol = dir.join("conv2.json").display().to_string();
    ok(&["calibrate", "--activations", &fixture("activations/mnist_conv2_relu_calib.npy"), "--target-bpv", "3", "-o", &pol]);
    let j = eval_json(&["--at", "relu2", "--policy", &pol]);
    assert!(j["policies"]["policy_files"].is_array());
    assert!(j["delta_points"].as_f64().unwrap() >= -2.0);
    assert_eq!(j["tensors"][0]["payload_bpv"].as_f64().unwrap(), 3.0);

    let mut args = base_args();
    args.extend(["--at".into(), "relu1".into(), "--policy".into(), pol.clone()]);
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    fails(&refs, &["relu1", "32 channels", "64"]);
}

#[test]
fn bad_input_is_a_clear_error() {
    let model = fixture("models/mnist_cnn.onnx");
    let images = fixture("images/mnist_eval_images.npy");
    let labels = fixture("images/mnist_eval_labels.npy");
    let calib_labels = fixture("images/mnist_calib_labels.npy");
    // unknown tensor: the error lists the candidates
    fails(
        &["eval", "--model", &model, "--images", &images, "--labels", &labels, "--at", "relu9"],
        &["relu9", "candidate", "relu1", "relu2", "N x 64 x 14 x 14"],
    );
    // label / image count mismatch
    fails(&["eval", "--model", &model, "--images", &images, "--labels", &calib_labels, "--at", "relu1"], &["500 labels", "1000 images"]);
    // wrong image shape (activation tensors are not images)
    let act = fixture("activations/mnist_conv2_relu_test.npy");
    fails(&["eval", "--model", &model, "--images", &act, "--labels", &labels, "--at", "relu1"], &["N x 1 x 28 x 28"]);
    // not a model
    let readme = fixture("README.md");
    fails(&["eval", "--model", &readme, "--images", &images, "--labels", &labels, "--at", "relu1"], &["ONNX"]);
    // the same file cannot calibrate and evaluate
    fails(
        &["eval", "--model", &model, "--images", &images, "--labels", &labels, "--at", "relu1", "--calib-images", &images],
        &["disjoint"],
    );
    // NaN in the images, labels out of range
    let dir = tmpdir("bad");
    let nan = dir.join("nan.npy");
    std::fs::write(&nan, npy_f32(&[2, 1, 28, 28], |i| if i == 30 { f32::NAN } else { 0.5 })).unwrap();
    let two = dir.join("two.npy");
    std::fs::write(&two, npy_i64(&[3, 11])).unwrap();
    fails(&["eval", "--model", &model, "--images", nan.to_str().unwrap(), "--labels", two.to_str().unwrap(), "--at", "relu1"], &["NaN"]);
    let ok_img = dir.join("ok.npy");
    std::fs::write(&ok_img, npy_f32(&[2, 1, 28, 28], |_| 0.5)).unwrap();
    fails(
        &["eval", "--model", &model, "--images", ok_img.to_str().unwrap(), "--labels", two.to_str().unwrap(), "--at", "relu1"],
        &["label 11", "10 classes"],
    );
}

fn npy(descr: &str, shape: &[usize], body: Vec<u8>) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if shape.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend(body);
    out
}

fn npy_f32(shape: &[usize], f: impl Fn(usize) -> f32) -> Vec<u8> {
    let n: usize = shape.iter().product();
    npy("<f4", shape, (0..n).flat_map(|i| f(i).to_le_bytes()).collect())
}

fn npy_i64(v: &[i64]) -> Vec<u8> {
    npy("<i8", &[v.len()], v.iter().flat_map(|x| x.to_le_bytes()).collect())
}
