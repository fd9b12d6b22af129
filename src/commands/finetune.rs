//! `actcomp finetune`: trains the reference CNN with its feature maps compressed in the loop
//! (quantization-aware fine-tuning), so the network learns to live with the codec.
//!
//! 1. The network is rebuilt in candle from the ONNX initializers of `--model`, which must be
//!    the reference CNN written by `actcomp train-reference` (or by an earlier `finetune`).
//! 2. One policy per `--at` tensor is calibrated at `--target-bpv` on the calibration images
//!    by exactly the code `actcomp eval` calibrates with (capture through tract, then the
//!    golden calibration: transform, dynamic bit-width search, learned quantizers).
//! 3. Each epoch trains on the training images with every `--at` feature map replaced by the
//!    golden decompress(compress(x)) of each image (bit-exact, the same reconstruction as
//!    `eval`); the backward pass is straight-through ([`crate::ste`]).
//! 4. After each epoch (and with `--recalibrate-every N` also every N steps) the network is
//!    exported, its activations on the calibration images are captured again, and the
//!    calibration is re-run, so bit-widths (the dynamic search) and the quantizer steps/levels
//!    follow the new activations. They are re-learned at those points by the calibration's
//!    search; between two re-calibrations the policies are fixed, unless `--levels learned`:
//!    then the reconstruction levels also train by the task loss after every step
//!    ([`crate::level_learning`]), and the final policies are the learned ones.
//!    `--train head` trains only fc1 and fc2, so the compressed maps and their policies stay
//!    exactly as calibrated (docs/accuracy.md explains why the policies must keep up with the
//!    weights when every layer trains).
//! 5. The fine-tuned network is written as ONNX with the final policies, and the test split is
//!    evaluated uncompressed and compressed, for the original and the fine-tuned network.

use super::calibrate::{summary_line, CalibArgs};
use super::eval::{
    calibrate_each, compressed_pass, load_images, load_labels, resolve_targets, CalibSplit, Candidate, Coder, Images, Net,
    PolicyCoder, Totals,
};
use crate::onnx_export::{cnn_to_onnx, onnx_to_cnn, CnnWeights};
use crate::progress::Stages;
use crate::reference_cnn::{Cnn, Tap};
use crate::level_learning::{LevelGrads, LevelLearner};
use crate::ste::{compress_learning_levels, compress_straight_through};
use actcomp_golden::calibrate::CalibrateOptions;
use actcomp_golden::policy::Policy;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Arguments of `actcomp finetune`.
#[derive(clap::Args)]
pub struct Args {
    /// The network to fine-tune: an ONNX file written by `actcomp train-reference` (or `finetune`);
    /// its weights are read from the initializers.
    #[arg(long)]
    pub model: PathBuf,
    /// Training images (.npy N x 1 x 28 x 28 uint8 pixels or pixel/255 floats, or IDX, gzipped or not).
    #[arg(long)]
    pub images: PathBuf,
    /// Labels of the training images (.npy integers or IDX).
    #[arg(long)]
    pub labels: PathBuf,
    /// Calibration images (default: the training images).
    #[arg(long)]
    pub calib_images: Option<PathBuf>,
    /// Use at most the first N calibration images.
    #[arg(long, default_value_t = 1000)]
    pub calib_count: usize,
    /// Test images, evaluated at the end (uncompressed and compressed, original and fine-tuned network).
    #[arg(long)]
    pub test_images: PathBuf,
    /// Labels of the test images.
    #[arg(long)]
    pub test_labels: PathBuf,
    /// Feature maps compressed in the loop (ONNX tensor names, or `all-activations` for relu1, pool1, relu2, pool2).
    #[arg(long, value_delimiter = ',', default_value = "all-activations")]
    pub at: Vec<String>,
    #[command(flatten)]
    pub calib: CalibArgs,
    /// Which weights train: all, or only the classifier head (fc1, fc2), which leaves every
    /// compressed feature map, hence its calibrated policy, unchanged.
    #[arg(long, value_enum, default_value = "all")]
    pub train: TrainWhat,
    /// How the reconstruction levels change between re-calibrations: `calibrated` keeps the
    /// calibration's levels fixed; `learned` also trains them by the task loss after every step
    /// (gradient of the loss through the decoder, Adam with `--level-lr`), re-deriving the code
    /// tables by the nearest-level rule. The final policies are then the learned ones.
    #[arg(long, value_enum, default_value = "calibrated")]
    pub levels: LevelMode,
    /// Adam learning rate of the learned levels, in fine quantizer steps (65536 / qmul) per step.
    #[arg(long, default_value_t = 0.05)]
    pub level_lr: f64,
    /// Also re-calibrate every N training steps inside an epoch (0: only after each epoch).
    #[arg(long, default_value_t = 0)]
    pub recalibrate_every: usize,
    /// Passes over the training images.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Adam learning rate of the first epoch.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Factor applied to the learning rate after each epoch.
    #[arg(long, default_value_t = 0.5)]
    pub lr_decay: f64,
    /// Images per training step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Seed of the batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Train on only the first N training images (for a quick look).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Also evaluate the test split compressed after every epoch (one compressed pass each).
    #[arg(long)]
    pub eval_every_epoch: bool,
    /// Output folder: finetuned.onnx, policy_<tensor>.json per compressed tensor, finetune.json.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Print a machine-readable summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Which weights `finetune` trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainWhat {
    /// Every layer.
    All,
    /// fc1 and fc2 only (the convolutions, and so the compressed feature maps, stay as they are).
    Head,
    /// No weight: only the levels learn (`--levels learned`).
    None,
}

