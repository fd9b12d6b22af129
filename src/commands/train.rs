//! `actcomp train-reference`: trains the small reference CNN (or, with `--arch residual`,
//! a small CNN with an identity skip connection) on the Fashion-MNIST (or MNIST) training
//! split with candle on the CPU, exports it as ONNX, loads the file back with tract and
//! checks that tract's logits equal candle's on test images, and reports train/test top-1.
//!
//! Reproducible: weights are initialised and batches shuffled from one seeded
//! `StdRng` (rand 0.8, ChaCha12), so the same `--seed`, `--epochs` and data give
//! the same network (up to float summation order, which depends on the thread
//! count of the matrix kernels).

use super::eval::Net;
use crate::idx::read_idx_u8;
use crate::onnx_export::{cnn_to_onnx, residual_to_onnx};
use crate::reference_cnn::Cnn;
use crate::residual_cnn::ResidualCnn;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `actcomp train-reference`.
#[derive(clap::Args)]
pub struct Args {
    /// Folder with train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz),
    /// t10k-images-idx3-ubyte(.gz), t10k-labels-idx1-ubyte(.gz)
    /// (Debian package dataset-fashion-mnist installs them here).
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    pub dataset: PathBuf,
    /// Output ONNX file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Seed of weight initialisation and batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Passes over the training split.
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    /// Images per training step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Adam learning rate of the first epoch (see --lr-decay).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Factor applied to the learning rate after each epoch.
    #[arg(long, default_value_t = 0.5)]
    pub lr_decay: f64,
    /// Network: `reference` (conv-relu-pool x2, fc-relu-fc; fashion_cnn.onnx) or `residual`
    /// (conv-relu-pool, a residual block [conv-relu-conv] + identity skip, relu-pool, fc;
    /// fashion_resnet.onnx).
    #[arg(long, value_enum, default_value_t = Arch::Reference)]
    pub arch: Arch,
    /// Channels: of conv1 and conv2 for `reference` (default 16,32); one number, the width of
    /// every convolution, for `residual` (default 16).
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<usize>,
    /// Width of the hidden fully-connected layer (`reference` only; default 128).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Train on only the first N training images (for a quick look; the reference uses all).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Print a machine-readable summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Which network `train-reference` trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// The reference CNN (src/reference_cnn.rs).
    Reference,
    /// The small residual CNN (src/residual_cnn.rs).
    Residual,
}

/// The network being trained, of either architecture.
enum Network {
    Reference(Cnn),
    Residual(ResidualCnn),
}

impl Network {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Network::Reference(n) => n.forward(x),
            Network::Residual(n) => n.forward(x),
        }
    }

    fn vars(&self) -> Vec<Var> {
        match self {
            Network::Reference(n) => n.vars(),
            Network::Residual(n) => n.vars(),
        }
    }

    /// The encoded ONNX model (input normalization by `mean`, `std` inside the graph).
    fn to_onnx(&self, mean: f32, std: f32, meta: &[(String, String)]) -> Result<Vec<u8>> {
        match self {
            Network::Reference(n) => cnn_to_onnx(&n.export(mean, std)?, meta),
            Network::Residual(n) => residual_to_onnx(&n.export(mean, std)?, meta),
        }
    }
}

/// A labelled image split as uint8 pixels.
struct Split {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    count: usize,
}

/// Finds `stem` or `stem.gz` in the dataset folder.
fn dataset_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    for p in [dir.join(format!("{stem}.gz")), dir.join(stem)] {
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "{}: no {stem}(.gz) (install the Debian package dataset-fashion-mnist, or give --dataset a folder with the four IDX files)",
        dir.display()
    )
}

