//! `actcomp report`: measure a policy on activations, against every baseline
//! and the Gaussian rate–distortion bound; write report.json and plots.

use super::calibrate::{load_tensors, run_calibration};
use super::codec::{compress_tensor, decompress_container};
use crate::plots;
use actcomp_golden::baselines::{per_component, per_tensor_uniform, Allocation, BaselineResult};
use actcomp_golden::calibrate::{CalibrateOptions, Partition, SearchStep, Target};
use actcomp_golden::container::header_bytes;
use actcomp_golden::metrics::{channel_eigenvalues, distortion, rd_bound_bits, rd_bound_mse, Distortion};
use actcomp_golden::policy::{Policy, TransformKind};
use actcomp_golden::quant_learn::QuantStyle;
use actcomp_golden::tensor::Tensor;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Arguments of `actcomp report`.
#[derive(clap::Args)]
pub struct Args {
    /// Policy JSON.
    #[arg(long)]
    pub policy: PathBuf,
    /// Activation tensor to measure on (.npy).
    #[arg(long)]
    pub activations: PathBuf,
    /// Calibration tensors for the baselines and the rate–distortion sweep
    /// (default: the measured tensor itself, an optimistic fit for them).
    #[arg(long, num_args = 1..)]
    pub calib: Vec<PathBuf>,
    /// Rates (bits/value) of the rate–distortion sweep.
    #[arg(long, value_delimiter = ',', default_value = "1,1.5,2,2.5,3,4")]
    pub rates: Vec<f64>,
    /// Output folder for report.json and plots.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Print the report JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One method measured at one rate, with its distance to the bound.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// Method name.
    pub method: String,
    /// Bits per value (payload for ours; code bits for baselines).
    pub bpv: f64,
    /// SQNR in dB.
    pub sqnr_db: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Gaussian R(D) bound at this MSE, bits per value.
    pub bound_bpv: f64,
    /// bpv − bound.
    pub gap_bpv: f64,
    /// Full distortion figures.
    pub distortion: Distortion,
}

/// Ours measured through the real container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    /// Values in the tensor.
    pub values: usize,
    /// Payload bits per value (side info and padding included).
    pub payload_bpv: f64,
    /// Container header bytes.
    pub header_bytes: usize,
    /// Header bits per value.
    pub header_bpv: f64,
    /// Whole-file bits per value.
    pub file_bpv: f64,
    /// Side information bits per value.
    pub side_bpv: f64,
    /// Distortion and bound.
    pub point: Point,
}

/// Group layout of a block for plots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Components in the group.
    pub size: usize,
    /// Bit-width.
    pub bits: u32,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Policy file.
    pub policy: String,
    /// Policy fingerprint.
    pub fingerprint: String,
    /// Tensor measured.
    pub activations: String,
    /// Tensor shape.
    pub shape: Vec<usize>,
    /// What the baselines and sweep were fitted on.
    pub fitted_on: Vec<String>,
    /// Ours, measured.
    pub ours: Measured,
    /// Baselines at the policy's rate.
    pub baselines: Vec<Point>,
    /// Ablations at the policy's rate (what each idea buys).
    pub ablations: Vec<Point>,
    /// Rate–distortion sweep: every method at every rate.
    pub sweep: Vec<Point>,
    /// The bound's SQNR at each sweep rate.
    pub bound_curve: Vec<(f64, f64)>,
    /// Channel covariance eigenvalues of the measured tensor (descending).
    pub eigenvalues: Vec<f64>,
    /// Block 0's static ranking, group sizes and bits.
    pub groups: Vec<GroupInfo>,
    /// Per-component variance of block 0 in ranking order (code units²), when known.
    pub search: Vec<SearchStep>,
}

fn point(method: &str, bpv: f64, d: Distortion, eig: &[f64]) -> Point {
    let bound = rd_bound_bits(eig, d.mse);
    Point { method: method.into(), bpv, sqnr_db: d.sqnr_db, mse: d.mse, bound_bpv: bound, gap_bpv: bpv - bound, distortion: d }
}

