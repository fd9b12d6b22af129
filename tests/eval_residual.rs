//! `actcomp eval` on a network with an identity skip connection
//! (fixtures/models/fashion_resnet.onnx, trained in-project by `actcomp train-reference
//! --arch residual`; see fixtures/models/README.md). Its tensor `pool1` feeds two consumers,
//! the residual branch's first convolution `block_conv1` and the Add `block_add`, so no single
//! tensor after it separates the graph.
//!
//! The central test checks eval's compressed logits against an independent computation:
//! the golden roundtrip made by the `compress` / `decompress` commands (the real bitstream),
//! fed into the rest of the network cut out of the ONNX file and run by tract without any hook,
//! with the two consumers of `pool1` given separate inputs. Only the run in which both consumers
//! read the compressed tensor may match eval.

mod common;
use common::*;

/// Scratch directories of this file: `target/tmp/eval_residual/<tag>`.
const SUITE: &str = "eval_residual";

use actcomp_golden::tensor::{Tensor as GTensor, TensorData};
use prost::Message;
use std::path::{Path, PathBuf};
use tract_onnx::pb;
use tract_onnx::prelude::*;


fn model_path() -> PathBuf {
    fixture_path("models/fashion_resnet.onnx")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// sub-graphs of the ONNX file, cut with the protobuf types tract-onnx exposes

/// A float tensor value-info with a symbolic batch axis.
fn input_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let mut dim = vec![Dimension { value: Some(Value::DimParam("N".into())), ..Default::default() }];
    dim.extend(dims.iter().map(|&d| Dimension { value: Some(Value::DimValue(d)), ..Default::default() }));
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn load_proto() -> pb::ModelProto {
    pb::ModelProto::decode(std::fs::read(model_path()).unwrap().as_slice()).unwrap()
}

fn runnable(m: &pb::ModelProto) -> Arc<TypedRunnableModel> {
    tract_onnx::onnx()
        .model_for_read(&mut m.encode_to_vec().as_slice())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap()
}

/// The network from `input` to `pool1` (what eval's hook sees at `pool1`).
fn stem_model() -> Arc<TypedRunnableModel> {
    let mut m = load_proto();
    let g = m.graph.as_mut().unwrap();
    let end = g.node.iter().position(|n| n.output[0] == "pool1").expect("a node writes pool1") + 1;
    g.node.truncate(end);
    g.output = vec![input_info("pool1", &[16, 14, 14])];
    runnable(&m)
}

/// The network after `pool1`, with its two consumers fed separately: input 0 goes to the
/// residual branch (`block_conv1`), input 1 to the skip (`block_add`).
fn split_head_model() -> Arc<TypedRunnableModel> {
    let mut m = load_proto();
    let g = m.graph.as_mut().unwrap();
    let start = g.node.iter().position(|n| n.output[0] == "pool1").unwrap() + 1;
    g.node.drain(..start);
    let readers: Vec<(String, String)> =
        g.node.iter().filter(|n| n.input.iter().any(|i| i == "pool1")).map(|n| (n.name.clone(), n.op_type.clone())).collect();
    assert_eq!(
        readers,
        [("block_conv1".to_string(), "Conv".to_string()), ("block_add".to_string(), "Add".to_string())],
        "pool1 should feed exactly the residual branch and the Add"
    );
    for n in g.node.iter_mut().filter(|n| n.op_type == "Add") {
        for i in n.input.iter_mut().filter(|i| *i == "pool1") {
            *i = "pool1_skip".into();
        }
    }
    g.input = vec![input_info("pool1", &[16, 14, 14]), input_info("pool1_skip", &[16, 14, 14])];
    runnable(&m)
}

fn run_f32(m: &Arc<TypedRunnableModel>, inputs: &[(&[usize], &[f32])]) -> Vec<f32> {
    let tv: TVec<TValue> = inputs.iter().map(|(shape, v)| Tensor::from_shape::<f32>(shape, v).unwrap().into_tvalue()).collect();
    let out = m.run(tv).unwrap();
    let f = out[0].cast_to::<f32>().unwrap();
    let view = f.try_as_plain_ram().unwrap();
    view.as_slice::<f32>().unwrap().to_vec()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Images `first..first+n` of a committed uint8 (N x 1 x 28 x 28) .npy subset, as the pixels
/// and as eval feeds them (pixel / 255 computed in f64, then rounded to f32).
fn images(rel: &str, first: usize, n: usize) -> (Vec<u8>, Vec<f32>) {
    let t = GTensor::load_npy(&fixture_path(rel)).unwrap();
    let TensorData::U8(px) = t.data else { panic!("{rel}: not uint8") };
    let px = px[first * 784..(first + n) * 784].to_vec();
    let x = px.iter().map(|&p| (p as f64 / 255.0) as f32).collect();
    (px, x)
}

// ---------------------------------------------------------------------------------------------

/// The skip tensor and the Add are listed under their ONNX names, and either name form
/// (ONNX tensor or tract node) selects the same tensor.
#[test]
fn list_tensors_shows_the_skip_tensor_and_the_add() {
    let model = model_path();
    let j: serde_json::Value = serde_json::from_str(&ok(&["eval", "--list-tensors", s(&model), "--json"])).unwrap();
    let list = j["tensors"].as_array().unwrap();
    let find = |name: &str| list.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no '{name}' in {list:?}"));
    assert_eq!(find("pool1")["shape"], serde_json::json!(["N", "16", "14", "14"]));
    assert_eq!(find("pool1")["op"], "MaxPool");
    assert_eq!(find("block_add")["op"], "Add");
    assert_eq!(find("block_out")["node"], "block_out.low");
    let text = ok(&["eval", "--list-tensors", s(&model)]);
    for needle in ["pool1", "block_conv1", "block_add", "block_out", "N x 16 x 14 x 14"] {
        assert!(text.contains(needle), "--list-tensors lacks '{needle}':\n{text}");
    }
}

/// Compressing `pool1` changes what both of its consumers read: eval's logits equal those of
/// the cut-out rest of the network fed the golden roundtrip at both consumers, and differ from
/// the logits with the roundtrip at only one of them (so a hook that replaced the tensor for
/// one consumer only would fail this test).
#[test]
fn compressed_skip_tensor_reaches_both_consumers() {
    const N: usize = 6;
    let dir = tmpdir(SUITE, "both");
    let stem = stem_model();
    let head = split_head_model();
    let pshape = [N, 16, 14, 14];

    // the cut models reproduce the full network
    let (px, x) = images("images/fashion_test_images.npy", 0, N);
    let pool1 = run_f32(&stem, &[(&[N, 1, 28, 28], &x)]);
    let whole = runnable(&load_proto());
    let full = run_f32(&whole, &[(&[N, 1, 28, 28], &x)]);
    let uncompressed = run_f32(&head, &[(&pshape, &pool1), (&pshape, &pool1)]);
    assert!(max_abs_diff(&full, &uncompressed) < 1e-4, "the cut-out network differs from the whole one");

    // a policy for pool1 at 2 bits/value, calibrated on pool1 of 200 training images
    let (_, xc) = images("images/fashion_train_images.npy", 0, 200);
    let calib = run_f32(&stem, &[(&[200, 1, 28, 28], &xc)]);
    let calib_npy = dir.join("pool1_calib.npy");
    GTensor::new(vec![200, 16, 14, 14], TensorData::F32(calib)).unwrap().save_npy(&calib_npy).unwrap();
    let policy = dir.join("pool1.json");
    ok(&["calibrate", "--activations", s(&calib_npy), "--target-bpv", "2", "--transform", "pca", "--grouping", "static", "-o", s(&policy)]);

    // the golden roundtrip of each image's pool1 (eval compresses image by image) through the
    // compress / decompress commands
    let per = 16 * 14 * 14;
    let mut pool1_hat = Vec::with_capacity(N * per);
    for i in 0..N {
        let (a, acz, b) = (dir.join(format!("p{i}.npy")), dir.join(format!("p{i}.acz")), dir.join(format!("p{i}_hat.npy")));
        GTensor::new(vec![1, 16, 14, 14], TensorData::F32(pool1[i * per..(i + 1) * per].to_vec())).unwrap().save_npy(&a).unwrap();
        ok(&["compress", "--policy", s(&policy), s(&a), "-o", s(&acz)]);
        ok(&["decompress", "--policy", s(&policy), s(&acz), "-o", s(&b)]);
        let TensorData::F32(v) = GTensor::load_npy(&b).unwrap().data else { panic!("decompress gave another dtype") };
        pool1_hat.extend(v);
    }
    assert!(max_abs_diff(&pool1, &pool1_hat) > 0.05, "2 bits/value left pool1 almost unchanged");

    // eval with the same policy at pool1
    let (img_npy, lab_npy, logits_npy) = (dir.join("images.npy"), dir.join("labels.npy"), dir.join("logits.npy"));
    GTensor::new(vec![N, 1, 28, 28], TensorData::U8(px)).unwrap().save_npy(&img_npy).unwrap();
    // the committed labels: uint8 .npy, a 128-byte header, then one byte per image
    let lab = std::fs::read(fixture_path("images/fashion_test_labels.npy")).unwrap();
    assert_eq!(lab.len(), 128 + 500);
    let mut one_d = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({N},), }}");
    while header.len() < 128 - 10 - 1 {
        header.push(' ');
    }
    header.push('\n');
    one_d.extend_from_slice(&(header.len() as u16).to_le_bytes());
    one_d.extend_from_slice(header.as_bytes());
    one_d.extend_from_slice(&lab[128..128 + N]);
    std::fs::write(&lab_npy, one_d).unwrap();
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "eval", "--model", s(&model_path()), "--images", s(&img_npy), "--labels", s(&lab_npy), "--at", "pool1", "--policy",
        s(&policy), "--logits-out", s(&logits_npy), "--json",
    ]))
    .unwrap();
    assert_eq!(j["tensors"][0]["tensor"], "pool1");
    let eval_logits = match GTensor::load_npy(&logits_npy).unwrap() {
        GTensor { shape, data: TensorData::F32(v), .. } if shape == [N, 10] => v,
        t => panic!("--logits-out wrote shape {:?}", t.shape),
    };

    let both = run_f32(&head, &[(&pshape, &pool1_hat), (&pshape, &pool1_hat)]);
    let branch_only = run_f32(&head, &[(&pshape, &pool1_hat), (&pshape, &pool1)]);
    let skip_only = run_f32(&head, &[(&pshape, &pool1), (&pshape, &pool1_hat)]);
    let d_both = max_abs_diff(&eval_logits, &both);
    let d_branch = max_abs_diff(&eval_logits, &branch_only);
    let d_skip = max_abs_diff(&eval_logits, &skip_only);
    let d_none = max_abs_diff(&eval_logits, &uncompressed);
    eprintln!("max |eval logits - reference|: both consumers {d_both:.3e}, branch only {d_branch:.3e}, skip only {d_skip:.3e}, neither {d_none:.3e}");
    assert!(d_both <= 1e-4, "eval's logits differ from the independent computation by {d_both}");
    for (what, d) in [("branch only", d_branch), ("skip only", d_skip), ("uncompressed", d_none)] {
        assert!(d > 1e-2, "eval's logits are within {d} of the {what} run; the test cannot tell them apart");
    }
}

