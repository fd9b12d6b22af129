//! Learned calibration: from calibration tensors and a target (bits per value
//! or minimum SQNR) to a [`Policy`]. See docs/scheme.md, "Calibration".
//!
//! 1. input mapping, integer channel means;
//! 2. per block a basis (PCA / DCT / identity) and its fixed-point matrices;
//! 3. every component's distortion–bits curve with a learned quantizer;
//! 4. the group partition: at most G contiguous ranges of the importance
//!    ranking chosen by dynamic programming (Lagrangian in the bit budget);
//! 5. the dynamic bit-width search: all groups start at 8 bits; repeatedly
//!    cut the group whose cut costs the least distortion per bit saved (each
//!    group's quantizer re-learned at its new width) until the target holds,
//!    then trade single bits between groups while that lowers distortion;
//! 6. the policy's tables from the final quantizers.

use crate::basis::{fixed_basis, float_basis, FixedBasis};
use crate::codec::Codec;
use crate::error::{GoldenError, Result};
use crate::grouping::rank_positions;
use crate::input_map::{choose_input_format, code_to_float, to_codes};
use crate::metrics::{distortion, sqnr_db, Distortion};
use crate::policy::*;
use crate::quant_learn::{learn_quantizer, LearnedQuantizer, QuantStyle, WeightedHist};
use crate::tensor::Tensor;
use crate::transform::BlockMatrices;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// What calibration aims for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Payload bits per value (side information and padding included).
    BitsPerValue(f64),
    /// Smallest SQNR in dB on the calibration data.
    SqnrDb(f64),
}

/// How group boundaries are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partition {
    /// Dynamic programming over the ranking (the method).
    Optimal,
    /// Equal-size groups (the naive split, for comparison).
    Equal,
}

/// Dynamic-grouping tiles that `actcomp calibrate` tries when neither
/// `--tile` nor `--try-tiles` is given (the CLI's default): T = 8 gains
/// 1.4–2.1 dB over T = 16 at 2.5 bits/value on the conv1 / conv2 fixtures
/// (held-out tensors, B = 16) for 6 % of the compressor's rate.
pub const DEFAULT_TRY_TILES: [usize; 2] = [8, 16];

/// Most groups per block that `actcomp calibrate` allows unless `--groups`
/// says otherwise (the CLI's default; [`CalibrateOptions::default`] allows 8).
pub const DEFAULT_GROUPS: usize = 4;

/// Calibration settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrateOptions {
    /// Rate or quality target.
    pub target: Target,
    /// Channel transform.
    pub transform: TransformKind,
    /// Channels per block (None: see `preferred_blocks`).
    pub block_size: Option<usize>,
    /// With `block_size` None: the block is the largest of these sizes that
    /// divides the channel count (e.g. the sizes a hardware build supports),
    /// or all channels in one block when none does or the list is empty.
    #[serde(default)]
    pub preferred_blocks: Vec<usize>,
    /// Most groups per block (1..=8).
    pub groups: usize,
    /// Static or dynamic grouping.
    pub grouping: Grouping,
    /// Pixel vectors per tile.
    pub tile: usize,
    /// Payload word width.
    pub word_bits: u32,
    /// How quantizer tables are learned.
    pub style: QuantStyle,
    /// How group boundaries are chosen.
    pub partition: Partition,
    /// Most calibration pixel vectors used (evenly subsampled beyond).
    pub max_vectors: usize,
    /// Learn the inverse mean (else it equals the forward mean).
    #[serde(default = "default_true")]
    pub learn_inverse_mean: bool,
    /// Transforms to try (empty: only `transform`); the best on the
    /// calibration data is kept.
    #[serde(default)]
    pub try_transforms: Vec<TransformKind>,
    /// Groupings to try (empty: only `grouping`).
    #[serde(default)]
    pub try_groupings: Vec<Grouping>,
    /// Tile sizes to try with dynamic grouping (empty: only `tile`). The
    /// tile sets how often the group map is sent: smaller tiles follow the
    /// data more closely and pay more side information. Static grouping
    /// has no side information and keeps `tile`.
    #[serde(default)]
    pub try_tiles: Vec<usize>,
    /// Group counts (most groups per block) to try with dynamic grouping
    /// (empty: only `groups`); fewer groups make each map entry narrower.
    #[serde(default)]
    pub try_groups: Vec<usize>,
}

/// One configuration tried by the transform / grouping selection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    /// Transform tried.
    pub transform: TransformKind,
    /// Grouping tried.
    pub grouping: Grouping,
    /// Tile tried (absent in records written before tiles were searched).
    #[serde(default)]
    pub tile: Option<usize>,
    /// Most groups per block tried (absent in older records).
    #[serde(default)]
    pub groups: Option<usize>,
    /// Payload bits per value it reached (None: it failed).
    pub payload_bpv: Option<f64>,
    /// Calibration SQNR it reached.
    pub calibration_sqnr_db: Option<f64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

fn default_true() -> bool {
    true
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions {
            target: Target::BitsPerValue(2.5),
            transform: TransformKind::Pca,
            block_size: None,
            preferred_blocks: Vec::new(),
            groups: 8,
            grouping: Grouping::Static,
            tile: 16,
            word_bits: 32,
            style: QuantStyle::Lloyd,
            partition: Partition::Optimal,
            max_vectors: 100_000,
            learn_inverse_mean: true,
            try_transforms: Vec::new(),
            try_groupings: Vec::new(),
            try_tiles: Vec::new(),
            try_groups: Vec::new(),
        }
    }
}

