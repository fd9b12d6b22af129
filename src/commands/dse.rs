//! `actcomp dse`: a design-space table for the compressor. For each
//! configuration (block size B = LANES, multiplier budget, word size W,
//! grouping) it calibrates a policy on the given activations at the bit
//! budget, emits `actcomp_compressor`, synthesises it with yosys for the
//! target, places and routes it on iCE40 targets (nextpnr-ice40, board pins
//! for the HX8K breakout) and reports area (LUT/FF/carry/BRAM/DSP), fit,
//! Fmax, values per cycle (the manifest's expected throughput, checked by
//! the simulation tests), Mvalues/s = Fmax x values/cycle and the
//! calibration SQNR — as a Markdown table, JSON and a plot (LUTs vs Fmax,
//! labelled with values/cycle).

use actcomp_golden::calibrate::{CalibrateOptions, Target as BudgetTarget};
use actcomp_golden::policy::{Grouping, Policy};
use actcomp_golden::tensor::{Tensor, TensorData};
use actcomp_hdl::{compressor_throughput, Multipliers};
use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

use super::calibrate::run_calibration;
use super::lint::{emit_into, out_dir, require_tool, TOPS};
use super::synth::{board_pcf, run_nextpnr, run_yosys, Target};

/// `actcomp dse` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Calibration activations (.npy, N x C x ...).
    #[arg(long)]
    pub activations: PathBuf,
    /// Use only the first N channels (small FPGAs cannot hold a 32- or 64-channel
    /// datapath). Default per target: 8 on ice40-hx8k, 4 on ice40-up5k, 16 on
    /// ecp5-85k, all channels on xilinx and generic.
    #[arg(long)]
    pub channels: Option<usize>,
    /// FPGA family / device.
    #[arg(long, value_enum, default_value_t = Target::Ice40Hx8k)]
    pub target: Target,
    /// Configurations `B:full|serial:W[:static|dynamic]`, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "4:serial:32,4:full:32,8:serial:64,4:serial:32:dynamic")]
    pub configs: Vec<String>,
    /// Bit budget of the calibrations (payload bits per value).
    #[arg(long, default_value_t = 2.5)]
    pub target_bpv: f64,
    /// Clock constraint for place and route, MHz.
    #[arg(long, default_value_t = 12.0)]
    pub freq: f64,
    /// Output directory (policies, Verilog, logs, dse.md, dse.json, dse.svg/png).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One design point.
#[derive(Clone, Debug)]
struct Config {
    b: usize,
    mult: Multipliers,
    w: u32,
    grouping: Grouping,
}

impl Config {
    fn parse(s: &str) -> Result<Config> {
        let f: Vec<&str> = s.trim().split(':').collect();
        if !(3..=4).contains(&f.len()) {
            bail!("configuration `{s}`: expected B:full|serial:W[:static|dynamic], e.g. 4:serial:32");
        }
        let b: usize = f[0].parse().with_context(|| format!("configuration `{s}`: block size `{}` is not a number", f[0]))?;
        let mult: Multipliers = f[1].parse().map_err(|e: String| anyhow::anyhow!("configuration `{s}`: {e}"))?;
        let w: u32 = f[2].parse().with_context(|| format!("configuration `{s}`: word size `{}` is not a number", f[2]))?;
        let grouping = match f.get(3).copied().unwrap_or("static") {
            "static" => Grouping::Static,
            "dynamic" => Grouping::Dynamic,
            o => bail!("configuration `{s}`: grouping `{o}` (use static or dynamic)"),
        };
        Ok(Config { b, mult, w, grouping })
    }
    fn label(&self) -> String {
        format!("B={} {} W={} {}", self.b, self.mult.name(), self.w, if self.grouping == Grouping::Dynamic { "dyn" } else { "static" })
    }
    fn dir_name(&self) -> String {
        format!("b{}_{}_w{}_{}", self.b, self.mult.name(), self.w, if self.grouping == Grouping::Dynamic { "dynamic" } else { "static" })
    }
}

