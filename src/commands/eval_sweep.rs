//! `actcomp eval --sweep`: top-1 accuracy against bits/value for our scheme
//! and each baseline, every method fitted on the same calibration activations
//! and run in the loop at every target tensor at once.
//!
//! Methods at each rate r (bits/value):
//! - **ours**: a policy calibrated per tensor at r (payload bits, side
//!   information and each image's padded last tile counted);
//! - **per-tensor uniform**: ⌊r⌋-bit uniform quantization with one step per tensor;
//! - **per-channel mixed precision**: no transform, greedy integer bits per channel;
//! - **PCA + uniform bits (transform only)**: PCA over all channels, the best K
//!   components at b bits each;
//! - **PCA + greedy bits**: the straightforward PCA scheme (greedy bits per component).
//!
//! Baseline rates are their ideal code bits per value (no tiling or side information).

use super::calibrate::run_calibration;
use super::eval::{compressed_pass, dims_text, Args, CalibSplit, Candidate, Coder, Images, Net, PolicyCoder, Totals};
use crate::plots;
use crate::progress::Stages;
use actcomp_golden::baselines::{fit_per_component, fit_per_tensor_uniform, Allocation, ComponentFit, UniformFit};
use actcomp_golden::calibrate::Target;
use actcomp_golden::policy::TransformKind;
use actcomp_golden::tensor::{Tensor as GTensor, TensorData};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Method names, in table order.
pub const METHODS: [&str; 5] =
    ["ours", "per-tensor uniform", "per-channel mixed precision", "PCA + uniform bits (transform only)", "PCA + greedy bits"];

/// Per-tensor uniform quantization in the loop.
struct UniformCoder {
    fit: UniformFit,
    channels: usize,
}

impl Coder for UniformCoder {
    fn channels(&self) -> usize {
        self.channels
    }

    fn roundtrip_one(&self, _name: &str, _shape: &[usize], vals: &[f32]) -> Result<(Vec<f32>, f64)> {
        let out = vals.iter().map(|&x| self.fit.reconstruct(x as f64) as f32).collect();
        Ok((out, vals.len() as f64 * self.fit.bits as f64))
    }
}

/// A per-component baseline (transform + per-component bits) in the loop.
struct ComponentCoder {
    fit: ComponentFit,
}

impl Coder for ComponentCoder {
    fn channels(&self) -> usize {
        self.fit.channels()
    }

    fn roundtrip_one(&self, name: &str, shape: &[usize], vals: &[f32]) -> Result<(Vec<f32>, f64)> {
        let t = GTensor::new(shape.to_vec(), TensorData::F32(vals.to_vec()))?;
        let rec = self.fit.reconstruct(&t).with_context(|| format!("baseline on tensor '{name}'"))?;
        Ok((rec.into_iter().map(|x| x as f32).collect(), vals.len() as f64 * self.fit.bpv()))
    }
}

/// One tensor of one sweep point.
#[derive(Debug, Clone, Serialize)]
pub struct TensorPoint {
    /// Tensor name.
    pub tensor: String,
    /// Bits per value stored for it.
    pub bpv: f64,
    /// SQNR of its reconstruction in the compressed run (dB).
    pub sqnr_db: f64,
}

/// One method at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Method name (one of [`METHODS`]).
    pub method: String,
    /// The rate asked for.
    pub target_bpv: f64,
    /// Bits per value stored, over all compressed tensors (value-weighted).
    pub bpv: f64,
    /// Top-1 accuracy (%).
    pub top1: f64,
    /// Top-1 change against the uncompressed network (percentage points).
    pub delta_points: f64,
    /// Predictions that differ from the uncompressed network's.
    pub predictions_changed: usize,
    /// Per tensor.
    pub tensors: Vec<TensorPoint>,
    /// Seconds to fit (calibrate) the method on all tensors.
    pub fit_seconds: f64,
    /// Seconds of the compressed pass.
    pub run_seconds: f64,
}

/// The whole sweep.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    /// Model file.
    pub model: String,
    /// Evaluation images.
    pub images: String,
    /// Images evaluated.
    pub evaluated_images: usize,
    /// What calibrated.
    pub calibrated_on: String,
    /// Compressed tensors with their shapes.
    pub tensors: Vec<(String, String)>,
    /// Uncompressed top-1 (%).
    pub baseline_top1: f64,
    /// Every method at every rate.
    pub points: Vec<SweepPoint>,
    /// Seconds of the uncompressed pass.
    pub baseline_seconds: f64,
}

