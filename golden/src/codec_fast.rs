//! The codec's fast tile engine: the same payload as the plain path in
//! [`crate::codec`], bit for bit, computed with
//!
//! * a *rest vector* shortcut: a block whose input codes all equal the
//!   input zero point (a pixel after ReLU that is zero in every channel of
//!   the block — most of a post-ReLU map) has a known transform output, so
//!   its codes, and their bit string under the tile's group map, are worked
//!   out once per tile; the decoder recognises that bit string and copies
//!   the known reconstruction;
//! * only the lanes of groups with more than 0 bits quantized, packed and unpacked;
//! * 32-bit quantizer arithmetic (`|y·qmul| < 2^30`, so exact), code tables
//!   that hold the packed field and level tables indexed by the raw field;
//! * a 64-bit accumulator bit packer and a branch-free reader ([`crate::bitpack`]);
//! * optionally AVX2 dense transforms ([`crate::kernels`]) where the block's
//!   bounds prove 32-bit accumulation exact.

use crate::bitpack::{BitSink, BitSource};
use crate::error::{GoldenError, Result};
use crate::grouping::dynamic_group_map_keys;
use crate::kernels::{transpose8x8, PairMatrix};
use crate::policy::{group_index_bits, BlockPolicy, Grouping, Policy, QUANT_SHIFT};
use crate::transform::{round_shift, sat16, BlockMatrices};

/// Where pixel vectors sit in an N x C x spatial tensor, and tile-sized
/// copies between that layout and vector-major rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Channels C.
    pub channels: usize,
    /// Product of the spatial axes.
    pub spatial: usize,
    /// Pixel vectors N x spatial.
    pub vectors: usize,
}

impl Layout {
    /// Runs of consecutive vectors `first..first+count` within one image: (vector offset, run length, flat base).
    fn runs(&self, first: usize, count: usize, mut f: impl FnMut(usize, usize, usize)) {
        let (c, s) = (self.channels, self.spatial);
        let mut t = 0;
        while t < count {
            let p = first + t;
            let (n, sp) = (p / s, p % s);
            let run = (s - sp).min(count - t);
            f(t, run, n * c * s + sp);
            t += run;
        }
    }

    /// Vectors `first..first+count` of `codes` (C order) into rows of `out` (`count x C`).
    pub fn gather(&self, codes: &[i16], first: usize, count: usize, out: &mut [i16]) {
        let (c, s) = (self.channels, self.spatial);
        self.runs(first, count, |t, run, base| {
            // every index below is < base + (c-1)·s + run, resp. (t + run)·c
            assert!(base + (c - 1) * s + run <= codes.len() && (t + run) * c <= out.len());
            let (c8, run8) = (c / 8 * 8, run / 8 * 8);
            for ch in (0..c8).step_by(8) {
                for j in (0..run8).step_by(8) {
                    transpose8x8(&codes[base + ch * s + j..], s, &mut out[(t + j) * c + ch..], c);
                }
            }
            for ch in 0..c {
                for j in if ch < c8 { run8 } else { 0 }..run {
                    // SAFETY: in bounds by the assert above (j < run, ch < c)
                    unsafe { *out.get_unchecked_mut((t + j) * c + ch) = *codes.get_unchecked(base + ch * s + j) };
                }
            }
        });
    }

    /// Rows of `vecs` (`count x C`) into vectors `first..first+count` of `codes` (C order).
    pub fn scatter(&self, vecs: &[i16], first: usize, count: usize, codes: &mut [i16]) {
        let (c, s) = (self.channels, self.spatial);
        self.runs(first, count, |t, run, base| {
            assert!(base + (c - 1) * s + run <= codes.len() && (t + run) * c <= vecs.len());
            let (c8, run8) = (c / 8 * 8, run / 8 * 8);
            for ch in (0..c8).step_by(8) {
                for j in (0..run8).step_by(8) {
                    transpose8x8(&vecs[(t + j) * c + ch..], c, &mut codes[base + ch * s + j..], s);
                }
            }
            for ch in 0..c {
                for j in if ch < c8 { run8 } else { 0 }..run {
                    // SAFETY: in bounds by the assert above (j < run, ch < c)
                    unsafe { *codes.get_unchecked_mut(base + ch * s + j) = *vecs.get_unchecked((t + j) * c + ch) };
                }
            }
        });
    }
}

