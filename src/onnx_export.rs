//! ONNX export (and re-import, for `actcomp finetune`) of the small reference CNN that
//! `actcomp train-reference` trains, built with the protobuf types tract-onnx itself exposes
//! (`tract_onnx::pb`) and encoded with prost, so no Python is involved.
//!
//! Graph (opset 13, IR version 8; tensor names are what `actcomp eval --at` takes):
//! `input` (N x 1 x 28 x 28, pixel/255) → Sub `normalize_sub` → Div `normalized`
//! → Conv 3x3 pad 1 `conv1` → Relu `relu1` → MaxPool 2x2 `pool1`
//! → Conv 3x3 pad 1 `conv2` → Relu `relu2` → MaxPool 2x2 `pool2`
//! → Flatten `flatten` → Gemm `fc1` → Relu `relu3` → Gemm `logits` (N x classes).
//!
//! The residual network of `train-reference --arch residual` ([`residual_to_onnx`]):
//! `input` → Sub → Div `normalized` → Conv `conv1` → Relu `relu1` → MaxPool `pool1`
//! → Conv `block_conv1` → Relu `block_relu` → Conv `block_conv2` → Add `block_add`
//! (`block_conv2` + `pool1`: the identity skip) → Relu `block_out` → MaxPool `pool2`
//! → Flatten `flatten` → Gemm `logits`.

use anyhow::{anyhow, bail, ensure, Context, Result};
use std::path::Path;
use prost::Message;
use tract_onnx::pb;

/// Weights of the reference CNN, PyTorch layouts (conv: out x in x 3 x 3; linear: out x in).
#[derive(Debug, Clone)]
pub struct CnnWeights {
    /// Input normalization: the network computes (x − mean) / std on x = pixel/255.
    pub mean: f32,
    /// See `mean`.
    pub std: f32,
    /// Channels of conv1 and conv2.
    pub channels: [usize; 2],
    /// Width of the hidden fully-connected layer.
    pub hidden: usize,
    /// Output classes.
    pub classes: usize,
    /// conv1 kernel (c1 x 1 x 3 x 3) and bias.
    pub conv1_w: Vec<f32>,
    /// conv1 bias (c1).
    pub conv1_b: Vec<f32>,
    /// conv2 kernel (c2 x c1 x 3 x 3).
    pub conv2_w: Vec<f32>,
    /// conv2 bias (c2).
    pub conv2_b: Vec<f32>,
    /// fc1 weight (hidden x c2·7·7).
    pub fc1_w: Vec<f32>,
    /// fc1 bias (hidden).
    pub fc1_b: Vec<f32>,
    /// fc2 weight (classes x hidden).
    pub fc2_w: Vec<f32>,
    /// fc2 bias (classes).
    pub fc2_b: Vec<f32>,
}

impl CnnWeights {
    /// Shapes of every parameter, checked against the vectors.
    fn params(&self) -> Result<Vec<(&'static str, Vec<i64>, &[f32])>> {
        let [c1, c2] = self.channels.map(|c| c as i64);
        let (h, k) = (self.hidden as i64, self.classes as i64);
        let list = vec![
            ("conv1.weight", vec![c1, 1, 3, 3], self.conv1_w.as_slice()),
            ("conv1.bias", vec![c1], &self.conv1_b),
            ("conv2.weight", vec![c2, c1, 3, 3], &self.conv2_w),
            ("conv2.bias", vec![c2], &self.conv2_b),
            ("fc1.weight", vec![h, c2 * 7 * 7], &self.fc1_w),
            ("fc1.bias", vec![h], &self.fc1_b),
            ("fc2.weight", vec![k, h], &self.fc2_w),
            ("fc2.bias", vec![k], &self.fc2_b),
        ];
        for (name, dims, v) in &list {
            let n: i64 = dims.iter().product();
            ensure!(n as usize == v.len(), "parameter {name}: {} values for shape {dims:?}", v.len());
        }
        Ok(list)
    }
}

fn float_tensor(name: &str, dims: Vec<i64>, vals: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims,
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: pb::attribute_proto::AttributeType::Ints as i32, ints: v.to_vec(), ..Default::default() }
}

fn int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: pb::attribute_proto::AttributeType::Int as i32, i: v, ..Default::default() }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str, attribute: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Result<i64, &str>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Ok(n) => Value::DimValue(*n),
                Err(s) => Value::DimParam(s.to_string()),
            }),
            ..Default::default()
        })
        .collect();
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