/// One move of the bit-width search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchStep {
    /// "start", "cut", "trade", "raise" or "boundary".
    pub action: String,
    /// Block and group changed (None at the start).
    pub block: Option<usize>,
    /// Group index in the block.
    pub group: Option<usize>,
    /// Code bits per pixel vector after the move.
    pub bits_per_vector: u64,
    /// Code bits per value after the move (side info and padding excluded).
    pub code_bpv: f64,
    /// Predicted SQNR on the calibration data after the move.
    pub predicted_sqnr_db: f64,
}

/// The result of calibration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    /// The learned policy (its `calibration` field holds this record too).
    pub policy: Policy,
    /// The bit-width search, move by move.
    pub trajectory: Vec<SearchStep>,
    /// Distortion on the calibration data, measured through the golden codec.
    pub calibration_distortion: Distortion,
    /// Payload bits per value of a full tile.
    pub payload_bpv: f64,
    /// Options used.
    pub options: CalibrateOptions,
    /// Pixel vectors used.
    pub vectors_used: usize,
    /// Configurations tried when the transform or grouping was selected automatically.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
}

/// Progress callback: (stage, fraction done).
pub type Progress<'a> = &'a (dyn Fn(&str, f64) + Sync);

/// Pixel vectors (V x C, row-major) of a tensor's codes, every `stride`-th.
fn pixel_vectors(codes: &[i16], shape: &[usize], stride: usize, out: &mut Vec<i16>) {
    let c = shape[1];
    let s: usize = shape[2..].iter().product();
    let v = shape[0] * s;
    let mut p = 0;
    while p < v {
        let (n, sp) = (p / s, p % s);
        let base = n * c * s + sp;
        for ch in 0..c {
            out.push(codes[base + ch * s]);
        }
        p += stride;
    }
}

/// Per-block calibration state.
pub(crate) struct BlockState {
    pub mean: Vec<i32>,
    pub fixed: FixedBasis,
    pub rank: Vec<usize>,
    /// y of every calibration vector, V x B.
    pub y: Vec<i32>,
    /// Error weight of each component (1/gain²).
    pub weight: Vec<f64>,
}

/// Calibration data turned into transform outputs.
pub(crate) struct Prepared {
    pub input: InputFormat,
    /// Pixel vectors used.
    pub nv: usize,
    /// Σx² over the vectors used (source units).
    pub signal: f64,
    /// Σ(x − dequantized code)² of the input mapping over the vectors used.
    pub input_err: f64,
    pub blocks: Vec<BlockState>,
}

/// Validates calibration tensors and computes means, bases and transform outputs.
pub(crate) fn prepare(
    tensors: &[&Tensor],
    b: usize,
    transform: TransformKind,
    normalize: bool,
    max_vectors: usize,
) -> Result<Prepared> {
    if tensors.is_empty() {
        return Err(GoldenError::BadInput("no calibration tensors".into()));
    }
    let c = tensors[0].channels();
    for (i, t) in tensors.iter().enumerate() {
        if t.channels() != c {
            return Err(GoldenError::BadInput(format!(
                "calibration tensor {i} has {} channels (shape {:?}), the first has {c}",
                t.channels(),
                t.shape
            )));
        }
        t.check_finite(&format!("calibration tensor {i}"))?;
    }
    if b == 0 || c % b != 0 {
        return Err(GoldenError::invalid("block size", format!("{b} does not divide the channel count {c}")));
    }
    let input = choose_input_format(tensors)?;
    let total_vectors: usize = tensors.iter().map(|t| t.vectors()).sum();
    let stride = total_vectors.div_ceil(max_vectors.max(1)).max(1);
    let mut x: Vec<i16> = Vec::new();
    let mut signal = 0.0f64;
    let mut input_err = 0.0f64;
    for (i, t) in tensors.iter().enumerate() {
        let codes = to_codes(t, &input, &format!("calibration tensor {i}"))?;
        let start = x.len();
        pixel_vectors(&codes, &t.shape, stride, &mut x);
        let vals = t.to_f64();
        let s: usize = t.shape[2..].iter().product();
        let v = t.vectors();
        let mut p = 0;
        let mut j = start;
        while p < v {
            let (n, sp) = (p / s, p % s);
            for ch in 0..c {
                let xv = vals[(n * c + ch) * s + sp];
                signal += xv * xv;
                let e = xv - code_to_float(x[j] as i32, &input);
                input_err += e * e;
                j += 1;
            }
            p += stride;
        }
    }
    let nv = x.len() / c;
    let (lo, hi) = (input.code_range.min(), input.code_range.max());
    let nblocks = c / b;
    let blocks: Vec<BlockState> = (0..nblocks)
        .into_par_iter()
        .map(|bi| {
            let mut mean = vec![0i32; b];
            for (i, m) in mean.iter_mut().enumerate() {
                let s: f64 = (0..nv).map(|v| x[v * c + bi * b + i] as f64).sum();
                *m = ((s / nv as f64).round() as i32).clamp(lo, hi);
            }
            let d: Vec<f64> =
                (0..nv).flat_map(|v| (0..b).map(move |i| (v, i))).map(|(v, i)| (x[v * c + bi * b + i] as i32 - mean[i]) as f64).collect();
            let fb = float_basis(transform, &d, b);
            let fixed = fixed_basis(&fb, normalize);
            let mut rank: Vec<usize> = (0..b).collect();
            rank.sort_by(|&p, &q| fb.variance[q].partial_cmp(&fb.variance[p]).unwrap().then(p.cmp(&q)));
            let bm = block_matrices(&mean, &fixed);
            let mut y = vec![0i32; nv * b];
            for v in 0..nv {
                bm.forward(&x[v * c + bi * b..v * c + (bi + 1) * b], &mut y[v * b..(v + 1) * b]);
            }
            let weight = fixed.gain.iter().map(|g| 1.0 / (g * g)).collect();
            BlockState { mean, fixed, rank, y, weight }
        })
        .collect();
    Ok(Prepared { input, nv, signal, input_err, blocks })
}

