//! The channel-major engine: the codec's payload, bit for bit, for policies
//! whose transforms are diagonal (the identity transform, or any block
//! matrix without off-diagonal entries), computed straight on the tensor's
//! N x C x spatial layout.
//!
//! With a diagonal transform, component k of a block depends only on
//! channel k, and the T vectors of a tile inside one image are T
//! consecutive codes of every channel. So the engine never transposes:
//!
//! * a channel's run of T codes is compared with the rest code (the input
//!   zero point, most of a post-ReLU map) in one pass; only the codes off
//!   it are looked at again;
//! * tables give, per channel and code, `|y_k|` (the tile energy) and, per
//!   group, the packed field (transform, fine index and code table in one
//!   lookup); and per channel, group and field the reconstruction;
//! * a block's fields of one vector (at most 16 x 8 bits) are one `u128`
//!   that starts as the *rest string* — every channel's rest field under
//!   the tile's group map — and gets the fields of the off-rest codes
//!   written over it. The decoder XORs the string read with the rest string
//!   and only visits the lanes that differ; every other output is the
//!   channel's rest reconstruction, written as a run;
//! * the group map of a dynamic tile comes from ranking by counting (no
//!   sort); a tile whose codes are all at rest has a known map, and a map
//!   equal to the block's previous one reuses its plan.
//!
//! Tiles are staged in a batch of whole tiles (at least 64 vectors, `C x
//! batch`, in L1): each channel's row of the batch is copied in or out in
//! one piece per image run, which also handles tiles that straddle images.
//!
//! Under static grouping the engine also takes dense blocks (PCA, DCT): their
//! fields and outputs come from [`crate::codec_dense`]'s 8-vector kernels
//! instead of the per-channel tables; staging, rest runs, strings and
//! payload are the same.

use crate::bitpack::{BitSink, BitSource};
use crate::codec_fast::Layout;
use crate::error::{GoldenError, Result};
use crate::policy::{group_index_bits, BlockPolicy, Grouping, Policy};
use crate::quantizer::GroupQuantizer;
use crate::codec_dense::{DenseBlock, QuadPlan, RunOutputs};
use crate::transform::BlockMatrices;
use std::mem::MaybeUninit;

/// Largest block the engine takes: a vector's fields of one block fit a `u128`.
pub(crate) const MAX_BLOCK: usize = 16;
/// Widest field whose reconstruction the decoder finds by byte shuffles (two
/// 16-entry tables); wider ones are looked up one by one.
const SHUFFLE_BITS: u32 = 5;
/// Vectors of a tile of 8 off the rest string up to which a block is decoded
/// as rest runs patched where the fields differ; with more, channel by
/// channel — unless the block has groups too wide for byte shuffles and no
/// more than [`DENSE_BITS_PER_LOOKUP`] bits per channel of them differ from
/// the rest strings in all. (A patch costs about in proportion to the
/// differing fields; the channel-by-channel decoding a fixed amount plus 8
/// lookups per wide channel. Measured on the fixtures.)
const SPARSE_VECTORS: u32 = 4;
/// See [`SPARSE_VECTORS`].
const DENSE_BITS_PER_LOOKUP: u32 = 40;
/// Largest tile the engine takes: a channel's off-rest vectors are a `u64` mask.
pub(crate) const MAX_TILE: usize = 64;
/// Bound on a tile energy `Σ |y_k|` over at most 64 vectors of `|y| <= 2^15`.
const ENERGY_LIMIT: u32 = 1 << 21;
/// Where a component's part goes in its ranking key: above the energy and
/// position bits (`(ENERGY_LIMIT << 4) | 15 < 2^26`), below the sign bit
/// for up to 16 parts.
const PART_KEY_SHIFT: u32 = 26;

/// Everything that follows from one group map of a block.
///
/// A vector's fields of one block are handled as two *byte lanes*: the
/// fields of components 0..8 and 8..16, one per byte (`field_k` in byte
/// `k mod 8`). PDEP with `deposit_*` spreads a packed part into its byte
/// lane; PEXT packs a byte lane back. The packed string is `lo` (the first
/// `split` bits) followed by `hi`.
#[derive(Debug, Clone)]
// the fields the compressor reads for every live tile fill the first cache line
#[repr(C, align(64))]
struct Plan {
    /// The map as it travels in a dynamic tile (component 0 in the low bits);
    /// [`NO_MAP`] while the plan holds none.
    map_bits: u64,
    /// The low `bits_k` bits of byte `k mod 8`, for components 0..8 and 8..16.
    deposit_lo: u64,
    deposit_hi: u64,
    /// Every component's field of the rest code, packed (the rest string).
    rest_lo: u64,
    rest_hi: u64,
    /// The same fields as byte lanes.
    rest_bytes_lo: u64,
    rest_bytes_hi: u64,
    /// Bits of components 0..8 in a vector's string.
    split: u32,
    /// Bit k set where component k's field has more than 0 bits.
    coded: u32,
    /// Group of each component (entries past the block size are 0).
    map: [u8; MAX_BLOCK],
    /// The rest string in one word (`rest_lo` then `rest_hi`), when the
    /// block's fields are less than 64 bits.
    rest_packed: u64,
    /// Reconstruction of each component's rest field.
    rest_recon: [i16; MAX_BLOCK],
    /// Start of each component's reconstructions in [`ChannelBlock::recon`]
    /// (decoder; below 2^16: at most 16 groups x 256 fields x 16 components,
    /// the last group's start below that).
    recon_row: [u16; MAX_BLOCK],
    /// The components group by group (ascending within a group), one per
    /// nibble from the low end; group g's from [`ChannelBlock::group_start`]
    /// (decoder): made when a block first needs it ([`Plan::by_group`]).
    by_group: LazyOrder,
    /// A dense block's level lookups under the map (decoder: [`DenseBlock::quad_plan`]).
    quads: QuadPlan,
}

/// [`Plan`]'s component order, made on first use: [`LazyOrder::UNSET`] until
/// then (an atomic, so that the shared fixed plans, which always hold
/// theirs, keep the engine `Sync`; plain loads and stores on x86).
#[derive(Debug)]
struct LazyOrder(std::sync::atomic::AtomicU64);

impl LazyOrder {
    /// No order yet (a permutation of 0..16 in nibbles, or of 0..B with zero
    /// nibbles above, is never all ones).
    const UNSET: u64 = u64::MAX;

    fn new(order: u64) -> Self {
        LazyOrder(std::sync::atomic::AtomicU64::new(order))
    }
}

