//! End-to-end tests of `actcomp finetune` on the committed Fashion-MNIST reference network
//! (fixtures/models/fashion_cnn.onnx) and image subsets (fixtures/images/fashion_*.npy): a
//! short fine-tuning run whose outputs `actcomp eval` must reproduce, and the input errors.

mod common;
use common::*;

/// Scratch directories of this file: `target/tmp/finetune/<tag>`.
const SUITE: &str = "finetune";

use std::path::Path;


/// `fixtures/<rel>` as a command-line argument.
fn fixture(rel: &str) -> String {
    fixture_path(rel).display().to_string()
}

/// The finetune command on the fixtures with a tiny training budget, plus `extra`.
fn finetune_args(out: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "finetune",
        "--model",
        &fixture("models/fashion_cnn.onnx"),
        "--images",
        &fixture("images/fashion_train_images.npy"),
        "--labels",
        &fixture("images/fashion_train_labels.npy"),
        "--test-images",
        &fixture("images/fashion_test_images.npy"),
        "--test-labels",
        &fixture("images/fashion_test_labels.npy"),
        "--calib-count",
        "50",
        "--train-limit",
        "128",
        "--target-bpv",
        "2.5",
        "--transform",
        "pca",
        "--grouping",
        "static",
        "--epochs",
        "1",
        "--lr",
        "1e-3",
        "-o",
        out,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// One epoch on 128 training images: the outputs exist, the weights moved, the rates are kept,
/// and `actcomp eval` on the exported model gives the same compressed accuracy as finetune
/// reports — with finetune's policy files, and calibrating afresh on the same images.
#[test]
fn one_epoch_writes_a_model_that_eval_reproduces() {
    let dir = tmpdir(SUITE, "one");
    let out = dir.join("ft").display().to_string();
    let args = finetune_args(&out, &["--json"]);
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let j = ok_json(&refs);
    let model = dir.join("ft/finetuned.onnx");
    let names = ["relu1", "pool1", "relu2", "pool2"];
    let pols: Vec<String> = names.iter().map(|n| dir.join(format!("ft/policy_{n}.json")).display().to_string()).collect();
    for p in &pols {
        assert!(Path::new(p).is_file(), "{p} missing");
    }
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("ft/finetune.json")).unwrap()).unwrap();
    assert_eq!(file, j, "finetune.json differs from the --json summary");
    assert_eq!(j["tensors"], serde_json::json!(names));
    assert_eq!(j["train_images"], 128);
    assert_eq!(j["test_images"], 500);
    let orig = std::fs::read(fixture("models/fashion_cnn.onnx")).unwrap();
    let tuned = std::fs::read(&model).unwrap();
    assert_ne!(orig, tuned, "fine-tuning left the network unchanged");
    let epoch = &j["epochs"][0];
    assert!(epoch["loss"].as_f64().unwrap().is_finite());
    for b in j["finetuned"]["payload_bpv"].as_array().unwrap() {
        let b = b.as_f64().unwrap();
        assert!(b <= 2.5 + 1e-9 && b > 2.0, "payload {b} bits/value");
    }
    let ob = j["original"]["uncompressed_top1"].as_f64().unwrap();
    let fb = j["finetuned"]["uncompressed_top1"].as_f64().unwrap();
    assert!(ob >= 85.0, "original network: {ob}% on 500 test images");
    assert!((fb - ob).abs() <= 5.0, "one small epoch moved the uncompressed top-1 from {ob}% to {fb}%");

    // eval with finetune's policies reproduces finetune's compressed figures exactly
    let model_s = model.display().to_string();
    let (ti, tl) = (fixture("images/fashion_test_images.npy"), fixture("images/fashion_test_labels.npy"));
    let eval = |extra: &[&str]| {
        let mut a = vec!["eval", "--model", &model_s, "--images", &ti, "--labels", &tl, "--at", "all-activations", "--json"];
        a.extend_from_slice(extra);
        ok_json(&a)
    };
    let joined = pols.join(",");
    let e = eval(&["--policy", &joined]);
    assert_eq!(e["compressed_correct"], j["finetuned"]["compressed_correct"], "eval --policy disagrees with finetune");
    assert_eq!(e["baseline_correct"], j["finetuned"]["uncompressed_correct"]);
    // and calibrating afresh on the same 50 training images gives the same policies, hence the same result
    let calib = fixture("images/fashion_train_images.npy");
    let e2 = eval(&["--target-bpv", "2.5", "--calib-images", &calib, "--calib-count", "50", "--transform", "pca", "--grouping", "static"]);
    assert_eq!(e2["compressed_correct"], j["finetuned"]["compressed_correct"], "fresh calibration in eval disagrees with finetune");
}