/// Evaluation form of a block's means and fixed-point matrices.
pub(crate) fn block_matrices(mean: &[i32], fixed: &FixedBasis) -> BlockMatrices {
    BlockMatrices::from_parts(
        mean.to_vec(),
        fixed.forward.iter().flatten().copied().collect(),
        fixed.forward_shift.clone(),
        fixed.inverse.iter().flatten().copied().collect(),
        fixed.inverse_shift,
    )
}

/// Histogram of each component's transform outputs, per block.
pub(crate) fn component_hists(p: &Prepared) -> Vec<Vec<WeightedHist>> {
    p.blocks
        .par_iter()
        .map(|bs| {
            let b = bs.mean.len();
            (0..b)
                .map(|k| WeightedHist::from_samples(&(0..p.nv).map(|v| bs.y[v * b + k]).collect::<Vec<_>>(), bs.weight[k]))
                .collect()
        })
        .collect()
}

/// Histograms per position of the dynamic ranking: in every calibration tile
/// the components are ordered by tile energy (ties by static rank, exactly
/// as [`crate::grouping::dynamic_group_map`] does) and each value goes to the
/// histogram of its component's position.
pub(crate) fn position_hists(p: &Prepared, tile: usize) -> Vec<Vec<WeightedHist>> {
    p.blocks
        .par_iter()
        .map(|bs| {
            let b = bs.mean.len();
            let positions = rank_positions(&bs.rank);
            let mut pairs: Vec<Vec<(i32, f64)>> = vec![Vec::new(); b];
            let mut energy = vec![0u64; b];
            let mut order: Vec<usize> = Vec::with_capacity(b);
            let mut first = 0;
            while first < p.nv {
                let count = tile.min(p.nv - first);
                energy.iter_mut().for_each(|e| *e = 0);
                for v in first..first + count {
                    for k in 0..b {
                        energy[k] += bs.y[v * b + k].unsigned_abs() as u64;
                    }
                }
                order.clear();
                order.extend(0..b);
                order.sort_unstable_by(|&a, &c| energy[c].cmp(&energy[a]).then(positions[a].cmp(&positions[c])));
                for v in first..first + count {
                    for (r, &k) in order.iter().enumerate() {
                        pairs[r].push((bs.y[v * b + k], bs.weight[k]));
                    }
                }
                first += count;
            }
            pairs.into_iter().map(WeightedHist::from_pairs).collect()
        })
        .collect()
}

/// Distortion of each component at 0..=8 bits with learned quantizers (monotone).
pub(crate) fn component_curves(hists: &[Vec<WeightedHist>], style: QuantStyle) -> Vec<Vec<[f64; 9]>> {
    hists
        .par_iter()
        .map(|hs| {
            hs.par_iter()
                .map(|h| {
                    let mut cur = [0.0; 9];
                    for (bits, slot) in cur.iter_mut().enumerate() {
                        *slot = learn_quantizer(h, bits as u32, style).sse;
                    }
                    for bits in 1..9 {
                        cur[bits] = cur[bits].min(cur[bits - 1]);
                    }
                    cur
                })
                .collect()
        })
        .collect()
}