/// Whether `finetune` learns the policies' reconstruction levels by gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LevelMode {
    /// The levels of the latest calibration, fixed between re-calibrations.
    Calibrated,
    /// Levels trained by the task loss after every step, starting from each calibration.
    Learned,
}

/// Top-1 (%) and correct count of predictions against labels.
fn top1(preds: &[usize], labels: &[i64]) -> (f64, usize) {
    let c = preds.iter().zip(labels).filter(|(p, l)| **p as i64 == **l).count();
    (100.0 * c as f64 / labels.len().max(1) as f64, c)
}

/// Loads images and labels, checking counts and classes.
fn load_pair(images: &Path, labels: &Path, net: &Net, what: &str) -> Result<(Images, Vec<i64>)> {
    let im = load_images(images, net, &[], &[]).with_context(|| format!("{what} images"))?;
    let lb = load_labels(labels).with_context(|| format!("{what} labels"))?;
    ensure!(
        lb.len() == im.count,
        "{} holds {} labels but {} holds {} images",
        labels.display(),
        lb.len(),
        images.display(),
        im.count
    );
    if let Some((i, l)) = lb.iter().enumerate().find(|(_, &l)| l < 0 || l as usize >= net.classes) {
        bail!("{}: label {l} at index {i} is outside the model's {} classes", labels.display(), net.classes);
    }
    Ok((im, lb))
}

/// Calibrates one policy per target on the network in `model` (an ONNX file), as `eval` does.
fn calibrate_model(
    model: &Path,
    at: &[String],
    calib_images: &Images,
    calib_count: usize,
    opts: &CalibrateOptions,
    quiet: bool,
) -> Result<(Vec<Policy>, Vec<String>, Vec<f64>)> {
    let net = Net::load(model)?;
    let targets = resolve_targets(&net, at)?;
    let split = CalibSplit {
        images: None,
        range: 0..calib_count.min(calib_images.count),
        eval_range: 0..0,
        description: String::new(),
    };
    let cals = calibrate_each(&split, &net, calib_images, 100, &targets, opts, quiet)?;
    let lines = targets.iter().zip(&cals).map(|(t, c)| format!("{}: {}", t.name, summary_line(c))).collect();
    let sqnr = cals.iter().map(|c| c.calibration_distortion.sqnr_db).collect();
    Ok((cals.into_iter().map(|c| c.policy).collect(), lines, sqnr))
}

/// Top-1 predictions of `net` on the test split, uncompressed and with `policies` at `targets`.
fn test_pass(
    net: &Net,
    targets: &[Candidate],
    policies: &[Policy],
    test: &Images,
    quiet: bool,
    what: &str,
) -> Result<(Vec<usize>, Vec<usize>, Vec<Totals>)> {
    let bar = Stages::new("finetune", quiet);
    let base = net.run(test, 0..test.count, 100, &[], &mut |_, _, _| Ok(None), &bar, &format!("{what}: uncompressed test pass"))?;
    let coders: Vec<PolicyCoder> = policies.iter().map(|p| PolicyCoder::new(p.clone())).collect::<Result<_>>()?;
    let dyn_coders: Vec<&dyn Coder> = coders.iter().map(|c| c as &dyn Coder).collect();
    let (comp, totals, _) = compressed_pass(net, test, 0..test.count, 100, targets, &dyn_coders, &bar, &format!("{what}: compressed test pass"))?;
    bar.finish();
    Ok((base, comp, totals))
}

