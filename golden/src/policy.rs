//! The compression policy: everything the compressor and decompressor need,
//! learned by calibration and stored as JSON. Its integer fields are exactly
//! what the hardware holds in ROM (see docs/scheme.md).

use crate::bitstream::check_word_bits;
use crate::error::{GoldenError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Format tag stored in every policy file.
pub const POLICY_FORMAT: &str = "actcomp-policy";
/// Policy format version this build reads and writes.
pub const POLICY_VERSION: u32 = 1;
/// Fixed right shift of the quantizer's multiply: `fine = (y*qmul + 2^15) >> 16`.
pub const QUANT_SHIFT: u32 = 16;
/// Number of fine quantization cells (fine index range -128..=127).
pub const FINE_CELLS: usize = 256;
/// Most groups a block may have.
pub const MAX_GROUPS: usize = 8;
/// Widest code.
pub const MAX_BITS: u32 = 8;
/// Largest transform output magnitude (outputs saturate to i16).
pub const Y_MAX: i32 = 32767;
/// Smallest transform output (outputs saturate to i16).
pub const Y_MIN: i32 = -32768;

/// Element type of a tensor file.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// signed 8-bit integer.
    I8,
    /// unsigned 8-bit integer.
    U8,
}

impl Dtype {
    /// Numeric code used in the `.acz` header.
    pub fn code(self) -> u8 {
        match self {
            Dtype::F32 => 0,
            Dtype::F64 => 1,
            Dtype::I8 => 2,
            Dtype::U8 => 3,
        }
    }
    /// Inverse of [`Dtype::code`].
    pub fn from_code(c: u8) -> Option<Dtype> {
        [Dtype::F32, Dtype::F64, Dtype::I8, Dtype::U8].into_iter().find(|d| d.code() == c)
    }
    /// Whether values of this type are floats (and so go through the int8 mapping).
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F64)
    }
}

/// The accelerator's integer input format: signed int8 or unsigned uint8.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CodeRange {
    /// -128..=127
    Int8,
    /// 0..=255 (typical after ReLU)
    Uint8,
}

impl CodeRange {
    /// Smallest code.
    pub fn min(self) -> i32 {
        match self {
            CodeRange::Int8 => -128,
            CodeRange::Uint8 => 0,
        }
    }
    /// Largest code.
    pub fn max(self) -> i32 {
        match self {
            CodeRange::Int8 => 127,
            CodeRange::Uint8 => 255,
        }
    }
}

/// How source values map to the integer input format:
/// `q = clamp(round_half_away(x / scale) + zero_point, min, max)` for floats,
/// identity for int8/uint8 sources; back: `x = (q - zero_point) * scale`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputFormat {
    /// Element type of the tensors this policy compresses.
    pub source_dtype: Dtype,
    /// Integer format the hardware sees.
    pub code_range: CodeRange,
    /// Float value of one integer step (1 for integer sources).
    pub scale: f64,
    /// Integer code of the float value 0 (0 for integer sources).
    pub zero_point: i32,
}

/// Which channel transform the policy was built with (informational; the
/// matrices in each block are what count).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TransformKind {
    /// Principal components of the calibration data, per block.
    Pca,
    /// Orthonormal DCT-II over the channels of a block.
    Dct,
    /// No transform: mixed precision over channels.
    Identity,
}

/// How components are assigned to importance groups.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    /// Fixed ranking from calibration; no side information.
    Static,
    /// Per tile re-ranking by component energy; the group map is sent per tile.
    Dynamic,
}

/// One importance group of a block: `size` components sharing a bit-width
/// and a quantizer (fine step `65536/qmul`, 256-entry code table, level table).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupPolicy {
    /// Number of components in the group.
    pub size: usize,
    /// Code width 0..=8 (0 = components dropped).
    pub bits: u32,
    /// Quantizer multiplier 1..=32767 (0 when bits = 0).
    pub qmul: u32,
    /// Code for each fine index -128..=127 (256 entries; empty when bits = 0).
    pub encode: Vec<i32>,
    /// Reconstruction value (transform-output units) of each code, indexed by
    /// `code + 2^(bits-1)` (2^bits entries; empty when bits = 0).
    pub levels: Vec<i32>,
}

