//! `actcomp eval`: run a real CNN from its ONNX file (tract-onnx, pure Rust),
//! replace named activation tensors by decompress(compress(tensor)) through
//! the golden model, and report top-1 accuracy against the uncompressed run.
//!
//! How the replacement works: the model is loaded, typed and decluttered
//! (not optimized, so every ONNX tensor a user can name still exists as a
//! node output); it runs through `SimpleState::run_plan_with_eval`, whose
//! hook evaluates each node normally and then, for a node whose output is a
//! target tensor, swaps that output for the golden codec's reconstruction
//! before any consumer reads it. Every consumer (a skip connection included)
//! therefore sees the compressed tensor, exactly as on hardware that writes
//! the tensor compressed and reads it back.

use super::calibrate::{run_calibration, summary_line, CalibArgs};
use crate::progress::Stages;
use actcomp_golden::calibrate::{CalibrateOptions, Calibration};
use actcomp_golden::codec::{Codec, QuantTrace};
use actcomp_golden::input_map::{from_codes, to_codes};
use actcomp_golden::metrics::sqnr_db;
use actcomp_golden::policy::{Dtype, Policy};
use actcomp_golden::tensor::{Tensor as GTensor, TensorData};
use anyhow::{anyhow, bail, ensure, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{DimLike, SimplePlan, SimpleState};

/// Arguments of `actcomp eval`.
#[derive(clap::Args)]
pub struct Args {
    /// The network (.onnx).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print the candidate activation tensors (4-D node outputs) with their shapes and exit.
    /// The model may be given here or with --model.
    #[arg(long, num_args = 0..=1, value_name = "MODEL")]
    pub list_tensors: Option<Option<PathBuf>>,
    /// Evaluation images (.npy, N x C x H x W; uint8 pixels or already preprocessed floats),
    /// or an IDX file of uint8 images, gzipped or not (e.g. t10k-images-idx3-ubyte.gz).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Labels of the evaluation images (.npy, N integers: uint8/int8/int16/int32/int64/uint16/uint32/uint64),
    /// or an IDX label file, gzipped or not.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Tensors to compress (ONNX tensor names as shown by --list-tensors), comma separated;
    /// `all-activations` stands for every 4-D activation/pooling output (the feature maps written between layers).
    #[arg(long, value_delimiter = ',')]
    pub at: Vec<String>,
    /// Policy JSON (one, or a comma list matching --at) instead of calibrating.
    #[arg(long, value_delimiter = ',')]
    pub policy: Vec<PathBuf>,
    /// Calibration images (.npy or IDX, disjoint from --images). Without it, the first third of
    /// --images calibrates and only the rest is evaluated.
    #[arg(long)]
    pub calib_images: Option<PathBuf>,
    /// Calibrate in graph order, each tensor on the activations produced from the already
    /// compressed earlier tensors, as at run time (default: every tensor on uncompressed activations).
    #[arg(long)]
    pub sequential_calibration: bool,
    /// Use at most the first N calibration images (the Fashion-MNIST training split has 60,000).
    #[arg(long, default_value_t = 1000)]
    pub calib_count: usize,
    /// Accuracy vs bits/value: calibrate ours and fit each baseline (per-tensor uniform,
    /// per-channel mixed precision, PCA + uniform bits) at every --bpv, run each compressed.
    #[arg(long)]
    pub sweep: bool,
    /// Rates of --sweep (bits/value).
    #[arg(long, value_delimiter = ',', default_value = "1.5,2,2.5,3,4")]
    pub bpv: Vec<f64>,
    /// Folder for the sweep's table (sweep.json, sweep.md) and plot (accuracy_vs_bpv.svg/.png).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Preprocessing: per-channel mean subtracted after uint8 pixels are divided by 255
    /// (one value, or one per channel; applied to float images too when given).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub mean: Vec<f64>,
    /// Preprocessing: per-channel standard deviation divided by after the mean (see --mean).
    #[arg(long, value_delimiter = ',')]
    pub std: Vec<f64>,
    /// Write the network's outputs in the compressed run (float32 .npy, evaluated images x classes,
    /// in image order) to this file, e.g. to compare them with another implementation.
    #[arg(long, value_name = "FILE.npy")]
    pub logits_out: Option<PathBuf>,
    /// Write each --at tensor's uncompressed activations on the calibration images
    /// (float32 .npy, N x C x H x W, as `calibrate --activations` takes them) to
    /// DIR/TENSOR.npy, and stop: no calibration, no evaluation
    #[arg(long, value_name = "DIR")]
    pub save_activations: Option<PathBuf>,
    /// Images per inference batch (a model with a fixed batch size uses its own).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    #[command(flatten)]
    pub calib: CalibArgs,
    /// Print a machine-readable summary on stdout.
    #[arg(long)]
    pub json: bool,
}

// ---------------------------------------------------------------------------------------------
// the network

/// An activation tensor of the network that can be compressed.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// ONNX tensor name (tract outlet label), or the tract node name when unlabelled.
    pub name: String,
    /// tract node name after decluttering (e.g. `relu2.low` for an ONNX Relu).
    pub node_name: String,
    /// Operator.
    pub op: String,
    /// Where it lives in the decluttered model.
    pub outlet: OutletId,
    /// Shape with the batch axis shown as its symbol.
    pub shape: Vec<String>,
}

/// A loaded, decluttered ONNX model ready to run with hooks.
pub struct Net {
    plan: Arc<SimplePlan<TypedFact, Box<dyn TypedOp>>>,
    input_name: String,
    /// Per-image input shape (axes after the batch axis).
    input_dims: Vec<usize>,
    /// Some(b) when the batch axis is a fixed number.
    pub fixed_batch: Option<usize>,
    /// Classes: product of the output's axes after the batch axis.
    pub classes: usize,
    /// Every float node output of rank >= 2 (candidates for --at).
    tensors: Vec<Candidate>,
}

pub(crate) fn dims_text(shape: &[String]) -> String {
    shape.join(" x ")
}