impl Clone for LazyOrder {
    fn clone(&self) -> Self {
        LazyOrder::new(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Plan {
    /// The components group by group (see the field), made now if this plan has none yet.
    #[inline(always)]
    fn by_group<const NATIVE: bool>(&self, blk: &ChannelBlock) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        let order = self.by_group.0.load(Relaxed);
        if order != LazyOrder::UNSET {
            return order;
        }
        let order = blk.group_order::<NATIVE>(&self.map);
        self.by_group.0.store(order, Relaxed);
        order
    }
}

/// [`Plan::map_bits`] of a plan that holds no map (a map travels in at most 48 bits).
const NO_MAP: u64 = u64::MAX;

/// One block of the policy in the engine's form.
#[derive(Debug, Clone)]
struct ChannelBlock {
    /// The block's first channel (blocks may differ in size: `crate::block_merge`).
    first: usize,
    b: usize,
    /// Bits of the block's group map in a dynamic tile: its parts' maps one
    /// after the other (see [`MapPart`]).
    map_width: u32,
    /// Per component (bytes 0..8, 8..16): the mask of its part's group
    /// index bits (0 past the block), and how many bits components 0..8 take.
    index_mask_lo: u64,
    index_mask_hi: u64,
    index_bits_lo: u32,
    /// Per component: the first of its part's groups (the part's group 0;
    /// 0 past the block).
    group_base: [u8; MAX_BLOCK],
    /// Per component: its part's index above every ranking key bit, so a
    /// dynamic tile ranks each part's components among themselves.
    part_key: [i32; MAX_BLOCK],
    /// The policy's blocks this block holds (one, or several merged:
    /// [`crate::block_merge`]), in order.
    parts: Vec<MapPart>,
    /// Bits of one vector's fields (the same under every map).
    block_bits: u32,
    sizes: Vec<usize>,
    bits: Vec<u32>,
    /// Position of each component in the static ranking.
    positions: [u32; MAX_BLOCK],
    /// Group of the component ranked r in a tile.
    group_of_rank: [u8; MAX_BLOCK],
    /// `[g][k]`: the rest code's field on channel k in group g (0 in a dropped group).
    rest_field_of: Vec<[u8; MAX_BLOCK]>,
    /// `[g][k]`: the reconstruction of that field.
    rest_recon_of: Vec<[i16; MAX_BLOCK]>,
    /// Each group's field mask (`2^bits - 1`) at its index.
    group_masks: [u8; MAX_BLOCK],
    /// `[g][k]`: `recon_base[g·B + k]` (0 past the block).
    recon_row_of: Vec<[u16; MAX_BLOCK]>,
    /// Bit k set for the block's components.
    block_mask: u32,
    /// All ones for the entries past the block size, 0 within it.
    padding: [i32; MAX_BLOCK],
    /// The same as bytes.
    padding_bytes: [u8; MAX_BLOCK],
    /// `[(g·B + k)·256 + x - lo]`: the packed field of code x on channel k in group g.
    fields: Vec<u8>,
    /// `[k·256 + x - lo]`: `|y_k|` of code x.
    abs_y: Vec<u32>,
    /// `|y_k|` of the rest code.
    rest_abs: [u32; MAX_BLOCK],
    /// `[recon_base[g·B + k] + field]`: the reconstruction of channel k from a field of group g.
    recon: Vec<i16>,
    recon_base: Vec<u32>,
    /// `[g·B + k]`, for groups of at most [`SHUFFLE_BITS`] bits: channel k's
    /// reconstruction of each field, low bytes (fields 0..16, 16..32) then
    /// high bytes (the same): byte-shuffle tables.
    shuffle: Vec<[u8; 64]>,
    /// Bits off the rest strings in a tile of 8 above which the decoder takes
    /// the block channel by channel rather than patching rest runs, when it
    /// has groups too wide for byte shuffles (0: it has none). See [`SPARSE_VECTORS`].
    dense_from: u32,
    /// Where each group's components start in [`Plan::by_group`] (the group
    /// sizes' prefix sums: the same under every map).
    /// (A merged block may have up to one group per component.)
    group_start: [usize; MAX_BLOCK + 1],
    /// The plan of static grouping, or of a dynamic tile of T vectors all at rest.
    fixed: Plan,
    /// A dense block's transforms (static grouping): its vectors' fields and
    /// outputs come from [`DenseBlock`], not from the per-channel tables.
    dense: Option<Box<DenseBlock>>,
    /// The ranking keys of a dynamic tile of T vectors all at rest (padding past the block).
    rest_keys: [i32; MAX_BLOCK],
    /// Each component's rank under those keys.
    rest_ranks: [i32; MAX_BLOCK],
}

/// One of the policy's blocks inside an engine block: its components, the
/// width of its group indices, its group sizes, and its index in the policy
/// (for error messages).
#[derive(Debug, Clone)]
struct MapPart {
    b: usize,
    index_bits: u32,
    sizes: Vec<usize>,
    block: usize,
}

impl ChannelBlock {
    /// The engine's tables for block `bi` of `policy`, which holds the
    /// blocks `parts` of the policy the engine was made for, the first of
    /// them its block `first_part`.
    fn new(policy: &Policy, bi: usize, m: &BlockMatrices, rest: i16, dense: Option<DenseBlock>, parts: &[BlockPolicy], first_part: usize) -> Self {
        let blk = &policy.blocks[bi];
        let b = blk.mean.len();
        let (lo, hi) = (policy.input.code_range.min(), policy.input.code_range.max());
        let ng = blk.groups.len();
        let qs: Vec<GroupQuantizer> = blk.groups.iter().map(GroupQuantizer::new).collect();
        // y_k(x) for every code: the golden forward of the vector with every channel at x
        let codes = (hi - lo + 1) as usize;
        let mut y_of = vec![0i32; codes * b];
        let mut y = vec![0i32; b];
        for x in lo..=hi {
            m.forward(&vec![x as i16; b], &mut y);
            for k in 0..b {
                y_of[k * codes + (x - lo) as usize] = y[k];
            }
        }
        let mut abs_y = vec![0u32; b * 256];
        let mut fields = vec![0u8; ng * b * 256];
        for k in 0..b {
            for xi in 0..codes {
                let yk = y_of[k * codes + xi];
                abs_y[k * 256 + xi] = yk.unsigned_abs();
                for (g, q) in qs.iter().enumerate() {
                    if q.bits > 0 {
                        fields[(g * b + k) * 256 + xi] = (q.quantize(yk) as u32 & ((1 << q.bits) - 1)) as u8;
                    }
                }
            }
        }
        // reconstructions: the golden inverse of the vector with every component at one level
        let mut recon_base = vec![0u32; ng * b];
        let mut recon = Vec::new();
        let mut out = vec![0i16; b];
        for (g, q) in qs.iter().enumerate() {
            let n = 1usize << q.bits;
            let base = recon.len();
            recon.resize(base + n * b, 0);
            for field in 0..n {
                let code = if q.bits == 0 { 0 } else { crate::bitstream::sign_extend(field as u32, q.bits) };
                m.inverse(&vec![q.dequantize(code); b], lo, hi, &mut out);
                for k in 0..b {
                    recon[base + k * n + field] = out[k];
                }
            }
            for k in 0..b {
                recon_base[g * b + k] = (base + k * n) as u32;
            }
        }
        let rest_index = (rest as i32 - lo) as usize;
        let mut rest_abs = [0u32; MAX_BLOCK];
        let mut positions = [0u32; MAX_BLOCK];
        for k in 0..b {
            rest_abs[k] = abs_y[k * 256 + rest_index];
        }
        for (r, &k) in blk.rank.iter().enumerate() {
            positions[k] = r as u32;
        }
        let mut group_of_rank = [0u8; MAX_BLOCK];
        let mut r = 0;
        for (g, grp) in blk.groups.iter().enumerate() {
            group_of_rank[r..r + grp.size].fill(g as u8);
            r += grp.size;
        }
        // each part's components, group indices and groups, one after the other
        let (mut index_mask, mut group_base, mut part_key) = ([0u8; MAX_BLOCK], [0u8; MAX_BLOCK], [0i32; MAX_BLOCK]);
        let (mut k0, mut g0, mut map_width) = (0, 0, 0);
        for (j, part) in parts.iter().enumerate() {
            let (pb, png) = (part.mean.len(), part.groups.len());
            let ib = group_index_bits(png);
            for k in k0..k0 + pb {
                index_mask[k] = ((1u32 << ib) - 1) as u8;
                group_base[k] = g0 as u8;
                part_key[k] = (j as i32) << PART_KEY_SHIFT;
            }
            (k0, g0, map_width) = (k0 + pb, g0 + png, map_width + pb as u32 * ib);
        }
        assert!(k0 == b && g0 == ng, "the parts make up the block");
        let (index_mask_lo, index_mask_hi) = (u64::from_le_bytes(index_mask[..8].try_into().expect("8")), u64::from_le_bytes(index_mask[8..].try_into().expect("8")));
        let mut cb = ChannelBlock {
            first: policy.blocks[..bi].iter().map(|blk| blk.mean.len()).sum(),
            b,
            map_width,
            index_mask_lo,
            index_mask_hi,
            index_bits_lo: index_mask_lo.count_ones(),
            group_base,
            part_key,
            parts: parts
                .iter()
                .enumerate()
                .map(|(j, part)| MapPart { b: part.mean.len(), index_bits: group_index_bits(part.groups.len()), sizes: part.groups.iter().map(|g| g.size).collect(), block: first_part + j })
                .collect(),
            block_bits: blk.groups.iter().map(|g| g.size as u32 * g.bits).sum(),
            sizes: blk.groups.iter().map(|g| g.size).collect(),
            bits: blk.groups.iter().map(|g| g.bits).collect(),
            positions,
            group_of_rank,
            rest_field_of: Vec::new(),
            rest_recon_of: Vec::new(),
            recon_row_of: Vec::new(),
            group_masks: std::array::from_fn(|g| blk.groups.get(g).map_or(0, |grp| ((1u32 << grp.bits) - 1) as u8)),
            block_mask: ((1u64 << b) - 1) as u32,
            padding: std::array::from_fn(|k| if k < b { 0 } else { i32::MAX }),
            padding_bytes: std::array::from_fn(|k| if k < b { 0 } else { u8::MAX }),
            fields,
            abs_y,
            rest_abs,
            recon,
            recon_base,
            shuffle: vec![[0; 64]; ng * b],
            group_start: std::array::from_fn(|g| blk.groups.iter().take(g).map(|grp| grp.size).sum()),
            dense_from: DENSE_BITS_PER_LOOKUP * blk.groups.iter().filter(|g| g.bits > SHUFFLE_BITS).map(|g| g.size as u32).sum::<u32>(),
            fixed: Plan::empty(),
            dense: None,
            rest_keys: [0; MAX_BLOCK],
            rest_ranks: [0; MAX_BLOCK],
        };
        for k in 0..MAX_BLOCK {
            cb.rest_keys[k] = cb.key(k, policy.tile as u32 * rest_abs[k]);
        }
        for k in 0..MAX_BLOCK {
            cb.rest_ranks[k] = cb.rest_keys.iter().filter(|&&kj| kj < cb.rest_keys[k]).count() as i32;
        }
        for g in 0..ng {
            if cb.bits[g] <= SHUFFLE_BITS {
                for k in 0..b {
                    for f in 0..1usize << cb.bits[g] {
                        let v = cb.recon[cb.recon_base[g * b + k] as usize + f] as u16;
                        cb.shuffle[g * b + k][f] = v as u8;
                        cb.shuffle[g * b + k][32 + f] = (v >> 8) as u8;
                    }
                }
            }
        }
        for g in 0..ng {
            let mut rf = [0u8; MAX_BLOCK];
            let mut rr = [0i16; MAX_BLOCK];
            for k in 0..b {
                rf[k] = if cb.bits[g] == 0 { 0 } else { cb.fields[cb.field_row(g, k) + rest_index] };
                rr[k] = cb.recon[cb.recon_base[g * b + k] as usize + rf[k] as usize];
            }
            cb.rest_field_of.push(rf);
            cb.rest_recon_of.push(rr);
            cb.recon_row_of.push(std::array::from_fn(|k| if k < b { cb.recon_base[g * b + k] as u16 } else { 0 }));
        }
        cb.fixed = match policy.grouping {
            Grouping::Static => {
                let mut map = [0u8; MAX_BLOCK];
                map[..b].copy_from_slice(&crate::grouping::static_group_map(blk));
                cb.plan(&map)
            }
            Grouping::Dynamic => {
                let energy: [u32; MAX_BLOCK] = std::array::from_fn(|k| policy.tile as u32 * rest_abs[k]);
                cb.plan(&cb.rank_map::<false>(&energy))
            }
        };
        if let Some(d) = dense {
            // (the rest fields are the per-channel tables' rest entries: the
            // forward of the vector with every channel at the rest code; the
            // reconstruction is the whole block's inverse. Only the fixed
            // plan's is right: the decoder fills runs of a dense block from it
            // under static grouping only)
            let rest_fields: Vec<u8> = (0..b).map(|k| cb.rest_field_of[cb.fixed.map[k] as usize][k]).collect();
            cb.fixed.rest_recon = d.rest_recon(&cb.fixed.map, &rest_fields);
            cb.fixed.quads = d.quad_plan::<false>(&cb.fixed.map);
            cb.dense = Some(Box::new(d));
        }
        cb
    }

    /// Component k's ranking key in a tile where its energy is `energy`
    /// (below [`ENERGY_LIMIT`]): keys are distinct, below 2^26 within a
    /// part (one of the policy's blocks) and ascending in the part's
    /// ranking order; a later part's keys are all larger (its index above
    /// bit 26), so each part ranks among itself; padding keys rank last.
    #[inline(always)]
    fn key(&self, k: usize, energy: u32) -> i32 {
        ((((ENERGY_LIMIT - energy) << 4) | self.positions[k]) as i32) | self.part_key[k] | self.padding[k]
    }

    /// The group map of a dynamic tile from its component energies (each
    /// below [`ENERGY_LIMIT`]): E descending, ties by static rank ascending,
    /// as [`crate::grouping::dynamic_group_map`]. Ranks are counted, not sorted.
    #[inline(always)]
    fn rank_map<const NATIVE: bool>(&self, energy: &[u32; MAX_BLOCK]) -> [u8; MAX_BLOCK] {
        // (a loop, not `array::from_fn`, whose closure would not be compiled
        // with the caller's target features)
        let mut key = [0i32; MAX_BLOCK];
        for k in 0..MAX_BLOCK {
            key[k] = self.key(k, energy[k]);
        }
        let mut map = [0u8; MAX_BLOCK];
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            use core::arch::x86_64::*;
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; loads and stores are of the 16-entry arrays above
            unsafe {
                let k0 = _mm256_loadu_si256(key.as_ptr() as *const __m256i);
                let k1 = _mm256_loadu_si256(key.as_ptr().add(8) as *const __m256i);
                let (mut r0, mut r1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                for &kj in &key {
                    let bj = _mm256_set1_epi32(kj);
                    r0 = _mm256_sub_epi32(r0, _mm256_cmpgt_epi32(k0, bj));
                    r1 = _mm256_sub_epi32(r1, _mm256_cmpgt_epi32(k1, bj));
                }
                // ranks as bytes in component order, then each rank's group
                let w = _mm256_permute4x64_epi64(_mm256_packs_epi32(r0, r1), 0b11_01_10_00);
                let ranks = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
                let groups = _mm_shuffle_epi8(_mm_loadu_si128(self.group_of_rank.as_ptr() as *const __m128i), ranks);
                let groups = _mm_andnot_si128(_mm_loadu_si128(self.padding_bytes.as_ptr() as *const __m128i), groups);
                _mm_storeu_si128(map.as_mut_ptr() as *mut __m128i, groups);
            }
            return map;
        }
        let mut rank = [0u32; MAX_BLOCK];
        for &kj in &key {
            for k in 0..MAX_BLOCK {
                rank[k] += (key[k] > kj) as u32;
            }
        }
        for k in 0..MAX_BLOCK {
            map[k] = self.group_of_rank[rank[k] as usize & (MAX_BLOCK - 1)] & !self.padding_bytes[k];
        }
        map
    }

    /// [`ChannelBlock::rank_map`] of a whole tile (T vectors) in which only
    /// the components of `live` have codes off the rest code, from their keys
    /// (`key[k]` for k in `live`; the others' are [`ChannelBlock::rest_keys`]):
    /// the rest tile's ranks, moved by the live components only.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,bmi1")]
    unsafe fn rank_map_few(&self, live: u32, key: &[i32; MAX_BLOCK]) -> [u8; MAX_BLOCK] {
        use core::arch::x86_64::*;
        let mut map = [0u8; MAX_BLOCK];
        // SAFETY: the caller runs this on a machine with these features; loads
        // and stores are of 16-entry arrays
        unsafe {
            let k0 = _mm256_loadu_si256(self.rest_keys.as_ptr() as *const __m256i);
            let k1 = _mm256_loadu_si256(self.rest_keys.as_ptr().add(8) as *const __m256i);
            let mut r0 = _mm256_loadu_si256(self.rest_ranks.as_ptr() as *const __m256i);
            let mut r1 = _mm256_loadu_si256(self.rest_ranks.as_ptr().add(8) as *const __m256i);
            let lane0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let lane1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
            let (mut l0, mut l1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            let mut lm = live;
            while lm != 0 {
                let i = lm.trailing_zeros() as usize;
                let (bx, b0) = (_mm256_set1_epi32(key[i]), _mm256_set1_epi32(self.rest_keys[i]));
                // a component j at rest: ranked after i at rest, after i now
                let (a0, a1) = (_mm256_cmpgt_epi32(k0, bx), _mm256_cmpgt_epi32(k1, bx));
                r0 = _mm256_sub_epi32(_mm256_add_epi32(r0, _mm256_cmpgt_epi32(k0, b0)), a0);
                r1 = _mm256_sub_epi32(_mm256_add_epi32(r1, _mm256_cmpgt_epi32(k1, b0)), a1);
                // i: the components at rest ranked before it (keys differ, by
                // position), then the live ones
                let after = _mm256_movemask_ps(_mm256_castsi256_ps(a0)) as u32 | ((_mm256_movemask_ps(_mm256_castsi256_ps(a1)) as u32) << 8);
                let mut rank = (!after & !live & self.block_mask).count_ones() as i32;
                let mut others = live & !(1 << i);
                while others != 0 {
                    let j = others.trailing_zeros() as usize;
                    rank += (key[j] < key[i]) as i32;
                    others &= others - 1;
                }
                let (at, br) = (_mm256_set1_epi32(i as i32), _mm256_set1_epi32(rank));
                l0 = _mm256_blendv_epi8(l0, br, _mm256_cmpeq_epi32(lane0, at));
                l1 = _mm256_blendv_epi8(l1, br, _mm256_cmpeq_epi32(lane1, at));
                lm &= lm - 1;
            }
            // the live components' own ranks
            let bit0 = _mm256_sllv_epi32(_mm256_set1_epi32(1), lane0);
            let bit1 = _mm256_sllv_epi32(_mm256_set1_epi32(1), lane1);
            let lv = _mm256_set1_epi32(live as i32);
            r0 = _mm256_blendv_epi8(r0, l0, _mm256_cmpeq_epi32(_mm256_and_si256(lv, bit0), bit0));
            r1 = _mm256_blendv_epi8(r1, l1, _mm256_cmpeq_epi32(_mm256_and_si256(lv, bit1), bit1));
            let w = _mm256_permute4x64_epi64(_mm256_packs_epi32(r0, r1), 0b11_01_10_00);
            let ranks = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
            let groups = _mm_shuffle_epi8(_mm_loadu_si128(self.group_of_rank.as_ptr() as *const __m128i), ranks);
            let groups = _mm_andnot_si128(_mm_loadu_si128(self.padding_bytes.as_ptr() as *const __m128i), groups);
            _mm_storeu_si128(map.as_mut_ptr() as *mut __m128i, groups);
        }
        map
    }

    /// Makes `p` the plan of a group map (a valid one: group sizes as the
    /// policy's; entries past the block size 0) that travels as `map_bits`.
    #[inline(always)]
    fn plan_into<const NATIVE: bool>(&self, map: &[u8; MAX_BLOCK], map_bits: u64, p: &mut Plan, with_recon: bool) {
        p.map = *map;
        p.map_bits = map_bits;
        // (made when a dense block first needs it: most plans serve sparse blocks only)
        p.by_group = LazyOrder::new(LazyOrder::UNSET);
        if with_recon {
            if let Some(d) = &self.dense {
                p.quads = d.quad_plan::<NATIVE>(map);
            }
        }
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            use core::arch::x86_64::*;
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; every load and store is of a 16-entry array
            unsafe {
                // each group's masks, rest fields and rest reconstructions, blended by the map
                let mv = _mm_loadu_si128(map.as_ptr() as *const __m128i);
                // (map entries are group indices below 16: one byte shuffle gives the masks)
                let mut dep = _mm_shuffle_epi8(_mm_loadu_si128(self.group_masks.as_ptr() as *const __m128i), mv);
                let mut bytes = _mm_setzero_si128();
                let (mut recon, mut rows) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                for g in 0..self.bits.len() {
                    let eq = _mm_cmpeq_epi8(mv, _mm_set1_epi8(g as i8));
                    let rf = _mm_loadu_si128(self.rest_field_of[g].as_ptr() as *const __m128i);
                    bytes = _mm_or_si128(bytes, _mm_and_si128(eq, rf));
                    if with_recon {
                        let rr = _mm256_loadu_si256(self.rest_recon_of[g].as_ptr() as *const __m256i);
                        let eq16 = _mm256_cvtepi8_epi16(eq);
                        recon = _mm256_or_si256(recon, _mm256_and_si256(eq16, rr));
                        rows = _mm256_or_si256(rows, _mm256_and_si256(eq16, _mm256_loadu_si256(self.recon_row_of[g].as_ptr() as *const __m256i)));
                    }
                }
                let pad = _mm_loadu_si128(self.padding_bytes.as_ptr() as *const __m128i);
                dep = _mm_andnot_si128(pad, dep);
                bytes = _mm_andnot_si128(pad, bytes);
                p.coded = !(_mm_movemask_epi8(_mm_cmpeq_epi8(dep, _mm_setzero_si128())) as u32) & 0xffff & self.block_mask;
                p.deposit_lo = _mm_cvtsi128_si64(dep) as u64;
                p.deposit_hi = _mm_extract_epi64(dep, 1) as u64;
                p.rest_bytes_lo = _mm_cvtsi128_si64(bytes) as u64;
                p.rest_bytes_hi = _mm_extract_epi64(bytes, 1) as u64;
                if with_recon {
                    _mm256_storeu_si256(p.rest_recon.as_mut_ptr() as *mut __m256i, recon);
                    _mm256_storeu_si256(p.recon_row.as_mut_ptr() as *mut __m256i, rows);
                }
            }
            p.split = p.deposit_lo.count_ones();
            p.rest_lo = pext::<NATIVE>(p.rest_bytes_lo, p.deposit_lo);
            p.rest_hi = pext::<NATIVE>(p.rest_bytes_hi, p.deposit_hi);
            p.rest_packed = if self.block_bits < 64 { p.rest_lo | (p.rest_hi << p.split) } else { 0 };
            return;
        }
        p.coded = 0;
        let (mut dep, mut rest, mut bytes) = ([0u64; 2], [0u64; 2], [0u64; 2]);
        let mut offset = [0u32; 2];
        for k in 0..self.b {
            let g = map[k] as usize;
            let bits = self.bits[g];
            let h = k >> 3;
            let lane = 8 * (k as u32 & 7);
            let rest_field = self.rest_field_of[g][k] as u64;
            dep[h] |= ((1u64 << bits) - 1) << lane;
            bytes[h] |= rest_field << lane;
            rest[h] |= rest_field << offset[h];
            offset[h] += bits;
            p.coded |= ((bits > 0) as u32) << k;
            if with_recon {
                p.rest_recon[k] = self.rest_recon_of[g][k];
                p.recon_row[k] = self.recon_row_of[g][k];
            }
        }
        debug_assert_eq!(offset[0] + offset[1], self.block_bits);
        p.split = offset[0];
        (p.deposit_lo, p.deposit_hi) = (dep[0], dep[1]);
        (p.rest_lo, p.rest_hi) = (rest[0], rest[1]);
        (p.rest_bytes_lo, p.rest_bytes_hi) = (bytes[0], bytes[1]);
        p.rest_packed = if self.block_bits < 64 { p.rest_lo | (p.rest_hi << p.split) } else { 0 };
    }

    /// A group map as it travels in a dynamic tile (component 0 in the low
    /// bits); entries past the block size must be 0.
    #[inline(always)]
    fn map_bits<const NATIVE: bool>(&self, map: &[u8; MAX_BLOCK]) -> u64 {
        // each component's index within its part (no byte borrows: an entry is
        // at least its part's first group, and 0 past the block)
        let local = |h: usize| u64::from_le_bytes(map[8 * h..8 * h + 8].try_into().expect("8 bytes")) - u64::from_le_bytes(self.group_base[8 * h..8 * h + 8].try_into().expect("8 bytes"));
        let lo = pext::<NATIVE>(local(0), self.index_mask_lo);
        let hi = pext::<NATIVE>(local(1), self.index_mask_hi);
        // at most 24 bits each
        lo | (hi << self.index_bits_lo)
    }

    /// The components of a (valid) group map group by group, ascending
    /// within a group, one per nibble from the low end ([`Plan::by_group`]).
    #[inline(always)]
    fn group_order<const NATIVE: bool>(&self, map: &[u8; MAX_BLOCK]) -> u64 {
        // each group's components: the nibbles 0..B under the group's mask, packed
        let (mut order, mut m) = (0u64, 0u32);
        for g in 0..self.bits.len() {
            let members = group_members::<NATIVE>(map, g as u8) & self.block_mask as u64;
            let nibbles = pdep::<NATIVE>(members, 0x1111_1111_1111_1111) * 0xf;
            order |= pext::<NATIVE>(0xfedc_ba98_7654_3210, nibbles) << (4 * self.group_start[g]);
            m += members.count_ones();
        }
        debug_assert_eq!(m as usize, self.b);
        order
    }

    /// The group map that travels as `bits` (component 0 in the low bits,
    /// nothing above the block's `B x index_bits`), when it is a valid map
    /// of this block: every index a group, every group its size.
    #[inline(always)]
    fn valid_map<const NATIVE: bool>(&self, bits: u64) -> Option<[u8; MAX_BLOCK]> {
        let mut map = [0u8; MAX_BLOCK];
        map[..8].copy_from_slice(&pdep::<NATIVE>(bits, self.index_mask_lo).to_le_bytes());
        map[8..].copy_from_slice(&pdep::<NATIVE>(bits >> self.index_bits_lo, self.index_mask_hi).to_le_bytes());
        // each index moved to its part's groups: the entries past the block are 0
        // and counted by no group. A component can land in its part's groups or
        // a later part's only, and the first part's sizes add up to its
        // components, so with every size matching none leaves its part (then the
        // next part's, ...) and no index is outside the groups
        let mut ok = true;
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            use core::arch::x86_64::*;
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 and
            // POPCNT on a machine that has them; loads and stores are of 16-entry arrays
            unsafe {
                let local = _mm_loadu_si128(map.as_ptr() as *const __m128i);
                let mv = _mm_add_epi8(local, _mm_loadu_si128(self.group_base.as_ptr() as *const __m128i));
                _mm_storeu_si128(map.as_mut_ptr() as *mut __m128i, mv);
                for (g, &size) in self.sizes.iter().enumerate() {
                    let members = _mm_movemask_epi8(_mm_cmpeq_epi8(mv, _mm_set1_epi8(g as i8))) as u32 & self.block_mask;
                    ok &= members.count_ones() as usize == size;
                }
            }
            return ok.then_some(map);
        }
        for k in 0..self.b {
            map[k] += self.group_base[k];
        }
        for (g, &size) in self.sizes.iter().enumerate() {
            ok &= map[..self.b].iter().filter(|&&m| m as usize == g).count() == size;
        }
        ok.then_some(map)
    }

    /// What is wrong with a group map that [`ChannelBlock::valid_map`] refused
    /// (the plain engine's words for it).
    #[cold]
    fn map_error(&self, bits: u64, tile_no: usize) -> GoldenError {
        // the first of the parts (the policy's blocks) whose map is wrong
        let mut at = 0;
        for part in &self.parts {
            let (ib, ng) = (part.index_bits, part.sizes.len());
            let mut counts = vec![0usize; ng];
            for k in 0..part.b {
                let g = ((bits >> (at + k as u32 * ib)) & ((1 << ib) - 1)) as usize;
                if g >= ng {
                    return GoldenError::Corrupt(format!("tile {tile_no}, block {}: group index {g} but the block has {ng} groups", part.block));
                }
                counts[g] += 1;
            }
            if counts != part.sizes {
                return GoldenError::Corrupt(format!("tile {tile_no}, block {}: group map has sizes {counts:?}, the policy says {:?}", part.block, part.sizes));
            }
            at += part.b as u32 * ib;
        }
        // (valid_map and this agree: not reached)
        GoldenError::Corrupt(format!("tile {tile_no}, block {}: invalid group map", self.parts[0].block))
    }

    /// The plan of a group map.
    fn plan(&self, map: &[u8; MAX_BLOCK]) -> Plan {
        let mut p = Plan::empty();
        self.plan_into::<false>(map, self.map_bits::<false>(map), &mut p, true);
        p.by_group = LazyOrder::new(self.group_order::<false>(map));
        p
    }

    /// Start of the field row of channel k in group g in [`ChannelBlock::fields`].
    #[inline(always)]
    fn field_row(&self, g: usize, k: usize) -> usize {
        (g * self.b + k) * 256
    }
}

impl Plan {
    fn empty() -> Plan {
        Plan {
            map: [0; MAX_BLOCK],
            map_bits: NO_MAP,
            split: 0,
            deposit_lo: 0,
            deposit_hi: 0,
            rest_lo: 0,
            rest_hi: 0,
            rest_bytes_lo: 0,
            rest_bytes_hi: 0,
            rest_packed: 0,
            coded: 0,
            rest_recon: [0; MAX_BLOCK],
            recon_row: [0; MAX_BLOCK],
            by_group: LazyOrder::new(LazyOrder::UNSET),
            quads: QuadPlan::default(),
        }
    }
}

/// Live channels up to which the compressor ranks a whole dynamic tile
/// by moving the rest tile's ranks ([`ChannelBlock::rank_map_few`]) rather
/// than counting all of them.
const FEW_LIVE: u32 = 3;

/// Plans kept per block for recurring group maps (a direct-mapped cache:
/// on these maps a few hundred distinct maps make up thousands of tiles).
const PLAN_SLOTS: usize = 64;

/// The cache slot of a group map, from its transmitted bits.
#[inline(always)]
fn plan_slot(map_bits: u64) -> usize {
    (map_bits.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize
}

/// Which plan a block uses in the current tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// The block's fixed plan (static grouping, or a dynamic map equal to the all-rest tile's).
    Fixed,
    /// A slot of the block's plan cache.
    Slot(usize),
}

/// The decoder's output tensor as a raw pointer, so that runs of tiles can be
/// decoded in parallel into the one tensor: each run writes only the values
/// of its own vectors (disjoint from every other run's), every write is
/// bounds-checked against `len`, and no reference to the memory is made
/// while the writers run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutRows<U> {
    ptr: *mut MaybeUninit<U>,
    len: usize,
}