/// Learns a policy from calibration tensors. When `try_transforms`,
/// `try_groupings`, `try_tiles` or `try_groups` list several choices, every
/// combination is calibrated (tiles and group counts only with dynamic
/// grouping) and the best on the calibration data is kept: the highest SQNR
/// for a rate target, the lowest rate for a quality target.
pub fn calibrate(tensors: &[&Tensor], opts: &CalibrateOptions, progress: Progress) -> Result<Calibration> {
    if opts.try_transforms.is_empty() && opts.try_groupings.is_empty() && opts.try_tiles.is_empty() && opts.try_groups.is_empty() {
        return calibrate_one(tensors, opts, progress);
    }
    // A bad entry of a search list is the user's error, not a failed candidate.
    if let Some(t) = opts.try_tiles.iter().find(|&&t| t == 0 || t > 1 << 16) {
        return Err(GoldenError::invalid("try_tiles", format!("tile {t} is outside 1..=65536")));
    }
    if let Some(g) = opts.try_groups.iter().find(|&&g| g == 0 || g > MAX_GROUPS) {
        return Err(GoldenError::invalid("try_groups", format!("{g} groups; 1..={MAX_GROUPS} allowed")));
    }
    let transforms = if opts.try_transforms.is_empty() { vec![opts.transform] } else { opts.try_transforms.clone() };
    let groupings = if opts.try_groupings.is_empty() { vec![opts.grouping] } else { opts.try_groupings.clone() };
    let tiles = if opts.try_tiles.is_empty() { vec![opts.tile] } else { opts.try_tiles.clone() };
    let group_counts = if opts.try_groups.is_empty() { vec![opts.groups] } else { opts.try_groups.clone() };
    let mut combos: Vec<(TransformKind, Grouping, usize, usize)> = Vec::new();
    for &t in &transforms {
        for &g in &groupings {
            match g {
                Grouping::Static => combos.push((t, g, opts.tile, opts.groups)),
                Grouping::Dynamic => {
                    for &tile in &tiles {
                        for &n in &group_counts {
                            combos.push((t, g, tile, n));
                        }
                    }
                }
            }
        }
    }
    let mut best: Option<Calibration> = None;
    let mut candidates = Vec::new();
    let mut first_err = None;
    for (i, &(t, g, tile, groups)) in combos.iter().enumerate() {
        let o = CalibrateOptions {
            transform: t,
            grouping: g,
            tile,
            groups,
            try_transforms: vec![],
            try_groupings: vec![],
            try_tiles: vec![],
            try_groups: vec![],
            ..opts.clone()
        };
        let n = combos.len() as f64;
        let sub = |s: &str, f: f64| progress(&format!("{t:?}/{g:?}/T={tile}/G<={groups}: {s}"), (i as f64 + f) / n);
        match calibrate_one(tensors, &o, &sub) {
            Ok(cal) => {
                candidates.push(Candidate {
                    transform: t,
                    grouping: g,
                    tile: Some(tile),
                    groups: Some(groups),
                    payload_bpv: Some(cal.payload_bpv),
                    calibration_sqnr_db: Some(cal.calibration_distortion.sqnr_db),
                    error: None,
                });
                let better = match &best {
                    None => true,
                    Some(b) => match opts.target {
                        Target::BitsPerValue(_) => cal.calibration_distortion.sqnr_db > b.calibration_distortion.sqnr_db,
                        Target::SqnrDb(_) => {
                            cal.payload_bpv < b.payload_bpv
                                || (cal.payload_bpv == b.payload_bpv
                                    && cal.calibration_distortion.sqnr_db > b.calibration_distortion.sqnr_db)
                        }
                    },
                };
                if better {
                    best = Some(cal);
                }
            }
            Err(e) => {
                candidates.push(Candidate {
                    transform: t,
                    grouping: g,
                    tile: Some(tile),
                    groups: Some(groups),
                    payload_bpv: None,
                    calibration_sqnr_db: None,
                    error: Some(e.to_string()),
                });
                first_err.get_or_insert(e);
            }
        }
    }
    let Some(mut cal) = best else { return Err(first_err.expect("at least one candidate")) };
    cal.candidates = candidates;
    cal.options.try_transforms = opts.try_transforms.clone();
    cal.options.try_groupings = opts.try_groupings.clone();
    cal.options.try_tiles = opts.try_tiles.clone();
    cal.options.try_groups = opts.try_groups.clone();
    let mut record = serde_json::to_value(&cal).expect("serializes");
    if let Some(o) = record.as_object_mut() {
        o.remove("policy");
    }
    cal.policy.calibration = Some(record);
    Ok(cal)
}

/// The block size used when none is given: the largest of `preferred` that
/// divides `channels`, else `channels` (one block).
pub fn default_block(channels: usize, preferred: &[usize]) -> usize {
    preferred.iter().copied().filter(|&b| b > 0 && channels % b == 0).max().unwrap_or(channels)
}