/// Every feature map at 2.5 bits/value: the skip tensor and the post-Add map included, each
/// with its rate and SQNR.
#[test]
fn all_activations_of_the_residual_network_at_2_5_bits() {
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "eval",
        "--model",
        s(&model_path()),
        "--images",
        s(&fixture_path("images/fashion_test_images.npy")),
        "--labels",
        s(&fixture_path("images/fashion_test_labels.npy")),
        "--calib-images",
        s(&fixture_path("images/fashion_train_images.npy")),
        "--calib-count",
        "100",
        "--at",
        "all-activations",
        "--target-bpv",
        "2.5",
        "--transform",
        "pca",
        "--grouping",
        "static",
        "--json",
    ]))
    .unwrap();
    let tensors = j["tensors"].as_array().unwrap();
    let names: Vec<&str> = tensors.iter().map(|t| t["tensor"].as_str().unwrap()).collect();
    assert_eq!(names, ["relu1", "pool1", "block_relu", "block_out", "pool2"]);
    for t in tensors {
        let (bpv, stored, sqnr) = (t["payload_bpv"].as_f64().unwrap(), t["stored_bpv"].as_f64().unwrap(), t["sqnr_db"].as_f64().unwrap());
        eprintln!("{}: {bpv:.3} b/v (stored {stored:.3}), SQNR {sqnr:.2} dB", t["tensor"]);
        assert!(bpv <= 2.5 + 1e-9 && bpv > 2.0, "{}: {bpv} bits/value", t["tensor"]);
        assert!(stored >= bpv && stored < bpv + 0.35, "{}: stored {stored} bits/value", t["tensor"]);
        assert!(sqnr > 10.0 && sqnr.is_finite(), "{}: SQNR {sqnr} dB", t["tensor"]);
    }
    let (base, delta) = (j["baseline_top1"].as_f64().unwrap(), j["delta_points"].as_f64().unwrap());
    eprintln!("residual network, 500 test images: baseline {base:.2}%, delta {delta:+.2} points");
    assert!(base >= 85.0, "uncompressed top-1 of the residual network on 500 test images is {base}%");
    assert!(delta >= -5.0, "2.5 bits/value on every feature map costs {delta} points (> 5)");
}