// SAFETY: writers through copies of one `OutRows` touch disjoint values (see the type's doc)
unsafe impl<U: Send> Send for OutRows<U> {}
// SAFETY: as above
unsafe impl<U: Send> Sync for OutRows<U> {}

impl<U: Copy> OutRows<U> {
    /// The rows of `out`, which must outlive every use of the result.
    pub fn new(out: &mut [MaybeUninit<U>]) -> Self {
        OutRows { ptr: out.as_mut_ptr(), len: out.len() }
    }

    /// Writes `src` at value `at`.
    #[inline(always)]
    fn write(&self, at: usize, src: &[MaybeUninit<U>]) {
        assert!(at + src.len() <= self.len, "output row out of bounds");
        // SAFETY: in bounds (checked above); `src` is a staging batch, never the output
        unsafe { copy_short(src.as_ptr() as *const u8, self.ptr.add(at) as *mut u8, std::mem::size_of_val(src)) };
    }

    /// Writes 64 values at value `at` (a fixed-size copy).
    #[inline(always)]
    fn write64(&self, at: usize, src: &[MaybeUninit<U>; 64]) {
        assert!(at + 64 <= self.len, "output row out of bounds");
        // SAFETY: as in `write`
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(at), 64) };
    }
}

/// Copies `n` bytes from `src` to `dst` (not overlapping) in a few fixed-size
/// pieces, which may overlap each other: the short runs of a staging batch
/// (the run of a tile straddling two images) without a call.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes, the two not overlapping.
#[inline(always)]
unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
    /// Copies the `N` bytes at offset `at`.
    #[inline(always)]
    unsafe fn piece<const N: usize>(src: *const u8, dst: *mut u8, at: usize) {
        // SAFETY: the caller keeps at + N within the n bytes of `copy_short`
        unsafe { std::ptr::write_unaligned(dst.add(at) as *mut [u8; N], std::ptr::read_unaligned(src.add(at) as *const [u8; N])) };
    }
    // SAFETY: every piece lies within the n bytes (each branch's bound)
    unsafe {
        if n >= 32 {
            let mut at = 0;
            while at + 32 < n {
                piece::<32>(src, dst, at);
                at += 32;
            }
            piece::<32>(src, dst, n - 32);
        } else if n >= 16 {
            piece::<16>(src, dst, 0);
            piece::<16>(src, dst, n - 16);
        } else if n >= 8 {
            piece::<8>(src, dst, 0);
            piece::<8>(src, dst, n - 8);
        } else if n >= 4 {
            piece::<4>(src, dst, 0);
            piece::<4>(src, dst, n - 4);
        } else {
            for i in 0..n {
                piece::<1>(src, dst, i);
            }
        }
    }
}