/// Calibrates one transform / grouping configuration.
fn calibrate_one(tensors: &[&Tensor], opts: &CalibrateOptions, progress: Progress) -> Result<Calibration> {
    if tensors.is_empty() {
        return Err(GoldenError::BadInput("no calibration tensors".into()));
    }
    let c = tensors[0].channels();
    let b = opts.block_size.unwrap_or_else(|| default_block(c, &opts.preferred_blocks));
    if opts.groups == 0 || opts.groups > MAX_GROUPS {
        return Err(GoldenError::invalid("groups", format!("{}; 1..={MAX_GROUPS} allowed", opts.groups)));
    }
    if opts.tile == 0 || opts.tile > 1 << 16 {
        return Err(GoldenError::invalid("tile", format!("{} is outside 1..=65536", opts.tile)));
    }
    crate::bitstream::check_word_bits(opts.word_bits)?;
    match opts.target {
        Target::BitsPerValue(r) if !(r.is_finite() && r > 0.0 && r <= 8.0) => {
            return Err(GoldenError::invalid("target bits per value", format!("{r} is outside (0, 8]")))
        }
        Target::SqnrDb(s) if !s.is_finite() => return Err(GoldenError::invalid("target SQNR", format!("{s} is not finite"))),
        _ => {}
    }
    progress("preparing", 0.0);
    let normalize = opts.grouping == Grouping::Static;
    let prep = prepare(tensors, b, opts.transform, normalize, opts.max_vectors)?;
    let (input, nv, signal, input_err) = (prep.input, prep.nv, prep.signal, prep.input_err);
    let nblocks = c / b;
    let blocks = &prep.blocks;
    progress("component curves", 0.1);

    // 3. curves D(b), b = 0..=8 (weighted SSE, code units²): per component in
    // static grouping; per position of the per-tile energy ranking in dynamic
    // grouping (a dynamic group is a range of those positions)
    let comp_hists = match opts.grouping {
        Grouping::Static => component_hists(&prep),
        Grouping::Dynamic => position_hists(&prep, opts.tile),
    };
    let curves = component_curves(&comp_hists, opts.style);
    progress("partition", 0.4);

    // the SSE budget in code units² for an SQNR target
    let scale2 = input.scale * input.scale;
    let sse_target = match opts.target {
        Target::SqnrDb(s) => {
            let allowed = signal / 10f64.powf(s / 10.0) - input_err;
            if allowed <= 0.0 {
                return Err(GoldenError::invalid(
                    "target SQNR",
                    format!("{s} dB is beyond the int8 input mapping itself ({:.2} dB)", sqnr_db(signal, input_err)),
                ));
            }
            Some(allowed / scale2)
        }
        Target::BitsPerValue(_) => None,
    };
    let predicted = |sse: f64| sqnr_db(signal, sse * scale2 + input_err);
    let index_bits_max = group_index_bits(opts.groups) as u64;
    let code_budget = |side_bits: u64| -> Option<u64> {
        match opts.target {
            Target::BitsPerValue(r) => {
                let words = (r * (opts.tile * c) as f64 / opts.word_bits as f64 + 1e-9).floor() as u64;
                let bits = (words * opts.word_bits as u64).checked_sub(side_bits)?;
                Some(bits / opts.tile as u64)
            }
            Target::SqnrDb(_) => Some(u64::MAX),
        }
    };
    let side_max = if opts.grouping == Grouping::Dynamic { nblocks as u64 * b as u64 * index_bits_max } else { 0 };
    let budget0 = code_budget(side_max).ok_or_else(|| {
        GoldenError::invalid("target bits per value", "too small to hold the dynamic group maps; use a larger tile or fewer groups")
    })?;

    // 4. partition of each block's ranking into groups
    let ranked_curves: Vec<Vec<[f64; 9]>> = match opts.grouping {
        Grouping::Static => blocks.iter().zip(&curves).map(|(bs, cv)| bs.rank.iter().map(|&k| cv[k]).collect()).collect(),
        Grouping::Dynamic => curves.clone(),
    };
    let sizes: Vec<Vec<usize>> = match opts.partition {
        Partition::Equal => (0..nblocks).map(|_| equal_sizes(b, opts.groups)).collect(),
        Partition::Optimal => optimal_partition(&ranked_curves, opts.groups, budget0, sse_target),
    };

    // group data: the union of the group's ranked components (static) or ranking positions (dynamic)
    let group_hists: Vec<Vec<WeightedHist>> = blocks
        .par_iter()
        .enumerate()
        .map(|(bi, bs)| {
            let mut r = 0;
            sizes[bi]
                .iter()
                .map(|&n| {
                    let parts: Vec<&WeightedHist> = match opts.grouping {
                        Grouping::Static => bs.rank[r..r + n].iter().map(|&k| &comp_hists[bi][k]).collect(),
                        Grouping::Dynamic => comp_hists[bi][r..r + n].iter().collect(),
                    };
                    r += n;
                    WeightedHist::merge(&parts)
                })
                .collect()
        })
        .collect();
    progress("bit-width search", 0.6);

    // 5. dynamic bit-width search
    let side_bits: u64 = if opts.grouping == Grouping::Dynamic {
        sizes.iter().map(|s| b as u64 * group_index_bits(s.len()) as u64).sum()
    } else {
        0
    };
    let budget = code_budget(side_bits).unwrap_or(0);
    let mut search = Search::new(group_hists, sizes.clone(), opts.style);
    let mut traj = Vec::new();
    let step = |action: &str, blk: Option<usize>, g: Option<usize>, s: &Search| SearchStep {
        action: action.into(),
        block: blk,
        group: g,
        bits_per_vector: s.bits_per_vector(),
        code_bpv: s.bits_per_vector() as f64 / c as f64,
        predicted_sqnr_db: predicted(s.sse()),
    };
    traj.push(step("start", None, None, &search));
    if let Some(t) = sse_target {
        if search.sse() > t {
            return Err(GoldenError::invalid(
                "target SQNR",
                format!("unreachable: even 8-bit codes give {:.2} dB on the calibration data", predicted(search.sse())),
            ));
        }
    }
    loop {
        let over = search.bits_per_vector() > budget;
        if !over && sse_target.is_none() {
            break;
        }
        let Some((bi, g, new_sse)) = search.best_cut() else { break };
        if let Some(t) = sse_target {
            if new_sse > t {
                break;
            }
        }
        search.set_bits(bi, g, search.bits[bi][g] - 1);
        traj.push(step("cut", Some(bi), Some(g), &search));
    }
    if search.bits_per_vector() > budget {
        return Err(GoldenError::invalid("target bits per value", "cannot be met even with every component dropped"));
    }
    // ranked elements (components or ranking positions) of each block, for boundary moves
    let elems: Vec<Vec<&WeightedHist>> = blocks
        .iter()
        .enumerate()
        .map(|(bi, bs)| match opts.grouping {
            Grouping::Static => bs.rank.iter().map(|&k| &comp_hists[bi][k]).collect(),
            Grouping::Dynamic => comp_hists[bi].iter().collect(),
        })
        .collect();
    for _round in 0..8 {
        // trades: +1 bit on one group, -1 on another (or +1 into slack) while distortion drops
        for _ in 0..10_000 {
            let limit = if sse_target.is_some() { search.bits_per_vector() } else { budget };
            match search.best_trade(limit, sse_target) {
                Some((up, down)) => {
                    search.set_bits(up.0, up.1, search.bits[up.0][up.1] + 1);
                    if let Some(d) = down {
                        search.set_bits(d.0, d.1, search.bits[d.0][d.1] - 1);
                    }
                    traj.push(step(if down.is_some() { "trade" } else { "raise" }, Some(up.0), Some(up.1), &search));
                }
                None => break,
            }
        }
        // group boundaries: move by a few ranked elements while distortion drops
        if opts.partition == Partition::Equal {
            break;
        }
        let mut moved = false;
        for bi in 0..nblocks {
            for g in 0..search.sizes[bi].len().saturating_sub(1) {
                for delta in [1isize, -1, 2, -2, 4, -4, 8, -8] {
                    let limit = if sse_target.is_some() { search.bits_per_vector() } else { budget };
                    if search.try_boundary(bi, g, delta, &elems[bi], limit, sse_target) {
                        traj.push(step("boundary", Some(bi), Some(g), &search));
                        moved = true;
                    }
                }
            }
        }
        if !moved {
            break;
        }
    }
    let sizes = search.sizes.clone();
    progress("building policy", 0.9);

    // 6. the policy
    let policy_blocks: Vec<BlockPolicy> = blocks
        .iter()
        .enumerate()
        .map(|(bi, bs)| BlockPolicy {
            mean: bs.mean.clone(),
            inverse_mean: bs.mean.clone(),
            forward: bs.fixed.forward.clone(),
            forward_shift: bs.fixed.forward_shift.clone(),
            inverse: bs.fixed.inverse.clone(),
            inverse_shift: bs.fixed.inverse_shift,
            rank: bs.rank.clone(),
            groups: sizes[bi]
                .iter()
                .enumerate()
                .map(|(g, &n)| {
                    let q = search.quantizer(bi, g);
                    GroupPolicy { size: n, bits: q.bits, qmul: q.qmul, encode: q.encode.clone(), levels: q.levels.clone() }
                })
                .collect(),
        })
        .collect();
    let mut policy = Policy {
        format: POLICY_FORMAT.into(),
        version: POLICY_VERSION,
        channels: c,
        input,
        transform: opts.transform,
        block_size: b,
        grouping: opts.grouping,
        tile: opts.tile,
        word_bits: opts.word_bits,
        blocks: policy_blocks,
        calibration: None,
    };
    policy.validate()?;
    if opts.learn_inverse_mean {
        learn_inverse_mean(&mut policy, tensors)?;
    }

    // measured on the calibration tensors through the golden codec
    let codec = Codec::new(&policy)?;
    let (mut xs, mut xh) = (Vec::new(), Vec::new());
    for (i, t) in tensors.iter().enumerate() {
        let codes = to_codes(t, &policy.input, &format!("calibration tensor {i}"))?;
        let rec = codec.reconstruct(&codes, &t.shape)?;
        xs.extend(t.to_f64());
        xh.extend(rec.iter().map(|&q| code_to_float(q as i32, &policy.input)));
    }
    let cal = Calibration {
        payload_bpv: policy.payload_bpv(),
        calibration_distortion: distortion(&xs, &xh),
        trajectory: traj,
        options: opts.clone(),
        vectors_used: nv,
        policy: policy.clone(),
        candidates: Vec::new(),
    };
    let mut record = serde_json::to_value(&cal).expect("serializes");
    if let Some(o) = record.as_object_mut() {
        o.remove("policy");
    }
    policy.calibration = Some(record);
    progress("done", 1.0);
    Ok(Calibration { policy, ..cal })
}

