//! `actcomp lint`: emits the compressor and decompressor top levels of a
//! policy (the same code path as `actcomp verilog`) and runs
//! `verilator --lint-only -Wall` on each with the checked-in waiver file
//! `lint/verilator.vlt` (compiled into the binary and written next to the
//! Verilog). Any warning that survives the waivers fails the command and
//! verilator's own lines are printed. Shared EDA helpers (Verilog
//! emission into a directory, tool discovery) live here too.

use actcomp_golden::policy::Policy;
use actcomp_hdl::{check_top_policy, compressor_verilog, decompressor_verilog, Multipliers};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::verilog::MultArg;

/// The checked-in waiver file, `lint/verilator.vlt`.
pub(crate) const WAIVERS: &str = include_str!("../../lint/verilator.vlt");

/// The two emitted top levels.
pub(crate) const TOPS: [&str; 2] = ["actcomp_compressor", "actcomp_decompressor"];

/// `actcomp lint` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy JSON (B = 4 or 8; static or dynamic grouping).
    #[arg(long)]
    pub policy: PathBuf,
    /// Output directory for the Verilog, manifest and waiver file (default: a temporary directory).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Multiplier budget of the compressor's forward transforms.
    #[arg(long, value_enum, default_value_t = MultArg::Full)]
    pub multipliers: MultArg,
    /// Lint without the waiver file (shows everything rust-hdl's output triggers).
    #[arg(long)]
    pub no_waivers: bool,
    /// Machine-readable summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Finds `tool` on `PATH`, or fails naming the tool and its Debian package.
pub(crate) fn require_tool(tool: &str, apt_package: &str) -> Result<PathBuf> {
    if let Some(p) = find_tool(tool) {
        return Ok(p);
    }
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    bail!(
        "`{tool}` not found on PATH; install it with `apt-get install {apt_package}` (Debian package `{apt_package}`){}",
        if ci { " [CI=true: missing EDA tools are errors]" } else { "" }
    )
}

fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// Output directory: the given one, or a fresh one under the system temp dir.
pub(crate) fn out_dir(given: &Option<PathBuf>, what: &str) -> Result<PathBuf> {
    let d = match given {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("actcomp-{what}-{}", std::process::id())),
    };
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    Ok(d)
}

/// Loads and checks a policy, writes `actcomp_compressor.v`,
/// `actcomp_decompressor.v` and `manifest.json` into `dir` exactly like
/// `actcomp verilog`. Returns the policy.
pub(crate) fn emit_into(policy_path: &Path, mult: Multipliers, dir: &Path) -> Result<Policy> {
    let policy = Policy::load(policy_path)?;
    check_top_policy(&policy).map_err(|e| anyhow::anyhow!("{}: {e}", policy_path.display()))?;
    let comp = compressor_verilog(&policy, mult)?;
    let decomp = decompressor_verilog(&policy)?;
    let w = |name: &str, text: &str| -> Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
    };
    w("actcomp_compressor.v", &comp)?;
    w("actcomp_decompressor.v", &decomp)?;
    w("manifest.json", &(serde_json::to_string_pretty(&super::verilog::manifest(&policy, mult))? + "\n"))?;
    Ok(policy)
}

/// Lines of verilator output that belong to a diagnostic (`%Warning…`,
/// `%Error…` and their indented source excerpts).
fn diagnostic_lines(out: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut inside = false;
    for l in out.lines() {
        if l.starts_with("%Warning") || (l.starts_with("%Error") && !l.starts_with("%Error: Exiting due to")) {
            inside = true;
            v.push(l.to_string());
        } else if l.starts_with('%') {
            inside = false;
        } else if inside && (l.starts_with(' ') || l.starts_with('\t')) {
            v.push(l.to_string());
        } else {
            inside = false;
        }
    }
    v
}

/// `actcomp lint`.
pub fn run(a: Args) -> Result<()> {
    let verilator = require_tool("verilator", "verilator")?;
    let dir = out_dir(&a.output, "lint")?;
    let policy = emit_into(&a.policy, a.multipliers.into(), &dir)?;
    std::fs::write(dir.join("verilator.vlt"), WAIVERS).with_context(|| format!("cannot write {}/verilator.vlt", dir.display()))?;
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for top in TOPS {
        let mut cmd = Command::new(&verilator);
        cmd.current_dir(&dir).args(["--lint-only", "-Wall"]);
        if !a.no_waivers {
            cmd.arg("verilator.vlt");
        }
        cmd.args(["--top-module", top, &format!("{top}.v")]);
        let o = cmd.output().context("cannot run verilator")?;
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        let diags = diagnostic_lines(&text);
        let warnings = text.lines().filter(|l| l.starts_with("%Warning")).count();
        let errors = text.lines().filter(|l| l.starts_with("%Error") && !l.starts_with("%Error: Exiting due to")).count();
        let clean = o.status.success() && warnings == 0 && errors == 0;
        if !clean {
            failed.push(top);
            eprintln!("verilator --lint-only -Wall {top}.v: {warnings} warning(s), {errors} error(s):");
            if diags.is_empty() {
                eprintln!("{}", text.trim_end());
            }
            for l in &diags {
                eprintln!("{l}");
            }
        }
        results.push(json!({"module": top, "file": format!("{top}.v"), "clean": clean, "warnings": warnings, "errors": errors}));
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "tool": "verilator --lint-only -Wall",
                "waivers": if a.no_waivers { serde_json::Value::Null } else { json!("lint/verilator.vlt") },
                "output": dir.display().to_string(),
                "clean": failed.is_empty(),
                "results": results,
            }))?
        );
    } else if failed.is_empty() {
        println!(
            "lint clean: actcomp_compressor.v, actcomp_decompressor.v (verilator --lint-only -Wall{}; C={} B={} multipliers={}) in {}",
            if a.no_waivers { ", no waivers" } else { " with lint/verilator.vlt" },
            policy.channels,
            policy.block_size,
            Multipliers::from(a.multipliers).name(),
            dir.display()
        );
    }
    if !failed.is_empty() {
        bail!("lint failed for {} (warnings listed above; waivers: lint/verilator.vlt)", failed.join(", "));
    }
    Ok(())
}