/// A tensor of `n` values that `fill` writes through the row writer it is
/// given — every value, when it returns `Ok` (as `decompress_range` does for
/// the vectors it is given). The one place where output memory is handed out
/// unwritten: the decoder needs no zeroing pass.
pub(crate) fn written_tensor<U: Copy>(n: usize, fill: impl FnOnce(OutRows<U>) -> Result<()>) -> Result<Vec<U>> {
    let mut out = Vec::with_capacity(n);
    fill(OutRows::new(&mut out.spare_capacity_mut()[..n]))?;
    // SAFETY: `fill` returned Ok, so it wrote all n values (its contract above)
    unsafe { out.set_len(n) };
    Ok(out)
}

/// The channel-major engine of one policy.
#[derive(Debug, Clone)]
pub(crate) struct ChannelEngine {
    blocks: Vec<ChannelBlock>,
    channels: usize,
    tile: usize,
    word_bits: u32,
    grouping: Grouping,
    lo: i32,
    /// The rest code: the input zero point (inside the code range).
    rest: i16,
    /// Compile the tile loops for AVX2, BMI1/2, POPCNT and LZCNT (detected at run time).
    native: bool,
    /// With `native`: run the dense blocks' code compiled for AVX-512 (F,
    /// BW, VL, VBMI, VNNI) too (detected at run time).
    avx512: bool,
    /// Bits of one vector's strings of every block.
    vector_bits: usize,
}

/// Where a tile's codes sit in the staging batch: `batch[base + ch·stride + t]`
/// for channel ch and the tile's vector t.
#[derive(Debug, Clone, Copy)]
struct TileView {
    base: usize,
    stride: usize,
}

impl ChannelEngine {
    /// The engine for a validated policy, when the policy suits it: every
    /// block diagonal in both directions (or dense in the forms
    /// [`DenseBlock::new`] accepts), blocks of at most 16 components, tiles
    /// of at most 64 vectors and a code range of at most 256 codes.
    ///
    /// A policy of small blocks runs as blocks of up to 16 channels that
    /// each hold several of its blocks ([`crate::block_merge`]): most of the
    /// engine's cost is per block and per run, not per value.
    pub fn new(policy: &Policy, matrices: &[BlockMatrices]) -> Option<Self> {
        if let Some(merged) = crate::block_merge::merged(policy, MAX_BLOCK) {
            let wide: Vec<BlockMatrices> = merged.policy.blocks.iter().map(BlockMatrices::new).collect();
            if let Some(engine) = Self::of_blocks(&merged.policy, &wide, policy, &merged.parts) {
                return Some(engine);
            }
        }
        let parts: Vec<std::ops::Range<usize>> = (0..policy.blocks.len()).map(|bi| bi..bi + 1).collect();
        Self::of_blocks(policy, matrices, policy, &parts)
    }

    /// [`ChannelEngine::new`] for the blocks of `policy`, which is `original`
    /// with its blocks `parts[bi]` as block bi.
    fn of_blocks(policy: &Policy, matrices: &[BlockMatrices], original: &Policy, parts: &[std::ops::Range<usize>]) -> Option<Self> {
        let (lo, hi) = (policy.input.code_range.min(), policy.input.code_range.max());
        let diagonal = |m: &[Vec<i32>]| m.iter().enumerate().all(|(k, row)| row.iter().enumerate().all(|(i, &v)| i == k || v == 0));
        let suits = policy.block_size <= MAX_BLOCK && (1..=MAX_TILE).contains(&policy.tile) && hi - lo < 256;
        if !suits {
            return None;
        }
        // every block diagonal, or dense in the forms of `DenseBlock`
        let mut dense = Vec::with_capacity(policy.blocks.len());
        for (blk, m) in policy.blocks.iter().zip(matrices) {
            let static_map = (policy.grouping == Grouping::Static).then(|| crate::grouping::static_group_map(blk));
            dense.push(if diagonal(&blk.forward) && diagonal(&blk.inverse) { None } else { Some(DenseBlock::new(policy, blk, m, static_map.as_deref())?) });
        }
        let rest = policy.input.zero_point.clamp(lo, hi) as i16;
        Some(ChannelEngine {
            blocks: matrices.iter().zip(dense).enumerate().map(|(bi, (m, d))| ChannelBlock::new(policy, bi, m, rest, d, &original.blocks[parts[bi].clone()], parts[bi].start)).collect(),
            channels: policy.channels,
            tile: policy.tile,
            word_bits: policy.word_bits,
            grouping: policy.grouping,
            lo,
            rest,
            native: crate::kernels::avx2_bmi2_available(),
            avx512: crate::kernels::avx512_available(),
            vector_bits: policy.blocks.iter().flat_map(|b| &b.groups).map(|g| g.size * g.bits as usize).sum(),
        })
    }

    /// Vectors of a staging batch: whole tiles, at least 64 vectors.
    fn batch_vectors(&self) -> usize {
        self.tile * 64usize.div_ceil(self.tile)
    }

    /// Copies vectors `first..first+count` of a staging batch (`C x batch`)
    /// to their places in the tensor: per image run, per channel, one row.
    #[inline(always)]
    fn scatter_batch<U: Copy>(&self, lay: &Layout, first: usize, count: usize, batch: &[MaybeUninit<U>], out: OutRows<U>) {
        let (c, s, bv) = (self.channels, lay.spatial, batch.len() / self.channels);
        let mut t = 0;
        while t < count {
            let (n, sp) = ((first + t) / s, (first + t) % s);
            let run = (s - sp).min(count - t);
            let base = n * c * s + sp;
            if run == 64 {
                for ch in 0..c {
                    out.write64(base + ch * s, batch[ch * bv + t..ch * bv + t + 64].try_into().expect("64 values"));
                }
            } else {
                for ch in 0..c {
                    out.write(base + ch * s, &batch[ch * bv + t..ch * bv + t + run]);
                }
            }
            t += run;
        }
    }

    /// Copies vectors `first..first+count` of the tensor into a staging batch
    /// (`C x batch`): per image run, per channel, one row.
    #[inline(always)]
    fn gather_batch<U: Copy>(&self, lay: &Layout, first: usize, count: usize, codes: &[U], batch: &mut [U]) {
        let (c, s, bv) = (self.channels, lay.spatial, batch.len() / self.channels);
        let mut t = 0;
        while t < count {
            let (n, sp) = ((first + t) / s, (first + t) % s);
            let run = (s - sp).min(count - t);
            let base = n * c * s + sp;
            if run == 64 {
                for ch in 0..c {
                    let src: &[U; 64] = codes[base + ch * s..base + ch * s + 64].try_into().expect("64 values");
                    let dst: &mut [U; 64] = (&mut batch[ch * bv + t..ch * bv + t + 64]).try_into().expect("64 values");
                    *dst = *src;
                }
            } else {
                for ch in 0..c {
                    let (src, dst) = (&codes[base + ch * s..base + ch * s + run], &mut batch[ch * bv + t..ch * bv + t + run]);
                    // SAFETY: two distinct slices of `run` values each (checked above)
                    unsafe { copy_short(src.as_ptr() as *const u8, dst.as_mut_ptr() as *mut u8, std::mem::size_of_val(src)) };
                }
            }
            t += run;
        }
    }

    /// The same engine with its tile loops in portable code (no AVX2/BMI2
    /// instructions), for tests on machines that have them.
    pub fn portable(mut self) -> Self {
        self.native = false;
        self.avx512 = false;
        self
    }

    /// The same engine without its AVX-512 code (AVX2 and BMI2 at most),
    /// for tests and benchmarks on machines that have AVX-512.
    pub fn without_avx512(mut self) -> Self {
        self.avx512 = false;
        self
    }

    /// Whether this engine runs AVX-512 code (see [`ChannelEngine::without_avx512`]).
    pub fn uses_avx512(&self) -> bool {
        self.avx512
    }

    /// Payload words of the tiles covering vectors `first..end` (`first` on a
    /// tile start). Codes must lie in the code range (the caller checks).
    pub fn compress_range<U: CodeUnit>(&self, codes: &[U], lay: &Layout, first: usize, end: usize, words_hint: usize) -> Vec<u64> {
        #[cfg(target_arch = "x86_64")]
        if self.native {
            // SAFETY: `native` is set only when these features were detected at run time
            return unsafe { self.compress_range_native(codes, lay, first, end, words_hint) };
        }
        self.compress_range_body::<false, U>(codes, lay, first, end, words_hint)
    }