/// Learns each channel's inverse mean: the offset added after the inverse
/// transform that minimises the squared error after the clamp to the code
/// range (searched within ±64 of the forward mean). On sparse ReLU maps this
/// lets the clamp at 0 remove the reconstruction noise of zero activations.
fn learn_inverse_mean(policy: &mut Policy, tensors: &[&Tensor]) -> Result<()> {
    let codec = Codec::new(policy)?;
    let c = policy.channels;
    let b = policy.block_size;
    let (lo, hi) = (policy.input.code_range.min() as i64, policy.input.code_range.max() as i64);
    // per channel: (unclamped output, target code) pairs, subsampled to at most 200k per channel
    let mut pairs: Vec<Vec<(i64, i64)>> = vec![Vec::new(); c];
    for (ti, t) in tensors.iter().enumerate() {
        let codes = to_codes(t, &policy.input, &format!("calibration tensor {ti}"))?;
        let u = codec.inverse_unclamped(&codes, &t.shape)?;
        let s = t.spatial();
        let stride = (t.shape[0] * s).div_ceil(200_000).max(1);
        for n in 0..t.shape[0] {
            for ch in 0..c {
                let base = (n * c + ch) * s;
                for sp in (0..s).step_by(stride) {
                    pairs[ch].push((u[base + sp], codes[base + sp] as i64));
                }
            }
        }
    }
    let best: Vec<i32> = pairs
        .par_iter()
        .enumerate()
        .map(|(ch, pv)| {
            let m0 = policy.blocks[ch / b].mean[ch % b];
            let err = |m: i64| pv.iter().map(|&(u, x)| ((u + m).clamp(lo, hi) - x).pow(2)).sum::<i64>();
            let mut best = (err(m0 as i64), m0);
            for m in (m0 - 64).max(-1024)..=(m0 + 64).min(1023) {
                let e = err(m as i64);
                if e < best.0 {
                    best = (e, m);
                }
            }
            best.1
        })
        .collect();
    for (ch, m) in best.into_iter().enumerate() {
        policy.blocks[ch / b].inverse_mean[ch % b] = m;
    }
    Ok(())
}

/// Sizes of `g` near-equal groups of a block of `b` (fewer if b < g).
pub fn equal_sizes(b: usize, g: usize) -> Vec<usize> {
    let g = g.min(b);
    (0..g).map(|i| b / g + usize::from(i < b % g)).collect()
}

/// Chooses group sizes for every block by a Lagrangian dynamic programme:
/// minimise Σ distortion + λ·Σ bits over ≤ G contiguous segments of each
/// block's ranked curve, with λ bisected to meet the bit budget (or the
/// distortion target).
fn optimal_partition(curves: &[Vec<[f64; 9]>], g: usize, budget: u64, sse_target: Option<f64>) -> Vec<Vec<usize>> {
    let solve = |lambda: f64| -> (Vec<Vec<usize>>, u64, f64) {
        let mut all = Vec::new();
        let (mut bits, mut sse) = (0u64, 0.0);
        for cv in curves {
            let (s, bb, d) = segment_block(cv, g, lambda);
            all.push(s);
            bits += bb;
            sse += d;
        }
        (all, bits, sse)
    };
    let fits = |bits: u64, sse: f64| match sse_target {
        Some(t) => sse <= t,
        None => bits <= budget,
    };
    // λ small: many bits; λ large: few bits. Find the smallest λ that fits.
    let (mut lo, mut hi) = (1e-12f64, 1.0f64);
    let mut best = solve(hi);
    while !fits(best.1, best.2) && sse_target.is_none() && hi < 1e30 {
        hi *= 16.0;
        best = solve(hi);
    }
    if sse_target.is_some() {
        // for a quality target, λ large breaks it: search down from a λ that fits
        let s = solve(lo);
        if !fits(s.1, s.2) {
            return s.0;
        }
        best = s;
        hi = 1e30;
        for _ in 0..80 {
            let mid = (lo.ln() + hi.ln()) * 0.5;
            let r = solve(mid.exp());
            if fits(r.1, r.2) {
                lo = mid.exp();
                best = r;
            } else {
                hi = mid.exp();
            }
        }
        return best.0;
    }
    for _ in 0..60 {
        let mid = ((lo.ln() + hi.ln()) * 0.5).exp();
        let r = solve(mid);
        if fits(r.1, r.2) {
            hi = mid;
            best = r;
        } else {
            lo = mid;
        }
    }
    best.0
}