fn load_split(dir: &Path, prefix: &str) -> Result<Split> {
    let ip = dataset_file(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lp = dataset_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx_u8(&ip)?;
    let labels = read_idx_u8(&lp)?;
    ensure!(images.shape.len() == 3 && images.shape[1..] == [28, 28], "{}: images have shape {:?}; need N x 28 x 28", ip.display(), images.shape);
    ensure!(labels.shape.len() == 1, "{}: labels have shape {:?}; need N", lp.display(), labels.shape);
    ensure!(
        labels.shape[0] == images.shape[0],
        "{} holds {} labels but {} holds {} images",
        lp.display(),
        labels.shape[0],
        ip.display(),
        images.shape[0]
    );
    if let Some(l) = labels.data.iter().find(|&&l| l >= 10) {
        bail!("{}: label {l} is outside 0..9", lp.display());
    }
    Ok(Split { count: images.shape[0], pixels: images.data, labels: labels.data })
}

/// Images `idx` of a split as a normalized N x 1 x 28 x 28 tensor.
fn batch_tensor(s: &Split, idx: &[usize], mean: f32, std: f32, dev: &Device) -> Result<Tensor> {
    let mut v = Vec::with_capacity(idx.len() * 784);
    for &i in idx {
        v.extend(s.pixels[i * 784..(i + 1) * 784].iter().map(|&p| (p as f32 / 255.0 - mean) / std));
    }
    Ok(Tensor::from_vec(v, (idx.len(), 1, 28, 28), dev)?)
}

/// Top-1 accuracy (%) of the candle network on a whole split.
fn accuracy(p: &Network, s: &Split, mean: f32, std: f32, dev: &Device) -> Result<f64> {
    let mut correct = 0usize;
    for start in (0..s.count).step_by(500) {
        let idx: Vec<usize> = (start..(start + 500).min(s.count)).collect();
        let pred = p.forward(&batch_tensor(s, &idx, mean, std, dev)?)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
        correct += pred.iter().zip(&idx).filter(|(&p, &i)| p as u8 == s.labels[i]).count();
    }
    Ok(100.0 * correct as f64 / s.count as f64)
}

/// Entry point of `actcomp train-reference`.
pub fn run(a: Args) -> Result<()> {
    let channels = match (a.arch, a.channels.len()) {
        (_, 0) if a.arch == Arch::Reference => vec![16, 32],
        (_, 0) => vec![16],
        (Arch::Reference, 2) | (Arch::Residual, 1) => a.channels.clone(),
        (Arch::Reference, n) => bail!("--channels takes two numbers (conv1,conv2) for --arch reference, got {n}"),
        (Arch::Residual, n) => bail!("--channels takes one number for --arch residual (the identity skip needs every convolution equally wide), got {n}"),
    };
    if a.arch == Arch::Residual && a.hidden.is_some() {
        bail!("--hidden is for --arch reference; the residual network has no hidden fully-connected layer");
    }
    let hidden = a.hidden.unwrap_or(128);
    ensure!(channels.iter().all(|&c| c > 0) && hidden > 0, "--channels and --hidden must be positive");
    ensure!(a.epochs > 0 && a.batch > 0, "--epochs and --batch must be at least 1");
    let t_all = Instant::now();
    let train = load_split(&a.dataset, "train")?;
    let test = load_split(&a.dataset, "t10k")?;
    let n_train = a.train_limit.unwrap_or(train.count).min(train.count);
    ensure!(n_train > 0, "--train-limit must be at least 1");
    // normalization constants from the training images used, rounded to 4 digits
    let sum: f64 = train.pixels[..n_train * 784].iter().map(|&p| p as f64 / 255.0).sum();
    let n_px = (n_train * 784) as f64;
    let mean_f = sum / n_px;
    let var: f64 = train.pixels[..n_train * 784].iter().map(|&p| (p as f64 / 255.0 - mean_f).powi(2)).sum::<f64>() / n_px;
    let mean = ((mean_f * 1e4).round() / 1e4) as f32;
    let std = ((var.sqrt() * 1e4).round() / 1e4) as f32;

    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let params = match a.arch {
        Arch::Reference => Network::Reference(Cnn::new(&mut rng, channels[0], channels[1], hidden, 10, &dev)?),
        Arch::Residual => Network::Residual(ResidualCnn::new(&mut rng, channels[0], 10, &dev)?),
    };
    let mut opt = AdamW::new(params.vars(), ParamsAdamW { lr: a.lr, weight_decay: 0.0, ..Default::default() })?;
    let mut order: Vec<usize> = (0..n_train).collect();
    let mut epoch_log = Vec::new();
    for epoch in 0..a.epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut steps) = (0f64, 0usize);
        for (k, idx) in order.chunks(a.batch).enumerate() {
            let x = batch_tensor(&train, idx, mean, std, &dev)?;
            let y = Tensor::from_vec(idx.iter().map(|&i| train.labels[i] as u32).collect::<Vec<_>>(), idx.len(), &dev)?;
            let loss = candle_nn::loss::cross_entropy(&params.forward(&x)?, &y)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            steps += 1;
            if !a.json && k % 200 == 0 {
                eprint!("\repoch {}/{}: step {k}/{} loss {:.4}   ", epoch + 1, a.epochs, n_train.div_ceil(a.batch), loss_sum / steps as f64);
            }
        }
        let test_acc = accuracy(&params, &test, mean, std, &dev)?;
        let secs = t0.elapsed().as_secs_f64();
        if !a.json {
            eprintln!(
                "\repoch {}/{}: mean training loss {:.4}, lr {:.2e}, test top-1 {test_acc:.2}%, {secs:.1} s",
                epoch + 1,
                a.epochs,
                loss_sum / steps as f64,
                opt.learning_rate()
            );
        }
        epoch_log.push(serde_json::json!({"epoch": epoch + 1, "loss": loss_sum / steps as f64, "lr": opt.learning_rate(), "test_top1": test_acc, "seconds": secs}));
        opt.set_learning_rate(opt.learning_rate() * a.lr_decay);
    }
    let train_acc = accuracy(&params, &Split { pixels: train.pixels[..n_train * 784].to_vec(), labels: train.labels[..n_train].to_vec(), count: n_train }, mean, std, &dev)?;
    let test_acc = accuracy(&params, &test, mean, std, &dev)?;
    let train_secs = t_all.elapsed().as_secs_f64();

    // export, load back with tract, compare logits on the first 1000 test images
    let limit = a.train_limit.map(|n| format!(" --train-limit {n}")).unwrap_or_default();
    let command = match a.arch {
        Arch::Reference => format!("actcomp train-reference --seed {} --epochs {} --batch {} --lr {} --lr-decay {} --channels {},{} --hidden {hidden}{limit}", a.seed, a.epochs, a.batch, a.lr, a.lr_decay, channels[0], channels[1]),
        Arch::Residual => format!("actcomp train-reference --arch residual --seed {} --epochs {} --batch {} --lr {} --lr-decay {} --channels {}{limit}", a.seed, a.epochs, a.batch, a.lr, a.lr_decay, channels[0]),
    };
    let meta: Vec<(String, String)> = [
        ("command", command),
        ("train_images", n_train.to_string()),
        ("train_top1", format!("{train_acc:.2}")),
        ("test_top1", format!("{test_acc:.2}")),
        ("input", format!("pixel/255; the graph normalizes with mean {mean} std {std}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let bytes = params.to_onnx(mean, std, &meta)?;
    if let Some(dir) = a.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
    }
    std::fs::write(&a.output, &bytes).with_context(|| format!("{}: cannot write", a.output.display()))?;
    let net = Net::load(&a.output).context("loading the exported model back with tract")?;
    let check: Vec<usize> = (0..test.count.min(1000)).collect();
    let raw: Vec<f32> = check.iter().flat_map(|&i| test.pixels[i * 784..(i + 1) * 784].iter().map(|&p| p as f32 / 255.0)).collect();
    let tract_logits = net.logits(&raw, check.len())?;
    let candle_logits = params.forward(&batch_tensor(&test, &check, mean, std, &dev)?)?.flatten_all()?.to_vec1::<f32>()?;
    ensure!(tract_logits.len() == candle_logits.len(), "tract gives {} logits, candle {}", tract_logits.len(), candle_logits.len());
    let max_diff = tract_logits.iter().zip(&candle_logits).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let argmax = |v: &[f32]| -> Vec<usize> {
        v.chunks(10).map(|r| r.iter().enumerate().fold(0, |b, (k, &x)| if x > r[b] { k } else { b })).collect()
    };
    let same_top1 = argmax(&tract_logits).iter().zip(argmax(&candle_logits)).filter(|(a, b)| **a == *b).count();
    ensure!(
        max_diff < 1e-3,
        "{}: tract's logits differ from candle's by up to {max_diff} on the test images; the export is wrong",
        a.output.display()
    );
    let sha = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(&bytes))
    };
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "model": a.output, "arch": format!("{:?}", a.arch).to_lowercase(), "bytes": bytes.len(), "sha256": sha, "seed": a.seed, "epochs": a.epochs,
                "train_images": n_train, "train_top1": train_acc, "test_top1": test_acc, "mean": mean, "std": std,
                "epochs_log": epoch_log, "seconds": train_secs,
                "tract_check": {"images": check.len(), "max_abs_logit_diff": max_diff, "same_top1": same_top1},
            })
        );
    } else {
        println!("wrote {} ({} bytes, sha256 {sha})", a.output.display(), bytes.len());
        println!("normalization (in the graph): mean {mean}, std {std} on pixel/255");
        println!("top-1: train {train_acc:.2}% ({n_train} images), test {test_acc:.2}% ({} images)", test.count);
        println!("tract check on {} test images: max |logit difference| {max_diff:.2e}, same top-1 on {same_top1}", check.len());
        println!("time: {train_secs:.1} s");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ONNX export of a freshly initialised network, loaded back by tract, computes the
    /// same logits as candle (what `train-reference` checks after training, without the data set).
    #[test]
    fn exported_onnx_matches_candle() {
        let dev = Device::Cpu;
        let mut rng = StdRng::seed_from_u64(7);
        let p = Cnn::new(&mut rng, 4, 8, 16, 10, &dev).unwrap();
        let (mean, std) = (0.25f32, 0.5f32);
        let bytes = cnn_to_onnx(&p.export(mean, std).unwrap(), &[("k".into(), "v".into())]).unwrap();
        tract_matches_candle(&bytes, "plain", (mean, std), &|x| p.forward(x).unwrap());
    }

    /// Loads ONNX `bytes` with tract, runs 3 fixed images through it and through the candle
    /// `forward` (on normalized inputs), and checks the logits agree; returns the tract net.
    fn tract_matches_candle(bytes: &[u8], tag: &str, (mean, std): (f32, f32), forward: &dyn Fn(&Tensor) -> Tensor) -> Net {
        let path = std::env::temp_dir().join(format!("actcomp-export-{tag}-{}.onnx", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let net = Net::load(&path).unwrap();
        std::fs::remove_file(&path).ok();
        let raw: Vec<f32> = (0..3 * 784).map(|i| ((i * 37) % 256) as f32 / 255.0).collect();
        let tract = net.logits(&raw, 3).unwrap();
        let norm: Vec<f32> = raw.iter().map(|x| (x - mean) / std).collect();
        let candle = forward(&Tensor::from_vec(norm, (3, 1, 28, 28), &Device::Cpu).unwrap()).flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(tract.len(), 30);
        let diff = tract.iter().zip(&candle).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-4, "tract and candle logits differ by {diff}");
        assert!(candle.iter().any(|&x| x.abs() > 1e-3), "degenerate logits");
        net
    }

    /// The same for the residual network: tract runs the exported graph (its Add joins the
    /// skip and the branch) to candle's logits, and the skip tensor `pool1` is a feature map.
    #[test]
    fn exported_residual_onnx_matches_candle() {
        let dev = Device::Cpu;
        let mut rng = StdRng::seed_from_u64(8);
        let p = ResidualCnn::new(&mut rng, 4, 10, &dev).unwrap();
        let (mean, std) = (0.25f32, 0.5f32);
        let bytes = residual_to_onnx(&p.export(mean, std).unwrap(), &[]).unwrap();
        let net = tract_matches_candle(&bytes, "residual", (mean, std), &|x| p.forward(x).unwrap());
        let maps: Vec<&str> = net.feature_maps().iter().map(|c| c.name.as_str()).collect();
        assert!(maps.contains(&"pool1") && maps.contains(&"block_add"), "{maps:?}");
    }
}