/// Encodes the network as an ONNX model; `metadata` goes into the model's metadata_props.
pub fn cnn_to_onnx(w: &CnnWeights, metadata: &[(String, String)]) -> Result<Vec<u8>> {
    let mut initializer: Vec<pb::TensorProto> =
        w.params()?.into_iter().map(|(name, dims, vals)| float_tensor(name, dims, vals)).collect();
    initializer.push(float_tensor("normalize.mean", vec![], &[w.mean]));
    initializer.push(float_tensor("normalize.std", vec![], &[w.std]));
    let conv = || vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1]), ints("strides", &[1, 1])];
    let pool = || vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])];
    let nodes = vec![
        node("Sub", "normalize_sub", &["input", "normalize.mean"], "normalize_sub", vec![]),
        node("Div", "normalized", &["normalize_sub", "normalize.std"], "normalized", vec![]),
        node("Conv", "conv1", &["normalized", "conv1.weight", "conv1.bias"], "conv1", conv()),
        node("Relu", "relu1", &["conv1"], "relu1", vec![]),
        node("MaxPool", "pool1", &["relu1"], "pool1", pool()),
        node("Conv", "conv2", &["pool1", "conv2.weight", "conv2.bias"], "conv2", conv()),
        node("Relu", "relu2", &["conv2"], "relu2", vec![]),
        node("MaxPool", "pool2", &["relu2"], "pool2", pool()),
        node("Flatten", "flatten", &["pool2"], "flatten", vec![int("axis", 1)]),
        node("Gemm", "fc1", &["flatten", "fc1.weight", "fc1.bias"], "fc1", vec![int("transB", 1)]),
        node("Relu", "relu3", &["fc1"], "relu3", vec![]),
        node("Gemm", "fc2", &["relu3", "fc2.weight", "fc2.bias"], "logits", vec![int("transB", 1)]),
    ];
    Ok(encode_model("fashion_cnn", nodes, initializer, w.classes, metadata))
}

/// An N x 1 x 28 x 28 → N x classes graph as an encoded ONNX model (opset 13, IR version 8).
fn encode_model(
    graph_name: &str,
    nodes: Vec<pb::NodeProto>,
    initializer: Vec<pb::TensorProto>,
    classes: usize,
    metadata: &[(String, String)],
) -> Vec<u8> {
    let graph = pb::GraphProto {
        name: graph_name.into(),
        node: nodes,
        initializer,
        input: vec![value_info("input", &[Err("N"), Ok(1), Ok(28), Ok(28)])],
        output: vec![value_info("logits", &[Err("N"), Ok(classes as i64)])],
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "actcomp train-reference".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        metadata_props: metadata.iter().map(|(k, v)| pb::StringStringEntryProto { key: k.clone(), value: v.clone() }).collect(),
        ..Default::default()
    };
    model.encode_to_vec()
}

/// Weights of the residual network of [`crate::residual_cnn::ResidualCnn`], PyTorch layouts.
#[derive(Debug, Clone)]
pub struct ResidualWeights {
    /// Input normalization: the network computes (x − mean) / std on x = pixel/255.
    pub mean: f32,
    /// See `mean`.
    pub std: f32,
    /// Channels of every convolution (the skip is an identity, so all are equal).
    pub channels: usize,
    /// Output classes.
    pub classes: usize,
    /// conv1 kernel (c x 1 x 3 x 3).
    pub conv1_w: Vec<f32>,
    /// conv1 bias (c).
    pub conv1_b: Vec<f32>,
    /// First convolution of the residual branch (c x c x 3 x 3).
    pub block_conv1_w: Vec<f32>,
    /// Its bias (c).
    pub block_conv1_b: Vec<f32>,
    /// Second convolution of the residual branch (c x c x 3 x 3).
    pub block_conv2_w: Vec<f32>,
    /// Its bias (c).
    pub block_conv2_b: Vec<f32>,
    /// Classifier weight (classes x c·7·7).
    pub fc_w: Vec<f32>,
    /// Classifier bias (classes).
    pub fc_b: Vec<f32>,
}