/// One block's optimal segmentation for a λ: (sizes, bits, distortion).
fn segment_block(cv: &[[f64; 9]], g: usize, lambda: f64) -> (Vec<usize>, u64, f64) {
    let n = cv.len();
    let mut pre = vec![[0.0f64; 9]; n + 1];
    for i in 0..n {
        for bb in 0..9 {
            pre[i + 1][bb] = pre[i][bb] + cv[i][bb];
        }
    }
    let inf = f64::INFINITY;
    // dp[s][i]: best cost covering the first i ranked components with s segments
    let mut dp = vec![vec![inf; n + 1]; g + 1];
    let mut arg = vec![vec![(0usize, 0usize); n + 1]; g + 1];
    dp[0][0] = 0.0;
    for s in 1..=g {
        for i in 1..=n {
            let mut best = inf;
            let mut ba = (0, 0);
            for j in (s - 1)..i {
                let base = dp[s - 1][j];
                if base == inf {
                    continue;
                }
                let len = (i - j) as f64;
                for bb in 0..9 {
                    let cost = base + pre[i][bb] - pre[j][bb] + lambda * len * bb as f64;
                    if cost < best {
                        best = cost;
                        ba = (j, bb);
                    }
                }
            }
            dp[s][i] = best;
            arg[s][i] = ba;
        }
    }
    let mut sbest = 1;
    for s in 1..=g {
        if dp[s][n] < dp[sbest][n] - 1e-12 * dp[sbest][n].abs() {
            sbest = s;
        }
    }
    let mut sizes = Vec::new();
    let (mut bits, mut sse) = (0u64, 0.0);
    let (mut s, mut i) = (sbest, n);
    while s > 0 {
        let (j, bb) = arg[s][i];
        sizes.push(i - j);
        bits += ((i - j) * bb) as u64;
        sse += pre[i][bb] - pre[j][bb];
        i = j;
        s -= 1;
    }
    sizes.reverse();
    (sizes, bits, sse)
}

/// The bit-width search state: each group's width and a cache of its learned
/// quantizer at every width.
struct Search {
    hists: Vec<Vec<WeightedHist>>,
    sizes: Vec<Vec<usize>>,
    style: QuantStyle,
    bits: Vec<Vec<u32>>,
    cache: Vec<Vec<[Option<LearnedQuantizer>; 9]>>,
}

impl Search {
    fn new(hists: Vec<Vec<WeightedHist>>, sizes: Vec<Vec<usize>>, style: QuantStyle) -> Self {
        let bits = sizes.iter().map(|s| vec![MAX_BITS; s.len()]).collect();
        let mut cache: Vec<Vec<[Option<LearnedQuantizer>; 9]>> =
            sizes.iter().map(|s| (0..s.len()).map(|_| Default::default()).collect()).collect();
        // learn the starting (8-bit) and first-cut (7-bit) quantizers in parallel
        let jobs: Vec<(usize, usize, u32)> = sizes
            .iter()
            .enumerate()
            .flat_map(|(bi, s)| (0..s.len()).flat_map(move |g| [(bi, g, 8u32), (bi, g, 7u32)]))
            .collect();
        let learned: Vec<_> = jobs.par_iter().map(|&(bi, g, bb)| learn_quantizer(&hists[bi][g], bb, style)).collect();
        for (&(bi, g, bb), q) in jobs.iter().zip(learned) {
            cache[bi][g][bb as usize] = Some(q);
        }
        Search { hists, sizes, style, bits, cache }
    }

    /// Tries moving the boundary between groups g and g+1 of block `bi` by
    /// `delta` ranked elements (positive: group g grows), with both groups'
    /// quantizers re-learned at their current widths; keeps the move if it
    /// lowers distortion within the bit limit (and the distortion target).
    fn try_boundary(&mut self, bi: usize, g: usize, delta: isize, elems: &[&WeightedHist], limit: u64, sse_target: Option<f64>) -> bool {
        let (na, nb) = (self.sizes[bi][g] as isize + delta, self.sizes[bi][g + 1] as isize - delta);
        if na < 1 || nb < 1 {
            return false;
        }
        let (na, nb) = (na as usize, nb as usize);
        let (ba, bb) = (self.bits[bi][g] as u64, self.bits[bi][g + 1] as u64);
        let used = self.bits_per_vector() - self.sizes[bi][g] as u64 * ba - self.sizes[bi][g + 1] as u64 * bb + na as u64 * ba + nb as u64 * bb;
        if used > limit {
            return false;
        }
        let start: usize = self.sizes[bi][..g].iter().sum();
        let ha = WeightedHist::merge(&elems[start..start + na]);
        let hb = WeightedHist::merge(&elems[start + na..start + na + nb]);
        let qa = learn_quantizer(&ha, ba as u32, self.style);
        let qb = learn_quantizer(&hb, bb as u32, self.style);
        let old = self.cache[bi][g][ba as usize].as_ref().unwrap().sse + self.cache[bi][g + 1][bb as usize].as_ref().unwrap().sse;
        let new_total = self.sse() - old + qa.sse + qb.sse;
        if qa.sse + qb.sse >= old * (1.0 - 1e-9) || sse_target.is_some_and(|t| new_total > t) {
            return false;
        }
        self.sizes[bi][g] = na;
        self.sizes[bi][g + 1] = nb;
        self.hists[bi][g] = ha;
        self.hists[bi][g + 1] = hb;
        self.cache[bi][g] = Default::default();
        self.cache[bi][g + 1] = Default::default();
        self.cache[bi][g][ba as usize] = Some(qa);
        self.cache[bi][g + 1][bb as usize] = Some(qb);
        true
    }

