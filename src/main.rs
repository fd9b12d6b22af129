//! `actcomp`: learn an activation compression policy, compress and
//! decompress tensors with the golden model, report quality against
//! baselines and the rate–distortion bound.

mod commands;
mod idx;
mod level_learning;
mod onnx_export;
mod plots;
mod progress;
mod reference_cnn;
mod residual_cnn;
mod ste;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Learned activation compression for CNN accelerators.
#[derive(Parser)]
#[command(name = "actcomp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Learn a compression policy from calibration activations.
    Calibrate(commands::calibrate::Args),
    /// Compress a tensor into an .acz file.
    Compress {
        /// Policy JSON made by `calibrate`.
        #[arg(long)]
        policy: PathBuf,
        /// Input tensor (.npy: float32, float64, int8 or uint8; N x C x ...).
        input: PathBuf,
        /// Output .acz file.
        #[arg(short, long)]
        output: PathBuf,
        /// Print a machine-readable summary on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Decompress an .acz file into a tensor of the original shape and dtype.
    Decompress {
        /// Policy JSON the file was made with.
        #[arg(long)]
        policy: PathBuf,
        /// Input .acz file.
        input: PathBuf,
        /// Output .npy file.
        #[arg(short, long)]
        output: PathBuf,
        /// Print a machine-readable summary on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Measure a policy on activations against baselines and the R(D) bound; write report.json and plots.
    Report(commands::report::Args),
    /// The whole job on the built-in real activation fixture.
    Demo(commands::demo::Args),
    /// Top-1 accuracy of an ONNX CNN with named activation tensors compressed in the loop.
    Eval(commands::eval::Args),
    /// Train the Fashion-MNIST reference CNN with candle on the CPU and export it as ONNX.
    TrainReference(commands::train::Args),
    /// Fine-tune the reference CNN with its feature maps compressed in the loop (straight-through), re-calibrating between epochs.
    Finetune(commands::finetune::Args),
    /// Emit the compressor and decompressor top levels (static or dynamic grouping) as Verilog plus manifest.json.
    Verilog(commands::verilog::Args),
    /// Simulate a tensor through the top levels (rust-hdl and/or the emitted Verilog under Verilator) and check them bit-exact against the golden model.
    Sim(commands::sim::Args),
    /// Lint the emitted Verilog with `verilator --lint-only -Wall` and the checked-in waivers (lint/verilator.vlt).
    Lint(commands::lint::Args),
    /// Synthesise the emitted Verilog with yosys for an FPGA target; report LUT/FF/carry/BRAM/DSP, fit and (iCE40, --pnr) Fmax.
    Synth(commands::synth::Args),
    /// Design-space table: calibrate, synthesise and place-and-route the compressor for several B / multiplier / W configurations.
    Dse(commands::dse::Args),
}

/// Writing into a closed pipe (`actcomp ... | head`) ends the process quietly,
/// as it does for other Unix tools, instead of Rust's default of ignoring
/// SIGPIPE and panicking with "failed printing to stdout".
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread is spawned;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Stack of the thread that runs a command: the B = 64 hardware units are
/// multi-megabyte rust-hdl structs built by value (see .cargo/config.toml).
const COMMAND_STACK_BYTES: usize = 256 << 20;

fn main() {
    restore_default_sigpipe();
    let cli = Cli::parse();
    let worker = std::thread::Builder::new().name("actcomp".into()).stack_size(COMMAND_STACK_BYTES).spawn(move || run(cli));
    let res = match worker {
        Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(e) => Err(anyhow::anyhow!("cannot start the command thread: {e}")),
    };
    if let Err(e) = res {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Runs one parsed command.
fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Calibrate(a) => commands::calibrate::run(a),
        Command::Compress { policy, input, output, json } => commands::codec::compress(&policy, &input, &output, json),
        Command::Decompress { policy, input, output, json } => commands::codec::decompress(&policy, &input, &output, json),
        Command::Report(a) => commands::report::run(a),
        Command::Demo(a) => commands::demo::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::TrainReference(a) => commands::train::run(a),
        Command::Finetune(a) => commands::finetune::run(a),
        Command::Verilog(a) => commands::verilog::run(a),
        Command::Sim(a) => commands::sim::run(a),
        Command::Lint(a) => commands::lint::run(a),
        Command::Synth(a) => commands::synth::run(a),
        Command::Dse(a) => commands::dse::run(a),
    }
}
