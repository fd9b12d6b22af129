//! `actcomp sim`: runs a tensor through the rust-hdl compressor and
//! decompressor top levels (full rate, reset, random stalls) and checks
//! every payload word and every reconstructed block against the golden codec.

use actcomp_golden::input_map::to_codes;
use actcomp_golden::policy::Policy;
use actcomp_golden::tensor::Tensor;
use actcomp_hdl::check_top_policy;
use actcomp_sim::top::{
    first_vectors, simulate_compressor_traced, simulate_decompressor_traced, RunReport, TlastMode, TopReport, TopSimOptions,
};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::path::PathBuf;

use super::verilog::MultArg;

/// `actcomp sim` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy JSON (B = 4 or 8; static or dynamic grouping).
    #[arg(long)]
    pub policy: PathBuf,
    /// Activation tensor (.npy, the policy's source dtype, N x C x ...).
    #[arg(long)]
    pub activations: PathBuf,
    /// Probability of a source or sink stall per cycle in the stalled run.
    #[arg(long, default_value_t = 0.2)]
    pub stall_prob: f64,
    /// Seed of the stall generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulate only the first N pixel vectors.
    #[arg(long)]
    pub max_vectors: Option<usize>,
    /// Multiplier budget of the compressor's forward transforms.
    #[arg(long, value_enum, default_value_t = MultArg::Full)]
    pub multipliers: MultArg,
    /// Write VCD waveforms of every signal: `<stem>.compressor.vcd` and
    /// `<stem>.decompressor.vcd` next to the given path (e.g. waves.vcd).
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// The VCD file of one top level for `--vcd path`: `<stem>.<unit>.vcd`.
pub fn vcd_path(given: &std::path::Path, unit: &str) -> PathBuf {
    let stem = given.file_stem().map_or_else(|| "waves".into(), |s| s.to_string_lossy().into_owned());
    given.with_file_name(format!("{stem}.{unit}.vcd"))
}

fn run_json(r: &RunReport) -> Value {
    json!({
        "run": r.label, "stall_prob": r.stall_prob, "cycles": r.cycles, "inputs": r.inputs, "outputs": r.outputs,
        "values": r.values, "values_per_cycle": r.values_per_cycle, "latency_cycles": r.latency,
        "wall_s": r.wall_s, "simulated_cycles_per_s": r.cycles_per_s,
    })
}

fn report_json(r: &TopReport) -> Value {
    json!({"unit": r.unit, "bit_exact": r.bit_exact, "first_mismatch": r.mismatch, "runs": r.runs.iter().map(run_json).collect::<Vec<_>>()})
}

/// `actcomp sim`.
pub fn run(a: Args) -> Result<()> {
    if !(0.0..1.0).contains(&a.stall_prob) {
        bail!("--stall-prob must be in [0, 1), got {}", a.stall_prob);
    }
    let policy = Policy::load(&a.policy)?;
    check_top_policy(&policy).map_err(|e| anyhow::anyhow!("{}: {e}", a.policy.display()))?;
    let t = Tensor::load_npy(&a.activations)?;
    let name = a.activations.display().to_string();
    if t.shape.len() < 2 || t.shape[1] != policy.channels {
        bail!("{name}: shape {:?} does not have the policy's {} channels on axis 1", t.shape, policy.channels);
    }
    let codes = to_codes(&t, &policy.input, &name)?;
    let vectors = t.vectors();
    let (shape, codes) = first_vectors(&codes, &t.shape, a.max_vectors.unwrap_or(vectors));
    if a.max_vectors == Some(0) {
        bail!("--max-vectors must be at least 1");
    }
    let opts = TopSimOptions { stall_prob: a.stall_prob, seed: a.seed, multipliers: a.multipliers.into(), tlast: TlastMode::TensorEnd };
    let used = shape[0] * shape[2..].iter().product::<usize>();
    if !a.json {
        println!(
            "actcomp sim: {name} ({used} of {vectors} pixel vectors, C={}), B={} T={} W={}, {} multipliers",
            policy.channels,
            policy.block_size,
            policy.tile,
            policy.word_bits,
            opts.multipliers.name()
        );
    }
    let vcd = a.vcd.as_ref().map(|p| (vcd_path(p, "compressor"), vcd_path(p, "decompressor")));
    let c = simulate_compressor_traced(&policy, &codes, &shape, &opts, vcd.as_ref().map(|v| v.0.as_path()))?;
    if !a.json {
        print_report(&c);
    }
    let d = simulate_decompressor_traced(&policy, &codes, &shape, &opts, vcd.as_ref().map(|v| v.1.as_path()))?;
    if let (Some((vc, vd)), false) = (&vcd, a.json) {
        println!("waveforms: {} and {}", vc.display(), vd.display());
    }
    if !a.json {
        print_report(&d);
    }
    let exact = c.bit_exact && d.bit_exact;
    if a.json {
        println!(
            "{}",
            json!({"bit_exact": exact, "vectors": used, "values": used * policy.channels, "multipliers": opts.multipliers.name(),
                   "stall_prob": a.stall_prob, "seed": a.seed,
                   "vcd": vcd.as_ref().map(|(c, d)| vec![c.display().to_string(), d.display().to_string()]),
                   "compressor": report_json(&c), "decompressor": report_json(&d)})
        );
    }
    if !exact {
        bail!("hardware output differs from the golden model");
    }
    Ok(())
}

fn print_report(r: &TopReport) {
    match &r.mismatch {
        None => println!("{}: bit-exact", r.unit),
        Some(m) => println!("{}: MISMATCH: {m}", r.unit),
    }
    for x in &r.runs {
        println!(
            "  {:<14} {:>8} cycles, {:>7} in / {:>7} out, {:.3} values/cycle, latency {}, {:.0} simulated cycles/s",
            x.label,
            x.cycles,
            x.inputs,
            x.outputs,
            x.values_per_cycle,
            x.latency.map_or("-".to_string(), |l| format!("{l} cycles")),
            x.cycles_per_s
        );
    }
}