fn fit_coders(method: &str, rate: f64, a: &Args, captured: &[Vec<GTensor>], targets: &[Candidate], quiet: bool) -> Result<Option<Vec<Box<dyn Coder>>>> {
    let mut out: Vec<Box<dyn Coder>> = Vec::new();
    for (t, caps) in targets.iter().zip(captured) {
        let refs: Vec<&GTensor> = caps.iter().collect();
        let channels = caps.first().map(|c| c.channels()).unwrap_or(0);
        let ctx = || format!("fitting {method} at {rate} bits/value on tensor '{}'", t.name);
        let coder: Box<dyn Coder> = match method {
            "ours" => {
                let mut opts = a.calib.options()?;
                opts.target = Target::BitsPerValue(rate);
                let cal = run_calibration(caps, &opts, quiet).with_context(ctx)?;
                Box::new(PolicyCoder::new(cal.policy)?)
            }
            "per-tensor uniform" => {
                let bits = rate.floor() as u32;
                if bits == 0 {
                    return Ok(None);
                }
                Box::new(UniformCoder { fit: fit_per_tensor_uniform(&refs, bits).with_context(ctx)?, channels })
            }
            "per-channel mixed precision" => {
                Box::new(ComponentCoder { fit: fit_per_component(&refs, TransformKind::Identity, Allocation::Greedy, rate).with_context(ctx)? })
            }
            "PCA + uniform bits (transform only)" => {
                Box::new(ComponentCoder { fit: fit_per_component(&refs, TransformKind::Pca, Allocation::KeepTop, rate).with_context(ctx)? })
            }
            "PCA + greedy bits" => {
                Box::new(ComponentCoder { fit: fit_per_component(&refs, TransformKind::Pca, Allocation::Greedy, rate).with_context(ctx)? })
            }
            m => bail!("unknown sweep method '{m}'"),
        };
        out.push(coder);
    }
    Ok(Some(out))
}

/// Runs the sweep and prints / writes its table and plot.
#[allow(clippy::too_many_arguments)]
pub fn run(
    a: &Args,
    net: &Net,
    targets: &[Candidate],
    images: &Images,
    labels: &[i64],
    calib: &CalibSplit,
    model_path: &Path,
    images_path: &Path,
    load_secs: f64,
) -> Result<()> {
    if a.bpv.is_empty() {
        bail!("--bpv needs at least one rate");
    }
    if let Some(r) = a.bpv.iter().find(|r| !(r.is_finite() && **r > 0.0 && **r <= 8.0)) {
        bail!("--bpv {r}: rates must be in (0, 8] bits/value");
    }
    if a.calib.target_sqnr.is_some() || a.calib.target_bpv.is_some() {
        bail!("--sweep takes its rates from --bpv; drop --target-bpv / --target-sqnr");
    }
    let quiet = a.json;
    let t0 = Instant::now();
    let captured = calib.capture(net, images, a.batch, targets, quiet)?;
    let capture_secs = t0.elapsed().as_secs_f64();

    let eval_range = calib.eval_range.clone();
    let labels_eval = &labels[eval_range.clone()];
    let n = labels_eval.len();
    let correct = |p: &[usize]| p.iter().zip(labels_eval).filter(|(p, l)| **p as i64 == **l).count();
    let bar = Stages::new("sweep", quiet);
    let t0 = Instant::now();
    let base = net.run(images, eval_range.clone(), a.batch, &[], &mut |_, _, _| Ok(None), &bar, "uncompressed")?;
    let baseline_seconds = t0.elapsed().as_secs_f64();
    let cb = correct(&base);
    let baseline_top1 = 100.0 * cb as f64 / n as f64;

    let mut points = Vec::new();
    for &rate in &a.bpv {
        for method in METHODS {
            let tf = Instant::now();
            let Some(coders) = fit_coders(method, rate, a, &captured, targets, quiet)? else { continue };
            let fit_seconds = tf.elapsed().as_secs_f64();
            let refs: Vec<&dyn Coder> = coders.iter().map(|c| c.as_ref()).collect();
            let tr = Instant::now();
            let stage = format!("{method} at {rate} b/v");
            let (preds, totals, _) = compressed_pass(net, images, eval_range.clone(), a.batch, targets, &refs, &bar, &stage)?;
            let run_seconds = tr.elapsed().as_secs_f64();
            let cc = correct(&preds);
            let mut all = Totals::default();
            for t in &totals {
                all.values += t.values;
                all.payload_bits += t.payload_bits;
            }
            let p = SweepPoint {
                method: method.to_string(),
                target_bpv: rate,
                bpv: all.bpv(),
                top1: 100.0 * cc as f64 / n as f64,
                delta_points: 100.0 * (cc as f64 - cb as f64) / n as f64,
                predictions_changed: base.iter().zip(&preds).filter(|(x, y)| x != y).count(),
                tensors: targets
                    .iter()
                    .zip(&totals)
                    .map(|(t, tot)| TensorPoint { tensor: t.name.clone(), bpv: tot.bpv(), sqnr_db: tot.sqnr_db() })
                    .collect(),
                fit_seconds,
                run_seconds,
            };
            if !quiet {
                eprintln!(
                    "{method:<38} target {rate:>4} b/v: stored {:.3} b/v, top-1 {:.2}% ({:+.2} points), fit {fit_seconds:.1} s, run {run_seconds:.1} s",
                    p.bpv, p.top1, p.delta_points
                );
            }
            points.push(p);
        }
    }
    bar.finish();
    let sweep = Sweep {
        model: model_path.display().to_string(),
        images: images_path.display().to_string(),
        evaluated_images: n,
        calibrated_on: calib.description.clone(),
        tensors: targets.iter().map(|t| (t.name.clone(), dims_text(&t.shape))).collect(),
        baseline_top1,
        points,
        baseline_seconds,
    };
    let md = markdown(&sweep);
    if let Some(dir) = &a.output {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
        let j = dir.join("sweep.json");
        std::fs::write(&j, serde_json::to_string_pretty(&sweep)?).with_context(|| format!("{}: cannot write", j.display()))?;
        let m = dir.join("sweep.md");
        std::fs::write(&m, &md).with_context(|| format!("{}: cannot write", m.display()))?;
        plots::write_accuracy_sweep(&sweep, dir)?;
    }
    if a.json {
        let mut v = serde_json::to_value(&sweep)?;
        v["seconds"] = serde_json::json!({"load": load_secs, "capture": capture_secs, "baseline": baseline_seconds});
        println!("{v}");
    } else {
        print!("{md}");
        if let Some(dir) = &a.output {
            println!("wrote {0}/sweep.json, {0}/sweep.md, {0}/accuracy_vs_bpv.svg and .png", dir.display());
        }
    }
    Ok(())
}