/// Arguments that do not fit the residual network, or --logits-out with --sweep, are errors
/// naming the problem (checked before any data is read or any network trained).
#[test]
fn residual_arguments_are_clear_errors() {
    let fails = |args: &[&str], needles: &[&str]| {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "actcomp {args:?} should fail");
        assert!(!err.contains("panicked"), "actcomp {args:?} panicked:\n{err}");
        for n in needles {
            assert!(err.contains(n), "actcomp {args:?}: expected '{n}' in:\n{err}");
        }
    };
    let dir = tmpdir(SUITE, "args");
    let out = dir.join("never.onnx");
    fails(&["train-reference", "--arch", "residual", "--channels", "16,32", "-o", s(&out)], &["--channels", "one number", "residual"]);
    fails(&["train-reference", "--arch", "residual", "--hidden", "64", "-o", s(&out)], &["--hidden", "no hidden"]);
    fails(&["train-reference", "--channels", "16", "-o", s(&out)], &["--channels", "two numbers"]);
    assert!(!out.exists());
    let (img, lab) = (fixture_path("images/fashion_test_images.npy"), fixture_path("images/fashion_test_labels.npy"));
    fails(
        &[
            "eval", "--model", s(&model_path()), "--images", s(&img), "--labels", s(&lab), "--at", "pool1", "--sweep", "--logits-out",
            s(&dir.join("l.npy")),
        ],
        &["--logits-out", "--sweep"],
    );
    let saved = dir.join("saved");
    fails(
        &["eval", "--model", s(&model_path()), "--images", s(&img), "--labels", s(&lab), "--at", "pool1", "--sweep", "--save-activations", s(&saved)],
        &["--save-activations", "--sweep"],
    );
    assert!(!saved.exists(), "nothing should be written when the arguments are refused");
}