/// Everything about one block of `block_size` channels.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BlockPolicy {
    /// Integer mean subtracted from each channel before the transform.
    pub mean: Vec<i32>,
    /// Forward matrix `[component][channel]`, signed 16-bit entries.
    pub forward: Vec<Vec<i32>>,
    /// Per-component right shift of the forward accumulator (1..=40).
    pub forward_shift: Vec<u32>,
    /// Inverse matrix `[channel][component]`, signed 16-bit entries.
    pub inverse: Vec<Vec<i32>>,
    /// Integer added to each channel after the inverse transform, before the
    /// clamp (learned: it may differ from `mean`, e.g. to let the clamp at 0
    /// of uint8 codes remove reconstruction noise of sparse ReLU maps).
    pub inverse_mean: Vec<i32>,
    /// Right shift of the inverse accumulator (1..=48).
    pub inverse_shift: u32,
    /// Static importance order: `rank[r]` is the component ranked `r` (0 = most important).
    pub rank: Vec<usize>,
    /// Groups in importance order; sizes add up to the block size.
    pub groups: Vec<GroupPolicy>,
}

/// A complete compression policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Always [`POLICY_FORMAT`].
    pub format: String,
    /// Always [`POLICY_VERSION`].
    pub version: u32,
    /// Channel count C of the tensors (axis 1 of N x C x ...).
    pub channels: usize,
    /// Source dtype and integer mapping.
    pub input: InputFormat,
    /// Transform the blocks were built with.
    pub transform: TransformKind,
    /// Channels per block B (divides C).
    pub block_size: usize,
    /// Static or dynamic grouping.
    pub grouping: Grouping,
    /// Pixel vectors per tile T.
    pub tile: usize,
    /// Payload word width W (32 or 64).
    pub word_bits: u32,
    /// One entry per block, C / B of them.
    pub blocks: Vec<BlockPolicy>,
    /// Calibration record (target, search trajectory, timings); not part of
    /// the fingerprint, ignored by the codec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<serde_json::Value>,
}

/// Bits needed to send one group index, for `groups` groups.
pub fn group_index_bits(groups: usize) -> u32 {
    if groups <= 1 {
        0
    } else {
        usize::BITS - (groups - 1).leading_zeros()
    }
}

impl Policy {
    /// Number of blocks C / B.
    pub fn num_blocks(&self) -> usize {
        self.channels / self.block_size
    }

    /// Code bits of one pixel vector (all blocks), excluding side information.
    pub fn bits_per_vector(&self) -> u64 {
        self.blocks
            .iter()
            .flat_map(|b| b.groups.iter())
            .map(|g| g.size as u64 * g.bits as u64)
            .sum()
    }

    /// Side-information bits of one tile (group maps; 0 in static grouping).
    pub fn side_bits_per_tile(&self) -> u64 {
        match self.grouping {
            Grouping::Static => 0,
            Grouping::Dynamic => self
                .blocks
                .iter()
                .map(|b| self.block_size as u64 * group_index_bits(b.groups.len()) as u64)
                .sum(),
        }
    }

    /// Payload words of a tile holding `vectors` pixel vectors (padding included).
    pub fn words_per_tile(&self, vectors: usize) -> u64 {
        let bits = self.side_bits_per_tile() + vectors as u64 * self.bits_per_vector();
        bits.div_ceil(self.word_bits as u64)
    }

    /// Payload words for a tensor of `vectors` pixel vectors.
    pub fn payload_words(&self, vectors: usize) -> u64 {
        let full = vectors / self.tile;
        let rest = vectors % self.tile;
        let mut w = full as u64 * self.words_per_tile(self.tile);
        if rest > 0 {
            w += self.words_per_tile(rest);
        }
        w
    }

    /// Payload bits per value of a full tile (side info and padding included).
    pub fn payload_bpv(&self) -> f64 {
        (self.words_per_tile(self.tile) * self.word_bits as u64) as f64
            / (self.tile * self.channels) as f64
    }

