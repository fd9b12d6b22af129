//! `actcomp sim`: runs a tensor through the compressor and decompressor
//! top levels (full rate, reset, random stalls) and checks every payload
//! word and every reconstructed block against the golden codec.
//!
//! `--backend rust-hdl` (default) simulates the rust-hdl blocks;
//! `--backend verilator` builds the emitted `actcomp_compressor.v` /
//! `actcomp_decompressor.v` with a generated C++ harness (cached by
//! content hash) and adds a stalled run cut by a reset in the middle;
//! `--backend both` does both in one run and prints the Verilator /
//! rust-hdl ratio of simulated cycles per second.

use actcomp_golden::input_map::to_codes;
use actcomp_golden::policy::Policy;
use actcomp_golden::tensor::Tensor;
use actcomp_hdl::check_top_policy;
use actcomp_sim::top::{
    first_vectors, simulate_compressor_traced, simulate_decompressor_traced, RunReport, TlastMode, TopReport, TopSimOptions,
};
use actcomp_sim::top_verilator::{verilate_compressor, verilate_decompressor, VerilatedTopReport, VerilatorOptions};
use actcomp_sim::verilator::{default_cache_dir, require_build_tools};
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
    /// Simulator: the rust-hdl blocks, the emitted Verilog under Verilator, or both (with their speed ratio).
    #[arg(long, value_enum, default_value_t = Backend::RustHdl)]
    pub backend: Backend,
    /// Verilator build cache (default: $ACTCOMP_VERILATOR_CACHE or <temp>/actcomp-verilator).
    #[arg(long)]
    pub verilator_cache: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// The VCD file of one top level for `--vcd path`: `<stem>.<unit>.vcd`.
pub fn vcd_path(given: &std::path::Path, unit: &str) -> PathBuf {
    let stem = given.file_stem().map_or_else(|| "waves".into(), |s| s.to_string_lossy().into_owned());
    given.with_file_name(format!("{stem}.{unit}.vcd"))
}

/// `actcomp sim --backend`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// rust-hdl's simulator on the hardware blocks.
    RustHdl,
    /// The emitted Verilog, verilated with a generated C++ harness.
    Verilator,
    /// Both, with the Verilator / rust-hdl speed ratio.
    Both,
}