fn from_baseline(b: BaselineResult, eig: &[f64]) -> Point {
    point(&b.method, b.bpv, b.distortion, eig)
}

/// Measures a policy on a tensor through compress → container → decompress.
pub fn measure(policy: &Policy, t: &Tensor, name: &str, eig: &[f64], method: &str) -> Result<Measured> {
    let c = compress_tensor(policy, t, name)?;
    let bytes = c.to_bytes();
    let back = actcomp_golden::container::Container::from_bytes(&bytes, name)?;
    let rec = decompress_container(policy, &back, name)?;
    let d = distortion(&t.to_f64(), &rec.to_f64());
    let values = t.len();
    let payload_bpv = (c.words.len() as f64 * c.word_bits as f64) / values as f64;
    let hb = header_bytes(t.shape.len());
    let tiles = t.vectors().div_ceil(policy.tile) as f64;
    Ok(Measured {
        values,
        payload_bpv,
        header_bytes: hb,
        header_bpv: hb as f64 * 8.0 / values as f64,
        file_bpv: bytes.len() as f64 * 8.0 / values as f64,
        side_bpv: policy.side_bits_per_tile() as f64 * tiles / values as f64,
        point: point(method, payload_bpv, d, eig),
    })
}

/// Options a policy was calibrated with (from its record), else defaults matching it.
pub fn policy_options(p: &Policy) -> CalibrateOptions {
    if let Some(o) = p.calibration.as_ref().and_then(|c| c.get("options")).and_then(|o| serde_json::from_value(o.clone()).ok()) {
        return o;
    }
    CalibrateOptions {
        transform: p.transform,
        block_size: Some(p.block_size),
        groups: p.blocks[0].groups.len(),
        grouping: p.grouping,
        tile: p.tile,
        word_bits: p.word_bits,
        ..CalibrateOptions::default()
    }
}

/// Builds the full report for `policy` on `eval`, fitting references on `calib`.
pub fn build_report(
    policy: &Policy,
    policy_name: &str,
    eval: &Tensor,
    eval_name: &str,
    calib: &[Tensor],
    calib_names: &[String],
    rates: &[f64],
    quiet: bool,
) -> Result<Report> {
    let eig = channel_eigenvalues(&eval.to_f64(), &eval.shape);
    let ours = measure(policy, eval, eval_name, &eig, "ours (policy)")?;
    let refs: Vec<&Tensor> = calib.iter().collect();
    let rate = ours.payload_bpv;
    let baselines_at = |r: f64| -> Result<Vec<Point>> {
        Ok(vec![
            from_baseline(per_component(&refs, eval, TransformKind::Pca, Allocation::Greedy, r, "straightforward PCA + greedy bits")?, &eig),
            from_baseline(per_component(&refs, eval, TransformKind::Identity, Allocation::Greedy, r, "per-channel mixed precision")?, &eig),
            from_baseline(per_component(&refs, eval, TransformKind::Pca, Allocation::KeepTop, r, "PCA + uniform bits on kept")?, &eig),
        ])
    };
    let mut baselines = baselines_at(rate)?;
    for bits in [8, 4, 2] {
        baselines.push(from_baseline(per_tensor_uniform(&refs, eval, bits)?, &eig));
    }
    // ablations and the sweep keep the policy's own transform and grouping
    let base_opts = CalibrateOptions {
        transform: policy.transform,
        grouping: policy.grouping,
        tile: policy.tile,
        try_transforms: vec![],
        try_groupings: vec![],
        try_tiles: vec![],
        try_groups: vec![],
        ..policy_options(policy)
    };
    let ours_at = |opts: &CalibrateOptions, label: &str| -> Result<Point> {
        let cal = run_calibration(calib, opts, quiet)?;
        Ok(measure(&cal.policy, eval, eval_name, &eig, label)?.point)
    };
    let target = Target::BitsPerValue(policy.payload_bpv());
    let mut ablations = Vec::new();
    for (style, name) in [(QuantStyle::Uniform, "uniform"), (QuantStyle::Centroid, "centroid levels"), (QuantStyle::Lloyd, "Lloyd levels")] {
        for (part, pname) in [(Partition::Equal, "equal groups"), (Partition::Optimal, "optimal groups")] {
            let o = CalibrateOptions { target, style, partition: part, ..base_opts.clone() };
            ablations.push(ours_at(&o, &format!("ours: {name}, {pname}"))?);
        }
    }
    let o = CalibrateOptions { target, learn_inverse_mean: false, ..base_opts.clone() };
    ablations.push(ours_at(&o, "ours without the learned inverse mean")?);
    let mut sweep = Vec::new();
    let mut bound_curve = Vec::new();
    let signal: f64 = eval.to_f64().iter().map(|x| x * x).sum::<f64>() / eval.len() as f64;
    for &r in rates {
        let o = CalibrateOptions { target: Target::BitsPerValue(r), ..base_opts.clone() };
        sweep.push(ours_at(&o, "ours")?);
        sweep.extend(baselines_at(r)?);
        bound_curve.push((r, 10.0 * (signal / rd_bound_mse(&eig, r)).log10()));
    }
    for bits in 1..=8 {
        sweep.push(from_baseline(per_tensor_uniform(&refs, eval, bits)?, &eig));
    }
    let search: Vec<SearchStep> = policy
        .calibration
        .as_ref()
        .and_then(|c| c.get("trajectory"))
        .and_then(|t| serde_json::from_value(t.clone()).ok())
        .unwrap_or_default();
    Ok(Report {
        policy: policy_name.into(),
        fingerprint: format!("{:016x}", policy.fingerprint()),
        activations: eval_name.into(),
        shape: eval.shape.clone(),
        fitted_on: calib_names.to_vec(),
        ours,
        baselines,
        ablations,
        sweep,
        bound_curve,
        eigenvalues: eig,
        groups: policy.blocks[0].groups.iter().map(|g| GroupInfo { size: g.size, bits: g.bits }).collect(),
        search,
    })
}