/// Encodes the residual network as an ONNX model; `metadata` goes into the model's
/// metadata_props. The skip tensor `pool1` is read by two nodes, `block_conv1` and `block_add`.
pub fn residual_to_onnx(w: &ResidualWeights, metadata: &[(String, String)]) -> Result<Vec<u8>> {
    let (c, k) = (w.channels as i64, w.classes as i64);
    let params: [(&str, Vec<i64>, &[f32]); 8] = [
        ("conv1.weight", vec![c, 1, 3, 3], &w.conv1_w),
        ("conv1.bias", vec![c], &w.conv1_b),
        ("block_conv1.weight", vec![c, c, 3, 3], &w.block_conv1_w),
        ("block_conv1.bias", vec![c], &w.block_conv1_b),
        ("block_conv2.weight", vec![c, c, 3, 3], &w.block_conv2_w),
        ("block_conv2.bias", vec![c], &w.block_conv2_b),
        ("fc.weight", vec![k, c * 7 * 7], &w.fc_w),
        ("fc.bias", vec![k], &w.fc_b),
    ];
    let mut initializer = Vec::new();
    for (name, dims, vals) in params {
        let n: i64 = dims.iter().product();
        ensure!(n as usize == vals.len(), "parameter {name}: {} values for shape {dims:?}", vals.len());
        initializer.push(float_tensor(name, dims, vals));
    }
    initializer.push(float_tensor("normalize.mean", vec![], &[w.mean]));
    initializer.push(float_tensor("normalize.std", vec![], &[w.std]));
    let conv = || vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1]), ints("strides", &[1, 1])];
    let pool = || vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])];
    let nodes = vec![
        node("Sub", "normalize_sub", &["input", "normalize.mean"], "normalize_sub", vec![]),
        node("Div", "normalized", &["normalize_sub", "normalize.std"], "normalized", vec![]),
        node("Conv", "conv1", &["normalized", "conv1.weight", "conv1.bias"], "conv1", conv()),
        node("Relu", "relu1", &["conv1"], "relu1", vec![]),
        node("MaxPool", "pool1", &["relu1"], "pool1", pool()),
        node("Conv", "block_conv1", &["pool1", "block_conv1.weight", "block_conv1.bias"], "block_conv1", conv()),
        node("Relu", "block_relu", &["block_conv1"], "block_relu", vec![]),
        node("Conv", "block_conv2", &["block_relu", "block_conv2.weight", "block_conv2.bias"], "block_conv2", conv()),
        node("Add", "block_add", &["block_conv2", "pool1"], "block_add", vec![]),
        node("Relu", "block_out", &["block_add"], "block_out", vec![]),
        node("MaxPool", "pool2", &["block_out"], "pool2", pool()),
        node("Flatten", "flatten", &["pool2"], "flatten", vec![int("axis", 1)]),
        node("Gemm", "fc", &["flatten", "fc.weight", "fc.bias"], "logits", vec![int("transB", 1)]),
    ];
    Ok(encode_model("fashion_resnet", nodes, initializer, w.classes, metadata))
}

/// The op types of the exported graph, node by node (what [`onnx_to_cnn`] accepts).
const GRAPH_OPS: [(&str, &str); 12] = [
    ("normalize_sub", "Sub"),
    ("normalized", "Div"),
    ("conv1", "Conv"),
    ("relu1", "Relu"),
    ("pool1", "MaxPool"),
    ("conv2", "Conv"),
    ("relu2", "Relu"),
    ("pool2", "MaxPool"),
    ("flatten", "Flatten"),
    ("fc1", "Gemm"),
    ("relu3", "Relu"),
    ("fc2", "Gemm"),
];