    /// [`ChannelEngine::compress_range`] compiled for the features of `native`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    unsafe fn compress_range_native<U: CodeUnit>(&self, codes: &[U], lay: &Layout, first: usize, end: usize, words_hint: usize) -> Vec<u64> {
        self.compress_range_body::<true, U>(codes, lay, first, end, words_hint)
    }

    #[inline(always)]
    fn compress_range_body<const NATIVE: bool, U: CodeUnit>(&self, codes: &[U], lay: &Layout, first: usize, end: usize, words_hint: usize) -> Vec<u64> {
        let (c, tile, nb) = (self.channels, self.tile, self.blocks.len());
        let mut sink = BitSink::for_words(self.word_bits, words_hint);
        // tiles are read from a staging batch of whole tiles (`C x batch`, in
        // L1), filled one channel row at a time
        let batch = self.batch_vectors();
        let mut scratch = vec![U::default(); c * batch];
        let mut batch_first = first;
        let mut batch_masks = vec![0u64; c];
        // tiles of 8 in a batch of 64: per channel, which of the batch's 8 tiles
        // have an off-rest code (bit j: byte j of its mask), read for a block's
        // 16 channels at once (zero past the last channel)
        let by_tile_bytes = batch == 64 && tile == 8;
        let mut tiles_live = vec![0u8; c + MAX_BLOCK];
        let rest = U::from_code(self.rest);
        // each vector's packed strings of every block: (lo, hi)
        let mut strings = vec![(0u64, 0u64); tile * nb];
        // each block's `split` under the tile's map
        let mut splits = vec![0u32; nb];
        // with every block's strings shorter than 64 bits: each string in one
        // word (`packed[t·nb + bi]`), appended in rows of the blocks' lengths
        let short = self.blocks.iter().all(|blk| blk.block_bits < 64);
        let mut packed = vec![0u64; tile * nb];
        let block_bits: Vec<u32> = self.blocks.iter().map(|blk| blk.block_bits).collect();
        // one block's fields of the tile as byte lanes, [t·16 + k]
        let mut lanes = [0u8; MAX_TILE * MAX_BLOCK];
        let mut work: Vec<Plan> = vec![Plan::empty(); nb * PLAN_SLOTS];
        let mut nonrest = [0u64; MAX_BLOCK];
        // a dense block's transform outputs of a tile, per run of 8 vectors
        let mut outputs: Vec<RunOutputs> = vec![[[0; 8]; MAX_BLOCK]; MAX_TILE / 8];
        let mut first = first;
        while first < end {
            let count = tile.min(end - first);
            if first == batch_first {
                self.gather_batch(lay, first, batch.min(end - first), codes, &mut scratch);
                if batch == 64 {
                    // every channel's off-rest mask over the batch at once (bits past
                    // the tensor's end are never read)
                    for (ch, m) in batch_masks.iter_mut().enumerate() {
                        *m = U::nonrest_mask64::<NATIVE>(scratch[ch * 64..ch * 64 + 64].try_into().expect("64 codes"), rest);
                    }
                    if by_tile_bytes {
                        for (tl, &m) in tiles_live.iter_mut().zip(&batch_masks) {
                            *tl = nonzero_bytes::<NATIVE>(m);
                        }
                    }
                }
            }
            let v = TileView { base: first - batch_first, stride: batch };
            let data: &[U] = &scratch;
            for (bi, blk) in self.blocks.iter().enumerate() {
                let b = blk.b;
                // channels with an off-rest code
                let mut live = 0u32;
                if by_tile_bytes && count == 8 {
                    // bit j of each of the block's channels' bytes, then their masks
                    let j = v.base / 8;
                    let pick = 0x0101_0101_0101_0101u64 << j;
                    let lo = u64::from_le_bytes(tiles_live[blk.first..blk.first + 8].try_into().expect("8 bytes"));
                    let hi = u64::from_le_bytes(tiles_live[blk.first + 8..blk.first + 16].try_into().expect("8 bytes"));
                    live = (pext::<NATIVE>(lo, pick) | (pext::<NATIVE>(hi, pick) << 8)) as u32 & blk.block_mask;
                    let mut lm = live;
                    while lm != 0 {
                        let k = lm.trailing_zeros() as usize;
                        nonrest[k] = (batch_masks[blk.first + k] >> v.base) & 0xff;
                        lm &= lm - 1;
                    }
                } else if batch == 64 {
                    let keep = u64::MAX >> (64 - count);
                    for (k, nr) in nonrest[..b].iter_mut().enumerate() {
                        *nr = (batch_masks[blk.first + k] >> v.base) & keep;
                        live |= ((*nr != 0) as u32) << k;
                    }
                } else {
                    for (k, nr) in nonrest[..b].iter_mut().enumerate() {
                        let at = v.base + (blk.first + k) * v.stride;
                        *nr = U::nonrest_mask(&data[at..at + count], rest);
                        live |= ((*nr != 0) as u32) << k;
                    }
                }
                if let Some(d) = &blk.dense {
                    // a dense block (its own out-of-line path): the vectors with a
                    // code off the rest code take the fields of their transforms
                    let mut touched = 0u64;
                    let mut lm = live;
                    while lm != 0 {
                        touched |= nonrest[lm.trailing_zeros() as usize];
                        lm &= lm - 1;
                    }
                    let rows = TileView { base: v.base + blk.first * v.stride, stride: v.stride };
                    let out = DenseOut { work: &mut work, outputs: &mut outputs, lanes: &mut lanes, packed: &mut packed, strings: &mut strings, short, nb };
                    // (through an opaque pointer, as the decoder's dense runs: kept out
                    // of the identity loops)
                    #[cfg(target_arch = "x86_64")]
                    let kernel: DenseTileKernel<U> = std::hint::black_box(if self.avx512 { Self::dense_block_avx512::<U> } else { Self::dense_block_native::<U> });
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: NATIVE is set only when these features were detected at run
                    // time, and `avx512` only when AVX-512's were too
                    let plan = if NATIVE { unsafe { kernel(self, bi, d, touched, data, rows, count, out) } } else { self.dense_block::<false, false, U>(bi, d, touched, data, rows, count, out) };
                    #[cfg(not(target_arch = "x86_64"))]
                    let plan = self.dense_block::<false, false, U>(bi, d, touched, data, rows, count, out);
                    if self.grouping == Grouping::Dynamic {
                        sink.push(plan.0, blk.map_width);
                    }
                    splits[bi] = plan.1;
                    continue;
                }
                let plan = match self.grouping {
                    Grouping::Dynamic if live != 0 || count != tile => {
                        let bv = TileView { base: v.base + blk.first * v.stride, stride: v.stride };
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: NATIVE is set only when these features were detected at run time
                        let map = if NATIVE { unsafe { self.tile_map_native(blk, live, &nonrest, data, bv, count) } } else { self.tile_map::<false, U>(blk, live, &nonrest, data, bv, count) };
                        #[cfg(not(target_arch = "x86_64"))]
                        let map = self.tile_map::<false, U>(blk, live, &nonrest, data, bv, count);
                        self.plan_of::<NATIVE>(bi, &map, &mut work)
                    }
                    _ => &blk.fixed,
                };
                if self.grouping == Grouping::Dynamic {
                    sink.push(plan.map_bits, blk.map_width);
                }
                splits[bi] = plan.split;
                if short {
                    for t in 0..count {
                        packed[t * nb + bi] = plan.rest_packed;
                    }
                } else {
                    for t in 0..count {
                        strings[t * nb + bi] = (plan.rest_lo, plan.rest_hi);
                    }
                }
                // the vectors with an off-rest code in a coded channel: their
                // byte lanes start at the rest fields and take those codes' fields
                let coded_live = live & plan.coded;
                if coded_live == 0 {
                    continue;
                }
                let mut touched = 0u64;
                let mut lm = coded_live;
                while lm != 0 {
                    touched |= nonrest[lm.trailing_zeros() as usize];
                    lm &= lm - 1;
                }
                if touched.count_ones() as usize * 4 <= count * 3 {
                    // few vectors with off-rest fields: visit just those codes
                    let mut m = touched;
                    while m != 0 {
                        let t = m.trailing_zeros() as usize;
                        lanes[t * 16..t * 16 + 8].copy_from_slice(&plan.rest_bytes_lo.to_le_bytes());
                        lanes[t * 16 + 8..t * 16 + 16].copy_from_slice(&plan.rest_bytes_hi.to_le_bytes());
                        m &= m - 1;
                    }
                    let mut lm = coded_live;
                    while lm != 0 {
                        let k = lm.trailing_zeros() as usize;
                        let r0 = blk.field_row(plan.map[k] as usize, k);
                        let row: &[u8; 256] = blk.fields[r0..r0 + 256].try_into().expect("256 entries");
                        let at = v.base + (blk.first + k) * v.stride;
                        let mut m = nonrest[k];
                        while m != 0 {
                            let t = m.trailing_zeros() as usize;
                            lanes[t * 16 + k] = row[data[at + t].index(self.lo)];
                            m &= m - 1;
                        }
                        lm &= lm - 1;
                    }
                } else {
                    // many: every vector's byte lanes, the live coded channels'
                    // fields of the whole run (rest codes give rest fields)
                    for t in 0..count {
                        lanes[t * 16..t * 16 + 8].copy_from_slice(&plan.rest_bytes_lo.to_le_bytes());
                        lanes[t * 16 + 8..t * 16 + 16].copy_from_slice(&plan.rest_bytes_hi.to_le_bytes());
                    }
                    let mut lm = coded_live;
                    while lm != 0 {
                        let k = lm.trailing_zeros() as usize;
                        let r0 = blk.field_row(plan.map[k] as usize, k);
                        let row: &[u8; 256] = blk.fields[r0..r0 + 256].try_into().expect("256 entries");
                        let at = v.base + (blk.first + k) * v.stride;
                        for_each_code(&data[at..at + count], |t, x| lanes[t * 16 + k] = row[x.index(self.lo)]);
                        lm &= lm - 1;
                    }
                }
                pack_touched::<NATIVE>(plan, &lanes, touched, short, &mut packed, &mut strings, nb, bi);
            }
            if short {
                Self::push_packed(&mut sink, &packed[..count * nb], &block_bits);
            } else {
                Self::push_strings(&mut sink, &self.blocks, &strings[..count * nb], &splits);
            }
            sink.align(self.word_bits);
            first += count;
            if first - batch_first == batch {
                batch_first = first;
            }
        }
        sink.into_words(self.word_bits)
    }

    /// [`ChannelEngine::tile_map`] compiled for the features of `native`, out of line.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    #[inline(never)]
    unsafe fn tile_map_native<U: CodeUnit>(&self, blk: &ChannelBlock, live: u32, nonrest: &[u64; MAX_BLOCK], data: &[U], v: TileView, count: usize) -> [u8; MAX_BLOCK] {
        self.tile_map::<true, U>(blk, live, nonrest, data, v, count)
    }

    /// The group map of a dynamic tile of `count` vectors in block `blk`
    /// (its channel k's run at `v.base + k·v.stride` of `data`), whose
    /// channels of `live` have the off-rest codes `nonrest[k]`.
    #[inline(always)]
    fn tile_map<const NATIVE: bool, U: CodeUnit>(&self, blk: &ChannelBlock, live: u32, nonrest: &[u64; MAX_BLOCK], data: &[U], v: TileView, count: usize) -> [u8; MAX_BLOCK] {
        let tile = self.tile;
        let (mut energy, mut key) = ([0u32; MAX_BLOCK], [0i32; MAX_BLOCK]);
        // channel k's energy in the tile: its rest energy, moved by its off-rest codes
        let tile_energy = |k: usize| {
            let row = &blk.abs_y[k * 256..(k + 1) * 256];
            let at = v.base + k * v.stride;
            let ra = blk.rest_abs[k];
            let mut e = count as u32 * ra;
            let mut m = nonrest[k];
            while m != 0 {
                let t = m.trailing_zeros() as usize;
                // e >= (off-rest codes left) x ra, so this cannot wrap
                e = e + row[data[at + t].index(self.lo)] - ra;
                m &= m - 1;
            }
            e
        };
        if cfg!(target_arch = "x86_64") && NATIVE && count == tile && live.count_ones() <= FEW_LIVE {
            // a few live channels: the rest tile's ranks, moved
            let mut lm = live;
            while lm != 0 {
                let k = lm.trailing_zeros() as usize;
                key[k] = blk.key(k, tile_energy(k));
                lm &= lm - 1;
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: NATIVE is set only when these features were detected at run time
            let map = unsafe { blk.rank_map_few(live, &key) };
            #[cfg(not(target_arch = "x86_64"))]
            let map = unreachable!("NATIVE code on x86_64 only");
            map
        } else {
            for k in 0..MAX_BLOCK {
                energy[k] = count as u32 * blk.rest_abs[k];
            }
            let mut lm = live;
            while lm != 0 {
                let k = lm.trailing_zeros() as usize;
                energy[k] = tile_energy(k);
                lm &= lm - 1;
            }
            blk.rank_map::<NATIVE>(&energy)
        }
    }

    /// The plan of block bi for a dynamic tile's group map: the block's fixed
    /// plan, or a slot of its plan cache in `work` (planned there unless it
    /// holds this map).
    #[inline(always)]
    fn plan_of<'a, const NATIVE: bool>(&'a self, bi: usize, map: &[u8; MAX_BLOCK], work: &'a mut [Plan]) -> &'a Plan {
        let blk = &self.blocks[bi];
        let bits = blk.map_bits::<NATIVE>(map);
        if bits == blk.fixed.map_bits {
            return &blk.fixed;
        }
        let slot = bi * PLAN_SLOTS + plan_slot(bits);
        if work[slot].map_bits != bits {
            blk.plan_into::<NATIVE>(map, bits, &mut work[slot], false);
        }
        &work[slot]
    }

    /// A dense block bi of a tile of `count` vectors (channel k's run at
    /// `rows.base + k·rows.stride` of `data`; `touched`: the vectors with a
    /// code off the rest code): its plan (fixed, or the group map of its
    /// transform outputs' energies), every vector's string into `out`.
    /// Returns the plan's map bits and split.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn dense_block<const NATIVE: bool, const AVX512: bool, U: CodeUnit>(&self, bi: usize, d: &DenseBlock, touched: u64, data: &[U], rows: TileView, count: usize, out: DenseOut<'_>) -> (u64, u32) {
        let blk = &self.blocks[bi];
        let dynamic = self.grouping == Grouping::Dynamic;
        let plan = if dynamic && (touched != 0 || count != self.tile) {
            let energy = d.tile_outputs::<NATIVE, AVX512, U>(data, rows.base, rows.stride, count, touched, &blk.rest_abs, out.outputs);
            self.plan_of::<NATIVE>(bi, &blk.rank_map::<NATIVE>(&energy), out.work)
        } else {
            &blk.fixed
        };
        let nb = out.nb;
        for t in 0..count {
            if out.short {
                out.packed[t * nb + bi] = plan.rest_packed;
            } else {
                out.strings[t * nb + bi] = (plan.rest_lo, plan.rest_hi);
            }
        }
        if touched != 0 {
            d.tile_fields::<NATIVE, AVX512, U>(data, rows.base, rows.stride, count, touched, &plan.map, dynamic.then_some(&*out.outputs), out.lanes);
            pack_touched::<NATIVE>(plan, out.lanes, touched, out.short, out.packed, out.strings, nb, bi);
        }
        (plan.map_bits, plan.split)
    }

    /// [`ChannelEngine::dense_block`] compiled for AVX2 and BMI2, out of line
    /// (the diagonal blocks' code around it stays as it is).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn dense_block_native<U: CodeUnit>(&self, bi: usize, d: &DenseBlock, touched: u64, data: &[U], rows: TileView, count: usize, out: DenseOut<'_>) -> (u64, u32) {
        self.dense_block::<true, false, U>(bi, d, touched, data, rows, count, out)
    }

    /// [`ChannelEngine::dense_block`] compiled for AVX-512 (VBMI, VNNI) as well
    /// (the code tables looked up 64 bytes at a time), out of line.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt,avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn dense_block_avx512<U: CodeUnit>(&self, bi: usize, d: &DenseBlock, touched: u64, data: &[U], rows: TileView, count: usize, out: DenseOut<'_>) -> (u64, u32) {
        self.dense_block::<true, true, U>(bi, d, touched, data, rows, count, out)
    }

    /// Appends a tile's vector strings, each in one word (`packed[t·nb + bi]`
    /// of vector t and block bi, `block_bits[bi]` < 64 bits), vector by
    /// vector: out of line, so that the sink's accumulator stays in registers.
    #[inline(never)]
    fn push_packed(sink: &mut BitSink, packed: &[u64], block_bits: &[u32]) {
        sink.push_rows(packed, block_bits);
    }

    /// Appends a tile's vector strings (`strings[t·nb + bi]` of vector t and
    /// block bi, split at `splits[bi]`) to the payload, vector by vector:
    /// out of line, so that the sink's accumulator stays in registers.
    #[inline(never)]
    fn push_strings(sink: &mut BitSink, blocks: &[ChannelBlock], strings: &[(u64, u64)], splits: &[u32]) {
        if blocks.iter().all(|blk| blk.block_bits <= 64) {
            // one field per string; hi is 0 when split = 64
            sink.push_run(strings.iter().zip(blocks.iter().zip(splits).cycle()).map(|(&(lo, hi), (blk, &split))| (lo | hi.checked_shl(split).unwrap_or(0), blk.block_bits)));
        } else {
            for (&(lo, hi), (blk, &split)) in strings.iter().zip(blocks.iter().zip(splits).cycle()) {
                sink.push(lo, split);
                sink.push(hi, blk.block_bits - split);
            }
        }
    }

    /// Decodes a whole payload into the tensor (C order). The caller has
    /// checked that `words` is exactly as long as the tensor needs.
    pub fn decompress<U: CodeUnit>(&self, words: &[u64], lay: &Layout) -> Result<Vec<U>> {
        // SAFETY (of `exclusive`): the rows are this call's alone
        written_tensor(lay.vectors * self.channels, |rows| unsafe { self.decompress_range(words, 0, lay, 0, lay.vectors, rows, true) })
    }

    /// Decodes the tiles covering vectors `first..end` (`first` on a tile
    /// start; `words` exactly their payload words, which start at word
    /// `first_word` of the payload) into their places in the tensor `out`.
    /// On `Ok` every value of those vectors has been written.
    ///
    /// # Safety
    /// With `exclusive`, nothing else reads or writes `out`'s memory while
    /// this runs (the decoder then writes batches inside one image straight
    /// into it); without it, only the values of the other vectors.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn decompress_range<U: CodeUnit>(&self, words: &[u64], first_word: usize, lay: &Layout, first: usize, end: usize, out: OutRows<U>, exclusive: bool) -> Result<()> {
        assert_eq!(out.len, lay.vectors * self.channels, "output of the tensor's size");
        #[cfg(target_arch = "x86_64")]
        if self.native {
            // SAFETY: `native` is set only when these features were detected at run time
            return unsafe { self.decompress_native(words, first_word, lay, first, end, out, exclusive) };
        }
        // SAFETY: the caller's, as this function's
        unsafe { self.decompress_body::<false, U>(words, first_word, lay, first, end, out, exclusive) }
    }

    /// [`ChannelEngine::decompress`] compiled for the features of `native`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn decompress_native<U: CodeUnit>(&self, words: &[u64], first_word: usize, lay: &Layout, first: usize, end: usize, out: OutRows<U>, exclusive: bool) -> Result<()> {
        // SAFETY: the caller's, as `decompress_range`'s
        unsafe { self.decompress_body::<true, U>(words, first_word, lay, first, end, out, exclusive) }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn decompress_body<const NATIVE: bool, U: CodeUnit>(&self, words: &[u64], first_word: usize, lay: &Layout, first: usize, end: usize, out: OutRows<U>, exclusive: bool) -> Result<()> {
        let (c, tile, nb) = (self.channels, self.tile, self.blocks.len());
        let mut src = BitSource::from_words(words, self.word_bits);
        // tiles are decoded into a staging batch of whole tiles (`C x batch`,
        // in L1), then each channel's rows go out in one piece: a few long
        // writes per channel instead of one short write per tile into 64
        // interleaved output streams (except batches written straight into an
        // output this call has to itself, below)
        let batch = self.batch_vectors();
        let mut scratch = vec![MaybeUninit::new(U::default()); c * batch];
        let mut batch_first = first;
        let mut work: Vec<Plan> = vec![Plan::empty(); nb * PLAN_SLOTS];
        let mut which = vec![Which::Fixed; nb];
        // with the output to itself, a batch inside one image is decoded
        // straight into its rows (no staging, no copy)
        // SAFETY: nothing else touches the output while this runs (the caller's
        // promise with `exclusive`); `out` covers `out.len` values
        let mut whole: Option<&mut [MaybeUninit<U>]> = if exclusive { Some(unsafe { std::slice::from_raw_parts_mut(out.ptr, out.len) }) } else { None };
        let spatial = lay.spatial;
        let (mut direct, mut direct_base) = (false, 0);
        let (mut first, mut tile_no) = (first, first / tile);
        while first < end {
            let count = tile.min(end - first);
            if first == batch_first {
                direct = whole.is_some() && first % spatial + batch.min(end - first) <= spatial;
                // the batch's first value in the output (its image and position)
                direct_base = first / spatial * c * spatial + first % spatial;
            }
            if self.grouping == Grouping::Dynamic {
                for (bi, blk) in self.blocks.iter().enumerate() {
                    // (at most 16 x 3 bits)
                    let bits = bzhi::<NATIVE>(src.peek57_at(0), blk.map_width);
                    src.skip(blk.map_width as usize);
                    if bits == blk.fixed.map_bits {
                        which[bi] = Which::Fixed;
                        continue;
                    }
                    let slot = bi * PLAN_SLOTS + plan_slot(bits);
                    which[bi] = Which::Slot(slot);
                    if work[slot].map_bits == bits {
                        continue;
                    }
                    // a new map: every index a group, every group its size
                    let Some(map) = blk.valid_map::<NATIVE>(bits) else {
                        return Err(blk.map_error(bits, tile_no));
                    };
                    blk.plan_into::<NATIVE>(&map, bits, &mut work[slot], true);
                }
            }
            let (data, v) = match whole.as_deref_mut() {
                Some(rows) if direct => (rows, TileView { base: direct_base + (first - batch_first), stride: spatial }),
                _ => (&mut scratch[..], TileView { base: first - batch_first, stride: batch }),
            };
            #[cfg(target_arch = "x86_64")]
            if NATIVE {
                // SAFETY: NATIVE is set only when these features were detected at run time
                unsafe { self.decode_tile_native(&mut src, &which, &work, data, v, count) };
            } else {
                self.decode_tile::<false, U>(&mut src, &which, &work, data, v, count);
            }
            #[cfg(not(target_arch = "x86_64"))]
            self.decode_tile::<false, U>(&mut src, &which, &work, data, v, count);
            if !src.align(self.word_bits) {
                return Err(GoldenError::Corrupt(format!(
                    "tile {tile_no}: non-zero padding bits before word {}",
                    first_word + src.bit_pos() / self.word_bits as usize
                )));
            }
            if first + count - batch_first == batch || first + count == end {
                if !direct {
                    // (through the whole output's slice when there is one: no write
                    // through another pointer while it lives)
                    let rows = whole.as_deref_mut().map_or(out, OutRows::new);
                    self.scatter_batch(lay, batch_first, first + count - batch_first, &scratch, rows);
                }
                batch_first = first + count;
            }
            first += count;
            tile_no += 1;
        }
        Ok(())
    }
    /// A vector's string of block `blk` under plan `p`, at bit `o` from
    /// `src`'s position, as (the first `p.split` bits, the rest).
    #[inline(always)]
    fn string<const NATIVE: bool>(blk: &ChannelBlock, p: &Plan, src: &BitSource, o: usize) -> (u64, u64) {
        let bb = blk.block_bits;
        if bb <= 57 {
            let w = bzhi::<NATIVE>(src.peek57_at(o), bb);
            (bzhi::<NATIVE>(w, p.split), w >> p.split)
        } else if bb < 64 {
            let w = bzhi::<NATIVE>(src.peek64_at(o), bb);
            (bzhi::<NATIVE>(w, p.split), w >> p.split)
        } else {
            (bzhi::<NATIVE>(src.peek64_at(o), p.split), bzhi::<NATIVE>(src.peek64_at(o + p.split as usize), bb - p.split))
        }
    }

    /// Writes the outputs of one vector of a block (channel k's at
    /// `data[at + k·stride]`) whose fields differ from the rest fields, from
    /// its string (`lo`, `hi`: only lo's low `p.split` bits are read); the others are left as they are (the
    /// channels' rest reconstructions).
    #[inline(always)]
    fn patch_vector<const NATIVE: bool, U: CodeUnit>(blk: &ChannelBlock, p: &Plan, (lo, hi): (u64, u64), data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        // the fields as byte lanes; visit the bytes that differ from the rest fields
        for (h, (bits, deposit, rest)) in [(lo, p.deposit_lo, p.rest_bytes_lo), (hi, p.deposit_hi, p.rest_bytes_hi)].into_iter().enumerate() {
            let lanes = pdep::<NATIVE>(bits, deposit);
            let mut d = lanes ^ rest;
            while d != 0 {
                let byte = d.trailing_zeros() >> 3;
                let k = 8 * h + byte as usize;
                let field = ((lanes >> (8 * byte)) & 0xff) as usize;
                data[at + k * stride].write(U::from_code(blk.recon[p.recon_row[k] as usize + field]));
                d &= !(0xffu64 << (8 * byte));
            }
        }
    }

    /// A dense block's run of 8 vectors from their strings (as
    /// [`ChannelEngine::decode_block8`] takes them): fields transposed, then
    /// the block's 8-vector inverse.
    #[inline(always)]
    fn decode_dense8<const NATIVE: bool, const AVX512: bool, U: CodeUnit>(d: &DenseBlock, p: &Plan, strings: &[(u64, u64); 8], data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        let mut lanes = [(0u64, 0u64); 8];
        for (l, &(lo, hi)) in lanes.iter_mut().zip(strings) {
            *l = (pdep::<NATIVE>(lo, p.deposit_lo), pdep::<NATIVE>(hi, p.deposit_hi));
        }
        d.decode8::<NATIVE, AVX512, U>(&lanes, &p.map, &p.quads, data, at, stride);
    }

    /// [`ChannelEngine::decode_dense8`] compiled for AVX2 and BMI2, out of line.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    #[inline(never)]
    unsafe fn decode_dense8_native<U: CodeUnit>(d: &DenseBlock, p: &Plan, strings: &[(u64, u64); 8], data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        Self::decode_dense8::<true, false, U>(d, p, strings, data, at, stride)
    }

    /// [`ChannelEngine::decode_dense8`] compiled for AVX-512 (VNNI) as well
    /// (the inverse's multiply-adds accumulate in one instruction), out of line.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt,avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")]
    #[inline(never)]
    unsafe fn decode_dense8_avx512<U: CodeUnit>(d: &DenseBlock, p: &Plan, strings: &[(u64, u64); 8], data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        Self::decode_dense8::<true, true, U>(d, p, strings, data, at, stride)
    }

    /// [`ChannelEngine::decode_block8`] compiled for the features of `native`,
    /// out of line (the code around it, and its own, stay as they are when
    /// either changes).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    #[inline(never)]
    unsafe fn decode_block8_native<U: CodeUnit>(blk: &ChannelBlock, p: &Plan, strings: &[(u64, u64); 8], data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        Self::decode_block8::<true, U>(blk, p, strings, data, at, stride)
    }

    /// Writes a block's values of a tile of 8 vectors (channel k's 8 values
    /// at `data[at + k·stride..]`) from its vector strings (`strings[t]` of
    /// vector t, as (lo, hi); only lo's low `p.split` bits are read). Each string is spread into byte lanes (PDEP), the 8 x 16
    /// field bytes are transposed to channel runs, and each run is
    /// reconstructed by byte shuffles of its channel's tables (groups of at
    /// most [`SHUFFLE_BITS`] bits) or by table lookups (wider ones).
    #[inline(always)]
    fn decode_block8<const NATIVE: bool, U: CodeUnit>(blk: &ChannelBlock, p: &Plan, strings: &[(u64, u64); 8], data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        // every run of the block lies in `data` (the unchecked stores below rely on it)
        assert!(at + (blk.b - 1) * stride + 8 <= data.len());
        let by_group = p.by_group::<NATIVE>(blk);
        // the fields, channel-major: [k·8 + t]
        let cols = fields_by_channel::<NATIVE>(p, strings, blk.b);
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            use core::arch::x86_64::*;
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 and BMI2
            // on a machine that has them; `cols` and the shuffle tables are read
            // within their sizes; the stores into `data` lie in the block's
            // runs, asserted above (channel k < B, 8 values)
            unsafe {
                let low4 = _mm_set1_epi8(0x0f);
                let out = data.as_mut_ptr().add(at);
                for g in 0..blk.bits.len() {
                    let bits = blk.bits[g];
                    let (first, end) = (blk.group_start[g], blk.group_start[g + 1]);
                    // this group's tables, [k]
                    let tables = blk.shuffle.as_ptr().add(g * blk.b);
                    let channel = |i: usize| ((by_group >> (4 * i)) & 15) as usize;
                    if bits == 0 {
                        // a dropped group: every output its channel's one reconstruction
                        for i in first..end {
                            let k = channel(i);
                            let table = &*tables.add(k);
                            let dst = out.add(k * stride) as *mut __m128i;
                            if U::WIDE {
                                _mm_storeu_si128(dst, _mm_set1_epi16((table[0] as u16 | (table[32] as u16) << 8) as i16));
                            } else {
                                _mm_storel_epi64(dst, _mm_set1_epi8(table[0] as i8));
                            }
                        }
                    } else if bits <= 4 {
                        // the fields index a 16-entry table
                        for i in first..end {
                            let k = channel(i);
                            let table = tables.add(k) as *const __m128i;
                            let fields = _mm_loadl_epi64(cols.as_ptr().add(8 * k) as *const __m128i);
                            let dst = out.add(k * stride) as *mut __m128i;
                            let lo = _mm_shuffle_epi8(_mm_loadu_si128(table), fields);
                            if U::WIDE {
                                let hi = _mm_shuffle_epi8(_mm_loadu_si128(table.add(2)), fields);
                                _mm_storeu_si128(dst, _mm_unpacklo_epi8(lo, hi));
                            } else {
                                _mm_storel_epi64(dst, lo);
                            }
                        }
                    } else if bits <= SHUFFLE_BITS {
                        // fields of 5 bits: the low nibble indexes the tables of
                        // fields 0..16 and 16..32, bit 4 picks one
                        for i in first..end {
                            let k = channel(i);
                            let table = tables.add(k) as *const __m128i;
                            let fields = _mm_loadl_epi64(cols.as_ptr().add(8 * k) as *const __m128i);
                            let dst = out.add(k * stride) as *mut __m128i;
                            let index = _mm_and_si128(fields, low4);
                            let upper = _mm_cmpgt_epi8(fields, low4);
                            let lo = shuffle32(table, index, upper);
                            if U::WIDE {
                                let hi = shuffle32(table.add(2), index, upper);
                                _mm_storeu_si128(dst, _mm_unpacklo_epi8(lo, hi));
                            } else {
                                _mm_storel_epi64(dst, lo);
                            }
                        }
                    }
                }
            }
        }
        // the other groups (all of them in portable code): one lookup per value
        for g in 0..blk.bits.len() {
            if NATIVE && blk.bits[g] <= SHUFFLE_BITS {
                continue;
            }
            for i in blk.group_start[g]..blk.group_start[g + 1] {
                let k = ((by_group >> (4 * i)) & 15) as usize;
                let row = blk.recon_base[g * blk.b + k] as usize;
                let fields: [u8; 8] = cols[8 * k..8 * k + 8].try_into().expect("8 fields");
                let dst = &mut data[at + k * stride..at + k * stride + 8];
                // SAFETY: a field of group g has fewer than 2^bits_g values, and the
                // row of channel k in group g holds 2^bits_g reconstructions
                let recon = |f: u8| unsafe { *blk.recon.get_unchecked(row + f as usize) };
                debug_assert!(fields.iter().all(|&f| row + (f as usize) < blk.recon.len()));
                if U::WIDE {
                    for (t, &f) in fields.iter().enumerate() {
                        dst[t].write(U::from_code(recon(f)));
                    }
                } else {
                    // the 8 bytes in one word, one store
                    let mut run = 0u64;
                    for (t, &f) in fields.iter().enumerate() {
                        run |= (recon(f) as u8 as u64) << (8 * t);
                    }
                    // SAFETY: `dst` is 8 one-byte values (U is a byte here)
                    unsafe { std::ptr::write_unaligned(dst.as_mut_ptr() as *mut [u8; 8], run.to_le_bytes()) };
                }
            }
        }
    }

    /// [`ChannelEngine::decode_tile`] compiled for the features of `native`,
    /// out of line (the tile loop around it stays small).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt")]
    #[inline(never)]
    unsafe fn decode_tile_native<U: CodeUnit>(&self, src: &mut BitSource, which: &[Which], work: &[Plan], data: &mut [MaybeUninit<U>], v: TileView, count: usize) {
        self.decode_tile::<true, U>(src, which, work, data, v, count)
    }

    /// Writes every value of a tile of `count` vectors (at `v` in the staging
    /// batch `data`) from its vector strings, which start at `src`'s position,
    /// and moves `src` past them. Block bi's plan is `which[bi]` (a slot of `work`).
    #[inline(always)]
    fn decode_tile<const NATIVE: bool, U: CodeUnit>(&self, src: &mut BitSource, which: &[Which], work: &[Plan], data: &mut [MaybeUninit<U>], v: TileView, count: usize) {
        let c = self.channels;
        // every value of the tile is written below: first the rest runs of
        // every channel, then the fields that differ
        let plan = |bi: usize| match which[bi] {
            Which::Fixed => &self.blocks[bi].fixed,
            Which::Slot(slot) => &work[slot],
        };
        // every run of the tile lies in `data` (the unchecked stores below rely on it)
        assert!(v.base + (c - 1) * v.stride + count <= data.len());
        // runs of 8 vectors with their length known at compile time (a tile's
        // vectors follow one another in the payload, and every run of a tile
        // has the tile's plans), then the rest of a tile of another length
        let whole = count / 8 * 8;
        for first in (0..whole).step_by(8) {
            self.decode_blocks::<NATIVE, U, 8>(src, &plan, data, TileView { base: v.base + first, stride: v.stride }, 8);
        }
        // (the rest: its strings in arrays of its own size, 4 or fewer vectors
        // in a small one, so that a tile of 4 does not clear 64 vectors' worth)
        if count - whole > 4 {
            self.decode_blocks::<NATIVE, U, MAX_TILE>(src, &plan, data, TileView { base: v.base + whole, stride: v.stride }, count - whole);
        } else if whole < count {
            self.decode_blocks::<NATIVE, U, 4>(src, &plan, data, TileView { base: v.base + whole, stride: v.stride }, count - whole);
        }
    }

    /// The blocks of a tile of `count` vectors, as [`ChannelEngine::decode_tile`]:
    /// `N` is 8 for a tile of 8 (its length known at compile time), else [`MAX_TILE`].
    #[inline(always)]
    fn decode_blocks<'p, const NATIVE: bool, U: CodeUnit, const N: usize>(&self, src: &mut BitSource, plan: &impl Fn(usize) -> &'p Plan, data: &mut [MaybeUninit<U>], v: TileView, count: usize) {
        let count = if N == 8 { 8 } else { count };
        // block by block: a block with few vectors off the rest string is written
        // as rest runs patched where it differs; in a tile of 8, one with more
        // channel by channel
        let mut off = 0;
        let mut strings = [(0u64, 0u64); N];
        // strings of at most 57 bits, each as one word (`packed`), split only where needed
        let mut words = [0u64; N];
        for (bi, blk) in self.blocks.iter().enumerate() {
            let p = plan(bi);
            let mut differ = 0u64;
            let bb = blk.block_bits;
            let packed = bb <= 57 && src.peek57_ok(off + (count - 1) * self.vector_bits);
            if packed {
                // each string in one read, compared with the rest string in one piece
                for (t, wt) in words[..count].iter_mut().enumerate() {
                    // SAFETY: checked above for the last (largest) offset
                    *wt = bzhi::<NATIVE>(unsafe { src.peek57_at_unchecked(off + t * self.vector_bits) }, bb);
                    differ |= ((*wt != p.rest_packed) as u64) << t;
                }
            } else {
                for (t, st) in strings[..count].iter_mut().enumerate() {
                    *st = Self::string::<NATIVE>(blk, p, src, off + t * self.vector_bits);
                    differ |= ((*st != (p.rest_lo, p.rest_hi)) as u64) << t;
                }
            }
            // (lo, hi) of a packed string; lo keeps hi's bits above its own:
            // they are read with PDEP under `deposit_lo`, which takes the low `split` bits only
            let split = |w: u64| (w, w >> p.split);
            let at = v.base + blk.first * v.stride;
            // channel by channel when many vectors differ and, where that means
            // lookups (groups too wide for byte shuffles), many of their bits
            // (a dense-transform block: its run of 8 through the 8-vector inverse
            // whenever a vector is off the rest string, or always under a
            // dynamic map, whose plan holds no rest reconstruction for it)
            let dynamic = self.grouping == Grouping::Dynamic;
            let dense = N == 8
                && if blk.dense.is_some() { differ != 0 || dynamic } else { differ.count_ones() > SPARSE_VECTORS }
                && (blk.dense.is_some()
                    || blk.dense_from == 0
                    || if packed {
                        words[..count].iter().map(|&w| (w ^ p.rest_packed).count_ones()).sum::<u32>()
                    } else {
                        strings[..count].iter().map(|&(lo, hi)| (lo ^ p.rest_lo).count_ones() + (hi ^ p.rest_hi).count_ones()).sum::<u32>()
                    } > blk.dense_from);
            if dense {
                if packed {
                    for t in 0..8 {
                        strings[t] = split(words[t]);
                    }
                }
                let strings: &[(u64, u64); 8] = strings[..8].try_into().expect("8 strings");
                if let Some(d) = &blk.dense {
                    #[cfg(target_arch = "x86_64")]
                    if NATIVE {
                        // (through an opaque pointer: the compiler inlines even an
                        // `inline(never)` function of the same features, and the dense
                        // kernel's code then costs the identity loops' registers)
                        let kernel: DenseRunKernel<U> = std::hint::black_box(if self.avx512 { Self::decode_dense8_avx512::<U> } else { Self::decode_dense8_native::<U> });
                        // SAFETY: NATIVE is set only when these features were detected at run
                        // time, and `avx512` only when AVX-512's were too
                        unsafe { kernel(d, p, strings, data, at, v.stride) };
                    } else {
                        Self::decode_dense8::<false, false, U>(d, p, strings, data, at, v.stride);
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    Self::decode_dense8::<false, false, U>(d, p, strings, data, at, v.stride);
                    off += blk.block_bits as usize;
                    continue;
                }
                #[cfg(target_arch = "x86_64")]
                if NATIVE {
                    // SAFETY: NATIVE is set only when these features were detected at run time
                    unsafe { Self::decode_block8_native(blk, p, strings, data, at, v.stride) };
                } else {
                    Self::decode_block8::<false, U>(blk, p, strings, data, at, v.stride);
                }
                #[cfg(not(target_arch = "x86_64"))]
                Self::decode_block8::<false, U>(blk, p, strings, data, at, v.stride);
            } else {
                if blk.dense.is_some() && dynamic {
                    // (a short run under a dynamic map: every vector by its golden inverse)
                    differ = u64::MAX >> (64 - count);
                } else if N == 8 && NATIVE && !U::WIDE {
                    // runs of 8 bytes: two channels' runs per byte shuffle
                    assert!(at + (blk.b - 1) * v.stride + 8 <= data.len());
                    // SAFETY: as `fill_rest8`'s contract: the runs lie in `data` (above)
                    unsafe { fill_rest8(&p.rest_recon, blk.b, data.as_mut_ptr().add(at) as *mut u8, v.stride) };
                } else {
                    for k in 0..blk.b {
                        fill_run(&mut data[at + k * v.stride..at + k * v.stride + count], U::from_code(p.rest_recon[k]));
                    }
                }
                while differ != 0 {
                    let t = differ.trailing_zeros() as usize;
                    let (lo, hi) = if packed { split(words[t]) } else { strings[t] };
                    if let Some(d) = &blk.dense {
                        // (a short run: the vector's fields as byte lanes, its golden inverse)
                        let mut lanes = [0u8; MAX_BLOCK];
                        lanes[..8].copy_from_slice(&pdep::<NATIVE>(lo, p.deposit_lo).to_le_bytes());
                        lanes[8..].copy_from_slice(&pdep::<NATIVE>(hi, p.deposit_hi).to_le_bytes());
                        d.decode_vector(&lanes, &p.map, data, at + t, v.stride);
                    } else {
                        Self::patch_vector::<NATIVE, U>(blk, p, (lo, hi), data, at + t, v.stride);
                    }
                    differ &= differ - 1;
                }
            }
            off += blk.block_bits as usize;
        }
        src.skip(count * self.vector_bits);
    }
}