/// Human-readable table of a report.
pub fn print_table(r: &Report) {
    let o = &r.ours;
    println!(
        "ours: {:.4} payload bits/value (+{:.4} header = {:.4} file; side info {:.4}), SQNR {:.2} dB, bound {:.3} bpv at this MSE, gap {:.3} bpv",
        o.payload_bpv, o.header_bpv, o.file_bpv, o.side_bpv, o.point.sqnr_db, o.point.bound_bpv, o.point.gap_bpv
    );
    println!("{:<44} {:>8} {:>10} {:>10} {:>8}", "method", "bpv", "SQNR dB", "bound bpv", "gap");
    for p in std::iter::once(&o.point).chain(&r.baselines).chain(&r.ablations) {
        println!("{:<44} {:>8.3} {:>10.2} {:>10.3} {:>8.3}", p.method, p.bpv, p.sqnr_db, p.bound_bpv, p.gap_bpv);
    }
}

/// Writes report.json and the plots into `dir`.
pub fn write_report(r: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(r)?).with_context(|| format!("writing {}", path.display()))?;
    let mut files = vec![path];
    files.extend(plots::write_all(r, dir)?);
    Ok(files)
}

/// Entry point of `actcomp report`.
pub fn run(a: Args) -> Result<()> {
    let policy = Policy::load(&a.policy)?;
    let eval = Tensor::load_npy(&a.activations)?;
    let (calib, names) = if a.calib.is_empty() {
        (vec![eval.clone()], vec![a.activations.display().to_string()])
    } else {
        (load_tensors(&a.calib)?, a.calib.iter().map(|p| p.display().to_string()).collect())
    };
    let r = build_report(
        &policy,
        &a.policy.display().to_string(),
        &eval,
        &a.activations.display().to_string(),
        &calib,
        &names,
        &a.rates,
        a.json,
    )?;
    let files = write_report(&r, &a.output)?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        print_table(&r);
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}