/// The first `n` channels of a tensor.
fn first_channels(t: &Tensor, n: usize) -> Result<Tensor> {
    let c = t.channels();
    if n == 0 || n > c {
        bail!("--channels {n}: the tensor has {c} channels");
    }
    let (outer, inner) = (t.shape[0], t.spatial());
    let keep = |i: usize| (i / inner) % c < n;
    let _ = outer;
    let data = match &t.data {
        TensorData::F32(v) => TensorData::F32(v.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, x)| *x).collect()),
        TensorData::F64(v) => TensorData::F64(v.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, x)| *x).collect()),
        TensorData::I8(v) => TensorData::I8(v.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, x)| *x).collect()),
        TensorData::U8(v) => TensorData::U8(v.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, x)| *x).collect()),
    };
    let mut shape = t.shape.clone();
    shape[1] = n;
    Ok(Tensor::new(shape, data)?)
}

/// One row of the table.
#[derive(Clone, Debug)]
struct Row {
    cfg: Config,
    policy: Option<Policy>,
    sqnr_db: f64,
    luts: u64,
    ffs: u64,
    carry: u64,
    brams: u64,
    dsps: u64,
    fits: Option<bool>,
    fmax: Option<f64>,
    vpc: f64,
    note: String,
}

impl Row {
    fn mvalues(&self) -> Option<f64> {
        self.fmax.map(|f| f * self.vpc)
    }
}

fn evaluate(cfg: &Config, calib: &Tensor, a: &Args, root: &Path) -> Result<Row> {
    let dir = root.join(cfg.dir_name());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let opts = CalibrateOptions {
        target: BudgetTarget::BitsPerValue(a.target_bpv),
        block_size: Some(cfg.b),
        word_bits: cfg.w,
        grouping: cfg.grouping,
        try_groupings: vec![],
        ..Default::default()
    };
    let cal = run_calibration(std::slice::from_ref(calib), &opts, true).with_context(|| format!("{}: calibration", cfg.label()))?;
    let policy_path = dir.join("policy.json");
    cal.policy.save(&policy_path)?;
    let policy = emit_into(&policy_path, cfg.mult, &dir).with_context(|| cfg.label())?;
    let yosys = require_tool("yosys", "yosys")?;
    let pnr = matches!(a.target, Target::Ice40Hx8k | Target::Ice40Up5k | Target::Ecp5_85k);
    let o = run_yosys(&yosys, &dir, a.target, TOPS[0], pnr)?;
    let u = &o.usage;
    let mut note = String::new();
    if u.latches > 0 || o.problems > 0 || !o.warnings.is_empty() {
        bail!("{}: synthesis not clean: {} latches, {} check problems, {} warnings (see {})", cfg.label(), u.latches, o.problems, o.warnings.len(), o.log.display());
    }
    let fits = a.target.device().map(|d| u.luts <= d.luts && u.brams <= d.brams && u.dsps <= d.dsps);
    let mut fmax = None;
    if pnr {
        if fits == Some(true) {
            let pcf = board_pcf(&dir, a.target, TOPS[0], &policy)?;
            let nl = o.netlist.as_ref().expect("netlist written for place and route");
            match run_nextpnr(&dir, a.target, TOPS[0], nl, a.freq, pcf.as_deref()) {
                Ok((f, _)) => {
                    fmax = Some(f);
                    if pcf.is_none() {
                        note = "pins unconstrained".into();
                    }
                }
                // e.g. "Failed to expand region ... of 7830 ICESTORM_LCs": the
                // LUT count fits but the packed logic cells do not
                Err(e) => note = format!("place and route failed: {}", format!("{e:#}").lines().last().unwrap_or("").trim()),
            }
        } else {
            note = "does not fit: not placed".into();
        }
    } else {
        note = "no place-and-route flow for this target".into();
    }
    Ok(Row {
        cfg: cfg.clone(),
        vpc: compressor_throughput(&policy, cfg.mult),
        policy: Some(policy),
        sqnr_db: cal.calibration_distortion.sqnr_db,
        luts: u.luts,
        ffs: u.ffs,
        carry: u.carry,
        brams: u.brams,
        dsps: u.dsps,
        fits,
        fmax,
        note,
    })
}