/// One block of the policy in the engine's form.
#[derive(Debug, Clone)]
struct FastBlock {
    b: usize,
    index_bits: u32,
    sizes: Vec<usize>,
    static_map: Vec<u8>,
    positions: Vec<usize>,
    /// Bits of each group.
    bits: Vec<u32>,
    /// `[g·256 + fine + 128]`: the code as its packed field (low `bits` bits).
    fields: Vec<u8>,
    /// `[g·256 + field]`: the level of the code packed as `field`.
    levels: Vec<i16>,
    /// The rest vector: every channel at the input zero point.
    rest_x: Vec<i16>,
    /// Its transform output.
    rest_y: Vec<i32>,
    /// Dense forward matrix for 32-bit accumulation, when exact and SIMD is on.
    forward: Option<PairMatrix>,
    /// `-Σ_i F[k][i]·mean_i + 2^(s_k-1)`: mean and rounding folded into the
    /// initial accumulator (fits i32 whenever `forward` is set).
    bias: Vec<i32>,
    /// Dense inverse matrix for 32-bit accumulation, when exact and SIMD is on.
    inverse: Option<PairMatrix>,
    /// `2^(r-1)`: the inverse's rounding term as its initial accumulator.
    inverse_round: i32,
    /// Forward of a diagonal matrix as a table, `[k·256 + x - code_min]` = y_k.
    forward_table: Option<Vec<i16>>,
    /// Diagonal inverse as tables: the reconstruction of channel k from the
    /// field of group g is `[group_base[g] + (k << bits_g) + field]`.
    inverse_table: Option<Vec<i16>>,
    /// Reconstruction of a component decoded as 0 (diagonal inverse): `clamp(inverse_mean_i)`.
    inverse_base: Vec<i16>,
    /// `[g·B + k]`: the lane of component k in group g (offset 0).
    lanes: Vec<Lane>,
    /// `[g·B + k]`: the rest vector's field of component k in group g (0 for 0-bit groups).
    rest_fields: Vec<u8>,
    /// `[g·B + k]`: with a diagonal inverse, the reconstruction of that field.
    rest_recon: Vec<i16>,
}

impl FastBlock {
    fn new(blk: &BlockPolicy, m: &BlockMatrices, policy: &Policy, simd: bool) -> Self {
        let b = blk.mean.len();
        let (lo, hi) = (policy.input.code_range.min(), policy.input.code_range.max());
        let ng = blk.groups.len();
        let mut fields = vec![0u8; ng * 256];
        let mut levels = vec![0i16; ng * 256];
        for (g, grp) in blk.groups.iter().enumerate() {
            if grp.bits == 0 {
                continue;
            }
            let mask = (1u32 << grp.bits) - 1;
            for (f, &code) in grp.encode.iter().enumerate() {
                fields[g * 256 + f] = (code as u32 & mask) as u8;
            }
            for field in 0..=mask {
                let code = crate::bitstream::sign_extend(field, grp.bits);
                // levels fit 16 bits (validated)
                levels[g * 256 + field as usize] = grp.levels[(code + (1 << (grp.bits - 1))) as usize] as i16;
            }
        }
        let rest_x = vec![policy.input.zero_point.clamp(lo, hi) as i16; b];
        let mut rest_y = vec![0; b];
        m.forward(&rest_x, &mut rest_y);
        let flat_fwd: Vec<i32> = blk.forward.iter().flatten().copied().collect();
        let bias64: Vec<i64> = (0..b)
            .map(|k| -(0..b).map(|i| flat_fwd[k * b + i] as i64 * blk.mean[i] as i64).sum::<i64>() + (1i64 << (blk.forward_shift[k] - 1)))
            .collect();
        let x_max = vec![lo.unsigned_abs().max(hi.unsigned_abs()) as i64; b];
        let bias_bound: Vec<i64> = bias64.iter().map(|v| v.abs()).collect();
        let shifts_fit = blk.forward_shift.iter().all(|&s| s <= 31);
        let forward = if simd && shifts_fit { PairMatrix::new(&flat_fwd, b, b, &x_max, &bias_bound) } else { None };
        let level_max = blk.groups.iter().flat_map(|g| g.levels.iter()).map(|l| l.unsigned_abs() as i64).max().unwrap_or(0);
        let flat_inv: Vec<i32> = blk.inverse.iter().flatten().copied().collect();
        let r = blk.inverse_shift;
        let inverse = if simd && r <= 31 { PairMatrix::new(&flat_inv, b, b, &vec![level_max; b], &vec![1i64 << (r - 1); b]) } else { None };
        let diagonal = |m: &[i32]| (0..b * b).all(|j| j / b == j % b || m[j] == 0);
        // a diagonal forward as a table over the code range (at most 256 codes)
        let forward_table = (diagonal(&flat_fwd) && hi - lo < 256).then(|| {
            let mut t = vec![0i16; b * 256];
            for k in 0..b {
                for x in lo..=hi {
                    let acc = flat_fwd[k * b + k] as i64 * (x as i64 - blk.mean[k] as i64);
                    t[k * 256 + (x - lo) as usize] = sat16(round_shift(acc, blk.forward_shift[k])) as i16;
                }
            }
            t
        });
        let mut group_base = Vec::with_capacity(ng);
        let mut entries = 0u32;
        for grp in &blk.groups {
            group_base.push(entries);
            entries += if grp.bits == 0 { 0 } else { (b as u32) << grp.bits };
        }
        let inverse_table = diagonal(&flat_inv).then(|| {
            let mut t = vec![0i16; entries as usize];
            for (g, grp) in blk.groups.iter().enumerate().filter(|(_, grp)| grp.bits > 0) {
                for k in 0..b {
                    for field in 0..1usize << grp.bits {
                        let level = levels[g * 256 + field] as i64;
                        let x = round_shift(flat_inv[k * b + k] as i64 * level, r) + blk.inverse_mean[k] as i64;
                        t[group_base[g] as usize + (k << grp.bits) + field] = x.clamp(lo as i64, hi as i64) as i16;
                    }
                }
            }
            t
        });
        let inverse_base: Vec<i16> = blk.inverse_mean.iter().map(|&m| (round_shift(0, r) + m as i64).clamp(lo as i64, hi as i64) as i16).collect();
        // the rest vector's field of every component in every group (0 in 0-bit
        // groups), and for a diagonal inverse its reconstruction
        let mut rest_fields = vec![0u8; ng * b];
        let mut rest_recon = Vec::new();
        for (g, grp) in blk.groups.iter().enumerate() {
            for k in 0..b {
                if grp.bits > 0 {
                    let f = ((rest_y[k] * grp.qmul as i32 + (1 << (QUANT_SHIFT - 1))) >> QUANT_SHIFT).clamp(-128, 127);
                    rest_fields[g * b + k] = fields[g * 256 + (f + 128) as usize];
                }
            }
        }
        if let Some(t) = &inverse_table {
            rest_recon = (0..ng * b)
                .map(|j| {
                    let (g, k) = (j / b, j % b);
                    let bits = blk.groups[g].bits;
                    if bits == 0 { inverse_base[k] } else { t[group_base[g] as usize + (k << bits) + rest_fields[j] as usize] }
                })
                .collect();
        }
        let lanes = (0..ng * b)
            .map(|j| {
                let (g, k) = (j / b, j % b);
                let bits = blk.groups[g].bits;
                Lane {
                    k: k as u16,
                    bits: bits as u8,
                    table: (g as u16) * 256,
                    offset: 0,
                    qmul: if bits == 0 { 0 } else { blk.groups[g].qmul as i32 },
                    inverse_entry: group_base[g] + ((k as u32) << bits),
                }
            })
            .collect();
        FastBlock {
            lanes,
            rest_fields,
            rest_recon,
            b,
            index_bits: group_index_bits(ng),
            sizes: blk.groups.iter().map(|g| g.size).collect(),
            static_map: crate::grouping::static_group_map(blk),
            positions: crate::grouping::rank_positions(&blk.rank),
            bits: blk.groups.iter().map(|g| g.bits).collect(),
            fields,
            levels,
            rest_x,
            rest_y,
            bias: if forward.is_some() { bias64.iter().map(|&v| v as i32).collect() } else { Vec::new() },
            forward,
            inverse,
            inverse_round: if r <= 31 { 1 << (r - 1) } else { 0 },
            forward_table,
            inverse_table,
            inverse_base,
        }
    }