/// [`ChannelEngine::dense_block_native`] as a pointer (called through an
/// opaque one, so that the compiler does not inline it into the identity loops).
#[cfg(target_arch = "x86_64")]
type DenseTileKernel<U> = unsafe fn(&ChannelEngine, usize, &DenseBlock, u64, &[U], TileView, usize, DenseOut<'_>) -> (u64, u32);

/// [`ChannelEngine::decode_dense8_native`] as a pointer (see [`DenseTileKernel`]).
#[cfg(target_arch = "x86_64")]
type DenseRunKernel<U> = unsafe fn(&DenseBlock, &Plan, &[(u64, u64); 8], &mut [MaybeUninit<U>], usize, usize);

/// The fields of 8 vector strings of a block (`strings[t]` as (lo, hi); only
/// lo's low `p.split` bits are read) under plan `p`, channel-major:
/// `[8·k + t]` for the block's `b` components (zero past them). Each string
/// is spread into byte lanes (PDEP), then the 8 x 16 bytes are transposed.
#[inline(always)]
fn fields_by_channel<const NATIVE: bool>(p: &Plan, strings: &[(u64, u64); 8], b: usize) -> [u8; 8 * MAX_BLOCK] {
    let mut cols = [0u8; 8 * MAX_BLOCK];
    #[cfg(target_arch = "x86_64")]
    if NATIVE {
        use core::arch::x86_64::*;
        // SAFETY: NATIVE code runs only inside functions compiled for AVX2 and
        // BMI2 on a machine that has them; the stores are into `cols` (128 bytes)
        unsafe {
            // (a loop, not `array::from_fn`: its closure would not get the features)
            let mut r = [_mm_setzero_si128(); 8];
            for (rt, &(lo, hi)) in r.iter_mut().zip(strings) {
                *rt = _mm_set_epi64x(pdep::<NATIVE>(hi, p.deposit_hi) as i64, pdep::<NATIVE>(lo, p.deposit_lo) as i64);
            }
            // 8 x 16 bytes (vector-major) to 16 x 8 (channel-major)
            let a = [
                _mm_unpacklo_epi8(r[0], r[1]),
                _mm_unpackhi_epi8(r[0], r[1]),
                _mm_unpacklo_epi8(r[2], r[3]),
                _mm_unpackhi_epi8(r[2], r[3]),
                _mm_unpacklo_epi8(r[4], r[5]),
                _mm_unpackhi_epi8(r[4], r[5]),
                _mm_unpacklo_epi8(r[6], r[7]),
                _mm_unpackhi_epi8(r[6], r[7]),
            ];
            let q = [
                _mm_unpacklo_epi16(a[0], a[2]),
                _mm_unpackhi_epi16(a[0], a[2]),
                _mm_unpacklo_epi16(a[1], a[3]),
                _mm_unpackhi_epi16(a[1], a[3]),
                _mm_unpacklo_epi16(a[4], a[6]),
                _mm_unpackhi_epi16(a[4], a[6]),
                _mm_unpacklo_epi16(a[5], a[7]),
                _mm_unpackhi_epi16(a[5], a[7]),
            ];
            let cp = cols.as_mut_ptr() as *mut __m128i;
            for i in 0..4 {
                // channels 4i..4i+4
                _mm_storeu_si128(cp.add(2 * i), _mm_unpacklo_epi32(q[i], q[i + 4]));
                _mm_storeu_si128(cp.add(2 * i + 1), _mm_unpackhi_epi32(q[i], q[i + 4]));
            }
        }
        return cols;
    }
    for (t, &(lo, hi)) in strings.iter().enumerate() {
        let lanes = [pdep::<NATIVE>(lo, p.deposit_lo), pdep::<NATIVE>(hi, p.deposit_hi)];
        for k in 0..b {
            cols[k * 8 + t] = (lanes[k >> 3] >> (8 * (k & 7))) as u8;
        }
    }
    cols
}

/// The compressor's buffers a dense block of a tile writes (see
/// [`ChannelEngine::dense_block`]).
struct DenseOut<'a> {
    work: &'a mut [Plan],
    outputs: &'a mut [RunOutputs],
    lanes: &'a mut [u8],
    packed: &'a mut [u64],
    strings: &'a mut [(u64, u64)],
    short: bool,
    nb: usize,
}