fn table(rows: &[Row], a: &Args, channels: usize) -> String {
    let mut s = format!(
        "Design space of actcomp_compressor on {} ({} channels of {}, {} bits/value, clock constraint {} MHz)\n\n",
        a.target_name(),
        channels,
        a.activations.display(),
        a.target_bpv,
        a.freq
    );
    s += "| config | C | B | multipliers | W | grouping | LUT | FF | carry | BRAM | DSP | fits | Fmax MHz | values/cycle | Mvalues/s | SQNR dB (calib) | note |\n";
    s += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for r in rows {
        let p = r.policy.as_ref();
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {:.2} | {} |\n",
            r.cfg.label(),
            p.map_or(0, |p| p.channels),
            r.cfg.b,
            r.cfg.mult.name(),
            r.cfg.w,
            if r.cfg.grouping == Grouping::Dynamic { "dynamic" } else { "static" },
            r.luts,
            r.ffs,
            r.carry,
            r.brams,
            r.dsps,
            r.fits.map_or("n/a".into(), |f| if f { "yes".to_string() } else { "no".to_string() }),
            r.fmax.map_or("–".into(), |f| format!("{f:.1}")),
            r.vpc,
            r.mvalues().map_or("–".into(), |m| format!("{m:.0}")),
            r.sqnr_db,
            r.note
        );
    }
    s
}

impl Args {
    fn target_name(&self) -> String {
        self.target.device().map_or_else(|| format!("{:?}", self.target), |d| d.name.to_string())
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    rows: &[Row],
    title: &str,
    device: Option<super::synth::Device>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let pts: Vec<(f64, f64, String)> = rows
        .iter()
        .filter_map(|r| r.fmax.map(|f| (r.luts as f64, f, format!("{} ({:.2} v/c, {:.0} Mv/s)", r.cfg.label(), r.vpc, f * r.vpc))))
        .collect();
    let xmax = rows.iter().map(|r| r.luts as f64).chain(device.map(|d| d.luts as f64)).fold(1.0, f64::max) * 1.15;
    let ymax = pts.iter().map(|p| p.1).fold(1.0, f64::max) * 1.3;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax)?;
    chart.configure_mesh().x_desc("LUT4 cells (compressor)").y_desc("Fmax after place and route, MHz").label_style(("sans-serif", 14)).draw()?;
    for (i, (x, y, label)) in pts.iter().enumerate() {
        let c = Palette99::pick(i).to_rgba();
        chart.draw_series(std::iter::once(Circle::new((*x, *y), 7, c.filled())))?;
        chart.draw_series(std::iter::once(Text::new(label.clone(), (*x, *y + ymax * 0.03), ("sans-serif", 13).into_font().color(&c))))?;
    }
    // design points without Fmax (not placed): crosses on the axis, labels stacked
    for (k, r) in rows.iter().filter(|r| r.fmax.is_none()).enumerate() {
        let y = ymax * (0.04 + 0.06 * k as f64);
        chart.draw_series(std::iter::once(Cross::new((r.luts as f64, ymax * 0.02), 6, RED.stroke_width(2))))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("x {} at {} LUT4: {} ({:.2} v/c)", r.cfg.label(), r.luts, r.note, r.vpc),
            (xmax * 0.02, y + ymax * 0.25),
            ("sans-serif", 13).into_font().color(&RED),
        )))?;
    }
    if let Some(d) = device {
        let lim = d.luts as f64;
        if lim < xmax {
            chart.draw_series(LineSeries::new(vec![(lim, 0.0), (lim, ymax)], BLACK.stroke_width(1)))?;
            chart.draw_series(std::iter::once(Text::new(format!("{} LUT4", d.name), (lim, ymax * 0.97), ("sans-serif", 13).into_font())))?;
        }
    }
    Ok(())
}

