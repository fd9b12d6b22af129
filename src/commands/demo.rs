//! `actcomp demo`: the whole job on the built-in real activation fixture —
//! calibrate at 2.5 bits/value on one set of images, compress and decompress
//! the activations of other images, report against baselines and the bound.

use super::calibrate::{hardware_note, run_calibration, summary_line, BlockArg, CalibArgs};
use actcomp_golden::calibrate::default_block;
use super::codec::{compress_tensor, decompress_container};
use super::report::{build_report, print_table, write_report};
use actcomp_golden::container::Container;
use actcomp_golden::tensor::Tensor;
use anyhow::{Context, Result};
use clap::ValueEnum;
use std::path::PathBuf;

/// Built-in fixtures: post-ReLU activations of the ccexam MNIST CNN
/// (see fixtures/README.md): (calibration images, held-out images).
const CONV1: (&[u8], &[u8]) = (
    include_bytes!("../../fixtures/activations/mnist_conv1_relu_calib.npy"),
    include_bytes!("../../fixtures/activations/mnist_conv1_relu_test.npy"),
);
const CONV2: (&[u8], &[u8]) = (
    include_bytes!("../../fixtures/activations/mnist_conv2_relu_calib.npy"),
    include_bytes!("../../fixtures/activations/mnist_conv2_relu_test.npy"),
);

/// Which fixture layer the demo runs on.
#[derive(Clone, Copy, ValueEnum)]
pub enum Layer {
    /// conv1 + ReLU: 32 channels, 28x28.
    Conv1,
    /// conv2 + ReLU: 64 channels, 14x14.
    Conv2,
}

/// Arguments of `actcomp demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Fixture layer.
    #[arg(long, value_enum, default_value = "conv2")]
    pub layer: Layer,
    #[command(flatten)]
    pub calib: CalibArgs,
    /// Output folder (policy, .acz, decompressed .npy, report, plots).
    #[arg(short, long, default_value = "demo-out")]
    pub output: PathBuf,
    /// Rates of the rate–distortion sweep.
    #[arg(long, value_delimiter = ',', default_value = "1,1.5,2,2.5,3,4")]
    pub rates: Vec<f64>,
    /// Print the report JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Entry point of `actcomp demo`.
pub fn run(a: Args) -> Result<()> {
    let (calib_bytes, test_bytes, name) = match a.layer {
        Layer::Conv1 => (CONV1.0, CONV1.1, "mnist_conv1_relu"),
        Layer::Conv2 => (CONV2.0, CONV2.1, "mnist_conv2_relu"),
    };
    let calib = Tensor::from_npy_bytes(calib_bytes, &format!("{name}_calib.npy"))?;
    let test = Tensor::from_npy_bytes(test_bytes, &format!("{name}_test.npy"))?;
    let dir = &a.output;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let say = |s: String| {
        if !a.json {
            println!("{s}");
        }
    };
    say(format!(
        "actcomp demo: {name} activations of the ccexam MNIST CNN; calibrate on {:?}, compress held-out {:?}",
        calib.shape, test.shape
    ));
    let calib_args = a.calib.clone();
    if calib_args.block == BlockArg::Hardware {
        let c = calib.shape.get(1).copied().unwrap_or(1);
        let b = default_block(c, &actcomp_hdl::compressor::HW_DEFAULT_BLOCK_SIZES);
        if actcomp_hdl::compressor::HW_DEFAULT_BLOCK_SIZES.contains(&b) {
            say(format!(
                "block B = {b}: the default hardware block (actcomp verilog / sim take this policy); --block 32 / 64 / all for larger blocks (they build too, at several times the area)"
            ));
        }
    }
    let opts = calib_args.options()?;
    let cal = run_calibration(std::slice::from_ref(&calib), &opts, a.json)?;
    let policy_path = dir.join("policy.json");
    cal.policy.save(&policy_path)?;
    say(summary_line(&cal));
    if let Some(n) = hardware_note(&cal.policy) {
        say(n);
    }
    let c = compress_tensor(&cal.policy, &test, "held-out tensor")?;
    let acz = dir.join(format!("{name}_test.acz"));
    let bytes = c.to_bytes();
    std::fs::write(&acz, &bytes).with_context(|| format!("writing {}", acz.display()))?;
    let back = Container::from_bytes(&std::fs::read(&acz)?, &acz.display().to_string())?;
    let rec = decompress_container(&cal.policy, &back, &acz.display().to_string())?;
    let out_npy = dir.join(format!("{name}_test_hat.npy"));
    rec.save_npy(&out_npy)?;
    say(format!(
        "compressed {} values into {} bytes ({:.4} bits/value with the header) -> {}; decompressed -> {}",
        test.len(),
        bytes.len(),
        bytes.len() as f64 * 8.0 / test.len() as f64,
        acz.display(),
        out_npy.display()
    ));
    let report = build_report(
        &cal.policy,
        &policy_path.display().to_string(),
        &test,
        &format!("{name}_test.npy"),
        std::slice::from_ref(&calib),
        &[format!("{name}_calib.npy")],
        &a.rates,
        a.json,
    )?;
    let files = write_report(&report, &dir.join("report"))?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}