impl Net {
    /// Loads, types and declutters an ONNX model.
    pub fn load(path: &Path) -> Result<Net> {
        let name = path.display();
        if !path.exists() {
            bail!("{name}: no such file");
        }
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .with_context(|| format!("{name}: not a readable ONNX model"))?
            .into_typed()
            .with_context(|| format!("{name}: tract could not type the model (are the input shapes declared?)"))?
            .into_decluttered()
            .with_context(|| format!("{name}: tract could not declutter the model"))?;
        let inputs = model.input_outlets()?.to_vec();
        let outputs = model.output_outlets()?.to_vec();
        if inputs.len() != 1 || outputs.is_empty() {
            bail!("{name}: eval needs a model with one input and at least one output (has {} and {})", inputs.len(), outputs.len());
        }
        let in_fact = model.outlet_fact(inputs[0])?.clone();
        let input_name = model.node(inputs[0].node).name.clone();
        if in_fact.datum_type != f32::datum_type() {
            bail!("{name}: input '{input_name}' is {:?}; eval feeds float32 images", in_fact.datum_type);
        }
        let rank = in_fact.shape.rank();
        if rank < 2 {
            bail!("{name}: input '{input_name}' has rank {rank}; need N x ...");
        }
        let mut input_dims = Vec::new();
        for (i, d) in in_fact.shape.iter().enumerate().skip(1) {
            input_dims.push(d.to_usize().map_err(|_| {
                anyhow!("{name}: input '{input_name}' axis {i} is '{d}', not a number; only the batch axis may be symbolic")
            })?);
        }
        let fixed_batch = in_fact.shape[0].to_usize().ok();
        let out_fact = model.outlet_fact(outputs[0])?;
        let mut classes = 1usize;
        for d in out_fact.shape.iter().skip(1) {
            classes *= d.to_usize().map_err(|_| anyhow!("{name}: output axis '{d}' is not a number"))?;
        }
        if out_fact.shape.rank() < 2 || classes < 2 {
            bail!("{name}: the first output has shape {:?}; top-1 needs N x classes", out_fact.shape);
        }
        let mut tensors = Vec::new();
        for node in model.nodes() {
            if node.op_is::<tract_onnx::tract_core::ops::konst::Const>() || node.inputs.is_empty() {
                continue;
            }
            for (slot, o) in node.outputs.iter().enumerate() {
                let outlet = OutletId::new(node.id, slot);
                if o.fact.shape.rank() < 2 || !o.fact.datum_type.is_float() {
                    continue;
                }
                let label = model.outlet_label(outlet).map(|s| s.to_string());
                tensors.push(Candidate {
                    name: label.unwrap_or_else(|| node.name.clone()),
                    node_name: node.name.clone(),
                    op: node.op().name().to_string(),
                    outlet,
                    shape: o.fact.shape.iter().map(|d| d.to_string()).collect(),
                });
            }
        }
        let plan = SimplePlan::new(model)?;
        Ok(Net { plan, input_name, input_dims, fixed_batch, classes, tensors })
    }

    /// The 4-D float tensors (feature maps), in graph order.
    pub fn feature_maps(&self) -> Vec<&Candidate> {
        self.tensors.iter().filter(|c| c.shape.len() == 4).collect()
    }

    /// Finds a tensor by ONNX tensor name, then by tract node name.
    pub fn find(&self, name: &str) -> Result<&Candidate> {
        if let Some(c) = self.tensors.iter().find(|c| c.name == name) {
            return Ok(c);
        }
        if let Some(c) = self.tensors.iter().find(|c| c.node_name == name && c.outlet.slot == 0) {
            return Ok(c);
        }
        let names: Vec<String> =
            self.feature_maps().iter().map(|c| format!("{} ({})", c.name, dims_text(&c.shape))).collect();
        bail!(
            "no tensor named '{name}' in the model; candidate activation tensors: {}",
            if names.is_empty() { "none (no 4-D feature maps)".to_string() } else { names.join(", ") }
        )
    }

    /// Channels (axis 1) of a tensor.
    pub(crate) fn channels(&self, c: &Candidate) -> Result<usize> {
        c.shape[1].parse::<usize>().map_err(|_| anyhow!("tensor '{}': channel axis '{}' is not a number", c.name, c.shape[1]))
    }

    /// Logits (N x classes, C order) of `n` already preprocessed images, no tensor replaced.
    pub fn logits(&self, data: &[f32], n: usize) -> Result<Vec<f32>> {
        let mut shape = vec![n];
        shape.extend_from_slice(&self.input_dims);
        ensure!(data.len() == shape.iter().product::<usize>(), "{} values for {n} images of {:?}", data.len(), self.input_dims);
        let x = Tensor::from_shape::<f32>(&shape, data)?;
        let mut state = SimpleState::new(&self.plan)?;
        let out = state.run(tvec!(x.into_tvalue()))?;
        let logits = out[0].cast_to::<f32>()?;
        let view = logits.try_as_plain_ram()?;
        Ok(view.as_slice::<f32>()?.to_vec())
    }

    /// Runs images `range` of `images` in batches; `hook(target, shape, values)` sees every
    /// target tensor (f32, C order) and may return its replacement. Returns the top-1 class
    /// of every image.
    pub(crate) fn run(
        &self,
        images: &Images,
        range: std::ops::Range<usize>,
        batch: usize,
        targets: &[OutletId],
        hook: &mut dyn FnMut(usize, &[usize], &[f32]) -> Result<Option<Vec<f32>>>,
        bar: &Stages,
        stage: &str,
    ) -> Result<Vec<usize>> {
        self.run_keeping_logits(images, range, batch, targets, hook, bar, stage, None)
    }