/// The strings of a block's vectors of `touched` from their byte lanes
/// (`lanes[16·t..]`) under `plan`: into `packed[t·nb + bi]` (each string in
/// one word, when `short`) or `strings[t·nb + bi]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pack_touched<const NATIVE: bool>(plan: &Plan, lanes: &[u8], mut touched: u64, short: bool, packed: &mut [u64], strings: &mut [(u64, u64)], nb: usize, bi: usize) {
    while touched != 0 {
        let t = touched.trailing_zeros() as usize;
        let lo = u64::from_le_bytes(lanes[t * 16..t * 16 + 8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(lanes[t * 16 + 8..t * 16 + 16].try_into().expect("8 bytes"));
        let (lo, hi) = (pext::<NATIVE>(lo, plan.deposit_lo), pext::<NATIVE>(hi, plan.deposit_hi));
        if short {
            packed[t * nb + bi] = lo | (hi << plan.split);
        } else {
            strings[t * nb + bi] = (lo, hi);
        }
        touched &= touched - 1;
    }
}

/// Which bytes of `m` are not zero: bit j for byte j.
#[inline(always)]
fn nonzero_bytes<const NATIVE: bool>(m: u64) -> u8 {
    let mut t = m | (m >> 4);
    t |= t >> 2;
    t |= t >> 1;
    pext::<NATIVE>(t, 0x0101_0101_0101_0101) as u8
}

/// Calls `f(t, code)` for each code of a run (a fixed-length loop for the common tile of 8).
#[inline(always)]
fn for_each_code<U: Copy>(run: &[U], mut f: impl FnMut(usize, U)) {
    if let Ok(r) = <&[U; 8]>::try_from(run) {
        for (t, &x) in r.iter().enumerate() {
            f(t, x);
        }
        return;
    }
    for (t, &x) in run.iter().enumerate() {
        f(t, x);
    }
}

/// How the engine holds one input or output code: as an `i16` code, or as
/// the code's byte (two's complement for int8, plain for uint8) — the
/// tensor's own int8/uint8 bytes.
pub(crate) trait CodeUnit: Copy + Default + 'static {
    /// Whether the unit is an `i16` (two bytes) rather than a byte.
    const WIDE: bool;
    /// A code in this form (codes lie in an 8-bit range).
    fn from_code(code: i16) -> Self;
    /// The code's entry in the engine's 256-entry tables, `code - lo`.
    fn index(self, lo: i32) -> usize;
    /// Bit t set where `run[t]` is not `rest`.
    fn nonrest_mask(run: &[Self], rest: Self) -> u64;

    /// [`CodeUnit::nonrest_mask`] of a run of exactly 64 codes.
    fn nonrest_mask64<const NATIVE: bool>(run: &[Self; 64], rest: Self) -> u64;
}