    /// 64-bit fingerprint of everything the codec uses (the calibration record excluded):
    /// the first 8 bytes (little-endian) of SHA-256 over the canonical JSON.
    pub fn fingerprint(&self) -> u64 {
        let mut p = self.clone();
        p.calibration = None;
        let bytes = serde_json::to_vec(&p).expect("policy serializes");
        let digest = Sha256::digest(&bytes);
        u64::from_le_bytes(digest[..8].try_into().unwrap())
    }

    /// Parses and validates a policy from JSON text; `path` names it in errors.
    pub fn from_json(text: &str, path: &str) -> Result<Policy> {
        let p: Policy = serde_json::from_str(text).map_err(|e| GoldenError::Json {
            path: path.to_string(),
            reason: format!("not a valid policy: {e}"),
        })?;
        p.validate().map_err(|e| GoldenError::Json { path: path.to_string(), reason: e.to_string() })?;
        Ok(p)
    }

    /// Reads and validates a policy file.
    pub fn load(path: &std::path::Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GoldenError::Io { path: path.display().to_string(), source: e })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Writes the policy as pretty JSON.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("policy serializes");
        std::fs::write(path, text).map_err(|e| GoldenError::Io { path: path.display().to_string(), source: e })
    }

    /// Checks every field against the scheme's limits; the error names the field.
    pub fn validate(&self) -> Result<()> {

        if self.format != POLICY_FORMAT {
            return Err(GoldenError::invalid("format", format!("expected \"{POLICY_FORMAT}\", found \"{}\"", self.format)));
        }
        if self.version != POLICY_VERSION {
            return Err(GoldenError::invalid("version", format!("this build reads version {POLICY_VERSION}, found {}", self.version)));
        }
        if self.channels == 0 {
            return Err(GoldenError::invalid("channels", "must be at least 1"));
        }
        if self.block_size == 0 || self.channels % self.block_size != 0 {
            return Err(GoldenError::invalid(
                "block_size",
                format!("{} does not divide the channel count {}", self.block_size, self.channels),
            ));
        }
        if self.tile == 0 || self.tile > 1 << 16 {
            return Err(GoldenError::invalid("tile", format!("{} is outside 1..=65536", self.tile)));
        }
        check_word_bits(self.word_bits)?;
        let inp = &self.input;
        if !(inp.scale.is_finite() && inp.scale > 0.0) {
            return Err(GoldenError::invalid("input.scale", format!("{} is not a positive finite number", inp.scale)));
        }
        let (lo, hi) = (inp.code_range.min(), inp.code_range.max());
        if inp.zero_point < lo || inp.zero_point > hi {
            return Err(GoldenError::invalid("input.zero_point", format!("{} is outside the code range {lo}..={hi}", inp.zero_point)));
        }
        if !inp.source_dtype.is_float() {
            let expect = if inp.source_dtype == Dtype::I8 { CodeRange::Int8 } else { CodeRange::Uint8 };
            if inp.code_range != expect || inp.scale != 1.0 || inp.zero_point != 0 {
                return Err(GoldenError::invalid("input", "integer sources are taken as they are: code range of the dtype, scale 1, zero point 0"));
            }
        }
        if self.blocks.len() != self.num_blocks() {
            return Err(GoldenError::invalid("blocks", format!("{} blocks for {} channels in blocks of {}", self.blocks.len(), self.channels, self.block_size)));
        }
        let b = self.block_size;
        for (bi, blk) in self.blocks.iter().enumerate() {
            let f = |name: &str| format!("blocks[{bi}].{name}");
            if blk.mean.len() != b {
                return Err(GoldenError::invalid(f("mean"), format!("has {} entries, block size is {b}", blk.mean.len())));
            }
            if let Some(m) = blk.mean.iter().find(|&&m| m < lo || m > hi) {
                return Err(GoldenError::invalid(f("mean"), format!("{m} is outside the code range {lo}..={hi}")));
            }
            if blk.inverse_mean.len() != b {
                return Err(GoldenError::invalid(f("inverse_mean"), format!("has {} entries, block size is {b}", blk.inverse_mean.len())));
            }
            if let Some(m) = blk.inverse_mean.iter().find(|&&m| !(-1024..=1023).contains(&m)) {
                return Err(GoldenError::invalid(f("inverse_mean"), format!("{m} is outside -1024..=1023")));
            }
            check_matrix(&blk.forward, b, &f("forward"))?;
            check_matrix(&blk.inverse, b, &f("inverse"))?;
            if blk.forward_shift.len() != b {
                return Err(GoldenError::invalid(f("forward_shift"), format!("has {} entries, block size is {b}", blk.forward_shift.len())));
            }
            if let Some(s) = blk.forward_shift.iter().find(|&&s| !(1..=40).contains(&s)) {
                return Err(GoldenError::invalid(f("forward_shift"), format!("{s} is outside 1..=40")));
            }
            if !(1..=48).contains(&blk.inverse_shift) {
                return Err(GoldenError::invalid(f("inverse_shift"), format!("{} is outside 1..=48", blk.inverse_shift)));
            }
            let mut seen = vec![false; b];
            if blk.rank.len() != b {
                return Err(GoldenError::invalid(f("rank"), format!("has {} entries, block size is {b}", blk.rank.len())));
            }
            for &r in &blk.rank {
                if r >= b || seen[r] {
                    return Err(GoldenError::invalid(f("rank"), "is not a permutation of the block's components"));
                }
                seen[r] = true;
            }
            if blk.groups.is_empty() || blk.groups.len() > MAX_GROUPS {
                return Err(GoldenError::invalid(f("groups"), format!("{} groups; 1..={MAX_GROUPS} allowed", blk.groups.len())));
            }
            let total: usize = blk.groups.iter().map(|g| g.size).sum();
            if total != b {
                return Err(GoldenError::invalid(f("groups"), format!("group sizes add up to {total}, block size is {b}")));
            }
            for (gi, g) in blk.groups.iter().enumerate() {
                let gf = |name: &str| format!("blocks[{bi}].groups[{gi}].{name}");
                if g.size == 0 {
                    return Err(GoldenError::invalid(gf("size"), "must be at least 1"));
                }
                if g.bits > MAX_BITS {
                    return Err(GoldenError::invalid(gf("bits"), format!("{} bits; at most {MAX_BITS}", g.bits)));
                }
                if g.bits == 0 {
                    continue;
                }
                if g.qmul == 0 || g.qmul > 32767 {
                    return Err(GoldenError::invalid(gf("qmul"), format!("{} is outside 1..=32767", g.qmul)));
                }
                if g.encode.len() != FINE_CELLS {
                    return Err(GoldenError::invalid(gf("encode"), format!("has {} entries, needs {FINE_CELLS}", g.encode.len())));
                }
                let (clo, chi) = code_limits(g.bits);
                if let Some(c) = g.encode.iter().find(|&&c| c < clo || c > chi) {
                    return Err(GoldenError::invalid(gf("encode"), format!("code {c} does not fit {} bits", g.bits)));
                }
                if g.levels.len() != 1 << g.bits {
                    return Err(GoldenError::invalid(gf("levels"), format!("has {} entries, needs {}", g.levels.len(), 1u32 << g.bits)));
                }
                if let Some(l) = g.levels.iter().find(|&&l| !(Y_MIN..=Y_MAX).contains(&l)) {
                    return Err(GoldenError::invalid(gf("levels"), format!("{l} does not fit 16 bits")));
                }
            }
        }
        Ok(())
    }
}

/// Smallest and largest two's complement code of `bits` bits (1..=8).
pub fn code_limits(bits: u32) -> (i32, i32) {
    (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1)
}

fn check_matrix(m: &[Vec<i32>], b: usize, field: &str) -> Result<()> {
    if m.len() != b || m.iter().any(|r| r.len() != b) {
        return Err(GoldenError::invalid(field, format!("must be a {b} x {b} matrix")));
    }
    if let Some(v) = m.iter().flatten().find(|&&v| !(Y_MIN..=Y_MAX).contains(&v)) {
        return Err(GoldenError::invalid(field, format!("entry {v} does not fit 16 bits")));
    }
    Ok(())
}