    /// The packed field of transform output `y` in a coded lane (the quantizer of step 4 and the code table).
    #[inline(always)]
    fn lane_field(&self, l: &Lane, y: i32) -> u64 {
        // |y| <= 2^15 and qmul < 2^15: the product and the rounding term fit i32
        let f = ((y * l.qmul + (1 << (QUANT_SHIFT - 1))) >> QUANT_SHIFT).clamp(-128, 127);
        let i = l.table as usize + (f + 128) as usize;
        debug_assert!(i < self.fields.len());
        // SAFETY: `table` is g·256 for a group g of this block and f + 128 lies
        // in 0..=255, so i < groups·256 = fields.len()
        unsafe { *self.fields.get_unchecked(i) as u64 }
    }
}

/// Which direction a [`TilePlan`] serves (each needs different parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Compress,
    Decompress,
}

/// A lane of a tile's block that carries bits: component, width, table offset (`g·256`).
#[derive(Debug, Clone, Copy, Default)]
struct Lane {
    k: u16,
    bits: u8,
    table: u16,
    /// Bit offset of the lane's field within the block's fields of one vector.
    offset: u16,
    /// The group's fine multiplier.
    qmul: i32,
    /// Start of the lane's entries in a diagonal block's inverse table.
    inverse_entry: u32,
}

/// A block's tile plan: its group map, its coded lanes and the rest vector's bit string.
#[derive(Debug, Clone, Default)]
struct TilePlan {
    map: Vec<u8>,
    lanes: Vec<Lane>,
    /// Column pairs of the inverse with at least one coded lane.
    pairs: Vec<u16>,
    /// Bits of the block's fields in one vector.
    block_bits: u32,
    rest_bits: u32,
    rest_pattern: Vec<u64>,
    /// Reconstruction of the rest codes (decoder), valid once `rest_out_ready`.
    rest_out: Vec<i16>,
    rest_out_ready: bool,
    /// Fine multiplier of each component's group (0 in a 0-bit group).
    comp_qmul: Vec<i32>,
    /// `g·256` of each component's group g: its part of the code table.
    comp_table: Vec<i32>,
    /// Lane index of each component, `u16::MAX` for a component of a 0-bit group.
    lane_of: Vec<u16>,
    /// Lane index of each bit of the block's fields in one vector.
    lane_at_bit: Vec<u16>,
    /// The rest bit string in 56-bit chunks (the decoder's compare unit).
    rest56: Vec<u64>,
    /// The map the lanes were planned for (valid when `planned`).
    planned_map: Vec<u8>,
    planned: bool,
}