    /// [`Net::run`], also appending every image's output values (f32, `classes` per image)
    /// to `keep_logits` when given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_keeping_logits(
        &self,
        images: &Images,
        range: std::ops::Range<usize>,
        batch: usize,
        targets: &[OutletId],
        hook: &mut dyn FnMut(usize, &[usize], &[f32]) -> Result<Option<Vec<f32>>>,
        bar: &Stages,
        stage: &str,
        mut keep_logits: Option<&mut Vec<f32>>,
    ) -> Result<Vec<usize>> {
        let batch = self.fixed_batch.unwrap_or(batch.max(1));
        let total = range.len();
        if let Some(b) = self.fixed_batch {
            if total % b != 0 {
                bail!("the model's batch axis is fixed at {b}; {total} images are not a multiple of it");
            }
        }
        let mut by_node: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        for (ti, o) in targets.iter().enumerate() {
            by_node.entry(o.node).or_default().push((o.slot, ti));
        }
        let mut state = SimpleState::new(&self.plan)?;
        let per = images.per_image;
        let mut preds = Vec::with_capacity(total);
        let mut start = range.start;
        while start < range.end {
            let n = batch.min(range.end - start);
            let mut shape = vec![n];
            shape.extend_from_slice(&self.input_dims);
            let x = Tensor::from_shape::<f32>(&shape, &images.data[start * per..(start + n) * per])?;
            let out = state.run_plan_with_eval(tvec!(x.into_tvalue()), |ctx, st, node, inputs| -> TractResult<TVec<TValue>> {
                let mut outs = tract_onnx::tract_core::plan::eval(ctx, st, node, inputs)?;
                if let Some(list) = by_node.get(&node.id) {
                    for &(slot, ti) in list {
                        let v = &outs[slot];
                        let dt = v.datum_type();
                        let shape = v.shape().to_vec();
                        let f = v.cast_to::<f32>()?;
                        let view = f.try_as_plain_ram()?;
                        let vals = view.as_slice::<f32>()?;
                        if let Some(new) = hook(ti, &shape, vals)? {
                            let t = Tensor::from_shape::<f32>(&shape, &new)?;
                            let t = if dt == f32::datum_type() { t } else { t.cast_to_dt(dt)?.into_owned() };
                            outs[slot] = t.into_tvalue();
                        }
                    }
                }
                Ok(outs)
            })?;
            let logits = out[0].cast_to::<f32>()?;
            let view = logits.try_as_plain_ram()?;
            let vals = view.as_slice::<f32>()?;
            if vals.len() != n * self.classes {
                bail!("model output holds {} values for {n} images; expected {} per image", vals.len(), self.classes);
            }
            if let Some(l) = keep_logits.as_deref_mut() {
                l.extend_from_slice(vals);
            }
            for row in vals.chunks(self.classes) {
                let mut best = 0;
                for (k, &v) in row.iter().enumerate() {
                    if v > row[best] || (row[best].is_nan() && !v.is_nan()) {
                        best = k;
                    }
                }
                preds.push(best);
            }
            start += n;
            bar.update(stage, (start - range.start) as f64 / total.max(1) as f64);
        }
        Ok(preds)
    }
}

// ---------------------------------------------------------------------------------------------
// inputs

/// Preprocessed images, C order, `per_image` values each.
pub struct Images {
    data: Vec<f32>,
    /// Number of images.
    pub count: usize,
    per_image: usize,
    dtype: Dtype,
}

impl Images {
    /// The preprocessed values of image `i` (C order).
    pub fn image(&self, i: usize) -> &[f32] {
        &self.data[i * self.per_image..(i + 1) * self.per_image]
    }

    /// Values per image.
    pub fn per_image(&self) -> usize {
        self.per_image
    }
}

pub(crate) fn load_images(path: &Path, net: &Net, mean: &[f64], std: &[f64]) -> Result<Images> {
    let name = path.display();
    if !path.is_file() {
        bail!("{name}: no such file");
    }
    let t = if crate::idx::looks_like_idx(path) {
        // IDX (MNIST / Fashion-MNIST distribution format, possibly gzipped): N x H x W bytes,
        // given the model's input shape (a missing channel axis of 1 is added)
        let a = crate::idx::read_idx_u8(path)?;
        let per: usize = a.shape.iter().skip(1).product();
        let fits = a.shape.len() >= 2
            && per == net.input_dims.iter().product::<usize>()
            && (a.shape[1..] == net.input_dims[..] || (net.input_dims.first() == Some(&1) && a.shape[1..] == net.input_dims[1..]));
        if !fits {
            let have: Vec<String> = a.shape.iter().map(|d| d.to_string()).collect();
            let want: Vec<String> = net.input_dims.iter().map(|d| d.to_string()).collect();
            bail!("{name}: IDX images have shape {}; the model's input '{}' expects N x {}", have.join(" x "), net.input_name, want.join(" x "));
        }
        let mut shape = vec![a.shape[0]];
        shape.extend_from_slice(&net.input_dims);
        GTensor::new(shape, TensorData::U8(a.data)).map_err(|e| anyhow!("{name}: {e}"))?
    } else {
        GTensor::load_npy(path)?
    };
    let count = t.shape[0];
    let per_shape = &t.shape[1..];
    if per_shape != net.input_dims.as_slice() {
        let want: Vec<String> = net.input_dims.iter().map(|d| d.to_string()).collect();
        let have: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        bail!(
            "{name}: images have shape {}; the model's input '{}' expects N x {}",
            have.join(" x "),
            net.input_name,
            want.join(" x ")
        );
    }
    t.check_finite(&name.to_string())?;
    let per_image: usize = per_shape.iter().product();
    let channels = per_shape.first().copied().unwrap_or(1);
    let spatial = per_image / channels.max(1);
    let pick = |v: &[f64], what: &str, default: f64| -> Result<Vec<f64>> {
        match v.len() {
            0 => Ok(vec![default; channels]),
            1 => Ok(vec![v[0]; channels]),
            n if n == channels => Ok(v.to_vec()),
            n => bail!("--{what} has {n} values; give one, or one per channel ({channels})"),
        }
    };
    let m = pick(mean, "mean", 0.0)?;
    let s = pick(std, "std", 1.0)?;
    if let Some(bad) = s.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
        bail!("--std {bad} must be positive");
    }
    let (raw, scale): (Vec<f64>, f64) = match &t.data {
        TensorData::U8(v) => (v.iter().map(|&x| x as f64).collect(), 255.0),
        TensorData::F32(_) | TensorData::F64(_) => (t.to_f64(), 1.0),
        TensorData::I8(_) => bail!("{name}: int8 images are not supported; give uint8 pixels or preprocessed floats"),
    };
    let data = raw
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let c = (i / spatial) % channels.max(1);
            ((x / scale - m[c]) / s[c]) as f32
        })
        .collect();
    Ok(Images { data, count, per_image, dtype: t.dtype() })
}