impl Backend {
    fn rust_hdl(self) -> bool {
        self != Backend::Verilator
    }
    fn verilator(self) -> bool {
        self != Backend::RustHdl
    }
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

fn verilated_json(r: &VerilatedTopReport) -> Value {
    let mut v = report_json(&r.report);
    v["build_s"] = json!(r.build_s);
    v["build_cached"] = json!(r.cached);
    v["build_dir"] = json!(r.build_dir.display().to_string());
    v
}

/// Simulated cycles per second over the runs named in `labels` (total
/// cycles / total wall time); None if none of them ran.
fn cycles_per_s(r: &TopReport, labels: &[&str]) -> Option<f64> {
    let runs: Vec<&RunReport> = r.runs.iter().filter(|x| labels.contains(&x.label.as_str())).collect();
    let (c, w) = runs.iter().fold((0u64, 0f64), |(c, w), x| (c + x.cycles, w + x.wall_s));
    (!runs.is_empty() && w > 0.0).then(|| c as f64 / w)
}

/// Verilator / rust-hdl simulated cycles/s on the runs both backends made
/// (full rate and stalls, same tensor and stall probability).
fn speed_ratio(rust: &TopReport, ver: &TopReport) -> Option<(f64, f64, f64)> {
    let labels: Vec<&str> = rust.runs.iter().map(|x| x.label.as_str()).collect();
    let (r, v) = (cycles_per_s(rust, &labels)?, cycles_per_s(ver, &labels)?);
    Some((r, v, v / r))
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
            "actcomp sim: {name} ({used} of {vectors} pixel vectors, C={}), B={} T={} W={}, {} multipliers, backend {}",
            policy.channels,
            policy.block_size,
            policy.tile,
            policy.word_bits,
            opts.multipliers.name(),
            backend_name(a.backend)
        );
    }
    let vopts = VerilatorOptions { cache_dir: a.verilator_cache.clone().unwrap_or_else(default_cache_dir), reset_mid_run: true };
    if a.backend.verilator() {
        require_build_tools().map_err(|e| anyhow::anyhow!("--backend {}: {e}", backend_name(a.backend)))?;
    }
    let vcd = a.vcd.as_ref().map(|p| (vcd_path(p, "compressor"), vcd_path(p, "decompressor")));
    if vcd.is_some() && !a.backend.rust_hdl() {
        bail!("--vcd needs the rust-hdl backend (--backend rust-hdl or both)");
    }
    let mut rust = Vec::new();
    let mut ver = Vec::new();
    if a.backend.rust_hdl() {
        let c = simulate_compressor_traced(&policy, &codes, &shape, &opts, vcd.as_ref().map(|v| v.0.as_path()))?;
        if !a.json {
            print_report("rust-hdl", &c);
        }
        rust.push(c);
        let d = simulate_decompressor_traced(&policy, &codes, &shape, &opts, vcd.as_ref().map(|v| v.1.as_path()))?;
        if !a.json {
            print_report("rust-hdl", &d);
        }
        rust.push(d);
        if let (Some((vc, vd)), false) = (&vcd, a.json) {
            println!("waveforms: {} and {}", vc.display(), vd.display());
        }
    }
    if a.backend.verilator() {
        for f in [verilate_compressor, verilate_decompressor] {
            let r = f(&policy, &codes, &shape, &opts, &vopts)?;
            if !a.json {
                println!(
                    "verilator build of {}: {}",
                    r.report.unit,
                    if r.cached { format!("cached ({})", r.build_dir.display()) } else { format!("{:.1} s ({})", r.build_s, r.build_dir.display()) }
                );
                print_report("verilator", &r.report);
            }
            ver.push(r);
        }
    }
    let ratios: Vec<Option<(f64, f64, f64)>> =
        if a.backend == Backend::Both { rust.iter().zip(&ver).map(|(r, v)| speed_ratio(r, &v.report)).collect() } else { vec![] };
    if !a.json && !ratios.is_empty() {
        for (r, x) in rust.iter().zip(&ratios) {
            match x {
                Some((rc, vc, q)) => println!("{}: verilator {vc:.0} vs rust-hdl {rc:.0} simulated cycles/s = {q:.1}x", r.unit),
                None => println!("{}: no speed ratio (a run failed)", r.unit),
            }
        }
    }
    let exact = rust.iter().chain(ver.iter().map(|v| &v.report)).all(|r| r.bit_exact);
    if a.json {
        let primary: Vec<Value> = if rust.is_empty() { ver.iter().map(verilated_json).collect() } else { rust.iter().map(report_json).collect() };
        let mut out = json!({"bit_exact": exact, "vectors": used, "values": used * policy.channels, "multipliers": opts.multipliers.name(),
                   "stall_prob": a.stall_prob, "seed": a.seed, "backend": backend_name(a.backend),
                   "vcd": vcd.as_ref().map(|(c, d)| vec![c.display().to_string(), d.display().to_string()]),
                   "compressor": primary[0], "decompressor": primary[1]});
        if !rust.is_empty() {
            out["rust_hdl"] = json!({"compressor": report_json(&rust[0]), "decompressor": report_json(&rust[1])});
        }
        if !ver.is_empty() {
            out["verilator"] = json!({"compressor": verilated_json(&ver[0]), "decompressor": verilated_json(&ver[1]), "cache_dir": vopts.cache_dir.display().to_string()});
        }
        if !ratios.is_empty() {
            let r = |x: &Option<(f64, f64, f64)>| match x {
                Some((rc, vc, q)) => json!({"rust_hdl_cycles_per_s": rc, "verilator_cycles_per_s": vc, "verilator_over_rust_hdl": q}),
                None => Value::Null,
            };
            out["speed"] = json!({"compressor": r(&ratios[0]), "decompressor": r(&ratios[1])});
        }
        println!("{out}");
    }
    if !exact {
        bail!("hardware output differs from the golden model");
    }
    Ok(())
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::RustHdl => "rust-hdl",
        Backend::Verilator => "verilator",
        Backend::Both => "both",
    }
}

fn print_report(backend: &str, r: &TopReport) {
    match &r.mismatch {
        None => println!("{}: bit-exact ({backend})", r.unit),
        Some(m) => println!("{}: MISMATCH ({backend}): {m}", r.unit),
    }
    for x in &r.runs {
        println!(
            "  {:<28} {:>8} cycles, {:>7} in / {:>7} out, {:.3} values/cycle, latency {}, {:.0} simulated cycles/s",
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