impl TilePlan {
    /// The coded lanes and inverse column pairs under the group map; kept
    /// from the previous tile when the map is the same (always in static
    /// grouping, often in dynamic grouping).
    fn plan(&mut self, blk: &FastBlock, side: Side) {
        if self.planned && self.map == self.planned_map {
            return;
        }
        self.planned = true;
        self.planned_map.clone_from(&self.map);
        self.rest_out_ready = false;
        let b = self.map.len();
        let dense_compress = side == Side::Compress && blk.forward_table.is_none();
        let diagonal_decode = side == Side::Decompress && blk.inverse_table.is_some();
        let diagonal_compress = side == Side::Compress && blk.forward_table.is_some();
        if dense_compress {
            self.comp_qmul.resize(b, 0);
            self.comp_table.resize(b, 0);
        }
        // one branch-free pass: every component writes a lane at index n,
        // which only a coded component keeps (n moves on)
        self.lanes.resize(b, Lane::default());
        self.lane_of.resize(b, u16::MAX);
        // the rest string: zeroed with room for 8 bits per component and a spare word
        self.rest_pattern.clear();
        self.rest_pattern.resize((crate::policy::MAX_BITS as usize * b).div_ceil(64) + 2, 0);
        if diagonal_decode {
            self.rest_out.resize(b, 0);
        }
        self.lane_at_bit.resize(crate::policy::MAX_BITS as usize * (b + 1), 0);
        let mut n = 0usize;
        let mut offset = 0u16;
        for (k, &g) in self.map.iter().enumerate() {
            let g = g as usize;
            let bits = blk.bits[g];
            let coded = bits > 0;
            self.lanes[n] = Lane { offset, ..blk.lanes[g * b + k] };
            if diagonal_compress {
                self.lane_of[k] = if coded { n as u16 } else { u16::MAX };
            }
            if dense_compress {
                self.comp_qmul[k] = self.lanes[n].qmul;
                self.comp_table[k] = self.lanes[n].table as i32;
            }
            // OR in the rest field (nothing for a 0-bit group), spilling into the next word
            let f = blk.rest_fields[g * b + k] as u64;
            let (wi, sh) = (offset as usize >> 6, (offset & 63) as u32);
            self.rest_pattern[wi] |= f << sh;
            self.rest_pattern[wi + 1] |= (f >> 1) >> (63 - sh);
            if diagonal_decode {
                self.rest_out[k] = blk.rest_recon[g * b + k];
            }
            if diagonal_decode {
                // MAX_BITS entries; the next lane overwrites those past this one
                self.lane_at_bit[offset as usize..offset as usize + crate::policy::MAX_BITS as usize].fill(n as u16);
            }
            n += coded as usize;
            offset += bits as u16;
        }
        self.lanes.truncate(n);
        self.block_bits = offset as u32;
        self.rest_bits = self.block_bits;
        self.rest_pattern.truncate(self.rest_bits.div_ceil(64) as usize + 1);
        self.rest56.clear();
        let pattern = &self.rest_pattern;
        self.rest56.extend((0..self.rest_bits.div_ceil(56)).map(|j| read_bits(pattern, 56 * j as usize, (self.rest_bits - 56 * j).min(56))));
        self.rest_out_ready = diagonal_decode;
        if side == Side::Decompress && blk.inverse.is_some() {
            self.pairs.clear();
            for l in &self.lanes {
                let p = l.k / 2;
                if self.pairs.last() != Some(&p) {
                    self.pairs.push(p);
                }
            }
        }
    }

}

/// The fast engine for one policy.
#[derive(Debug, Clone)]
pub(crate) struct FastEngine {
    blocks: Vec<FastBlock>,
    matrices: Vec<BlockMatrices>,
    channels: usize,
    tile: usize,
    word_bits: u32,
    grouping: Grouping,
    lo: i32,
    hi: i32,
    /// Compile the tile loops for AVX2 + BMI2 (both detected at run time).
    avx2_loops: bool,
}

/// Per-range working buffers.
struct Work {
    x: Vec<i16>,
    y: Vec<i32>,
    rest: Vec<bool>,
    energy: Vec<u64>,
    keys: Vec<u64>,
    plans: Vec<TilePlan>,
    pad: Vec<i16>,
    acc: Vec<i32>,
    yhat: Vec<i32>,
    yhat16: Vec<i16>,
    counts: Vec<usize>,
    /// Column pairs of a vector with a non-zero input.
    pairs: Vec<u16>,
    /// Diagonal blocks: the channels of each vector off the rest code (at the vector's offset).
    changed: Vec<u16>,
    /// Their number per vector and block.
    nchanged: Vec<usize>,
    /// One vector's bit string of a block, assembled in place.
    patch: Vec<u64>,
    /// One vector's code table entries (dense blocks).
    entry: Vec<i32>,
}

impl FastEngine {
    /// The engine for a validated policy (`simd`: AVX2 was detected).
    pub fn new(policy: &Policy, matrices: &[BlockMatrices], simd: bool) -> Self {
        FastEngine {
            blocks: policy.blocks.iter().zip(matrices).map(|(blk, m)| FastBlock::new(blk, m, policy, simd)).collect(),
            matrices: matrices.to_vec(),
            channels: policy.channels,
            tile: policy.tile,
            word_bits: policy.word_bits,
            grouping: policy.grouping,
            avx2_loops: simd && crate::kernels::avx2_bmi2_available(),
            lo: policy.input.code_range.min(),
            hi: policy.input.code_range.max(),
        }
    }