/// Reads a 1-D (or N x 1) .npy of integers as class indices.
pub(crate) fn load_labels(path: &Path) -> Result<Vec<i64>> {
    let name = path.display();
    if !path.is_file() {
        bail!("{name}: no such file");
    }
    if crate::idx::looks_like_idx(path) {
        let a = crate::idx::read_idx_u8(path)?;
        if a.shape.len() != 1 {
            bail!("{name}: IDX labels have shape {:?}; need (N,)", a.shape);
        }
        return Ok(a.data.into_iter().map(i64::from).collect());
    }
    let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("{name}: not a .npy file (missing the \\x93NUMPY magic)");
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => bail!("{name}: unsupported .npy version {v}"),
    };
    let header = bytes
        .get(hstart..hstart + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| anyhow!("{name}: truncated .npy header"))?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[i..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| anyhow!("{name}: .npy header has no descr"))?;
    if field("fortran_order").map(|r| r.starts_with("True")).unwrap_or(false) {
        bail!("{name}: Fortran-order arrays are not supported");
    }
    let shape_txt = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| anyhow!("{name}: .npy header has no shape"))?;
    let shape: Vec<usize> = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| anyhow!("{name}: bad shape ({shape_txt})"))?;
    let n = match shape.as_slice() {
        [n] | [n, 1] => *n,
        _ => bail!("{name}: labels have shape {shape:?}; need (N,) integers"),
    };
    let (size, signed, little) = match descr {
        "|u1" | "u1" => (1, false, true),
        "|i1" | "i1" => (1, true, true),
        d if d.len() == 3 && (d.starts_with('<') || d.starts_with('>')) && (d.as_bytes()[1] == b'i' || d.as_bytes()[1] == b'u') => {
            let size = (d.as_bytes()[2] as char).to_digit(10).unwrap_or(0) as usize;
            if ![2, 4, 8].contains(&size) {
                bail!("{name}: labels dtype '{d}' is not an integer type");
            }
            (size, d.as_bytes()[1] == b'i', d.starts_with('<'))
        }
        d => bail!("{name}: labels dtype '{d}' is not supported; use integers (e.g. int64 or uint8)"),
    };
    let body = &bytes[hstart + hlen..];
    if body.len() < n * size {
        bail!("{name}: file holds {} bytes of data, shape {shape:?} needs {}", body.len(), n * size);
    }
    Ok(body[..n * size]
        .chunks(size)
        .map(|c| {
            let mut b = [0u8; 8];
            if little {
                b[..size].copy_from_slice(c);
            } else {
                for (i, &x) in c.iter().rev().enumerate() {
                    b[i] = x;
                }
            }
            let u = u64::from_le_bytes(b);
            if signed && size < 8 && (u >> (size * 8 - 1)) & 1 == 1 {
                (u | (!0u64 << (size * 8))) as i64
            } else {
                u as i64
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// compression through the golden model

/// Running distortion totals of one tensor.
#[derive(Default, Clone, Copy)]
pub(crate) struct Totals {
    pub values: usize,
    pub signal: f64,
    pub noise: f64,
    pub max_abs: f64,
    /// Payload bits actually stored (each image's last tile padded, for ours).
    pub payload_bits: f64,
}

impl Totals {
    /// Adds another run's totals.
    pub fn add(&mut self, t: &Totals) {
        self.values += t.values;
        self.signal += t.signal;
        self.noise += t.noise;
        self.payload_bits += t.payload_bits;
        self.max_abs = self.max_abs.max(t.max_abs);
    }

    /// Adds one image's values `x`, their reconstruction `rec` and the payload bits stored for it.
    pub fn add_image(&mut self, x: &[f32], rec: &[f32], bits: f64) {
        for (&a, &b) in x.iter().zip(rec) {
            let (a, b) = (a as f64, b as f64);
            self.signal += a * a;
            self.noise += (a - b) * (a - b);
            self.max_abs = self.max_abs.max((a - b).abs());
        }
        self.values += x.len();
        self.payload_bits += bits;
    }

    /// Stored bits per value.
    pub fn bpv(&self) -> f64 {
        self.payload_bits / self.values.max(1) as f64
    }

    /// SQNR of the reconstruction in dB.
    pub fn sqnr_db(&self) -> f64 {
        sqnr_db(self.signal, self.noise)
    }
}

/// A tensor coder in the loop: decompress(compress(x)) of one image's tensor.
pub(crate) trait Coder: Sync {
    /// Channels the coder was made for.
    fn channels(&self) -> usize;
    /// Reconstruction of one image's tensor (1 x C x ...) and the payload bits stored for it.
    fn roundtrip_one(&self, name: &str, shape: &[usize], vals: &[f32]) -> Result<(Vec<f32>, f64)>;
}

/// Our scheme: the golden codec under a calibrated policy.
pub(crate) struct PolicyCoder {
    pub codec: Codec,
    pub policy: Policy,
}

impl PolicyCoder {
    /// Builds the codec of a policy.
    pub fn new(policy: Policy) -> Result<PolicyCoder> {
        Ok(PolicyCoder { codec: Codec::new(&policy)?, policy })
    }
}

impl Coder for PolicyCoder {
    fn channels(&self) -> usize {
        self.policy.channels
    }

    fn roundtrip_one(&self, name: &str, shape: &[usize], vals: &[f32]) -> Result<(Vec<f32>, f64)> {
        let codes = self.input_codes(name, shape, vals)?;
        let back = self.codec.reconstruct(&codes, shape)?;
        Ok((self.output_floats(name, shape, &back)?, self.stored_bits(vals.len())))
    }
}

impl PolicyCoder {
    /// [`Coder::roundtrip_one`] that also returns the reconstructed integer codes (C order) and
    /// the codec's quantization trace of the same pass (for learning the level tables).
    pub fn roundtrip_traced(&self, name: &str, shape: &[usize], vals: &[f32]) -> Result<(Vec<f32>, f64, Vec<i16>, QuantTrace)> {
        let codes = self.input_codes(name, shape, vals)?;
        let (back, trace) = self.codec.reconstruct_traced(&codes, shape)?;
        Ok((self.output_floats(name, shape, &back)?, self.stored_bits(vals.len()), back, trace))
    }

    /// The policy's integer input codes of one image's float tensor.
    fn input_codes(&self, name: &str, shape: &[usize], vals: &[f32]) -> Result<Vec<i16>> {
        let policy = &self.policy;
        let data = match policy.input.source_dtype {
            Dtype::F32 => TensorData::F32(vals.to_vec()),
            Dtype::F64 => TensorData::F64(vals.iter().map(|&x| x as f64).collect()),
            d => bail!("tensor '{name}': its policy maps {d:?} sources; eval's activations are floats"),
        };
        let t = GTensor::new(shape.to_vec(), data)?;
        Ok(to_codes(&t, &policy.input, &format!("activation '{name}'"))?)
    }

    /// Reconstructed codes back to floats.
    fn output_floats(&self, name: &str, shape: &[usize], back: &[i16]) -> Result<Vec<f32>> {
        let rec = from_codes(back, shape.to_vec(), &self.policy.input)?;
        Ok(match rec.data {
            TensorData::F32(v) => v,
            TensorData::F64(v) => v.into_iter().map(|x| x as f32).collect(),
            _ => bail!("tensor '{name}': the policy reconstructed integers from float activations"),
        })
    }

    /// Payload bits stored for one image of `values` values.
    fn stored_bits(&self, values: usize) -> f64 {
        let p = &self.policy;
        p.payload_words(values / p.channels) as f64 * p.word_bits as f64
    }
}

/// decompress(compress(x)) of a batch activation (N x C x ...), image by image (each image's
/// tensor is compressed on its own, as an accelerator writes one image's feature map, so the
/// result does not depend on the batch size), on all cores.
pub(crate) fn roundtrip(coder: &dyn Coder, name: &str, shape: &[usize], vals: &[f32], tot: &mut Totals) -> Result<Vec<f32>> {
    let channels = shape.get(1).copied().unwrap_or(0);
    if channels != coder.channels() {
        bail!("tensor '{name}' has {channels} channels; its coder is for {}", coder.channels());
    }
    let n = shape[0];
    let per = vals.len() / n.max(1);
    let mut one = shape.to_vec();
    one[0] = 1;
    let threads = std::thread::available_parallelism().map(|x| x.get()).unwrap_or(1).clamp(1, n.max(1));
    let per_thread = n.div_ceil(threads);
    let mut out = vec![0f32; vals.len()];
    let results: Vec<Result<Totals>> = std::thread::scope(|s| {
        let handles: Vec<_> = vals
            .chunks(per_thread * per)
            .zip(out.chunks_mut(per_thread * per))
            .map(|(src, dst)| {
                let one = &one;
                s.spawn(move || -> Result<Totals> {
                    let mut t = Totals::default();
                    for (x, y) in src.chunks(per).zip(dst.chunks_mut(per)) {
                        let (rec, bits) = coder.roundtrip_one(name, one, x)?;
                        t.add_image(x, &rec, bits);
                        y.copy_from_slice(&rec);
                    }
                    Ok(t)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("codec thread panicked")))).collect()
    });
    for r in results {
        tot.add(&r?);
    }
    Ok(out)
}

/// One pass over `range` with every target tensor replaced by its coder's reconstruction:
/// the top-1 predictions, per-tensor totals and the seconds spent in the coders.
pub(crate) fn compressed_pass(
    net: &Net,
    images: &Images,
    range: std::ops::Range<usize>,
    batch: usize,
    targets: &[Candidate],
    coders: &[&dyn Coder],
    bar: &Stages,
    stage: &str,
) -> Result<(Vec<usize>, Vec<Totals>, f64)> {
    compressed_pass_keeping_logits(net, images, range, batch, targets, coders, bar, stage, None)
}

/// [`compressed_pass`], also appending every image's output values to `logits` when given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn compressed_pass_keeping_logits(
    net: &Net,
    images: &Images,
    range: std::ops::Range<usize>,
    batch: usize,
    targets: &[Candidate],
    coders: &[&dyn Coder],
    bar: &Stages,
    stage: &str,
    logits: Option<&mut Vec<f32>>,
) -> Result<(Vec<usize>, Vec<Totals>, f64)> {
    let outlets: Vec<OutletId> = targets.iter().map(|t| t.outlet).collect();
    let mut totals = vec![Totals::default(); targets.len()];
    let mut codec_secs = 0.0;
    let preds = net.run_keeping_logits(
        images,
        range,
        batch,
        &outlets,
        &mut |ti, shape, vals| {
            let tc = Instant::now();
            let r = roundtrip(coders[ti], &targets[ti].name, shape, vals, &mut totals[ti])?;
            codec_secs += tc.elapsed().as_secs_f64();
            Ok(Some(r))
        },
        bar,
        stage,
        logits,
    )?;
    Ok((preds, totals, codec_secs))
}

// ---------------------------------------------------------------------------------------------
// the command

/// Where the policies came from.
enum PolicySource {
    Files(Vec<PathBuf>),
    Calibrated { images: String, count: usize, target: String },
}

fn print_list(net: &Net, path: &Path) {
    println!("candidate activation tensors of {} (4-D node outputs, decluttered by tract):", path.display());
    println!("{:<24} {:<20} {:<20} {}", "tensor", "shape", "tract node", "op");
    for c in net.feature_maps() {
        println!("{:<24} {:<20} {:<20} {}", c.name, dims_text(&c.shape), c.node_name, c.op);
    }
}

/// Tract ops whose 4-D outputs `--at all-activations` compresses: activation functions
/// (a decluttered ONNX Relu is `Max` with a constant 0) and pooling — the feature maps a CNN
/// accelerator writes between layers. Convolution outputs feed these ops directly (fused on
/// an accelerator) and are not included.
const ACTIVATION_OPS: &[&str] =
    &["Max", "Min", "MaxPool", "SumPool", "Sigmoid", "Tanh", "LeakyRelu", "HardSwish", "Gelu", "Elu", "Selu", "Softplus", "Clip"];

/// The feature maps `--at all-activations` stands for.
pub(crate) fn activation_maps(net: &Net) -> Vec<Candidate> {
    net.feature_maps().into_iter().filter(|c| ACTIVATION_OPS.contains(&c.op.as_str())).cloned().collect()
}

/// Resolves `--at` (names, or the keyword `all-activations`) into target tensors.
pub(crate) fn resolve_targets(net: &Net, at: &[String]) -> Result<Vec<Candidate>> {
    let mut targets: Vec<Candidate> = Vec::new();
    for name in at {
        let found: Vec<Candidate> = if name == "all-activations" {
            let all = activation_maps(net);
            if all.is_empty() {
                bail!("--at all-activations: the model has no 4-D activation or pooling output (ops {ACTIVATION_OPS:?}); name the tensors instead");
            }
            all
        } else {
            vec![net.find(name)?.clone()]
        };
        for c in found {
            if targets.iter().any(|t| t.outlet == c.outlet) {
                bail!("--at names tensor '{}' twice", c.name);
            }
            net.channels(&c)?;
            targets.push(c);
        }
    }
    // graph order, so the report lists tensors as the data flows
    targets.sort_by_key(|t| t.outlet.node);
    Ok(targets)
}

/// Which images calibrate and which are evaluated.
pub(crate) struct CalibSplit {
    /// Separate calibration images (None: the first third of the evaluation file).
    pub images: Option<Images>,
    /// Calibration images used.
    pub range: std::ops::Range<usize>,
    /// Evaluation images used.
    pub eval_range: std::ops::Range<usize>,
    /// Human-readable description.
    pub description: String,
}

impl CalibSplit {
    /// From --calib-images / --calib-count, or the first third of --images.
    pub fn new(a: &Args, net: &Net, images: &Images, images_path: &Path) -> Result<CalibSplit> {
        if a.calib_count == 0 {
            bail!("--calib-count must be at least 1");
        }
        match &a.calib_images {
            Some(p) => {
                if let (Ok(x), Ok(y)) = (p.canonicalize(), images_path.canonicalize()) {
                    if x == y {
                        bail!("--calib-images and --images are the same file; calibration needs images disjoint from the evaluation split (omit --calib-images to split --images)");
                    }
                }
                let ci = load_images(p, net, &a.mean, &a.std)?;
                let n = ci.count.min(a.calib_count);
                let description = format!("{} (images 0..{} of {})", p.display(), n - 1, ci.count);
                Ok(CalibSplit { images: Some(ci), range: 0..n, eval_range: 0..images.count, description })
            }
            None => {
                if images.count < 2 {
                    bail!("{}: need at least 2 images to split off a calibration set (or give --calib-images)", images_path.display());
                }
                let k = (images.count / 3).max(1).min(a.calib_count);
                let description =
                    format!("images 0..{} of {} (evaluation uses {}..{})", k - 1, images_path.display(), k, images.count - 1);
                Ok(CalibSplit { images: None, range: 0..k, eval_range: k..images.count, description })
            }
        }
    }

    /// One pass over the calibration images with `earlier` tensors replaced by their coders'
    /// reconstructions, capturing tensor `target`.
    #[allow(clippy::too_many_arguments)]
    pub fn capture_after(
        &self,
        net: &Net,
        images: &Images,
        batch: usize,
        earlier: &[Candidate],
        coders: &[&dyn Coder],
        target: &Candidate,
        quiet: bool,
    ) -> Result<Vec<GTensor>> {
        let src = self.images.as_ref().unwrap_or(images);
        let mut outlets: Vec<OutletId> = earlier.iter().map(|t| t.outlet).collect();
        outlets.push(target.outlet);
        let bar = Stages::new("eval", quiet);
        let mut captured = Vec::new();
        let mut totals = Totals::default();
        net.run(
            src,
            self.range.clone(),
            batch,
            &outlets,
            &mut |ti, shape, vals| {
                if ti < earlier.len() {
                    return Ok(Some(roundtrip(coders[ti], &earlier[ti].name, shape, vals, &mut totals)?));
                }
                captured.push(GTensor::new(shape.to_vec(), TensorData::F32(vals.to_vec()))?);
                Ok(None)
            },
            &bar,
            &format!("capture '{}' calibration activations", target.name),
        )?;
        bar.finish();
        Ok(captured)
    }

    /// One uncompressed pass capturing every target's activations on the calibration images.
    pub fn capture(&self, net: &Net, images: &Images, batch: usize, targets: &[Candidate], quiet: bool) -> Result<Vec<Vec<GTensor>>> {
        let src = self.images.as_ref().unwrap_or(images);
        let outlets: Vec<OutletId> = targets.iter().map(|t| t.outlet).collect();
        let bar = Stages::new("eval", quiet);
        let mut captured: Vec<Vec<GTensor>> = vec![Vec::new(); targets.len()];
        net.run(
            src,
            self.range.clone(),
            batch,
            &outlets,
            &mut |ti, shape, vals| {
                captured[ti].push(GTensor::new(shape.to_vec(), TensorData::F32(vals.to_vec()))?);
                Ok(None)
            },
            &bar,
            "capture calibration activations",
        )?;
        bar.finish();
        Ok(captured)
    }
}

/// One calibration per target tensor, each on that tensor's uncompressed activations over the
/// calibration images of `calib` (what `eval --target-bpv` does without --sequential-calibration;
/// `finetune` calls it between epochs).
pub(crate) fn calibrate_each(
    calib: &CalibSplit,
    net: &Net,
    images: &Images,
    batch: usize,
    targets: &[Candidate],
    opts: &CalibrateOptions,
    quiet: bool,
) -> Result<Vec<Calibration>> {
    let captured = calib.capture(net, images, batch, targets, quiet)?;
    targets
        .iter()
        .zip(&captured)
        .map(|(t, caps)| run_calibration(caps, opts, quiet).with_context(|| format!("calibrating tensor '{}'", t.name)))
        .collect()
}

/// Writes each target's captured batches as one float32 tensor, DIR/NAME.npy
/// (the batches joined along N).
fn save_activations(dir: &std::path::Path, captured: &[Vec<GTensor>], targets: &[Candidate], quiet: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the directory", dir.display()))?;
    for (t, batches) in targets.iter().zip(captured) {
        let first = batches.first().ok_or_else(|| anyhow!("no calibration images were captured for '{}'", t.name))?;
        let mut shape = first.shape.clone();
        let mut values: Vec<f32> = Vec::new();
        for b in batches {
            match &b.data {
                TensorData::F32(v) => values.extend_from_slice(v),
                _ => bail!("tensor '{}': captured activations are not float32", t.name),
            }
        }
        shape[0] = batches.iter().map(|b| b.shape[0]).sum();
        // a file name from the tensor name (ONNX names may hold '/' or ':')
        let file: String = t.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' { c } else { '_' }).collect();
        let path = dir.join(format!("{file}.npy"));
        GTensor::new(shape.clone(), TensorData::F32(values))?.save_npy(&path).with_context(|| format!("{}: cannot write the activations", path.display()))?;
        if !quiet {
            println!("wrote {} ({:?}, float32)", path.display(), shape);
        }
    }
    Ok(())
}

/// Entry point of `actcomp eval`.
pub fn run(a: Args) -> Result<()> {
    if let Some(list) = &a.list_tensors {
        let path = list.as_ref().or(a.model.as_ref()).ok_or_else(|| anyhow!("--list-tensors needs a model: --list-tensors MODEL.onnx or --model MODEL.onnx"))?;
        let net = Net::load(path)?;
        if a.json {
            let list: Vec<_> = net
                .feature_maps()
                .iter()
                .map(|c| serde_json::json!({"name": c.name, "shape": c.shape, "node": c.node_name, "op": c.op}))
                .collect();
            println!("{}", serde_json::json!({ "model": path, "tensors": list }));
        } else {
            print_list(&net, path);
        }
        return Ok(());
    }
    let model_path = a.model.as_ref().ok_or_else(|| anyhow!("--model is required"))?;
    let images_path = a.images.as_ref().ok_or_else(|| anyhow!("--images is required"))?;
    let labels_path = a.labels.as_ref().ok_or_else(|| anyhow!("--labels is required"))?;
    if a.at.is_empty() {
        bail!("--at is required: name the tensors to compress (see `actcomp eval --list-tensors {}`)", model_path.display());
    }
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if !a.policy.is_empty() && (a.calib.target_bpv.is_some() || a.calib.target_sqnr.is_some()) {
        bail!("give either --policy or a calibration target (--target-bpv / --target-sqnr), not both");
    }
    if !a.policy.is_empty() && a.calib_images.is_some() {
        bail!("--calib-images is for calibration; with --policy nothing is calibrated");
    }
    if a.sweep && !a.policy.is_empty() {
        bail!("--sweep calibrates every method at every --bpv rate itself; it takes no --policy");
    }
    if a.sweep && a.logits_out.is_some() {
        bail!("--logits-out writes the outputs of one compressed run; --sweep makes many");
    }
    if a.save_activations.is_some() && (a.sweep || !a.policy.is_empty() || a.logits_out.is_some()) {
        bail!("--save-activations only writes the calibration activations and stops; it takes no --sweep, --policy or --logits-out");
    }

    let t_load = Instant::now();
    let net = Net::load(model_path)?;
    let targets = resolve_targets(&net, &a.at)?;
    let images = load_images(images_path, &net, &a.mean, &a.std)?;
    let labels = load_labels(labels_path)?;
    if labels.len() != images.count {
        bail!(
            "{} holds {} labels but {} holds {} images",
            labels_path.display(),
            labels.len(),
            images_path.display(),
            images.count
        );
    }
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l < 0 || l as usize >= net.classes) {
        bail!("{}: label {l} at index {i} is outside the model's {} classes", labels_path.display(), net.classes);
    }
    let load_secs = t_load.elapsed().as_secs_f64();
    if !a.policy.is_empty() && a.policy.len() != targets.len() {
        bail!("{} policies for {} tensors in --at; give one policy per tensor", a.policy.len(), targets.len());
    }

    if let Some(dir) = &a.save_activations {
        let calib = CalibSplit::new(&a, &net, &images, images_path)?;
        return save_activations(dir, &calib.capture(&net, &images, a.batch, &targets, a.json)?, &targets, a.json);
    }
    if a.sweep {
        let calib = CalibSplit::new(&a, &net, &images, images_path)?;
        return super::eval_sweep::run(&a, &net, &targets, &images, &labels, &calib, model_path, images_path, load_secs);
    }

    // policies: from files, or calibrated on a disjoint image split
    let mut eval_range = 0..images.count;
    let mut calib_secs = 0.0;
    let mut summaries: Vec<String> = Vec::new();
    let (policies, source): (Vec<Policy>, PolicySource) = if !a.policy.is_empty() {
        let ps = a.policy.iter().map(|p| Policy::load(p).map_err(anyhow::Error::from)).collect::<Result<Vec<_>>>()?;
        (ps, PolicySource::Files(a.policy.clone()))
    } else {
        let opts = a.calib.options()?;
        let target = match (a.calib.target_bpv, a.calib.target_sqnr) {
            (_, Some(s)) => format!("{s} dB SQNR"),
            (Some(b), _) => format!("{b} bits/value"),
            _ => "2.5 bits/value (default)".to_string(),
        };
        let calib = CalibSplit::new(&a, &net, &images, images_path)?;
        eval_range = calib.eval_range.clone();
        let t0 = Instant::now();
        let mut ps = Vec::new();
        if !a.sequential_calibration {
            for (t, cal) in targets.iter().zip(calibrate_each(&calib, &net, &images, a.batch, &targets, &opts, a.json)?) {
                summaries.push(format!("{}: {}", t.name, summary_line(&cal)));
                ps.push(cal.policy);
            }
        } else {
            // in graph order, each tensor calibrated on what it sees at run time: the activations
            // computed from the already compressed earlier tensors
            let mut coders: Vec<PolicyCoder> = Vec::new();
            for (i, t) in targets.iter().enumerate() {
                let earlier: Vec<&dyn Coder> = coders.iter().map(|c| c as &dyn Coder).collect();
                let caps = calib.capture_after(&net, &images, a.batch, &targets[..i], &earlier, t, a.json)?;
                let cal = run_calibration(&caps, &opts, a.json).with_context(|| format!("calibrating tensor '{}'", t.name))?;
                summaries.push(format!("{}: {}", t.name, summary_line(&cal)));
                coders.push(PolicyCoder::new(cal.policy.clone())?);
                ps.push(cal.policy);
            }
        }
        calib_secs = t0.elapsed().as_secs_f64();
        (ps, PolicySource::Calibrated { images: calib.description.clone(), count: calib.range.len(), target })
    };
    let coders: Vec<PolicyCoder> = policies.iter().map(|p| PolicyCoder::new(p.clone())).collect::<Result<_>>()?;
    for (t, p) in targets.iter().zip(&policies) {
        let c = net.channels(t)?;
        if c != p.channels {
            bail!("tensor '{}' has {c} channels; its policy is for {} channels", t.name, p.channels);
        }
    }

    // baseline and compressed passes
    let bar = Stages::new("eval", a.json);
    let t0 = Instant::now();
    let base = net.run(&images, eval_range.clone(), a.batch, &[], &mut |_, _, _| Ok(None), &bar, "baseline")?;
    let base_secs = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let dyn_coders: Vec<&dyn Coder> = coders.iter().map(|c| c as &dyn Coder).collect();
    let mut logits = a.logits_out.as_ref().map(|_| Vec::new());
    let (comp, totals, codec_secs) =
        compressed_pass_keeping_logits(&net, &images, eval_range.clone(), a.batch, &targets, &dyn_coders, &bar, "compressed", logits.as_mut())?;
    let comp_secs = t0.elapsed().as_secs_f64();
    bar.finish();
    if let (Some(path), Some(values)) = (&a.logits_out, logits) {
        GTensor::new(vec![eval_range.len(), net.classes], TensorData::F32(values))?
            .save_npy(path)
            .with_context(|| format!("{}: cannot write the logits", path.display()))?;
    }

    let labels_eval = &labels[eval_range.clone()];
    let n = labels_eval.len();
    let correct = |p: &[usize]| p.iter().zip(labels_eval).filter(|(p, l)| **p as i64 == **l).count();
    let (cb, cc) = (correct(&base), correct(&comp));
    let changed = base.iter().zip(&comp).filter(|(a, b)| a != b).count();
    let acc_b = 100.0 * cb as f64 / n as f64;
    let acc_c = 100.0 * cc as f64 / n as f64;
    let delta = 100.0 * (cc as f64 - cb as f64) / n as f64;

    let per_tensor: Vec<serde_json::Value> = targets
        .iter()
        .zip(&policies)
        .zip(&totals)
        .map(|((t, p), tot)| {
            serde_json::json!({
                "tensor": t.name,
                "tract_node": t.node_name,
                "shape": t.shape,
                "payload_bpv": p.payload_bpv(),
                "stored_bpv": if tot.values > 0 { tot.payload_bits / tot.values as f64 } else { 0.0 },
                "sqnr_db": tot.sqnr_db(),
                "mse": if tot.values > 0 { tot.noise / tot.values as f64 } else { 0.0 },
                "max_abs_error": tot.max_abs,
                "values": tot.values,
                "transform": format!("{:?}", p.transform),
                "grouping": format!("{:?}", p.grouping),
                "groups": p.blocks[0].groups.iter().map(|g| format!("{}x{}b", g.size, g.bits)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let calib_json = match &source {
        PolicySource::Files(f) => serde_json::json!({"policy_files": f}),
        PolicySource::Calibrated { images, count, target } => {
            serde_json::json!({"calibrated_on": images, "calibration_images": count, "target": target})
        }
    };
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "model": model_path,
                "images": images_path,
                "evaluated_images": n,
                "evaluated_range": [eval_range.start, eval_range.end],
                "policies": calib_json,
                "baseline_top1": acc_b,
                "compressed_top1": acc_c,
                "delta_points": delta,
                "baseline_correct": cb,
                "compressed_correct": cc,
                "predictions_changed": changed,
                "tensors": per_tensor,
                "seconds": {"load": load_secs, "calibration": calib_secs, "baseline": base_secs, "compressed": comp_secs, "codec": codec_secs},
                "batch": net.fixed_batch.unwrap_or(a.batch),
            })
        );
        return Ok(());
    }
    println!("model: {} (tract-onnx, decluttered plan, hook on {} tensor(s))", model_path.display(), targets.len());
    println!(
        "evaluation: {} images {}..{} of {}{}",
        n,
        eval_range.start,
        eval_range.end - 1,
        images_path.display(),
        match images.dtype {
            Dtype::U8 => " (uint8 pixels /255, then --mean/--std)",
            _ => "",
        }
    );
    match &source {
        PolicySource::Files(f) => {
            let names: Vec<String> = f.iter().map(|p| p.display().to_string()).collect();
            println!("policies: from {} (not calibrated here)", names.join(", "))
        }
        PolicySource::Calibrated { images, target, .. } => println!("policies: calibrated at {target} on {images}"),
    }
    for line in &summaries {
        println!("  {line}");
    }
    println!(
        "{:<20} {:<20} {:>10} {:>12} {:>14} {:>12}",
        "tensor", "shape", "bits/value", "stored b/v", "SQNR (eval) dB", "max |err|"
    );
    for (t, (p, tot)) in targets.iter().zip(policies.iter().zip(&totals)) {
        println!(
            "{:<20} {:<20} {:>10.4} {:>12.4} {:>14.2} {:>12.4}",
            t.name,
            dims_text(&t.shape),
            p.payload_bpv(),
            tot.bpv(),
            tot.sqnr_db(),
            tot.max_abs
        );
    }
    println!("baseline top-1:   {acc_b:.2}% ({cb}/{n})");
    println!("compressed top-1: {acc_c:.2}% ({cc}/{n})");
    println!("delta: {delta:+.2} points ({changed} predictions changed)");
    println!("bits/value: the policy's payload rate of a full tile; stored b/v: with each image's last tile padded. SQNR: codec distortion of each tensor as seen in the compressed run.");
    println!(
        "time: baseline {base_secs:.2} s, compressed {comp_secs:.2} s (codec {codec_secs:.2} s), calibration {calib_secs:.2} s, {} images per batch",
        net.fixed_batch.unwrap_or(a.batch)
    );
    Ok(())
}