impl CodeUnit for i16 {
    const WIDE: bool = true;

    #[inline(always)]
    fn from_code(code: i16) -> Self {
        code
    }

    #[inline(always)]
    fn index(self, lo: i32) -> usize {
        (self as i32 - lo) as u8 as usize
    }

    #[inline(always)]
    fn nonrest_mask(run: &[i16], rest: i16) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if run.len() == 8 {
            use core::arch::x86_64::*;
            // SAFETY: SSE2 is part of x86_64; the load reads the 8 codes of `run` (16 bytes)
            unsafe {
                let x = _mm_loadu_si128(run.as_ptr() as *const __m128i);
                let eq = _mm_cmpeq_epi16(x, _mm_set1_epi16(rest));
                return (!_mm_movemask_epi8(_mm_packs_epi16(eq, eq)) & 0xff) as u64;
            }
        }
        generic_nonrest_mask(run, rest)
    }

    #[inline(always)]
    fn nonrest_mask64<const NATIVE: bool>(run: &[i16; 64], rest: i16) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            use core::arch::x86_64::*;
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 and
            // BMI2 on a machine that has them; the loads read the 64 codes of `run`
            unsafe {
                let r = _mm256_set1_epi16(rest);
                let mut eq = 0u64;
                for q in 0..4 {
                    let x = _mm256_loadu_si256(run.as_ptr().add(16 * q) as *const __m256i);
                    // two mask bits per code: keep one
                    let m = _mm256_movemask_epi8(_mm256_cmpeq_epi16(x, r)) as u32 as u64;
                    eq |= pext::<NATIVE>(m, 0x5555_5555) << (16 * q);
                }
                return !eq;
            }
        }
        generic_nonrest_mask(run, rest)
    }
}

impl CodeUnit for u8 {
    const WIDE: bool = false;

    #[inline(always)]
    fn from_code(code: i16) -> Self {
        code as u8
    }

    #[inline(always)]
    fn index(self, lo: i32) -> usize {
        // int8: the byte as i8 minus -128 is the byte with its top bit flipped,
        // and so is (byte + 128) mod 256; uint8: the byte
        (self as i32 - lo) as u8 as usize
    }

    #[inline(always)]
    fn nonrest_mask(run: &[u8], rest: u8) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if run.len() == 8 {
            use core::arch::x86_64::*;
            // SAFETY: SSE2 is part of x86_64; the load reads the 8 bytes of `run`
            unsafe {
                let x = _mm_loadl_epi64(run.as_ptr() as *const __m128i);
                let eq = _mm_cmpeq_epi8(x, _mm_set1_epi8(rest as i8));
                return (!_mm_movemask_epi8(eq) & 0xff) as u64;
            }
        }
        generic_nonrest_mask(run, rest)
    }

    #[inline(always)]
    fn nonrest_mask64<const NATIVE: bool>(run: &[u8; 64], rest: u8) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            use core::arch::x86_64::*;
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; the loads read the 64 bytes of `run`
            unsafe {
                let r = _mm256_set1_epi8(rest as i8);
                let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(run.as_ptr() as *const __m256i), r)) as u32 as u64;
                let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(run.as_ptr().add(32) as *const __m256i), r)) as u32 as u64;
                return !(lo | (hi << 32));
            }
        }
        generic_nonrest_mask(run, rest)
    }
}

/// Bit t set where `run[t]` is not `rest` (any run length up to 64).
#[inline(always)]
fn generic_nonrest_mask<U: PartialEq + Copy>(run: &[U], rest: U) -> u64 {
    let mut m = 0u64;
    for (t, &x) in run.iter().enumerate() {
        m |= ((x != rest) as u64) << t;
    }
    m
}

/// Writes 8 bytes of code `codes[k]` (its low byte) at `out + k·stride`, for
/// each channel k < b.
///
/// # Safety
/// Only for code compiled for AVX2 on a machine that has it (NATIVE code,
/// x86_64); `out + k·stride .. + 8` writable for every k < b.
#[inline(always)]
#[allow(unused_variables)]
unsafe fn fill_rest8(codes: &[i16; MAX_BLOCK], b: usize, out: *mut u8, stride: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as the function's contract; the loads read `codes` (32 bytes)
    unsafe {
        use core::arch::x86_64::*;
        // the codes' low bytes, channel k in byte k
        let lo = _mm_loadu_si128(codes.as_ptr() as *const __m128i);
        let hi = _mm_loadu_si128(codes.as_ptr().add(8) as *const __m128i);
        let mask = _mm_set1_epi16(0xff);
        let bytes = _mm_packus_epi16(_mm_and_si128(lo, mask), _mm_and_si128(hi, mask));
        for i in 0..b / 2 {
            // channel 2i in the low 8 bytes, 2i + 1 in the high 8
            let pair = _mm_shuffle_epi8(bytes, _mm_set_epi64x(0x0101_0101_0101_0101 * (2 * i as i64 + 1), 0x0101_0101_0101_0101 * 2 * i as i64));
            _mm_storel_epi64(out.add(2 * i * stride) as *mut __m128i, pair);
            _mm_storeh_pd(out.add((2 * i + 1) * stride) as *mut f64, _mm_castsi128_pd(pair));
        }
        if b % 2 == 1 {
            let k = b - 1;
            _mm_storel_epi64(out.add(k * stride) as *mut __m128i, _mm_shuffle_epi8(bytes, _mm_set1_epi8(k as i8)));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("NATIVE code runs only on x86_64");
}

/// Sets a run of outputs to one value.
#[inline(always)]
fn fill_run<U: CodeUnit>(run: &mut [MaybeUninit<U>], v: U) {
    let n = run.len();
    if let Ok(r) = <&mut [MaybeUninit<U>; 8]>::try_from(&mut *run) {
        *r = [MaybeUninit::new(v); 8];
        return;
    }
    // short runs (tiles of fewer than 8 vectors) as two overlapping pieces:
    // `fill` would be a `memset` call for a few values
    let x = MaybeUninit::new(v);
    if (4..8).contains(&n) {
        run[..4].copy_from_slice(&[x; 4]);
        run[n - 4..].copy_from_slice(&[x; 4]);
    } else if (2..4).contains(&n) {
        run[..2].copy_from_slice(&[x; 2]);
        run[n - 2..].copy_from_slice(&[x; 2]);
    } else if n == 1 {
        run[0] = x;
    } else {
        run.fill(x);
    }
}

/// Bit k set where `map[k]` is `g`.
#[inline(always)]
fn group_members<const NATIVE: bool>(map: &[u8; MAX_BLOCK], g: u8) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if NATIVE {
        use core::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64; the load reads the 16 entries of `map`
        unsafe {
            let mv = _mm_loadu_si128(map.as_ptr() as *const __m128i);
            return _mm_movemask_epi8(_mm_cmpeq_epi8(mv, _mm_set1_epi8(g as i8))) as u32 as u64;
        }
    }
    let mut members = 0u64;
    for (k, &mg) in map.iter().enumerate() {
        members |= ((mg == g) as u64) << k;
    }
    members
}

/// Entries of the 32-byte table at `table` picked by fields of 5 bits: their
/// low nibbles `index`, and `upper` all ones where bit 4 is set.
///
/// # Safety
/// Only for code compiled for AVX2 on a machine that has it; `table` points to 32 bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn shuffle32(table: *const core::arch::x86_64::__m128i, index: core::arch::x86_64::__m128i, upper: core::arch::x86_64::__m128i) -> core::arch::x86_64::__m128i {
    use core::arch::x86_64::*;
    // SAFETY: as the function's contract
    unsafe {
        let low = _mm_shuffle_epi8(_mm_loadu_si128(table), index);
        let high = _mm_shuffle_epi8(_mm_loadu_si128(table.add(1)), index);
        _mm_blendv_epi8(low, high, upper)
    }
}

/// The low `n` bits of `x` (`n` <= 64).
#[inline(always)]
fn bzhi<const NATIVE: bool>(x: u64, n: u32) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if NATIVE {
        // SAFETY: NATIVE code runs only inside functions compiled for BMI2 on a machine that has it
        return unsafe { core::arch::x86_64::_bzhi_u64(x, n) };
    }
    if n >= 64 {
        x
    } else {
        x & ((1u64 << n) - 1)
    }
}

/// Parallel bit extract: the bits of `x` under `mask`, packed from bit 0 up.
#[inline(always)]
fn pext<const NATIVE: bool>(x: u64, mask: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if NATIVE {
        // SAFETY: as in `bzhi`
        return unsafe { core::arch::x86_64::_pext_u64(x, mask) };
    }
    let (mut out, mut m, mut i) = (0u64, mask, 0);
    while m != 0 {
        let bit = m.trailing_zeros();
        out |= ((x >> bit) & 1) << i;
        i += 1;
        m &= m - 1;
    }
    out
}

/// Parallel bit deposit: the low bits of `x` spread over the bits of `mask`, from bit 0 up.
#[inline(always)]
fn pdep<const NATIVE: bool>(x: u64, mask: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if NATIVE {
        // SAFETY: as in `bzhi`
        return unsafe { core::arch::x86_64::_pdep_u64(x, mask) };
    }
    let (mut out, mut m, mut i) = (0u64, mask, 0);
    while m != 0 {
        let bit = m.trailing_zeros();
        out |= ((x >> i) & 1) << bit;
        i += 1;
        m &= m - 1;
    }
    out
}
