//! End-to-end tests of `actcomp eval` on the committed real network and images
//! (fixtures/models/mnist_cnn.onnx: the pretrained ccexam MNIST CNN; fixtures/images:
//! real MNIST digits, a 500-image calibration split and a disjoint 1000-image
//! evaluation split; see fixtures/models/README.md).

mod common;
use common::*;

/// Scratch directories of this file: `target/tmp/eval/<tag>`.
const SUITE: &str = "eval";

use std::path::Path;


/// `fixtures/<rel>` as a command-line argument.
fn fixture(rel: &str) -> String {
    fixture_path(rel).display().to_string()
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
    let dir = tmpdir(SUITE, "policy");
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
    let dir = tmpdir(SUITE, "bad");
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

// ---------------------------------------------------------------------------------------------
// Fashion-MNIST reference network (fixtures/models/fashion_cnn.onnx, trained in-project by
// `actcomp train-reference`; the test never trains). Images: the committed subsets
// fixtures/images/fashion_{test,train}_*.npy cut from the Debian package dataset-fashion-mnist.

fn fashion_args(images: &str, labels: &str) -> Vec<String> {
    ["eval", "--model", &fixture("models/fashion_cnn.onnx"), "--images", images, "--labels", labels, "--json"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn json_of(args: &[String]) -> serde_json::Value {
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    serde_json::from_str(&ok(&refs)).expect("eval --json prints JSON")
}

/// `--at all-activations` names every ReLU and pooling feature map and nothing else.
#[test]
fn all_activations_are_the_relu_and_pool_maps() {
    for model in ["models/mnist_cnn.onnx", "models/fashion_cnn.onnx"] {
        let j: serde_json::Value = serde_json::from_str(&ok(&["eval", "--list-tensors", &fixture(model), "--json"])).unwrap();
        let names: Vec<&str> = j["tensors"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"conv1") && names.contains(&"pool2"), "{model}: {names:?}");
    }
    let mut args = fashion_args(&fixture("images/fashion_test_images.npy"), &fixture("images/fashion_test_labels.npy"));
    args.extend(
        ["--at", "all-activations", "--target-bpv", "2.5", "--calib-images", &fixture("images/fashion_train_images.npy")]
            .iter()
            .chain(&["--calib-count", "100", "--transform", "pca", "--grouping", "static"])
            .map(|s| s.to_string()),
    );
    let j = json_of(&args);
    let names: Vec<&str> = j["tensors"].as_array().unwrap().iter().map(|t| t["tensor"].as_str().unwrap()).collect();
    assert_eq!(names, ["relu1", "pool1", "relu2", "pool2"]);
    let base = j["baseline_top1"].as_f64().unwrap();
    let delta = j["delta_points"].as_f64().unwrap();
    eprintln!("fashion: baseline {base:.2}%, delta {delta:+.2} points at 2.5 bpv on all four maps");
    assert_eq!(j["evaluated_images"], 500);
    assert!(base >= 85.0, "uncompressed top-1 of the reference network on 500 test images is {base}% (< 85%)");
    assert!(delta >= -3.0, "2.5 bits/value at every feature map costs {delta} points on 500 images (> 3)");
    assert!(j["policies"]["calibration_images"] == 100, "{}", j["policies"]);
    for t in j["tensors"].as_array().unwrap() {
        let bpv = t["payload_bpv"].as_f64().unwrap();
        assert!(bpv <= 2.5 + 1e-9 && bpv > 2.0, "{}: {bpv} bits/value", t["tensor"]);
    }
}

/// The sweep fits every method at every rate and runs each compressed; more bits never hurt
/// much, the rates are honoured and the table and plot are written.
#[test]
fn sweep_gives_sane_accuracy_vs_bits() {
    let dir = tmpdir(SUITE, "sweep");
    let out = dir.join("sweep").display().to_string();
    let mut args = fashion_args(&fixture("images/fashion_test_images.npy"), &fixture("images/fashion_test_labels.npy"));
    args.extend(
        [
            "--at", "relu2,pool2", "--sweep", "--bpv", "1,2,4", "--calib-images", &fixture("images/fashion_train_images.npy"),
            "--calib-count", "100", "--transform", "pca", "--grouping", "static", "-o", &out,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let j = json_of(&args);
    let base = j["baseline_top1"].as_f64().unwrap();
    let points = j["points"].as_array().unwrap();
    let find = |m: &str, r: f64| points.iter().find(|p| p["method"] == m && p["target_bpv"].as_f64() == Some(r)).unwrap_or_else(|| panic!("no {m} at {r}"));
    for m in ["ours", "per-tensor uniform", "per-channel mixed precision", "PCA + uniform bits (transform only)", "PCA + greedy bits"] {
        for r in [1.0, 2.0, 4.0] {
            let p = find(m, r);
            let (bpv, top1) = (p["bpv"].as_f64().unwrap(), p["top1"].as_f64().unwrap());
            assert!((0.0..=100.0).contains(&top1), "{m} at {r}: top-1 {top1}");
            // ours stores each image's padded last tile (7x7 = 49 vectors: 4 tiles of 16)
            let slack = if m == "ours" { 0.35 } else { 1e-9 };
            assert!(bpv <= r + slack && bpv > 0.0, "{m} at {r}: {bpv} bits/value stored");
            assert_eq!(p["tensors"].as_array().unwrap().len(), 2);
        }
        let (lo, hi) = (find(m, 1.0)["top1"].as_f64().unwrap(), find(m, 4.0)["top1"].as_f64().unwrap());
        assert!(hi >= lo - 1.0, "{m}: top-1 {hi}% at 4 bits/value but {lo}% at 1");
        assert!(hi >= base - 3.0, "{m}: top-1 {hi}% at 4 bits/value, uncompressed {base}%");
    }
    let sq1 = find("ours", 1.0)["tensors"][0]["sqnr_db"].as_f64().unwrap();
    let sq4 = find("ours", 4.0)["tensors"][0]["sqnr_db"].as_f64().unwrap();
    assert!(sq4 > sq1 + 6.0, "ours: SQNR {sq1} dB at 1 bit/value, {sq4} dB at 4");
    let md = std::fs::read_to_string(dir.join("sweep/sweep.md")).unwrap();
    assert!(md.contains("| per-channel mixed precision |") && md.contains("Uncompressed top-1"), "{md}");
    let png = std::fs::read(dir.join("sweep/accuracy_vs_bpv.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(std::fs::read_to_string(dir.join("sweep/accuracy_vs_bpv.svg")).unwrap().contains("<svg"));
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("sweep/sweep.json")).unwrap()).unwrap();
    assert_eq!(file["points"].as_array().unwrap().len(), points.len());
}

fn idx_gz(path: &Path, dims: &[u32], data: &[u8]) {
    use std::io::Write;
    let mut raw = vec![0u8, 0, 8, dims.len() as u8];
    for d in dims {
        raw.extend_from_slice(&d.to_be_bytes());
    }
    raw.extend_from_slice(data);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

/// The distribution format (IDX, gzipped) reads like the .npy subsets; malformed IDX files
/// and images of the wrong size are clear errors.
#[test]
fn idx_images_and_labels_read_like_npy() {
    let dir = tmpdir(SUITE, "idx");
    // images 300..499 of the committed test subset (uint8 .npy: a 128-byte header, then the data)
    let img_npy = std::fs::read(fixture("images/fashion_test_images.npy")).unwrap();
    let lab_npy = std::fs::read(fixture("images/fashion_test_labels.npy")).unwrap();
    assert_eq!((img_npy.len(), lab_npy.len()), (128 + 500 * 784, 128 + 500));
    let (pixels, labels) = (&img_npy[128 + 300 * 784..], &lab_npy[128 + 300..]);
    let calib = fixture("images/fashion_train_images.npy");
    let extra = ["--at", "pool2", "--target-bpv", "3", "--calib-images", &calib, "--calib-count", "50", "--transform", "pca", "--grouping", "static"];
    let eval_pair = |ip: &Path, lp: &Path| {
        let mut a = fashion_args(ip.to_str().unwrap(), lp.to_str().unwrap());
        a.extend(extra.iter().map(|s| s.to_string()));
        json_of(&a)
    };
    // gzipped IDX, as the Debian package ships it
    let (ip, lp) = (dir.join("t-images-idx3-ubyte.gz"), dir.join("t-labels-idx1-ubyte.gz"));
    idx_gz(&ip, &[200, 28, 28], pixels);
    idx_gz(&lp, &[200], labels);
    let from_idx = eval_pair(&ip, &lp);
    // the same bytes as plain IDX
    let (ip2, lp2) = (dir.join("plain-images-idx3-ubyte"), dir.join("plain-labels-idx1-ubyte"));
    let mut raw = vec![0u8, 0, 8, 3];
    for d in [200u32, 28, 28] {
        raw.extend_from_slice(&d.to_be_bytes());
    }
    raw.extend_from_slice(pixels);
    std::fs::write(&ip2, &raw).unwrap();
    let mut rawl = vec![0u8, 0, 8, 1];
    rawl.extend_from_slice(&200u32.to_be_bytes());
    rawl.extend_from_slice(labels);
    std::fs::write(&lp2, &rawl).unwrap();
    let plain = eval_pair(&ip2, &lp2);
    // and as .npy
    let (ip3, lp3) = (dir.join("images.npy"), dir.join("labels.npy"));
    std::fs::write(&ip3, npy("|u1", &[200, 1, 28, 28], pixels.to_vec())).unwrap();
    std::fs::write(&lp3, npy("|u1", &[200], labels.to_vec())).unwrap();
    let from_npy = eval_pair(&ip3, &lp3);
    assert_eq!(from_idx["evaluated_images"], 200);
    for k in ["baseline_correct", "compressed_correct", "predictions_changed"] {
        assert_eq!(from_idx[k], plain[k], "{k}");
        assert_eq!(from_idx[k], from_npy[k], "{k}");
    }
    assert!(from_idx["baseline_top1"].as_f64().unwrap() >= 80.0);

    let model = fixture("models/fashion_cnn.onnx");
    // truncated IDX data
    let short = dir.join("short-images-idx3-ubyte.gz");
    idx_gz(&short, &[200, 28, 28], &pixels[..1000]);
    fails(&["eval", "--model", &model, "--images", short.to_str().unwrap(), "--labels", lp.to_str().unwrap(), "--at", "pool2"], &["short-images-idx3-ubyte.gz", "156800 bytes"]);
    // corrupt gzip stream
    let bad = dir.join("bad-images-idx3-ubyte.gz");
    let mut gz = std::fs::read(&ip).unwrap();
    gz.truncate(gz.len() / 2);
    std::fs::write(&bad, gz).unwrap();
    fails(&["eval", "--model", &model, "--images", bad.to_str().unwrap(), "--labels", lp.to_str().unwrap(), "--at", "pool2"], &["bad-images-idx3-ubyte.gz", "gzip"]);
    // images of the wrong size
    let wide = dir.join("wide-images-idx3-ubyte.gz");
    idx_gz(&wide, &[2, 32, 32], &[0u8; 2 * 32 * 32]);
    fails(&["eval", "--model", &model, "--images", wide.to_str().unwrap(), "--labels", lp.to_str().unwrap(), "--at", "pool2"], &["2 x 32 x 32", "N x 1 x 28 x 28"]);
    // labels that are images
    fails(&["eval", "--model", &model, "--images", ip.to_str().unwrap(), "--labels", ip.to_str().unwrap(), "--at", "pool2"], &["IDX labels have shape"]);
}