/// The sweep as Markdown: a compact method x rate table, then every point in full.
pub fn markdown(s: &Sweep) -> String {
    let mut out = String::new();
    let tensors: Vec<String> = s.tensors.iter().map(|(n, sh)| format!("{n} ({sh})")).collect();
    out.push_str(&format!(
        "Model {}, {} evaluation images of {}; calibrated on {}.\nCompressed tensors: {}.\nUncompressed top-1: {:.2} %.\n\n",
        s.model,
        s.evaluated_images,
        s.images,
        s.calibrated_on,
        tensors.join(", "),
        s.baseline_top1
    ));
    let mut rates: Vec<f64> = s.points.iter().map(|p| p.target_bpv).collect();
    rates.dedup();
    out.push_str("Top-1 % (Δ points against uncompressed) by target bits/value:\n\n| method |");
    for r in &rates {
        out.push_str(&format!(" {r} |"));
    }
    out.push_str("\n| --- |");
    out.push_str(&" --- |".repeat(rates.len()));
    out.push('\n');
    for m in METHODS {
        if !s.points.iter().any(|p| p.method == m) {
            continue;
        }
        out.push_str(&format!("| {m} |"));
        for r in &rates {
            match s.points.iter().find(|p| p.method == m && p.target_bpv == *r) {
                Some(p) => out.push_str(&format!(" {:.2} ({:+.2}) |", p.top1, p.delta_points)),
                None => out.push_str(" — |"),
            }
        }
        out.push('\n');
    }
    out.push_str("\n| method | target b/v | stored b/v | top-1 % | Δ points | predictions changed | SQNR per tensor (dB) |\n| --- | --- | --- | --- | --- | --- | --- |\n");
    for p in &s.points {
        let sq: Vec<String> = p.tensors.iter().map(|t| format!("{} {:.2}", t.tensor, t.sqnr_db)).collect();
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.2} | {:+.2} | {} | {} |\n",
            p.method,
            p.target_bpv,
            p.bpv,
            p.top1,
            p.delta_points,
            p.predictions_changed,
            sq.join(", ")
        ));
    }
    out
}