/// `--train head` changes only fc1 and fc2: every compressed feature map, hence its policy and
/// its codec distortion on the test split, stays exactly as before, while the network changes.
#[test]
fn head_training_keeps_feature_maps_and_policies() {
    let dir = tmpdir(SUITE, "head");
    let out = dir.join("ft").display().to_string();
    let args = finetune_args(&out, &["--json", "--train", "head"]);
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let j = ok_json(&refs);
    assert_eq!(j["finetuned"]["sqnr_db"], j["original"]["sqnr_db"], "head-only training changed a compressed feature map");
    assert_eq!(j["finetuned"]["stored_bpv"], j["original"]["stored_bpv"]);
    assert_eq!(j["epochs"][0]["calibration_sqnr_db"], j["original"]["calibration_sqnr_db"], "re-calibration found other activations");
    let orig = std::fs::read(fixture("models/fashion_cnn.onnx")).unwrap();
    assert_ne!(orig, std::fs::read(dir.join("ft/finetuned.onnx")).unwrap(), "head-only training left the network unchanged");
}

/// `--levels learned --train none`: only the policies' levels train. The network is unchanged,
/// the final policies are the learned ones (other levels than a fresh calibration, the same
/// bit-widths), and `actcomp eval` with those policy files reproduces finetune's figures.
#[test]
fn learned_levels_give_policies_that_eval_reproduces() {
    let dir = tmpdir(SUITE, "levels");
    let out = dir.join("ft").display().to_string();
    let args = finetune_args(&out, &["--json", "--train", "none", "--levels", "learned", "--level-lr", "2"]);
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let j = ok_json(&refs);
    assert_eq!(j["finetuned"]["levels"], "learned");
    assert_eq!(j["finetuned"]["uncompressed_correct"], j["original"]["uncompressed_correct"], "--train none changed the network");
    assert_eq!(j["finetuned"]["payload_bpv"], j["original"]["payload_bpv"], "learning levels changed a bit-width");
    let recal = &j["finetuned_recalibrated"];
    assert!(recal["compressed_top1"].is_number(), "no comparison with the re-calibrated policies: {recal}");
    // the re-calibrated policies of the unchanged network are the post-training ones
    assert_eq!(recal["sqnr_db"], j["original"]["sqnr_db"]);
    assert_ne!(j["finetuned"]["sqnr_db"], j["original"]["sqnr_db"], "the learned levels reconstruct exactly as the calibrated ones");
    let names = ["relu1", "pool1", "relu2", "pool2"];
    let pols: Vec<String> = names.iter().map(|n| dir.join(format!("ft/policy_{n}.json")).display().to_string()).collect();
    let (ti, tl) = (fixture("images/fashion_test_images.npy"), fixture("images/fashion_test_labels.npy"));
    let model = dir.join("ft/finetuned.onnx").display().to_string();
    let joined = pols.join(",");
    let e = ok_json(&["eval", "--model", &model, "--images", &ti, "--labels", &tl, "--at", "all-activations", "--policy", &joined, "--json"]);
    assert_eq!(e["compressed_correct"], j["finetuned"]["compressed_correct"], "eval --policy disagrees with finetune");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tmpdir(SUITE, "bad");
    let out = dir.join("o").display().to_string();
    let with = |replace: &[(&str, &str)], extra: &[&str]| -> Vec<String> {
        let mut a = finetune_args(&out, extra);
        for (flag, val) in replace {
            let i = a.iter().position(|x| x == flag).unwrap();
            a[i + 1] = val.to_string();
        }
        a
    };
    let check = |a: Vec<String>, needles: &[&str]| {
        let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        fails(&refs, needles);
    };
    // a network that is not the reference CNN cannot be rebuilt for training
    check(with(&[("--model", &fixture("models/mnist_cnn.onnx"))], &[]), &["mnist_cnn.onnx", "not the reference CNN"]);
    // not an ONNX file
    check(with(&[("--model", &fixture("README.md"))], &[]), &["README.md", "ONNX"]);
    // labels of another split
    check(with(&[("--labels", &fixture("images/fashion_test_labels.npy"))], &[]), &["500 labels", "300 images"]);
    // a tensor the candle network has no tap for
    check(with(&[], &["--at", "relu3"]), &["relu3"]);
    check(with(&[], &["--at", "normalized"]), &["normalized", "not a feature map"]);
    check(with(&[("--epochs", "0")], &[]), &["--epochs"]);
    check(with(&[("--lr", "0")], &[]), &["--lr"]);
    check(with(&[], &["--levels", "learned", "--level-lr", "0"]), &["--level-lr"]);
    check(with(&[], &["--train", "none"]), &["--train none", "--levels learned"]);
    // a missing test file
    check(with(&[("--test-images", "/nonexistent/t10k.npy")], &[]), &["/nonexistent/t10k.npy", "no such file"]);
}