    fn sse_at(&mut self, bi: usize, g: usize, bb: u32) -> f64 {
        self.quantizer(bi, g);
        if self.cache[bi][g][bb as usize].is_none() {
            self.cache[bi][g][bb as usize] = Some(learn_quantizer(&self.hists[bi][g], bb, self.style));
        }
        // a narrower code never beats a wider one in the search's view
        let mut v = self.cache[bi][g][bb as usize].as_ref().unwrap().sse;
        if bb > 0 {
            v = v.min(self.hists[bi][g].energy());
        }
        v
    }

    fn quantizer(&mut self, bi: usize, g: usize) -> &LearnedQuantizer {
        let bb = self.bits[bi][g] as usize;
        if self.cache[bi][g][bb].is_none() {
            self.cache[bi][g][bb] = Some(learn_quantizer(&self.hists[bi][g], bb as u32, self.style));
        }
        self.cache[bi][g][bb].as_ref().unwrap()
    }

    fn set_bits(&mut self, bi: usize, g: usize, bb: u32) {
        self.bits[bi][g] = bb;
        self.quantizer(bi, g);
    }

    fn bits_per_vector(&self) -> u64 {
        self.bits.iter().zip(&self.sizes).flat_map(|(bs, ss)| bs.iter().zip(ss).map(|(&b, &n)| b as u64 * n as u64)).sum()
    }

    fn sse(&self) -> f64 {
        let mut s = 0.0;
        for (bi, bs) in self.bits.iter().enumerate() {
            for (g, &bb) in bs.iter().enumerate() {
                s += self.cache[bi][g][bb as usize].as_ref().map(|q| q.sse).unwrap_or(0.0);
            }
        }
        s
    }

    /// The cut with the least added distortion per bit saved: (block, group, new total sse).
    fn best_cut(&mut self) -> Option<(usize, usize, f64)> {
        let cur = self.sse();
        let mut best: Option<(f64, usize, usize, f64)> = None;
        for bi in 0..self.bits.len() {
            for g in 0..self.bits[bi].len() {
                let bb = self.bits[bi][g];
                if bb == 0 {
                    continue;
                }
                let now = self.cache[bi][g][bb as usize].as_ref().unwrap().sse;
                let after = self.sse_at(bi, g, bb - 1);
                let per_bit = (after - now) / self.sizes[bi][g] as f64;
                if best.as_ref().is_none_or(|b| per_bit < b.0) {
                    best = Some((per_bit, bi, g, cur - now + after));
                }
            }
        }
        best.map(|b| (b.1, b.2, b.3))
    }

    /// The best single-bit raise (paid by a cut elsewhere if needed) that keeps
    /// bits <= limit and lowers distortion; None when no move helps.
    #[allow(clippy::type_complexity)]
    fn best_trade(&mut self, limit: u64, sse_target: Option<f64>) -> Option<((usize, usize), Option<(usize, usize)>)> {
        let used = self.bits_per_vector();
        let groups: Vec<(usize, usize)> =
            (0..self.bits.len()).flat_map(|bi| (0..self.bits[bi].len()).map(move |g| (bi, g))).collect();
        let mut gain_up = Vec::new();
        for &(bi, g) in &groups {
            let bb = self.bits[bi][g];
            let now = self.cache[bi][g][bb as usize].as_ref().unwrap().sse;
            let up = if bb < MAX_BITS { Some(now - self.sse_at(bi, g, bb + 1)) } else { None };
            let down = if bb > 0 { Some(self.sse_at(bi, g, bb - 1) - now) } else { None };
            gain_up.push((up, down));
        }
        let mut best: Option<(f64, (usize, usize), Option<(usize, usize)>)> = None;
        for (i, &(ua, ga)) in groups.iter().enumerate() {
            let Some(up) = gain_up[i].0 else { continue };
            let na = self.sizes[ua][ga] as u64;
            if up <= 0.0 {
                continue;
            }
            if used + na <= limit && sse_target.is_none() {
                if best.as_ref().is_none_or(|b| up > b.0) {
                    best = Some((up, (ua, ga), None));
                }
                continue;
            }
            for (j, &(ub, gb)) in groups.iter().enumerate() {
                if i == j {
                    continue;
                }
                let Some(down) = gain_up[j].1 else { continue };
                let nb = self.sizes[ub][gb] as u64;
                if used + na > limit + nb {
                    continue;
                }
                let net = up - down;
                if net > 1e-9 * self.sse().max(1.0) && best.as_ref().is_none_or(|b| net > b.0) {
                    best = Some((net, (ua, ga), Some((ub, gb))));
                }
            }
        }
        best.map(|b| (b.1, b.2))
    }
}
