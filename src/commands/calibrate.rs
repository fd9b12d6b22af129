//! `actcomp calibrate`: learn a policy from calibration tensors.

use crate::progress::Stages;
use actcomp_golden::calibrate::{calibrate, CalibrateOptions, Calibration, Partition, Target};
use actcomp_golden::policy::{Grouping, TransformKind};
use actcomp_golden::quant_learn::QuantStyle;
use actcomp_golden::tensor::Tensor;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use std::path::PathBuf;

/// Transform choice on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum TransformArg {
    /// Try PCA, DCT and identity; keep the best on the calibration data.
    Auto,
    /// Principal components per block.
    Pca,
    /// DCT-II per block.
    Dct,
    /// No transform (mixed precision only).
    Identity,
}

/// Grouping choice on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum GroupingArg {
    /// Try static and dynamic; keep the best on the calibration data.
    Auto,
    /// Fixed ranking.
    Static,
    /// Per-tile re-ranking with side information.
    Dynamic,
}

/// Quantizer style on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum StyleArg {
    /// Uniform cells and levels.
    Uniform,
    /// Uniform cells, centroid levels.
    Centroid,
    /// Lloyd–Max cells and levels.
    Lloyd,
}

/// Block size choice on the command line (`--block hw|all|N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockArg {
    /// The largest of the hardware block sizes dividing C (C itself when none does).
    Hardware,
    /// All channels in one block.
    All,
    /// This many channels per block.
    Size(usize),
}

impl std::str::FromStr for BlockArg {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "hw" => Ok(BlockArg::Hardware),
            "all" => Ok(BlockArg::All),
            n => match n.parse::<usize>() {
                Ok(0) => Err("a block of 0 channels; give hw, all or a channel count >= 1".into()),
                Ok(b) => Ok(BlockArg::Size(b)),
                Err(_) => Err(format!("'{n}' is not hw, all or a channel count")),
            },
        }
    }
}

impl BlockArg {
    /// (`block_size`, `preferred_blocks`) of the golden calibration options.
    fn golden(self) -> (Option<usize>, Vec<usize>) {
        match self {
            BlockArg::Hardware => (None, actcomp_hdl::compressor::HW_DEFAULT_BLOCK_SIZES.to_vec()),
            BlockArg::All => (None, Vec::new()),
            BlockArg::Size(b) => (Some(b), Vec::new()),
        }
    }
}

/// Tile of static grouping, and of dynamic grouping when only one is tried.
pub const DEFAULT_TILE: usize = 16;
/// Dynamic-grouping tiles tried when neither `--tile` nor `--try-tiles` is
/// given (defined in the golden crate, so that its benchmarks calibrate as
/// the CLI does).
pub const DEFAULT_TRY_TILES: [usize; 2] = actcomp_golden::calibrate::DEFAULT_TRY_TILES;

/// Options shared by every command that calibrates.
#[derive(clap::Args, Clone)]
pub struct CalibArgs {
    /// Target payload bits per value (side info and padding included).
    #[arg(long, conflicts_with = "target_sqnr")]
    pub target_bpv: Option<f64>,
    /// Target minimum SQNR in dB on the calibration data.
    #[arg(long)]
    pub target_sqnr: Option<f64>,
    /// Channel transform (auto: the best of pca, dct and identity on the calibration data).
    #[arg(long, value_enum, default_value = "auto")]
    pub transform: TransformArg,
    /// Channels per block: `hw` (default) is the largest block the hardware
    /// top levels build (16, 8 or 4) that divides the channel count, so the
    /// policy goes straight into `actcomp verilog` / `sim` / `synth`; `all`
    /// is one block of all channels (software only above 16 channels; best
    /// rate–distortion); or a number dividing the channel count.
    #[arg(long, default_value = "hw")]
    pub block: BlockArg,
    /// Most groups per block (1..=8).
    #[arg(long, default_value_t = actcomp_golden::calibrate::DEFAULT_GROUPS)]
    pub groups: usize,
    /// Static or dynamic grouping (auto: the better on the calibration data).
    #[arg(long, value_enum, default_value = "auto")]
    pub grouping: GroupingArg,
    /// Pixel vectors per tile (only this tile; default: try 8 and 16, see --try-tiles).
    #[arg(long)]
    pub tile: Option<usize>,
    /// Tile sizes to try with dynamic grouping, comma-separated; the best on
    /// the calibration data is kept (default: 8,16 unless --tile is given).
    /// Smaller tiles follow the data more closely and send the group map more
    /// often; the compressor's rate is 8T/(T+1) values/cycle at B = 16.
    #[arg(long, value_delimiter = ',')]
    pub try_tiles: Vec<usize>,
    /// Group counts (most groups per block) to try with dynamic grouping,
    /// comma-separated (default: only --groups).
    #[arg(long, value_delimiter = ',')]
    pub try_groups: Vec<usize>,
    /// Payload word width (32 or 64).
    #[arg(long, default_value_t = 32)]
    pub word_bits: u32,
    /// How quantizer tables are learned.
    #[arg(long, value_enum, default_value = "lloyd")]
    pub quantizer: StyleArg,
    /// Use equal-size groups instead of the optimal partition.
    #[arg(long)]
    pub equal_groups: bool,
}