/// `eval --save-activations` writes each --at tensor's activations on the calibration images
/// (here `--calib-images` of 24 training images) as float32 N x C x H x W: `pool1` equals the
/// cut-out stem's output on those images, `block_add` has its shape, and nothing is evaluated.
#[test]
fn save_activations_writes_the_calibration_maps() {
    const N: usize = 24;
    let dir = tmpdir(SUITE, "save_activations");
    let (img, lab) = (fixture_path("images/fashion_test_images.npy"), fixture_path("images/fashion_test_labels.npy"));
    let train = fixture_path("images/fashion_train_images.npy");
    let out = ok(&[
        "eval", "--model", s(&model_path()), "--images", s(&img), "--labels", s(&lab), "--calib-images", s(&train), "--calib-count", "24", "--at",
        "pool1,block_add", "--save-activations", s(&dir),
    ]);
    assert!(!out.contains("top-1"), "nothing should be evaluated:\n{out}");
    let pool1 = GTensor::load_npy(&dir.join("pool1.npy")).unwrap();
    assert_eq!(pool1.shape, [N, 16, 14, 14]);
    let TensorData::F32(got) = pool1.data else { panic!("pool1.npy: not float32") };
    let (_, x) = images("images/fashion_train_images.npy", 0, N);
    let want = run_f32(&stem_model(), &[(&[N, 1, 28, 28], &x)]);
    assert!(max_abs_diff(&got, &want) < 1e-5, "pool1.npy differs from the stem's output");
    assert_eq!(GTensor::load_npy(&dir.join("block_add.npy")).unwrap().shape, [N, 16, 14, 14]);
}