/// Reads the weights of a reference CNN back from an ONNX file written by [`cnn_to_onnx`]
/// (`actcomp train-reference` or `actcomp finetune`). Any other graph is refused with an
/// error saying what differs: only this architecture can be rebuilt for training.
pub fn onnx_to_cnn(path: &Path) -> Result<CnnWeights> {
    let name = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    let model = pb::ModelProto::decode(bytes.as_slice()).map_err(|e| anyhow!("{name}: not an ONNX model ({e})"))?;
    let graph = model.graph.as_ref().ok_or_else(|| anyhow!("{name}: the ONNX model has no graph"))?;
    let ops: Vec<(&str, &str)> = graph.node.iter().map(|n| (n.name.as_str(), n.op_type.as_str())).collect();
    if ops != GRAPH_OPS {
        let have: Vec<String> = ops.iter().map(|(n, o)| format!("{n}:{o}")).collect();
        bail!(
            "{name}: not the reference CNN of `actcomp train-reference` (conv-relu-pool x2, fc-relu-fc); its nodes are [{}]. \
             finetune rebuilds only that network for training",
            have.join(", ")
        );
    }
    let get = |pname: &str| -> Result<(Vec<usize>, Vec<f32>)> {
        let t = graph
            .initializer
            .iter()
            .find(|t| t.name == pname)
            .ok_or_else(|| anyhow!("{name}: no initializer '{pname}'"))?;
        ensure!(
            t.data_type == pb::tensor_proto::DataType::Float as i32,
            "{name}: initializer '{pname}' is not float32 (ONNX data type {})",
            t.data_type
        );
        let dims: Vec<usize> = t.dims.iter().map(|&d| usize::try_from(d).map_err(|_| anyhow!("{name}: '{pname}' has dimension {d}"))).collect::<Result<_>>()?;
        let n: usize = dims.iter().product();
        let vals: Vec<f32> = if !t.raw_data.is_empty() {
            ensure!(t.raw_data.len() == 4 * n, "{name}: initializer '{pname}' holds {} bytes for shape {dims:?}", t.raw_data.len());
            t.raw_data.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        } else {
            ensure!(t.float_data.len() == n, "{name}: initializer '{pname}' holds {} floats for shape {dims:?}", t.float_data.len());
            t.float_data.clone()
        };
        if let Some(bad) = vals.iter().find(|v| !v.is_finite()) {
            bail!("{name}: initializer '{pname}' holds {bad}");
        }
        Ok((dims, vals))
    };
    let (cw1, conv1_w) = get("conv1.weight")?;
    let (cw2, conv2_w) = get("conv2.weight")?;
    let (fw1, fc1_w) = get("fc1.weight")?;
    let (fw2, fc2_w) = get("fc2.weight")?;
    let shape_err = || anyhow!("{name}: weight shapes conv1 {cw1:?}, conv2 {cw2:?}, fc1 {fw1:?}, fc2 {fw2:?} do not chain as the reference CNN");
    ensure!(cw1.len() == 4 && cw2.len() == 4 && fw1.len() == 2 && fw2.len() == 2, shape_err());
    let w = CnnWeights {
        mean: scalar(get("normalize.mean")?, &name.to_string(), "normalize.mean")?,
        std: scalar(get("normalize.std")?, &name.to_string(), "normalize.std")?,
        channels: [cw1[0], cw2[0]],
        hidden: fw1[0],
        classes: fw2[0],
        conv1_w,
        conv1_b: get("conv1.bias")?.1,
        conv2_w,
        conv2_b: get("conv2.bias")?.1,
        fc1_w,
        fc1_b: get("fc1.bias")?.1,
        fc2_w,
        fc2_b: get("fc2.bias")?.1,
    };
    ensure!(
        cw1[1..] == [1, 3, 3] && cw2[1..] == [cw1[0], 3, 3] && fw1[1] == cw2[0] * 49 && fw2[1] == fw1[0],
        shape_err()
    );
    ensure!(w.std > 0.0, "{name}: normalize.std is {}", w.std);
    w.params().with_context(|| format!("{name}: bias shapes"))?;
    Ok(w)
}

fn scalar((dims, v): (Vec<usize>, Vec<f32>), file: &str, what: &str) -> Result<f32> {
    ensure!(v.len() == 1, "{file}: '{what}' holds {} values (shape {dims:?}); need one", v.len());
    Ok(v[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference_cnn::Cnn;
    use rand::SeedableRng;

    /// What `cnn_to_onnx` writes, `onnx_to_cnn` reads back unchanged; other graphs are refused.
    #[test]
    fn import_returns_the_exported_weights() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let w = Cnn::new(&mut rng, 4, 8, 16, 10, &candle_core::Device::Cpu).unwrap().export(0.25, 0.5).unwrap();
        let path = std::env::temp_dir().join(format!("actcomp-import-{}.onnx", std::process::id()));
        std::fs::write(&path, cnn_to_onnx(&w, &[]).unwrap()).unwrap();
        let back = onnx_to_cnn(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!((back.mean, back.std, back.channels, back.hidden, back.classes), (0.25, 0.5, [4, 8], 16, 10));
        for (a, b) in [(&w.conv1_w, &back.conv1_w), (&w.conv2_b, &back.conv2_b), (&w.fc1_w, &back.fc1_w), (&w.fc2_b, &back.fc2_b)] {
            assert_eq!(a, b);
        }
        let mnist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/models/mnist_cnn.onnx");
        let e = format!("{:#}", onnx_to_cnn(&mnist).unwrap_err());
        assert!(e.contains("not the reference CNN"), "{e}");
    }
}