fn plot(rows: &[Row], dir: &Path, title: &str, device: Option<super::synth::Device>) -> Result<Vec<PathBuf>> {
    crate::plots::register_fonts()?;
    let svg = dir.join("dse.svg");
    {
        let root = SVGBackend::new(&svg, (1000, 650)).into_drawing_area();
        draw(&root, rows, title, device).map_err(|e| anyhow::anyhow!("drawing {}: {e}", svg.display()))?;
        root.present().map_err(|e| anyhow::anyhow!("writing {}: {e}", svg.display()))?;
    }
    let png = dir.join("dse.png");
    {
        let root = BitMapBackend::new(&png, (1000, 650)).into_drawing_area();
        draw(&root, rows, title, device).map_err(|e| anyhow::anyhow!("drawing {}: {e}", png.display()))?;
        root.present().map_err(|e| anyhow::anyhow!("writing {}: {e}", png.display()))?;
    }
    Ok(vec![svg, png])
}

/// `actcomp dse`.
pub fn run(a: Args) -> Result<()> {
    let configs: Vec<Config> = a.configs.iter().map(|s| Config::parse(s)).collect::<Result<_>>()?;
    if configs.is_empty() {
        bail!("--configs is empty");
    }
    require_tool("yosys", "yosys")?;
    if matches!(a.target, Target::Ice40Hx8k | Target::Ice40Up5k | Target::Ecp5_85k) {
        super::synth::nextpnr_tool(a.target)?;
    }
    let full = Tensor::load_npy(&a.activations)?;
    full.check_finite(&a.activations.display().to_string())?;
    let calib = match a.channels.or_else(|| a.target.default_dse_channels().map(|n| n.min(full.channels()))) {
        Some(n) => first_channels(&full, n).with_context(|| a.activations.display().to_string())?,
        None => full,
    };
    let dir = out_dir(&a.output, "dse")?;
    // Two design points at a time (yosys and nextpnr are single-threaded).
    let mut rows = Vec::new();
    for chunk in configs.chunks(2) {
        let res: Vec<Result<Row>> = std::thread::scope(|s| {
            let hs: Vec<_> = chunk.iter().map(|c| s.spawn(|| evaluate(c, &calib, &a, &dir))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("design-point thread panicked")))).collect()
        });
        for r in res {
            rows.push(r?);
        }
    }
    let text = table(&rows, &a, calib.channels());
    std::fs::write(dir.join("dse.md"), &text).with_context(|| format!("cannot write {}", dir.join("dse.md").display()))?;
    let title = format!("actcomp_compressor on {}: area vs Fmax", a.target_name());
    let plots = plot(&rows, &dir, &title, a.target.device())?;
    let j = json!({
        "target": a.target_name(),
        "activations": a.activations.display().to_string(),
        "channels": calib.channels(),
        "target_bpv": a.target_bpv,
        "clock_constraint_mhz": a.freq,
        "output": dir.display().to_string(),
        "plots": plots.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "rows": rows.iter().map(|r| json!({
            "config": r.cfg.label(), "B": r.cfg.b, "multipliers": r.cfg.mult.name(), "W": r.cfg.w,
            "grouping": if r.cfg.grouping == Grouping::Dynamic { "dynamic" } else { "static" },
            "luts": r.luts, "ffs": r.ffs, "carry": r.carry, "brams": r.brams, "dsps": r.dsps,
            "fits": r.fits, "fmax_mhz": r.fmax, "values_per_cycle": r.vpc, "mvalues_per_s": r.mvalues(),
            "calibration_sqnr_db": r.sqnr_db, "note": r.note,
        })).collect::<Vec<Value>>(),
    });
    std::fs::write(dir.join("dse.json"), serde_json::to_string_pretty(&j)? + "\n")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        print!("{text}");
        println!("\nwrote {}/dse.md, dse.json, dse.svg, dse.png", dir.display());
    }
    Ok(())
}