    /// Names of the fast transform paths the blocks use, one entry per
    /// block and direction ("dense avx2", "diagonal table", "portable").
    pub fn transform_paths(&self) -> Vec<(&'static str, &'static str)> {
        self.blocks
            .iter()
            .map(|b| {
                let fwd = if b.forward_table.is_some() {
                    "diagonal table"
                } else if b.forward.is_some() {
                    "dense avx2"
                } else {
                    "portable"
                };
                let inv = if b.inverse_table.is_some() {
                    "diagonal table"
                } else if b.inverse.is_some() {
                    "dense avx2"
                } else {
                    "portable"
                };
                (fwd, inv)
            })
            .collect()
    }

    /// Vectors gathered or scattered at once: whole tiles, at least 64
    /// vectors, so small tiles still use the 8 x 8 transposes.
    fn batch_vectors(&self) -> usize {
        self.tile * 64usize.div_ceil(self.tile)
    }

    fn work(&self) -> Work {
        let (t, c) = (self.tile, self.channels);
        let b = self.blocks[0].b;
        let bp = b.div_ceil(8) * 8 + 8;
        Work {
            x: vec![0; self.batch_vectors() * c],
            y: vec![0; t * c],
            rest: vec![false; t * self.blocks.len()],
            energy: vec![0; b],
            keys: Vec::with_capacity(b),
            plans: self.blocks.iter().map(|blk| TilePlan { map: vec![0; blk.b], ..TilePlan::default() }).collect(),
            pad: vec![0; bp],
            acc: vec![0; bp],
            yhat: vec![0; b],
            yhat16: vec![0; bp],
            counts: vec![0; crate::policy::MAX_GROUPS],
            pairs: vec![0; b.div_ceil(2)],
            changed: vec![0; t * c],
            nchanged: vec![0; t * self.blocks.len()],
            patch: vec![0; (8 * b).div_ceil(64) + 1],
            entry: vec![0; b],
        }
    }

    /// Forward transform of one block of input codes.
    #[inline(always)]
    fn forward(&self, bi: usize, x: &[i16], y: &mut [i32], w_pad: &mut [i16], w_acc: &mut [i32], w_pairs: &mut [u16]) {
        let blk = &self.blocks[bi];
        let m = &self.matrices[bi];
        if let Some(table) = &blk.forward_table {
            // codes lie in lo..=hi (Codec checks its input)
            for (k, (y, &x)) in y.iter_mut().zip(x).enumerate() {
                *y = table[k * 256 + (x as i32 - self.lo) as usize] as i32;
            }
            return;
        }
        let Some(pm) = &blk.forward else {
            m.forward(x, y);
            return;
        };
        let b = blk.b;
        let v: &[i16] = if b.is_multiple_of(2) {
            x
        } else {
            w_pad[..b].copy_from_slice(x);
            w_pad[b] = 0;
            &w_pad[..b + 1]
        };
        // only the column pairs with a non-zero input contribute (post-ReLU
        // codes are mostly 0): list them branch-free, the sum is the same
        let np = b.div_ceil(2);
        let mut n = 0;
        for p in 0..np {
            w_pairs[n] = p as u16;
            n += ((v[2 * p] | v[2 * p + 1]) != 0) as usize;
        }
        let acc = &mut w_acc[..pm.rows_padded()];
        acc[..b].copy_from_slice(&blk.bias);
        pm.apply(v, &w_pairs[..n], acc, true);
        crate::kernels::finish_forward(&acc[..b], &m.forward_shift, &mut y[..b], true);
    }