impl CalibArgs {
    /// Converts to golden calibration options.
    pub fn options(&self) -> Result<CalibrateOptions> {
        let target = match (self.target_bpv, self.target_sqnr) {
            (Some(b), None) => Target::BitsPerValue(b),
            (None, Some(s)) => Target::SqnrDb(s),
            (None, None) => Target::BitsPerValue(2.5),
            _ => bail!("give either --target-bpv or --target-sqnr"),
        };
        Ok(CalibrateOptions {
            target,
            transform: match self.transform {
                TransformArg::Pca | TransformArg::Auto => TransformKind::Pca,
                TransformArg::Dct => TransformKind::Dct,
                TransformArg::Identity => TransformKind::Identity,
            },
            try_transforms: match self.transform {
                TransformArg::Auto => vec![TransformKind::Pca, TransformKind::Dct, TransformKind::Identity],
                _ => vec![],
            },
            block_size: self.block.golden().0,
            preferred_blocks: self.block.golden().1,
            groups: self.groups,
            grouping: match self.grouping {
                GroupingArg::Static | GroupingArg::Auto => Grouping::Static,
                GroupingArg::Dynamic => Grouping::Dynamic,
            },
            try_groupings: match self.grouping {
                GroupingArg::Auto => vec![Grouping::Static, Grouping::Dynamic],
                _ => vec![],
            },
            tile: self.tile.unwrap_or(DEFAULT_TILE),
            try_tiles: match (self.tile, self.try_tiles.is_empty()) {
                (_, false) => self.try_tiles.clone(),
                (Some(_), true) => Vec::new(),
                (None, true) => DEFAULT_TRY_TILES.to_vec(),
            },
            try_groups: self.try_groups.clone(),
            word_bits: self.word_bits,
            style: match self.quantizer {
                StyleArg::Uniform => QuantStyle::Uniform,
                StyleArg::Centroid => QuantStyle::Centroid,
                StyleArg::Lloyd => QuantStyle::Lloyd,
            },
            partition: if self.equal_groups { Partition::Equal } else { Partition::Optimal },
            ..CalibrateOptions::default()
        })
    }
}

/// Arguments of `actcomp calibrate`.
#[derive(clap::Args)]
pub struct Args {
    /// Calibration activation tensors (.npy, N x C x ...).
    #[arg(long, num_args = 1.., required = true)]
    pub activations: Vec<PathBuf>,
    #[command(flatten)]
    pub calib: CalibArgs,
    /// Output policy JSON.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Print a machine-readable summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Loads tensors, naming the file in any error.
pub fn load_tensors(paths: &[PathBuf]) -> Result<Vec<Tensor>> {
    paths.iter().map(|p| Tensor::load_npy(p).map_err(anyhow::Error::from)).collect()
}

/// Runs calibration with a progress bar.
pub fn run_calibration(tensors: &[Tensor], opts: &CalibrateOptions, quiet: bool) -> Result<Calibration> {
    let bar = Stages::new("calibrate", quiet);
    let refs: Vec<&Tensor> = tensors.iter().collect();
    let cal = calibrate(&refs, opts, &|s, f| bar.update(s, f)).context("calibration failed");
    bar.finish();
    cal
}

/// Human summary of a calibration: the policy, and the configurations tried.
pub fn summary_line(cal: &Calibration) -> String {
    let p = &cal.policy;
    let groups: Vec<String> = p.blocks[0].groups.iter().map(|g| format!("{}x{}b", g.size, g.bits)).collect();
    let mut s = format!(
        "policy: C={} B={} {:?} {:?} T={} W={} | block 0 groups [{}] | payload {:.4} bits/value | calibration SQNR {:.2} dB",
        p.channels,
        p.block_size,
        p.transform,
        p.grouping,
        p.tile,
        p.word_bits,
        groups.join(" "),
        cal.payload_bpv,
        cal.calibration_distortion.sqnr_db
    );
    for c in &cal.candidates {
        let what = match (c.payload_bpv, c.calibration_sqnr_db, &c.error) {
            (Some(b), Some(q), _) => format!("{b:.4} bits/value, {q:.2} dB"),
            (_, _, Some(e)) => format!("failed: {e}"),
            _ => "?".into(),
        };
        let chosen = c.transform == p.transform
            && c.grouping == p.grouping
            && c.tile.is_none_or(|t| t == p.tile)
            && c.calibration_sqnr_db == Some(cal.calibration_distortion.sqnr_db);
        let tg = match (c.grouping, c.tile, c.groups) {
            (Grouping::Dynamic, Some(t), Some(g)) => format!(" T={t} G<={g}"),
            _ => String::new(),
        };
        s += &format!("\n  tried {:?}/{:?}{tg}: {}{}", c.transform, c.grouping, what, if chosen { "  <- chosen" } else { "" });
    }
    s
}

/// A note when `policy` cannot be built by the hardware top levels (`actcomp
/// verilog` / `sim` / `synth` would refuse it), saying why; None when it can.
pub fn hardware_note(policy: &actcomp_golden::policy::Policy) -> Option<String> {
    actcomp_hdl::compressor::check_top_policy(policy)
        .err()
        .map(|e| format!("note: software-only policy, the hardware top levels do not build it: {e}"))
}

/// Entry point of `actcomp calibrate`.
pub fn run(a: Args) -> Result<()> {
    let tensors = load_tensors(&a.activations)?;
    let opts = a.calib.options()?;
    let t0 = std::time::Instant::now();
    let cal = run_calibration(&tensors, &opts, a.json)?;
    let secs = t0.elapsed().as_secs_f64();
    cal.policy.save(&a.output)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "policy": a.output,
                "fingerprint": format!("{:016x}", cal.policy.fingerprint()),
                "payload_bpv": cal.payload_bpv,
                "calibration": cal.calibration_distortion,
                "search_steps": cal.trajectory.len(),
                "seconds": secs,
                "hardware": hardware_note(&cal.policy).is_none(),
            })
        );
    } else {
        println!("{}", summary_line(&cal));
        if let Some(n) = hardware_note(&cal.policy) {
            println!("{n}");
        }
        println!("wrote {} ({} search steps, {:.2} s)", a.output.display(), cal.trajectory.len(), secs);
    }
    Ok(())
}