/// Writes the network as ONNX; returns the bytes' length.
fn write_onnx(path: &Path, w: &CnnWeights, meta: &[(String, String)]) -> Result<usize> {
    let bytes = cnn_to_onnx(w, meta)?;
    std::fs::write(path, &bytes).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(bytes.len())
}

/// Entry point of `actcomp finetune`.
pub fn run(a: Args) -> Result<()> {
    ensure!(a.epochs >= 1, "--epochs must be at least 1");
    ensure!(a.batch >= 1, "--batch must be at least 1");
    ensure!(a.lr.is_finite() && a.lr > 0.0, "--lr must be a positive number (got {})", a.lr);
    ensure!(a.lr_decay.is_finite() && a.lr_decay > 0.0, "--lr-decay must be a positive number (got {})", a.lr_decay);
    ensure!(a.calib_count >= 1, "--calib-count must be at least 1");
    ensure!(a.level_lr.is_finite() && a.level_lr > 0.0, "--level-lr must be a positive number (got {})", a.level_lr);
    let learn = a.levels == LevelMode::Learned;
    ensure!(learn || a.train != TrainWhat::None, "--train none trains nothing unless --levels learned");
    let opts = a.calib.options()?;
    let t_all = Instant::now();

    // the network: candle from the ONNX initializers, tract for calibration and evaluation
    let weights = onnx_to_cnn(&a.model)?;
    let (mean, std) = (weights.mean, weights.std);
    let net0 = Net::load(&a.model)?;
    let targets = resolve_targets(&net0, &a.at)?;
    let taps: Vec<Tap> = targets.iter().map(|t| Tap::from_name(&t.name)).collect::<Result<_>>()?;
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let dev = Device::Cpu;
    let cnn = Cnn::from_weights(&weights, &dev)?;

    let (train, train_labels) = load_pair(&a.images, &a.labels, &net0, "training")?;
    let (test, test_labels) = load_pair(&a.test_images, &a.test_labels, &net0, "test")?;
    let calib_owned;
    let calib_images: &Images = match &a.calib_images {
        Some(p) => {
            calib_owned = load_images(p, &net0, &[], &[]).context("calibration images")?;
            &calib_owned
        }
        None => &train,
    };
    let calib_n = a.calib_count.min(calib_images.count);
    let n_train = a.train_limit.unwrap_or(train.count).min(train.count);
    ensure!(n_train >= 1, "--train-limit must be at least 1");
    std::fs::create_dir_all(&a.output).with_context(|| format!("{}: cannot create folder", a.output.display()))?;
    let model_out = a.output.join("finetuned.onnx");
    if let (Ok(x), Ok(y)) = (a.model.canonicalize(), model_out.canonicalize()) {
        ensure!(x != y, "{}: -o would overwrite the input model; choose another folder", a.model.display());
    }

    // post-training calibration of the original network: the starting policies, and the reference
    let t0 = Instant::now();
    let (mut policies, first_lines, first_sqnr) = calibrate_model(&a.model, &a.at, calib_images, calib_n, &opts, a.json)?;
    let first_calib_secs = t0.elapsed().as_secs_f64();
    let post_training_policies = policies.clone();
    if !a.json {
        eprintln!("post-training calibration of {} on {calib_n} images ({first_calib_secs:.1} s):", a.model.display());
        for l in &first_lines {
            eprintln!("  {l}");
        }
    }

    let command = format!(
        "actcomp finetune --at {} --target-bpv {} --train {} --recalibrate-every {} --epochs {} --lr {} --lr-decay {} --batch {} --seed {} --calib-count {}{}{}",
        a.at.join(","),
        a.calib.target_bpv.map(|b| b.to_string()).unwrap_or_else(|| "(default 2.5)".into()),
        match a.train {
            TrainWhat::All => "all",
            TrainWhat::Head => "head",
            TrainWhat::None => "none",
        },
        a.recalibrate_every,
        a.epochs,
        a.lr,
        a.lr_decay,
        a.batch,
        a.seed,
        a.calib_count,
        a.train_limit.map(|n| format!(" --train-limit {n}")).unwrap_or_default(),
        if learn { format!(" --levels learned --level-lr {}", a.level_lr) } else { String::new() }
    );
    let mut rng = StdRng::seed_from_u64(a.seed);
    let vars = match a.train {
        TrainWhat::All => cnn.vars(),
        TrainWhat::Head => cnn.head_vars(),
        TrainWhat::None => vec![],
    };
    let mut opt = AdamW::new(vars, ParamsAdamW { lr: a.lr, weight_decay: 0.0, ..Default::default() })?;
    let mut order: Vec<usize> = (0..n_train).collect();
    let per = train.per_image();
    let mut epoch_log = Vec::new();
    // with --levels learned: the re-calibrated policies of the final network, for comparison
    let mut recalibrated_final: Option<Vec<Policy>> = None;
    for epoch in 1..=a.epochs {
        let t_epoch = Instant::now();
        let mut coders: Vec<PolicyCoder> = policies.iter().map(|p| PolicyCoder::new(p.clone())).collect::<Result<_>>()?;
        let mut learners: Vec<LevelLearner> = policies.iter().map(|p| LevelLearner::new(p, a.level_lr)).collect();
        let mut sinks: Vec<Arc<Mutex<LevelGrads>>> = policies.iter().map(|p| Arc::new(Mutex::new(LevelGrads::zeros(p)))).collect();
        let mut level_secs = 0.0;
        let mut recalibrations = 0usize;
        let mut totals = vec![Totals::default(); targets.len()];
        order.shuffle(&mut rng);
        let bar = Stages::new("finetune", a.json);
        let steps = n_train.div_ceil(a.batch);
        let (mut loss_sum, mut correct) = (0f64, 0usize);
        let mut codec_secs = 0.0;
        for (k, idx) in order.chunks(a.batch).enumerate() {
            let mut v = Vec::with_capacity(idx.len() * per);
            for &i in idx {
                v.extend(train.image(i).iter().map(|&p| (p - mean) / std));
            }
            let x = Tensor::from_vec(v, (idx.len(), 1, 28, 28), &dev)?;
            let y = Tensor::from_vec(idx.iter().map(|&i| train_labels[i] as u32).collect::<Vec<_>>(), idx.len(), &dev)?;
            let logits = cnn.forward_tapped(&x, &mut |tap, t| match taps.iter().position(|&p| p == tap) {
                Some(ti) => {
                    let tc = Instant::now();
                    let r = if learn {
                        compress_learning_levels(&t, &coders[ti], &names[ti], &mut totals[ti], &sinks[ti])
                    } else {
                        compress_straight_through(&t, &coders[ti], &names[ti], &mut totals[ti])
                    };
                    codec_secs += tc.elapsed().as_secs_f64();
                    r
                }
                None => Ok(t),
            })?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.backward_step(&loss)?;
            if learn {
                // the levels take their step; the codecs follow
                let tl = Instant::now();
                for ti in 0..coders.len() {
                    let g = std::mem::replace(&mut *sinks[ti].lock().map_err(|_| anyhow::anyhow!("level gradient store poisoned"))?, LevelGrads::zeros(&coders[ti].policy));
                    let mut p = coders[ti].policy.clone();
                    learners[ti].step(&mut p, &g).with_context(|| format!("tensor '{}'", names[ti]))?;
                    coders[ti] = PolicyCoder::new(p)?;
                }
                level_secs += tl.elapsed().as_secs_f64();
            }
            loss_sum += loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            let pred = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
            correct += pred.iter().zip(idx).filter(|(p, &i)| **p as i64 == train_labels[i]).count();
            bar.update(
                &format!("epoch {epoch}/{}: step {}/{steps}, loss {:.4}", a.epochs, k + 1, loss_sum / (k + 1) as f64),
                (k + 1) as f64 / steps as f64,
            );
            if a.recalibrate_every > 0 && (k + 1) % a.recalibrate_every == 0 && k + 1 < steps {
                // the policies follow the weights inside the epoch too
                write_onnx(&model_out, &cnn.export(mean, std)?, &[("command".into(), command.clone())])?;
                let (p, _, _) = calibrate_model(&model_out, &a.at, calib_images, calib_n, &opts, true)?;
                coders = p.iter().map(|p| PolicyCoder::new(p.clone())).collect::<Result<_>>()?;
                learners = p.iter().map(|p| LevelLearner::new(p, a.level_lr)).collect();
                sinks = p.iter().map(|p| Arc::new(Mutex::new(LevelGrads::zeros(p)))).collect();
                recalibrations += 1;
            }
        }
        bar.finish();
        let train_secs = t_epoch.elapsed().as_secs_f64();
        let mean_loss = loss_sum / steps as f64;
        let train_top1 = 100.0 * correct as f64 / n_train as f64;
        let train_sqnr: Vec<f64> = totals.iter().map(|t| t.sqnr_db()).collect();

        // export, then re-calibrate on the fine-tuned network's activations
        let meta: Vec<(String, String)> = vec![
            ("command".into(), command.clone()),
            ("finetuned_from".into(), a.model.display().to_string()),
            ("epochs_done".into(), epoch.to_string()),
            ("input".into(), format!("pixel/255; the graph normalizes with mean {mean} std {std}")),
        ];
        write_onnx(&model_out, &cnn.export(mean, std)?, &meta)?;
        let t_cal = Instant::now();
        let (new_policies, cal_lines, cal_sqnr) = calibrate_model(&model_out, &a.at, calib_images, calib_n, &opts, a.json)?;
        let calib_secs = t_cal.elapsed().as_secs_f64();
        // the policies this epoch ends with: re-calibrated, or with learned levels the learned ones
        let learned: Vec<Policy> = coders.iter().map(|c| c.policy.clone()).collect();
        let ended_with = if learn { &learned } else { &new_policies };
        let test_top1 = if a.eval_every_epoch {
            let net = Net::load(&model_out)?;
            let tg = resolve_targets(&net, &a.at)?;
            let (_, comp, _) = test_pass(&net, &tg, ended_with, &test, a.json, &format!("epoch {epoch}"))?;
            Some(top1(&comp, &test_labels).0)
        } else {
            None
        };
        if !a.json {
            eprintln!(
                "epoch {epoch}/{}: lr {:.2e}, mean loss {mean_loss:.4}, compressed training top-1 {train_top1:.2}%, training SQNR {} dB; {train_secs:.0} s (codec {codec_secs:.0} s, level steps {level_secs:.0} s), re-calibration {calib_secs:.1} s{}",
                a.epochs,
                opt.learning_rate(),
                train_sqnr.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join("/"),
                test_top1.map(|t| format!(", compressed test top-1 {t:.2}%")).unwrap_or_default()
            );
            for l in &cal_lines {
                eprintln!("  {}", l.lines().next().unwrap_or(""));
            }
        }
        epoch_log.push(serde_json::json!({
            "epoch": epoch, "lr": opt.learning_rate(), "loss": mean_loss, "compressed_train_top1": train_top1,
            "train_sqnr_db": train_sqnr, "calibration_sqnr_db": cal_sqnr,
            "payload_bpv": ended_with.iter().map(|p| p.payload_bpv()).collect::<Vec<_>>(),
            "compressed_test_top1": test_top1, "recalibrations_inside": recalibrations,
            "seconds": {"train": train_secs, "codec": codec_secs, "level_steps": level_secs, "calibration": calib_secs},
        }));
        if learn && epoch == a.epochs {
            policies = learned;
            recalibrated_final = Some(new_policies);
        } else {
            policies = new_policies;
        }
        opt.set_learning_rate(opt.learning_rate() * a.lr_decay);
    }
    let before_test_secs = t_all.elapsed().as_secs_f64();

    // final policies, then the test split: original and fine-tuned network, uncompressed and compressed
    let mut policy_files = Vec::new();
    for (name, p) in names.iter().zip(&policies) {
        let path = a.output.join(format!("policy_{name}.json"));
        p.save(&path)?;
        policy_files.push(path);
    }
    let t_test = Instant::now();
    let (orig_base, orig_comp, orig_tot) = test_pass(&net0, &targets, &post_training_policies, &test, a.json, "original")?;
    let net1 = Net::load(&model_out)?;
    let targets1 = resolve_targets(&net1, &a.at)?;
    let (ft_base, ft_comp, ft_tot) = test_pass(&net1, &targets1, &policies, &test, a.json, "fine-tuned")?;
    // with learned levels, the same network under a fresh calibration: what the learning adds
    let recal = match &recalibrated_final {
        Some(ps) => {
            let (_, comp, tot) = test_pass(&net1, &targets1, ps, &test, a.json, "fine-tuned, re-calibrated")?;
            Some((top1(&comp, &test_labels), tot))
        }
        None => None,
    };
    let test_secs = t_test.elapsed().as_secs_f64();
    let (ob, obc) = top1(&orig_base, &test_labels);
    let (oc, occ) = top1(&orig_comp, &test_labels);
    let (fb, fbc) = top1(&ft_base, &test_labels);
    let (fc, fcc) = top1(&ft_comp, &test_labels);
    let n_test = test.count;
    let bpv: Vec<f64> = policies.iter().map(|p| p.payload_bpv()).collect();
    let stored = |tot: &[Totals]| -> Vec<f64> { tot.iter().map(|t| t.bpv()).collect() };
    let sq = |tot: &[Totals]| -> Vec<f64> { tot.iter().map(|t| t.sqnr_db()).collect() };
    let summary = serde_json::json!({
        "model": a.model, "finetuned_model": model_out, "policies": policy_files, "tensors": names,
        "command": command, "train_images": n_train, "calibration_images": calib_n, "test_images": n_test,
        "epochs": epoch_log,
        "original": {"uncompressed_top1": ob, "uncompressed_correct": obc, "compressed_top1": oc, "compressed_correct": occ,
                     "delta_points": oc - ob, "calibration_sqnr_db": first_sqnr, "payload_bpv": post_training_policies.iter().map(|p| p.payload_bpv()).collect::<Vec<_>>(),
                     "stored_bpv": stored(&orig_tot), "sqnr_db": sq(&orig_tot)},
        "finetuned": {"uncompressed_top1": fb, "uncompressed_correct": fbc, "compressed_top1": fc, "compressed_correct": fcc,
                      "delta_points_vs_original_uncompressed": fc - ob, "delta_points_vs_own_uncompressed": fc - fb,
                      "payload_bpv": bpv, "stored_bpv": stored(&ft_tot), "sqnr_db": sq(&ft_tot),
                      "levels": if learn { "learned" } else { "calibrated" }},
        "finetuned_recalibrated": recal.as_ref().map(|((t, c), tot)| serde_json::json!({
            "compressed_top1": t, "compressed_correct": c, "delta_points_vs_original_uncompressed": t - ob, "sqnr_db": sq(tot)})),
        "seconds": {"first_calibration": first_calib_secs, "load_calibration_training": before_test_secs, "test_passes": test_secs},
    });
    let json_path = a.output.join("finetune.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&summary)?).with_context(|| format!("{}: cannot write", json_path.display()))?;
    if a.json {
        println!("{summary}");
        return Ok(());
    }
    println!("wrote {} and {} policies, summary {}", model_out.display(), policy_files.len(), json_path.display());
    println!("compressed: {} at {}", names.join(", "), bpv.iter().map(|b| format!("{b:.3}")).collect::<Vec<_>>().join(", "));
    println!("test split: {n_test} images of {}", a.test_images.display());
    println!("{:<44} {:>10} {:>22}", "network", "top-1 %", "Δ vs original uncompr.");
    println!("{:<44} {:>10.2} {:>22}", "original, uncompressed", ob, "");
    println!("{:<44} {:>10.2} {:>+22.2}", "original, post-training calibration", oc, oc - ob);
    println!("{:<44} {:>10.2} {:>+22.2}", "fine-tuned, uncompressed", fb, fb - ob);
    let final_what = if learn { "fine-tuned, compressed (learned levels)" } else { "fine-tuned, compressed (final policies)" };
    println!("{:<44} {:>10.2} {:>+22.2}", final_what, fc, fc - ob);
    if let Some(((t, _), _)) = &recal {
        println!("{:<44} {:>10.2} {:>+22.2}", "fine-tuned, compressed (re-calibrated)", t, t - ob);
    }
    println!(
        "SQNR on the test run (dB): post-training {}; fine-tuned {}",
        sq(&orig_tot).iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", "),
        sq(&ft_tot).iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "time: first calibration {first_calib_secs:.1} s, load + calibration + training {before_test_secs:.0} s, test passes {test_secs:.0} s"
    );
    Ok(())
}