    /// Payload words of the tiles covering vectors `first..end` (`first` on a tile start).
    pub fn compress_range(&self, codes: &[i16], lay: &Layout, first: usize, end: usize, words_hint: usize) -> Vec<u64> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2_loops {
            // SAFETY: avx2_loops is set only when AVX2 and BMI2 were detected at run time
            return unsafe { self.compress_range_avx2(codes, lay, first, end, words_hint) };
        }
        self.compress_range_body(codes, lay, first, end, words_hint)
    }

    /// [`FastEngine::compress_range`] compiled for AVX2 + BMI2 (vectorized
    /// compares, sums and table index arithmetic; shifts by a register without flags).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2")]
    unsafe fn compress_range_avx2(&self, codes: &[i16], lay: &Layout, first: usize, end: usize, words_hint: usize) -> Vec<u64> {
        self.compress_range_body(codes, lay, first, end, words_hint)
    }

    #[inline(always)]
    fn compress_range_body(&self, codes: &[i16], lay: &Layout, first: usize, end: usize, words_hint: usize) -> Vec<u64> {
        let c = self.channels;
        let nb = self.blocks.len();
        let mut w = self.work();
        let mut sink = BitSink::for_words(self.word_bits, words_hint);
        let mut first = first;
        let (mut batch_first, mut batch_count) = (first, 0);
        while first < end {
            let count = self.tile.min(end - first);
            if first >= batch_first + batch_count {
                batch_first = first;
                batch_count = self.batch_vectors().min(end - first);
                lay.gather(codes, batch_first, batch_count, &mut w.x);
            }
            // the tile's rows of the gathered batch
            let xt = &w.x[(first - batch_first) * c..];
            for (bi, blk) in self.blocks.iter().enumerate() {
                let b = blk.b;
                let mut rests = 0u64;
                for t in 0..count {
                    let off = t * c + bi * b;
                    // (an OR of XORs vectorizes; a slice compare calls memcmp)
                    let is_rest = xt[off..off + b].iter().zip(&blk.rest_x).fold(0, |a, (&x, &r)| a | (x ^ r)) == 0;
                    w.rest[t * nb + bi] = is_rest;
                    if is_rest {
                        rests += 1;
                    } else if let Some(table) = &blk.forward_table {
                        // diagonal: only the channels off the rest code differ
                        // from the rest vector; list them (branch-free) with
                        // their outputs, in w.changed / w.y at the vector's offset
                        let (xs, changed, ys) = (&xt[off..off + b], &mut w.changed[off..off + b], &mut w.y[off..off + b]);
                        let mut n = 0;
                        for (ci, (xc, rc)) in xs.chunks(64).zip(blk.rest_x.chunks(64)).enumerate() {
                            // a bit per channel off the rest code, then only those
                            let mut m = 0u64;
                            for (i, (&x, &r)) in xc.iter().zip(rc).enumerate() {
                                m |= ((x != r) as u64) << i;
                            }
                            while m != 0 {
                                let k = ci * 64 + m.trailing_zeros() as usize;
                                changed[n] = k as u16;
                                ys[n] = table[k * 256 + (xs[k] as i32 - self.lo) as usize] as i32;
                                n += 1;
                                m &= m - 1;
                            }
                        }
                        w.nchanged[t * nb + bi] = n;
                    } else {
                        let (x, y) = (&xt[off..off + b], &mut w.y[off..off + b]);
                        self.forward(bi, x, y, &mut w.pad, &mut w.acc, &mut w.pairs);
                    }
                }
                let sparse = blk.forward_table.is_some();
                let plan = &mut w.plans[bi];
                match self.grouping {
                    Grouping::Static => plan.map.copy_from_slice(&blk.static_map),
                    Grouping::Dynamic => {
                        // rest vectors (in a diagonal block: every vector, whose
                        // changed channels are corrected below) add |rest y_k|
                        let base = if sparse { count as u64 } else { rests };
                        for (e, &y) in w.energy.iter_mut().zip(&blk.rest_y) {
                            *e = base * y.unsigned_abs() as u64;
                        }
                        for t in 0..count {
                            if w.rest[t * nb + bi] {
                                continue;
                            }
                            let off = t * c + bi * b;
                            if sparse {
                                // |y_k| replaces the |rest y_k| counted above; the
                                // wrapping sum is exact as the total is >= 0
                                for j in 0..w.nchanged[t * nb + bi] {
                                    let k = w.changed[off + j] as usize;
                                    let d = w.y[off + j].unsigned_abs() as i64 - blk.rest_y[k].unsigned_abs() as i64;
                                    w.energy[k] = w.energy[k].wrapping_add(d as u64);
                                }
                                continue;
                            }
                            for (e, &y) in w.energy.iter_mut().zip(&w.y[off..off + b]) {
                                *e += y.unsigned_abs() as u64;
                            }
                        }
                        dynamic_group_map_keys(&w.energy[..b], &blk.positions, &blk.sizes, &mut w.keys, &mut plan.map);
                        for &g in plan.map.iter() {
                            sink.push(g as u64, blk.index_bits);
                        }
                    }
                }
                plan.plan(blk, Side::Compress);
            }
            for t in 0..count {
                for (bi, blk) in self.blocks.iter().enumerate() {
                    let plan = &w.plans[bi];
                    if w.rest[t * nb + bi] {
                        sink.push_bits(&plan.rest_pattern, plan.rest_bits);
                        continue;
                    }
                    if blk.forward_table.is_some() {
                        // the rest bit string with the changed channels' fields written over it
                        let off = t * c + bi * blk.b;
                        let buf = &mut w.patch[..plan.rest_pattern.len()];
                        buf.copy_from_slice(&plan.rest_pattern);
                        for j in 0..w.nchanged[t * nb + bi] {
                            let lane = plan.lane_of[w.changed[off + j] as usize];
                            if lane != u16::MAX {
                                let l = &plan.lanes[lane as usize];
                                write_field(buf, l.offset as usize, l.bits as u32, blk.lane_field(l, w.y[off + j]));
                            }
                        }
                        sink.push_bits(buf, plan.rest_bits);
                        continue;
                    }
                    // the fine index and table entry of every component in one
                    // vectorizable pass, then the coded lanes' fields
                    let b = blk.b;
                    let y = &w.y[t * c + bi * b..t * c + (bi + 1) * b];
                    let entry = &mut w.entry[..b];
                    for (e, (&y, (&q, &table))) in entry.iter_mut().zip(y.iter().zip(plan.comp_qmul.iter().zip(&plan.comp_table))) {
                        // as FastBlock::lane_field
                        *e = table + ((y * q + (1 << (QUANT_SHIFT - 1))) >> QUANT_SHIFT).clamp(-128, 127) + 128;
                    }
                    let fields = &blk.fields;
                    let field = |l: &Lane| {
                        let i = entry[l.k as usize] as usize;
                        debug_assert!(i < fields.len());
                        // SAFETY: entry = g·256 + (0..=255) for a group g of this block: i < groups·256 = fields.len()
                        (unsafe { *fields.get_unchecked(i) }) as u64
                    };
                    sink.push_run(plan.lanes.iter().map(|l| (field(l), l.bits as u32)));
                }
            }
            sink.align(self.word_bits);
            first += count;
        }
        sink.into_words(self.word_bits)
    }

    /// Decodes the words of the tiles covering vectors `first..end` into
    /// vector-major codes (`(end - first) x C`). The caller has checked
    /// that `words` is exactly as long as these tiles need.
    pub fn decompress_range(&self, words: &[u64], first: usize, end: usize) -> Result<Vec<i16>> {
        let c = self.channels;
        let mut out = vec![0i16; (end - first) * c];
        self.decompress_tiles(words, first, end, |pos, count, rows| {
            out[(pos - first) * c..(pos - first + count) * c].copy_from_slice(rows)
        })?;
        Ok(out)
    }

    /// Decodes the tiles covering vectors `first..end` and hands each tile's
    /// rows (`count x C`, vector-major) to `emit(first vector, count, rows)`.
    /// The caller has checked that `words` is exactly as long as these tiles need.
    pub fn decompress_tiles(&self, words: &[u64], first: usize, end: usize, emit: impl FnMut(usize, usize, &[i16])) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2_loops {
            // SAFETY: avx2_loops is set only when AVX2 and BMI2 were detected at run time
            return unsafe { self.decompress_tiles_avx2(words, first, end, emit) };
        }
        self.decompress_tiles_body(words, first, end, emit)
    }

    /// [`FastEngine::decompress_tiles`] compiled for AVX2 + BMI2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2")]
    unsafe fn decompress_tiles_avx2(&self, words: &[u64], first: usize, end: usize, emit: impl FnMut(usize, usize, &[i16])) -> Result<()> {
        self.decompress_tiles_body(words, first, end, emit)
    }

    #[inline(always)]
    fn decompress_tiles_body(&self, words: &[u64], first: usize, end: usize, mut emit: impl FnMut(usize, usize, &[i16])) -> Result<()> {
        let c = self.channels;
        let mut w = self.work();
        // tiles are decoded into a batch of rows, handed on when full
        let batch = self.batch_vectors();
        let mut rows = vec![0i16; batch * c];
        let mut batch_first = first;
        let mut src = BitSource::from_words(words, self.word_bits);
        let mut pos = first;
        let mut tile = first / self.tile;
        while pos < end {
            let count = self.tile.min(end - pos);
            for (bi, blk) in self.blocks.iter().enumerate() {
                let plan = &mut w.plans[bi];
                match self.grouping {
                    Grouping::Static => plan.map.copy_from_slice(&blk.static_map),
                    Grouping::Dynamic => {
                        let ng = blk.sizes.len();
                        w.counts.iter_mut().for_each(|x| *x = 0);
                        for m in plan.map.iter_mut() {
                            let g = src.read(blk.index_bits) as usize;
                            if g >= ng {
                                return Err(GoldenError::Corrupt(format!(
                                    "tile {tile}, block {bi}: group index {g} but the block has {ng} groups"
                                )));
                            }
                            w.counts[g] += 1;
                            *m = g as u8;
                        }
                        if w.counts[..ng] != blk.sizes[..] {
                            return Err(GoldenError::Corrupt(format!(
                                "tile {tile}, block {bi}: group map has sizes {:?}, the policy says {:?}",
                                &w.counts[..ng],
                                blk.sizes
                            )));
                        }
                    }
                }
                plan.plan(blk, Side::Decompress);
            }
            let tile_out = &mut rows[(pos - batch_first) * c..(pos - batch_first + count) * c];
            for t in 0..count {
                for (bi, blk) in self.blocks.iter().enumerate() {
                    let b = blk.b;
                    let dst = &mut tile_out[t * c + bi * b..t * c + (bi + 1) * b];
                    let plan = &mut w.plans[bi];
                    if let Some(table) = &blk.inverse_table {
                        // diagonal: the rest reconstruction, then only the lanes
                        // whose bits differ from the rest string, found by XOR
                        if !plan.rest_out_ready {
                            plan.rest_out.resize(b, 0);
                            let probe = BitSource::from_words(&plan.rest_pattern, 64);
                            self.decode_block(bi, &plan.lanes, &plan.pairs, &probe, &mut w.yhat, &mut w.yhat16, &mut w.acc, &mut plan.rest_out);
                            plan.rest_out_ready = true;
                        }
                        dst.copy_from_slice(&plan.rest_out);
                        for (j, &r) in plan.rest56.iter().enumerate() {
                            let at = 56 * j;
                            let mut d = src.peek_at(at, (plan.rest_bits - at as u32).min(56)) ^ r;
                            while d != 0 {
                                let l = &plan.lanes[plan.lane_at_bit[at + d.trailing_zeros() as usize] as usize];
                                let field = src.peek_at(l.offset as usize, l.bits as u32) as usize;
                                dst[l.k as usize] = table[l.inverse_entry as usize + field];
                                // on past this lane's bits (it ends at most 63 bits into the chunk)
                                let end = (l.offset as usize + l.bits as usize - at) as u32;
                                d &= u64::MAX.checked_shl(end).unwrap_or(0);
                            }
                        }
                        src.skip(plan.block_bits as usize);
                        continue;
                    }
                    if src.starts_with(&plan.rest_pattern, plan.rest_bits) {
                        src.skip(plan.rest_bits as usize);
                        if !plan.rest_out_ready {
                            plan.rest_out.resize(b, 0);
                            let probe = BitSource::from_words(&plan.rest_pattern, 64);
                            self.decode_block(bi, &plan.lanes, &plan.pairs, &probe, &mut w.yhat, &mut w.yhat16, &mut w.acc, &mut plan.rest_out);
                            plan.rest_out_ready = true;
                        }
                        dst.copy_from_slice(&plan.rest_out);
                    } else {
                        self.decode_block(bi, &plan.lanes, &plan.pairs, &src, &mut w.yhat, &mut w.yhat16, &mut w.acc, dst);
                        src.skip(plan.block_bits as usize);
                    }
                }
            }
            if !src.align(self.word_bits) {
                return Err(GoldenError::Corrupt(format!(
                    "tile {tile}: non-zero padding bits before word {}",
                    src.bit_pos() / self.word_bits as usize
                )));
            }
            pos += count;
            tile += 1;
            if pos - batch_first == batch || pos == end {
                emit(batch_first, pos - batch_first, &rows[..(pos - batch_first) * c]);
                batch_first = pos;
            }
        }
        Ok(())
    }

    /// Reads one block's fields at the lanes' offsets from `src` (without
    /// moving it), dequantizes and inverse-transforms them into `out`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn decode_block(&self, bi: usize, lanes: &[Lane], pairs: &[u16], src: &BitSource, yhat: &mut [i32], yhat16: &mut [i16], acc: &mut [i32], out: &mut [i16]) {
        let blk = &self.blocks[bi];
        let m = &self.matrices[bi];
        let b = blk.b;
        if let Some(table) = &blk.inverse_table {
            out.copy_from_slice(&blk.inverse_base);
            for l in lanes {
                let field = src.peek_at(l.offset as usize, l.bits as u32) as usize;
                out[l.k as usize] = table[l.inverse_entry as usize + field];
            }
            return;
        }
        if let Some(pm) = &blk.inverse {
            let v = &mut yhat16[..b.div_ceil(2) * 2];
            v.iter_mut().for_each(|x| *x = 0);
            let level = |l: &Lane, field: usize| {
                let i = l.table as usize + field;
                debug_assert!(i < blk.levels.len());
                // SAFETY: table = g·256 for a group g of the block and field < 2^bits <= 256: i < groups·256 = levels.len()
                unsafe { *blk.levels.get_unchecked(i) }
            };
            if lanes.last().is_some_and(|l| l.offset as u32 + l.bits as u32 <= 128) {
                // the whole vector in one 128-bit window: each field is a shift and a mask
                let win = src.window128();
                // three overlapping 64-bit views at bits 0, 32 and 64: a field of
                // at most 8 bits lies wholly in the view at offset & !31 (or 64)
                let views = [win as u64, (win >> 32) as u64, (win >> 64) as u64];
                for l in lanes {
                    let sel = (l.offset as usize >> 5).min(2);
                    let field = ((views[sel] >> (l.offset as usize - 32 * sel)) & ((1u64 << l.bits) - 1)) as usize;
                    v[l.k as usize] = level(l, field);
                }
            } else {
                for l in lanes {
                    let field = src.peek_at(l.offset as usize, l.bits as u32) as usize;
                    v[l.k as usize] = level(l, field);
                }
            }
            let acc = &mut acc[..pm.rows_padded()];
            acc.iter_mut().for_each(|x| *x = blk.inverse_round);
            pm.apply(v, pairs, acc, true);
            crate::kernels::finish_inverse(&acc[..b], m.inverse_shift, &m.inverse_mean, self.lo, self.hi, &mut out[..b], true);
        } else {
            let v = &mut yhat[..b];
            v.iter_mut().for_each(|x| *x = 0);
            for l in lanes {
                let field = src.peek_at(l.offset as usize, l.bits as u32) as usize;
                v[l.k as usize] = blk.levels[l.table as usize + field] as i32;
            }
            m.inverse(v, self.lo, self.hi, out);
        }
    }
}

/// Writes the `bits` low bits of `field` (`bits` <= 32, higher bits zero)
/// at bit `offset` of the LSB-first string `buf`, replacing what was there.
#[inline(always)]
fn write_field(buf: &mut [u64], offset: usize, bits: u32, field: u64) {
    let (i, s) = (offset >> 6, (offset & 63) as u32);
    let mask = (1u64 << bits) - 1;
    buf[i] = (buf[i] & !(mask << s)) | (field << s);
    if s + bits > 64 {
        let r = 64 - s;
        buf[i + 1] = (buf[i + 1] & !(mask >> r)) | (field >> r);
    }
}

/// The `bits` bits (`bits` <= 57) at bit `pos` of the LSB-first string
/// `buf`, which has a word beyond the one holding `pos`.
#[inline(always)]
fn read_bits(buf: &[u64], pos: usize, bits: u32) -> u64 {
    let (i, o) = (pos >> 6, (pos & 63) as u32);
    // (x << 1) << (63 - o) is x << (64 - o) without a shift by 64 when o = 0
    ((buf[i] >> o) | ((buf[i + 1] << 1) << (63 - o))) & ((1u64 << bits) - 1)
}
