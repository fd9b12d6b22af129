//! Dense blocks (PCA, DCT: every component a mix of every channel) in the
//! channel-major engine ([`crate::codec_channel`]).
//!
//! The engine stages a batch of vectors channel-major, so a block's run of
//! 8 vectors is 16 rows of 8 codes. Here that run is transformed
//! component-major, 8 vectors at a time:
//!
//! * **forward**: the codes of channels 2p and 2p+1 are interleaved into one
//!   register of 8 pairs; `pmaddwd` with the pair (F[k][2p], F[k][2p+1])
//!   broadcast adds that pair's part of component k for all 8 vectors, so a
//!   component is 8 multiply-adds, exact in 32 bits (the block's bounds are
//!   checked when it is built, as [`crate::kernels::PairMatrix`] does). The
//!   outputs (saturated to 16 bits) are kept per run: a dynamic tile's group
//!   map needs every run's energies before any field is made;
//! * **quantizer**: the fine index of 8 outputs at once (32-bit multiply,
//!   round, clamp), then the group's code table entry per output;
//! * **inverse**: the 8 vectors' fields, transposed in 16-bit pieces, are
//!   already in component pairs; byte shuffles of the groups' level tables
//!   (fields of up to 6 bits; per quad of components one shuffle pair per
//!   group in it, blended) turn them into the paired levels, which give
//!   each channel's 8 outputs in one multiply-add per pair that carries a
//!   coded component (the coefficients are read from memory, already
//!   broadcast), then the shift and mean; four channels are clamped (by the
//!   saturating packs) and stored together.
//!
//! On CPUs with AVX-512 (F, BW, VL, VBMI, VNNI) the compressor's tiles run
//! a third build: two components per 512-bit register, one VNNI
//! dot-product accumulate per channel pair; the fine indices narrowed to
//! bytes, 64 to a register, and each coded group's 256-entry code table
//! looked up with two byte permutes under a mask. The decoder's inverse
//! then accumulates with VNNI as well.
//!
//! Everything else — staging, rest runs, group maps and plans, packing the
//! byte lanes with PEXT/PDEP, payload layout, errors — is the channel-major
//! engine's. A run whose 16 x 8 codes are all at rest costs no transform:
//! its strings are the plan's rest string. Short runs (a tile of fewer than
//! 8 vectors) and machines without AVX2 use the golden per-vector
//! transforms ([`BlockMatrices`]).

use crate::bitstream::sign_extend;
use crate::codec_channel::CodeUnit;
use crate::policy::{BlockPolicy, Policy, QUANT_SHIFT};
use crate::quantizer::{fine_index, GroupQuantizer};
use crate::transform::BlockMatrices;
use std::mem::MaybeUninit;

/// Components (and channels) of a dense block the engine takes.
pub(crate) const DENSE_MAX_BLOCK: usize = 16;

/// A run's transform outputs, component-major: `[k][t]` (saturated to 16 bits).
pub(crate) type RunOutputs = [[i16; 8]; DENSE_MAX_BLOCK];

/// A dense block's transforms and its groups' quantizer tables in the forms
/// the 8-vector kernels use.
#[derive(Debug, Clone)]
pub(crate) struct DenseBlock {
    b: usize,
    /// Codes of the code range are signed (int8): bytes are sign-extended.
    signed: bool,
    lo: i32,
    hi: i32,
    /// `[k][p]`: (F[k][2p], F[k][2p+1]) as the two 16-bit halves of one word.
    fwd_pairs: [[i32; DENSE_MAX_BLOCK / 2]; DENSE_MAX_BLOCK],
    /// `bias_k + 2^(s_k - 1)`: the mean and the rounding term.
    fwd_init: [i32; DENSE_MAX_BLOCK],
    fwd_shift: [u32; DENSE_MAX_BLOCK],
    /// The same for components 2j and 2j + 1 side by side, 8 words each (a
    /// 512-bit register: [`DenseBlock::component_pair16`]): `[j][p]` the
    /// pairs, then `[j]` the initial sums and the shifts (0 past the block).
    fwd_pairs_wide: Vec<[[i32; 16]; DENSE_MAX_BLOCK / 2]>,
    fwd_init_wide: Vec<[i32; 16]>,
    fwd_shift_wide: Vec<[u32; 16]>,
    inv_shift: u32,
    inv_mean: [i32; DENSE_MAX_BLOCK],
    /// Per group: its multiplier (0: a dropped group) and field width.
    qmul: Vec<i32>,
    bits: Vec<u32>,
    /// `[g][fine + 128]`: the packed field (the group's code table).
    field_of: Vec<[u8; 256]>,
    /// `[g][field]`: the reconstruction ŷ of a field (0 in a dropped group).
    level_of: Vec<[i16; 256]>,
    /// `[g]`: the low bytes of the levels of fields 0..16, their high bytes,
    /// then the same for fields 16..32, 32..48 and 48..64 (groups of at most
    /// 6 bits: byte-shuffle tables).
    shuffle: Vec<[u8; 128]>,
    /// The indices j of the inverse's component pairs (2j, 2j+1) that carry
    /// a coded component — under a static map; otherwise every pair of the
    /// block — and how many there are.
    live: [usize; DENSE_MAX_BLOCK / 2],
    live_pairs: usize,
    /// The live pairs are the first `live_pairs` (nothing to gather).
    live_prefix: bool,
    /// In a block of more than 8 (two merged blocks of 8, say:
    /// `crate::block_merge`), channels 0..8 of the inverse read only
    /// components 0..8 and channels 8..16 only components 8..16. Then every
    /// channel's coefficients are those of its half's four pairs
    /// (`inv_pairs_wide[i][0..4]`), every pair is live, and channels 8..16
    /// take pairs 4..8.
    inv_halves: bool,
    /// `[g]`: 0x80 when group g is too wide for byte shuffles (more than 6
    /// bits), else 0 (16 entries: a shuffle table).
    wide_group: [u8; 16],
    /// 0xff at the components past the block (0..16), else 0.
    past_block: [u8; 16],
    /// `[i][q]`: (V[i][2j], V[i][2j+1]) of the q-th live pair as one word,
    /// in all 8 words of a register (the multiply-add reads it from memory:
    /// no broadcast per use).
    inv_pairs_wide: Vec<[[i32; 8]; DENSE_MAX_BLOCK / 2]>,
    /// The golden transforms (short runs, portable code).
    m: BlockMatrices,
    quantizers: Vec<GroupQuantizer>,
}

/// Where a run's transform outputs are, for the quantizer
/// ([`DenseBlock::fields8_avx512`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum RunSource<'a> {
    /// Already made, saturated to 16 bits (a dynamic tile's).
    Outputs(&'a RunOutputs),
    /// To be made from the run's channel pairs, in both halves of a 512-bit
    /// register ([`DenseBlock::pairs16`]).
    Pairs(&'a [core::arch::x86_64::__m512i; DENSE_MAX_BLOCK / 2]),
}

/// Two 16-bit values as the low and high halves of one word (`pmaddwd`'s pair).
fn pair(a: i32, b: i32) -> i32 {
    ((a as i16 as u16 as u32) | ((b as i16 as u16 as u32) << 16)) as i32
}

impl DenseBlock {
    /// The dense form of a block, when it is at most [`DENSE_MAX_BLOCK`]
    /// wide, its matrices' entries fit 16 bits and no partial sum of either
    /// transform can leave the i32 range for any codes of the range and any
    /// levels (under a static map, any levels of each component's own group).
    pub(crate) fn new(policy: &Policy, blk: &BlockPolicy, m: &BlockMatrices, static_map: Option<&[u8]>) -> Option<Self> {
        let b = blk.mean.len();
        if b > DENSE_MAX_BLOCK {
            return None;
        }
        let (lo, hi) = (policy.input.code_range.min(), policy.input.code_range.max());
        if !m.forward.iter().chain(&m.inverse).all(|&v| i16::try_from(v).is_ok()) {
            return None;
        }
        let x_max = lo.unsigned_abs().max(hi.unsigned_abs()) as i64;
        let mut fwd_pairs = [[0i32; DENSE_MAX_BLOCK / 2]; DENSE_MAX_BLOCK];
        let mut fwd_init = [0i32; DENSE_MAX_BLOCK];
        let mut fwd_shift = [0u32; DENSE_MAX_BLOCK];
        for k in 0..b {
            let s = m.forward_shift[k];
            if !(1..=31).contains(&s) {
                return None;
            }
            let row = &m.forward[k * b..(k + 1) * b];
            let init = -row.iter().zip(&m.mean).map(|(&f, &mu)| f as i64 * mu as i64).sum::<i64>() + (1i64 << (s - 1));
            let bound = init.abs() + row.iter().map(|&f| f.unsigned_abs() as i64 * x_max).sum::<i64>();
            if bound > i32::MAX as i64 {
                return None;
            }
            fwd_init[k] = init as i32;
            fwd_shift[k] = s;
            for p in 0..b.div_ceil(2) {
                fwd_pairs[k][p] = pair(row[2 * p], if 2 * p + 1 < b { row[2 * p + 1] } else { 0 });
            }
        }
        let quantizers: Vec<GroupQuantizer> = blk.groups.iter().map(GroupQuantizer::new).collect();
        let level_max = blk.groups.iter().flat_map(|g| g.levels.iter()).map(|l| l.unsigned_abs() as i64).max().unwrap_or(0);
        let r = m.inverse_shift;
        if !(1..=31).contains(&r) || level_max > i16::MAX as i64 {
            return None;
        }
        // a component's largest level: its group's under a static map (a merged
        // block's groups may have levels scaled up, see `crate::block_merge`),
        // any group's under a dynamic one
        let group_level_max: Vec<i64> = blk.groups.iter().map(|g| g.levels.iter().map(|l| l.unsigned_abs() as i64).max().unwrap_or(0)).collect();
        let component_level_max = |k: usize| static_map.map_or(level_max, |map| group_level_max[map[k] as usize]);
        let mut inv_mean = [0i32; DENSE_MAX_BLOCK];
        for i in 0..b {
            let row = &m.inverse[i * b..(i + 1) * b];
            let bound = (1i64 << (r - 1)) + row.iter().enumerate().map(|(k, &v)| v.unsigned_abs() as i64 * component_level_max(k)).sum::<i64>();
            // (then the shifted sum is below 2^30 in magnitude: adding the mean cannot overflow)
            if bound > i32::MAX as i64 || m.inverse_mean[i].unsigned_abs() > 1 << 20 {
                return None;
            }
            inv_mean[i] = m.inverse_mean[i];
        }
        let ng = quantizers.len();
        let (mut qmul, mut bits) = (vec![0i32; ng], vec![0u32; ng]);
        let mut field_of = vec![[0u8; 256]; ng];
        let mut level_of = vec![[0i16; 256]; ng];
        let mut shuffle = vec![[0u8; 128]; ng];
        for (g, q) in quantizers.iter().enumerate() {
            bits[g] = q.bits;
            if q.bits == 0 {
                continue;
            }
            qmul[g] = q.qmul as i32;
            let mask = (1u32 << q.bits) - 1;
            for (e, f) in field_of[g].iter_mut().enumerate() {
                *f = (q.encode[e] as u32 & mask) as u8;
            }
            for f in 0..1usize << q.bits {
                level_of[g][f] = q.dequantize(sign_extend(f as u32, q.bits)) as i16;
            }
            for f in 0..64 {
                let v = level_of[g][f] as u16;
                shuffle[g][32 * (f / 16) + f % 16] = v as u8;
                shuffle[g][32 * (f / 16) + 16 + f % 16] = (v >> 8) as u8;
            }
        }
        // the inverse's pairs: under a static map those with a coded component
        let coded = |k: usize| k < b && static_map.is_none_or(|map| quantizers[map[k] as usize].bits > 0);
        let mut live = [0usize; DENSE_MAX_BLOCK / 2];
        let mut live_pairs = 0;
        for j in 0..DENSE_MAX_BLOCK / 2 {
            if coded(2 * j) || coded(2 * j + 1) {
                live[live_pairs] = j;
                live_pairs += 1;
            }
        }
        // (entry e = i·B + k of the inverse: zero unless i and k are in the same half)
        let inv_halves = b > 8 && (0..b * b).all(|e| (e / b < 8) == (e % b < 8) || m.inverse[e] == 0);
        if inv_halves {
            live = std::array::from_fn(|j| j);
            live_pairs = b.div_ceil(2);
        }
        let mut inv_pairs_live = [[0i32; DENSE_MAX_BLOCK / 2]; DENSE_MAX_BLOCK];
        for i in 0..b {
            let v = |k: usize| if k < b { m.inverse[i * b + k] } else { 0 };
            if inv_halves {
                let first = i / 8 * 4;
                for q in 0..4 {
                    inv_pairs_live[i][q] = pair(v(2 * (first + q)), v(2 * (first + q) + 1));
                }
                continue;
            }
            for (q, &j) in live[..live_pairs].iter().enumerate() {
                inv_pairs_live[i][q] = pair(v(2 * j), v(2 * j + 1));
            }
        }
        let block = DenseBlock {
            inv_halves,
            wide_group: std::array::from_fn(|g| if g < bits.len() && bits[g] > 6 { 0x80 } else { 0 }),
            past_block: std::array::from_fn(|k| if k < b { 0 } else { 0xff }),
            live_prefix: live[..live_pairs].iter().enumerate().all(|(q, &j)| q == j),
            inv_pairs_wide: inv_pairs_live[..b].iter().map(|row| row.map(|w| [w; 8])).collect(),
            live,
            live_pairs,
            b,
            signed: lo < 0,
            lo,
            hi,
            fwd_pairs_wide: (0..DENSE_MAX_BLOCK / 2).map(|j| std::array::from_fn(|p| std::array::from_fn(|l| fwd_pairs[2 * j + l / 8][p]))).collect(),
            fwd_init_wide: (0..DENSE_MAX_BLOCK / 2).map(|j| std::array::from_fn(|l| fwd_init[2 * j + l / 8])).collect(),
            fwd_shift_wide: (0..DENSE_MAX_BLOCK / 2).map(|j| std::array::from_fn(|l| fwd_shift[2 * j + l / 8])).collect(),
            fwd_pairs,
            fwd_init,
            fwd_shift,
            inv_shift: r,
            inv_mean,
            qmul,
            bits,
            field_of,
            level_of,
            shuffle,
            m: m.clone(),
            quantizers,
        };
        Some(block)
    }

    /// The reconstruction of the vector whose every field is its rest field
    /// (`rest_fields[k]`, component k in group `map[k]`).
    pub(crate) fn rest_recon(&self, map: &[u8], rest_fields: &[u8]) -> [i16; DENSE_MAX_BLOCK] {
        let mut lanes = [0u8; DENSE_MAX_BLOCK];
        lanes[..self.b].copy_from_slice(&rest_fields[..self.b]);
        let mut out = [0i16; DENSE_MAX_BLOCK];
        self.inverse_one(&lanes, map, &mut out);
        out
    }

    /// The transform outputs of the first `n` (at most 8) vectors of a run
    /// (channel i's codes at `data[at + i·stride..]`) into `y[k][t]`, for
    /// the components of `wanted` at least (bit k; the others may be left as
    /// they are).
    #[inline(always)]
    pub(crate) fn transform<const NATIVE: bool, U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, n: usize, wanted: u32, y: &mut RunOutputs) {
        assert!(n <= 8 && at + (self.b - 1) * stride + n <= data.len());
        #[cfg(target_arch = "x86_64")]
        if NATIVE && n == 8 {
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; the rows read lie in `data` (asserted above)
            unsafe { self.transform8_avx2(data, at, stride, wanted, y) };
            return;
        }
        let b = self.b;
        for t in 0..n {
            let mut x = [0i16; DENSE_MAX_BLOCK];
            for (i, xi) in x[..b].iter_mut().enumerate() {
                *xi = (data[at + i * stride + t].index(self.lo) as i32 + self.lo) as i16;
            }
            let mut out = [0i32; DENSE_MAX_BLOCK];
            self.m.forward(&x[..b], &mut out[..b]);
            for k in 0..b {
                // (saturated to 16 bits by the golden forward)
                y[k][t] = out[k] as i16;
            }
        }
    }

    /// A dynamic tile's transform outputs, run by run (`outputs[r / 8]` for
    /// the runs with a vector of `touched`), and its components' energies
    /// (the runs at rest add the rest vector's `|y_k|`, `rest_abs`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tile_outputs<const NATIVE: bool, const AVX512: bool, U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, count: usize, touched: u64, rest_abs: &[u32; DENSE_MAX_BLOCK], outputs: &mut [RunOutputs]) -> [u32; DENSE_MAX_BLOCK] {
        let mut energy = [0u32; DENSE_MAX_BLOCK];
        for (ri, r) in (0..count).step_by(8).enumerate() {
            let n = (count - r).min(8);
            if (touched >> r) & 0xff != 0 {
                #[cfg(target_arch = "x86_64")]
                if NATIVE && n == 8 {
                    assert!(at + r + (self.b - 1) * stride + 8 <= data.len());
                    // SAFETY: NATIVE code runs only inside functions compiled for AVX2
                    // on a machine that has it, AVX512 code only inside those compiled
                    // for AVX-512 too; the rows read lie in `data` (above)
                    unsafe {
                        if AVX512 {
                            self.transform8_energy_avx512(data, at + r, stride, &mut outputs[ri], &mut energy);
                        } else {
                            self.transform8_energy_avx2(data, at + r, stride, &mut outputs[ri], &mut energy);
                        }
                    }
                    continue;
                }
                self.transform::<NATIVE, U>(data, at + r, stride, n, u32::MAX, &mut outputs[ri]);
                self.add_energy(&outputs[ri], n, &mut energy);
            } else {
                for (e, &ra) in energy.iter_mut().zip(rest_abs) {
                    *e += n as u32 * ra;
                }
            }
        }
        energy
    }

    /// The fields of a tile's vectors of `touched` under `map`, as byte lanes
    /// `lanes[16·t + k]`: from the tile's `outputs` (a dynamic tile, after
    /// [`DenseBlock::tile_outputs`]) or straight from the codes (static).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tile_fields<const NATIVE: bool, const AVX512: bool, U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, count: usize, touched: u64, map: &[u8; DENSE_MAX_BLOCK], outputs: Option<&[RunOutputs]>, lanes: &mut [u8]) {
        for (ri, r) in (0..count).step_by(8).enumerate() {
            let run = (touched >> r) & 0xff;
            if run == 0 {
                continue;
            }
            let dst: &mut [u8; 128] = (&mut lanes[16 * r..16 * r + 128]).try_into().expect("8 vectors' lanes");
            match outputs {
                Some(y) => self.fields::<NATIVE, AVX512>(&y[ri], map, run, dst),
                None => self.fields_of_codes::<NATIVE, AVX512, U>(data, at + r, stride, (count - r).min(8), map, run, dst),
            }
        }
    }

    /// Adds `|y_k|` of the first `n` vectors of a run to each component's energy.
    #[inline(always)]
    pub(crate) fn add_energy(&self, y: &RunOutputs, n: usize, energy: &mut [u32; DENSE_MAX_BLOCK]) {
        for (e, yk) in energy.iter_mut().zip(y).take(self.b) {
            *e += yk[..n].iter().map(|&v| (v as i32).unsigned_abs()).sum::<u32>();
        }
    }

    /// The fields of the run's vectors of `touched` (bits below 8) from their
    /// transform outputs `y`, under group map `map`, as byte lanes
    /// `lanes[16·t + k]` (the other vectors' lanes are left as they are, or
    /// made too). `AVX512`: compiled for AVX-512 (with `NATIVE`).
    #[inline(always)]
    pub(crate) fn fields<const NATIVE: bool, const AVX512: bool>(&self, y: &RunOutputs, map: &[u8; DENSE_MAX_BLOCK], touched: u64, lanes: &mut [u8; 8 * DENSE_MAX_BLOCK]) {
        #[cfg(target_arch = "x86_64")]
        if NATIVE && AVX512 {
            // SAFETY: AVX512 code runs only inside functions compiled for AVX-512
            // on a machine that has it; loads and stores are of the arrays here
            unsafe { self.fields8_avx512(RunSource::Outputs(y), map, lanes) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; loads and stores are of the arrays here
            unsafe { self.fields_avx2(y, map, touched, lanes) };
            return;
        }
        for k in 0..self.b {
            let g = map[k] as usize;
            let q = &self.quantizers[g];
            let mut m = touched;
            while m != 0 {
                let t = m.trailing_zeros() as usize;
                lanes[16 * t + k] = if q.bits == 0 { 0 } else { self.field_of[g][(fine_index(y[k][t] as i32, q.qmul) + 128) as usize] };
                m &= m - 1;
            }
        }
    }

    /// The 8 codes of channel i of a run as i16 (zero past the block).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn row16<U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, i: usize) -> core::arch::x86_64::__m128i {
        use core::arch::x86_64::*;
        if i >= self.b {
            return _mm_setzero_si128();
        }
        // SAFETY: the caller asserted the block's rows lie in `data`
        unsafe {
            let p = data.as_ptr().add(at + i * stride);
            if U::WIDE {
                _mm_loadu_si128(p as *const __m128i)
            } else {
                let v = _mm_loadl_epi64(p as *const __m128i);
                if self.signed {
                    _mm_cvtepi8_epi16(v)
                } else {
                    _mm_cvtepu8_epi16(v)
                }
            }
        }
    }

    /// The fields of the run's vectors of `touched` straight from their codes
    /// (the first `n` vectors of a run, as [`DenseBlock::transform`]) under
    /// `map`, as [`DenseBlock::fields`]: on AVX2 and a whole run, the coded
    /// components' outputs go from the transform to the quantizer in registers.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fields_of_codes<const NATIVE: bool, const AVX512: bool, U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, n: usize, map: &[u8; DENSE_MAX_BLOCK], touched: u64, lanes: &mut [u8; 8 * DENSE_MAX_BLOCK]) {
        #[cfg(target_arch = "x86_64")]
        if NATIVE && AVX512 && n == 8 {
            assert!(at + (self.b - 1) * stride + 8 <= data.len());
            // SAFETY: as below, and AVX512 code runs only inside functions compiled
            // for AVX-512 on a machine that has it
            unsafe {
                let x = self.pairs16(data, at, stride);
                self.fields8_avx512(RunSource::Pairs(&x), map, lanes);
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if NATIVE && n == 8 {
            assert!(at + (self.b - 1) * stride + 8 <= data.len());
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; the rows read lie in `data` (asserted above)
            unsafe {
                let x = self.pairs8(data, at, stride);
                for k in 0..self.b {
                    let g = map[k] as usize;
                    if self.qmul[g] != 0 {
                        self.quantize8(self.component8(&x, k), g, k, touched, lanes);
                    }
                }
            }
            return;
        }
        let mut y = [[0i16; 8]; DENSE_MAX_BLOCK];
        self.transform::<NATIVE, U>(data, at, stride, n, u32::MAX, &mut y);
        self.fields::<NATIVE, AVX512>(&y, map, touched, lanes);
    }

    /// A run's codes as i16 pairs of channels (2p, 2p+1), one register of 8 pairs per p.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pairs8<U: CodeUnit>(&self, data: &[U], at: usize, stride: usize) -> [core::arch::x86_64::__m256i; DENSE_MAX_BLOCK / 2] {
        use core::arch::x86_64::*;
        let mut x = [_mm256_setzero_si256(); DENSE_MAX_BLOCK / 2];
        // SAFETY: the caller checked that the block's rows lie in `data`
        unsafe {
            for (p, xp) in x[..self.b.div_ceil(2)].iter_mut().enumerate() {
                let (r0, r1) = (self.row16(data, at, stride, 2 * p), self.row16(data, at, stride, 2 * p + 1));
                *xp = _mm256_set_m128i(_mm_unpackhi_epi16(r0, r1), _mm_unpacklo_epi16(r0, r1));
            }
        }
        x
    }

    /// Component k of a run's 8 vectors from their channel pairs: the
    /// golden forward (rounding shift, saturated to 16 bits) as i32 lanes.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn component8(&self, x: &[core::arch::x86_64::__m256i; DENSE_MAX_BLOCK / 2], k: usize) -> core::arch::x86_64::__m256i {
        use core::arch::x86_64::*;
        // SAFETY: register arithmetic only (the caller runs with AVX2)
        unsafe {
            let mut acc = _mm256_set1_epi32(self.fwd_init[k]);
            // (all 8 pairs: those past the block are zero, and a fixed count unrolls)
            for (p, &xp) in x.iter().enumerate() {
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xp, _mm256_set1_epi32(self.fwd_pairs[k][p])));
            }
            let v = _mm256_sra_epi32(acc, _mm_cvtsi32_si128(self.fwd_shift[k] as i32));
            _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(32767)), _mm256_set1_epi32(-32768))
        }
    }

    /// The fields of component k (group g, which has bits) of a run's
    /// vectors of `touched` from their outputs `y` (i32 lanes) into `lanes[16·t + k]`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn quantize8(&self, y: core::arch::x86_64::__m256i, g: usize, k: usize, touched: u64, lanes: &mut [u8; 8 * DENSE_MAX_BLOCK]) {
        use core::arch::x86_64::*;
        let mut entry = [0i32; 8];
        // SAFETY: the store is of the 8-entry array (the caller runs with AVX2)
        unsafe {
            // |y·qmul| < 2^30: the fine index in 32 bits
            let f = _mm256_mullo_epi32(y, _mm256_set1_epi32(self.qmul[g]));
            let f = _mm256_srai_epi32::<{ QUANT_SHIFT as i32 }>(_mm256_add_epi32(f, _mm256_set1_epi32(1 << (QUANT_SHIFT - 1))));
            let f = _mm256_max_epi32(_mm256_min_epi32(f, _mm256_set1_epi32(127)), _mm256_set1_epi32(-128));
            _mm256_storeu_si256(entry.as_mut_ptr() as *mut __m256i, _mm256_add_epi32(f, _mm256_set1_epi32(128)));
        }
        let table = &self.field_of[g];
        // (only the vectors off the rest vector need their fields)
        if touched & 0xff == 0xff {
            for (t, &e) in entry.iter().enumerate() {
                lanes[16 * t + k] = table[e as usize & 255];
            }
        } else {
            let mut m = touched;
            while m != 0 {
                let t = m.trailing_zeros() as usize;
                lanes[16 * t + k] = table[entry[t] as usize & 255];
                m &= m - 1;
            }
        }
    }

    /// [`DenseBlock::fields`] of a whole run on AVX-512 VBMI, from its
    /// components' outputs (`y`): every vector's byte lanes are made.
    ///
    /// Two components' fine indices (32-bit multiply, round, clamp, +128)
    /// are narrowed to 16 bytes, so the 8 vectors of components 0..8 fill
    /// one register component-major (byte 8c + t), and those of 8..16
    /// another. Each coded group looks its 256-entry code table up for its
    /// components' bytes in two 128-byte permutes (index bit 7 picks the
    /// permute), written under a mask; one more two-register permute per
    /// half makes them vector-major (`lanes[16·t + k]`). Dropped components
    /// and those past the block leave bytes that no field is taken from.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn fields8_avx512(&self, y: RunSource<'_>, map: &[u8; DENSE_MAX_BLOCK], lanes: &mut [u8; 8 * DENSE_MAX_BLOCK]) {
        use core::arch::x86_64::*;
        let b = self.b;
        let coded = |k: usize| k < b && self.qmul[map[k] as usize] != 0;
        // SAFETY: register arithmetic; loads of the outputs and of the groups'
        // code tables (256 bytes each), stores into `lanes` (the caller runs
        // with AVX-512)
        unsafe {
            let (round, top, bottom, offset) = (_mm512_set1_epi32(1 << (QUANT_SHIFT - 1)), _mm512_set1_epi32(127), _mm512_set1_epi32(-128), _mm512_set1_epi32(128));
            let mut pairs = [_mm_setzero_si128(); DENSE_MAX_BLOCK / 2];
            for (j, pair) in pairs.iter_mut().enumerate().take(b.div_ceil(2)) {
                let (k0, k1) = (2 * j, 2 * j + 1);
                if !coded(k0) && !coded(k1) {
                    continue;
                }
                let v = match y {
                    // (components k0 and k1 are adjacent: 16 outputs)
                    RunSource::Outputs(y) => _mm512_cvtepi16_epi32(_mm256_loadu_si256(y[k0].as_ptr() as *const __m256i)),
                    RunSource::Pairs(x) => self.component_pair16(x, j),
                };
                let qmul = |k: usize| if coded(k) { self.qmul[map[k] as usize] } else { 0 };
                let q = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(_mm256_set1_epi32(qmul(k0))), _mm256_set1_epi32(qmul(k1)));
                // |y·qmul| < 2^30: the fine index in 32 bits
                let e = _mm512_srai_epi32::<{ QUANT_SHIFT }>(_mm512_add_epi32(_mm512_mullo_epi32(v, q), round));
                *pair = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_max_epi32(_mm512_min_epi32(e, top), bottom), offset));
            }
            let (mut lo, mut hi) = (concat4(&pairs[..4]), concat4(&pairs[4..]));
            let (lo_top, hi_top) = (_mm512_movepi8_mask(lo), _mm512_movepi8_mask(hi));
            let map_v = _mm_loadu_si128(map.as_ptr() as *const __m128i);
            let coded_mask = (0..b).filter(|&k| coded(k)).fold(0u64, |m, k| m | 1 << k);
            for g in 0..self.qmul.len() {
                // the coded components of group g, then their bytes
                let members = _mm_cmpeq_epi8_mask(map_v, _mm_set1_epi8(g as i8)) as u64 & coded_mask;
                if members == 0 {
                    continue;
                }
                let t = self.field_of[g].as_ptr() as *const __m512i;
                let (t0, t1, t2, t3) = (_mm512_loadu_si512(t), _mm512_loadu_si512(t.add(1)), _mm512_loadu_si512(t.add(2)), _mm512_loadu_si512(t.add(3)));
                // (bit c of a half: its 8 bytes 8c..8c+8)
                let (ml, mh) = (_pdep_u64(members & 0xff, 0x0101_0101_0101_0101) * 0xff, _pdep_u64(members >> 8, 0x0101_0101_0101_0101) * 0xff);
                if ml != 0 {
                    lo = _mm512_mask2_permutex2var_epi8(t0, lo, ml & !lo_top, t1);
                    lo = _mm512_mask2_permutex2var_epi8(t2, lo, ml & lo_top, t3);
                }
                if mh != 0 {
                    hi = _mm512_mask2_permutex2var_epi8(t0, hi, mh & !hi_top, t1);
                    hi = _mm512_mask2_permutex2var_epi8(t2, hi, mh & hi_top, t3);
                }
            }
            let out = lanes.as_mut_ptr() as *mut __m512i;
            let to_vectors = LANES_BY_VECTOR.as_ptr() as *const __m512i;
            _mm512_storeu_si512(out, _mm512_permutex2var_epi8(lo, _mm512_loadu_si512(to_vectors), hi));
            _mm512_storeu_si512(out.add(1), _mm512_permutex2var_epi8(lo, _mm512_loadu_si512(to_vectors.add(1)), hi));
        }
    }

    /// [`DenseBlock::pairs8`] with each register's 8 pairs in both halves
    /// of a 512-bit one (two components at a time: [`DenseBlock::component_pair16`]).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pairs16<U: CodeUnit>(&self, data: &[U], at: usize, stride: usize) -> [core::arch::x86_64::__m512i; DENSE_MAX_BLOCK / 2] {
        use core::arch::x86_64::*;
        // SAFETY: the caller's (see `pairs8`), and it runs with AVX-512
        unsafe {
            let x = self.pairs8(data, at, stride);
            let mut wide = [_mm512_setzero_si512(); DENSE_MAX_BLOCK / 2];
            for (w, &xp) in wide.iter_mut().zip(&x) {
                *w = _mm512_broadcast_i64x4(xp);
            }
            wide
        }
    }

    /// Components 2j and 2j + 1 of a run's 8 vectors (words 0..8 and 8..16)
    /// from their channel pairs ([`DenseBlock::pairs16`]): the golden forward
    /// as [`DenseBlock::component8`], with VNNI's multiply-accumulate.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn component_pair16(&self, x: &[core::arch::x86_64::__m512i; DENSE_MAX_BLOCK / 2], j: usize) -> core::arch::x86_64::__m512i {
        use core::arch::x86_64::*;
        // SAFETY: loads of the block's 64-byte rows (the caller runs with AVX-512)
        unsafe {
            let mut acc = _mm512_loadu_si512(self.fwd_init_wide[j].as_ptr() as *const __m512i);
            let pairs = self.fwd_pairs_wide[j].as_ptr() as *const __m512i;
            // (the partial sums are those of `component8`, exact in 32 bits; all 8
            // pairs: those past the block are zero, and a fixed count unrolls)
            for (p, &xp) in x.iter().enumerate() {
                acc = _mm512_dpwssd_epi32(acc, xp, _mm512_loadu_si512(pairs.add(p)));
            }
            let v = _mm512_srav_epi32(acc, _mm512_loadu_si512(self.fwd_shift_wide[j].as_ptr() as *const __m512i));
            _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(32767)), _mm512_set1_epi32(-32768))
        }
    }

    /// [`DenseBlock::transform8_energy_avx2`] on AVX-512: two components per
    /// register, their 16 absolute values summed per component by a tree of
    /// unpacks and adds inside 128-bit lanes, then across them.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn transform8_energy_avx512<U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, y: &mut RunOutputs, energy: &mut [u32; DENSE_MAX_BLOCK]) {
        use core::arch::x86_64::*;
        // SAFETY: see `transform`; stores of `y` (components 2j and 2j + 1 are
        // adjacent: 32 bytes), loads and stores of `energy`
        unsafe {
            let x = self.pairs16(data, at, stride);
            let mut abs = [_mm512_setzero_si512(); DENSE_MAX_BLOCK / 2];
            for (j, a) in abs.iter_mut().enumerate().take(self.b.div_ceil(2)) {
                let v = self.component_pair16(&x, j);
                _mm256_storeu_si256(y[2 * j].as_mut_ptr() as *mut __m256i, _mm512_cvtepi32_epi16(v));
                *a = _mm512_abs_epi32(v);
            }
            // per 128-bit lane L of abs[j] (component 2j + L / 2, vectors 4(L % 2)..+4)
            let (c0, c1) = (lane_sums4(&abs[..4]), lane_sums4(&abs[4..]));
            // lanes: components 0, 2, 4, 6 | 1, 3, 5, 7 | 8, 10, .. | 9, 11, ..
            let d = _mm512_add_epi32(_mm512_shuffle_i32x4::<0x88>(c0, c1), _mm512_shuffle_i32x4::<0xdd>(c0, c1));
            let sum = _mm512_permutexvar_epi32(_mm512_loadu_si512(ENERGY_ORDER.as_ptr() as *const __m512i), d);
            let ep = energy.as_mut_ptr() as *mut __m512i;
            _mm512_storeu_si512(ep, _mm512_add_epi32(_mm512_loadu_si512(ep), sum));
        }
    }

    /// [`DenseBlock::transform`] of 8 vectors on AVX2.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn transform8_avx2<U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, wanted: u32, y: &mut RunOutputs) {
        use core::arch::x86_64::*;
        // SAFETY: see `transform`; stores are into `y`
        unsafe {
            let x = self.pairs8(data, at, stride);
            let mut km = wanted & ((1u32 << self.b) - 1);
            while km != 0 {
                let k = km.trailing_zeros() as usize;
                km &= km - 1;
                let v = self.component8(&x, k);
                let w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
                _mm_storeu_si128(y[k].as_mut_ptr() as *mut __m128i, w);
            }
        }
    }

    /// [`DenseBlock::transform`] of 8 vectors (every component) on AVX2,
    /// adding each component's `Σ |y|` to `energy` as
    /// [`DenseBlock::add_energy`] does: the 8 outputs' absolute values summed
    /// across the register by a tree of horizontal adds, 8 components at once.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn transform8_energy_avx2<U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, y: &mut RunOutputs, energy: &mut [u32; DENSE_MAX_BLOCK]) {
        use core::arch::x86_64::*;
        // SAFETY: see `transform`; loads and stores are of `y` and `energy`
        unsafe {
            let x = self.pairs8(data, at, stride);
            let mut abs = [_mm256_setzero_si256(); DENSE_MAX_BLOCK];
            for (k, a) in abs[..self.b].iter_mut().enumerate() {
                // (saturated to 16 bits: |y| <= 2^15 and 8 of them fit 32 bits)
                let v = self.component8(&x, k);
                _mm_storeu_si128(y[k].as_mut_ptr() as *mut __m128i, _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v)));
                *a = _mm256_abs_epi32(v);
            }
            for (h, e) in energy.chunks_exact_mut(8).enumerate().take(self.b.div_ceil(8)) {
                let a = &abs[8 * h..8 * h + 8];
                // per 128-bit half: components 4q..4q+4's sums over that half's 4 vectors
                let q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
                let q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[4], a[5]), _mm256_hadd_epi32(a[6], a[7]));
                let sum = _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(q0, q1), _mm256_permute2x128_si256::<0x31>(q0, q1));
                let ep = e.as_mut_ptr() as *mut __m256i;
                _mm256_storeu_si256(ep, _mm256_add_epi32(_mm256_loadu_si256(ep), sum));
            }
        }
    }

    /// [`DenseBlock::fields`] on AVX2.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn fields_avx2(&self, y: &RunOutputs, map: &[u8; DENSE_MAX_BLOCK], touched: u64, lanes: &mut [u8; 8 * DENSE_MAX_BLOCK]) {
        use core::arch::x86_64::*;
        // SAFETY: see `fields`
        unsafe {
            for k in 0..self.b {
                let g = map[k] as usize;
                if self.qmul[g] != 0 {
                    let yk = _mm256_cvtepi16_epi32(_mm_loadu_si128(y[k].as_ptr() as *const __m128i));
                    self.quantize8(yk, g, k, touched, lanes);
                }
            }
        }
    }

    /// The golden dequantizer and inverse of one vector's fields (`lanes[k]`) under `map`.
    #[inline(always)]
    fn inverse_one(&self, lanes: &[u8; DENSE_MAX_BLOCK], map: &[u8], out: &mut [i16; DENSE_MAX_BLOCK]) {
        let b = self.b;
        let mut yhat = [0i32; DENSE_MAX_BLOCK];
        for k in 0..b {
            yhat[k] = self.level_of[map[k] as usize][lanes[k] as usize] as i32;
        }
        self.m.inverse(&yhat[..b], self.lo, self.hi, &mut out[..b]);
    }

    /// Writes the outputs of one vector (channel i's at `data[at + i·stride]`)
    /// from its fields as byte lanes (`lanes[k]`) under `map` (short runs:
    /// out of line).
    #[inline(never)]
    pub(crate) fn decode_vector<U: CodeUnit>(&self, lanes: &[u8; DENSE_MAX_BLOCK], map: &[u8; DENSE_MAX_BLOCK], data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        let mut out = [0i16; DENSE_MAX_BLOCK];
        self.inverse_one(lanes, map, &mut out);
        for (i, &o) in out[..self.b].iter().enumerate() {
            data[at + i * stride].write(U::from_code(o));
        }
    }

    /// How [`DenseBlock::decode8`] looks up the levels of a group map's
    /// quads of components (made once per plan: the group maps' plans are cached).
    #[inline(always)]
    pub(crate) fn quad_plan<const NATIVE: bool>(&self, map: &[u8; DENSE_MAX_BLOCK]) -> QuadPlan {
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 and
            // BMI2 on a machine that has them
            return unsafe { QuadPlan::new_avx2(&self.wide_group, &self.past_block, map) };
        }
        QuadPlan::new(self.b, &self.wide_group, map)
    }

    /// Writes a run of 8 vectors' outputs (channel i's at `data[at + i·stride..+8]`)
    /// from their fields as byte lanes (`lanes[t]`: components 0..8 of
    /// vector t, one byte each, then components 8..16), under `map`, whose
    /// [`DenseBlock::quad_plan`] is `quads`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decode8<const NATIVE: bool, const AVX512: bool, U: CodeUnit>(&self, lanes: &[(u64, u64); 8], map: &[u8; DENSE_MAX_BLOCK], quads: &QuadPlan, data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        assert!(at + (self.b - 1) * stride + 8 <= data.len());
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; the runs written lie in `data` (asserted above)
            unsafe { self.decode8_avx2::<U, AVX512>(lanes, quads, data, at, stride) };
            return;
        }
        for (t, &(lo, hi)) in lanes.iter().enumerate() {
            let fields: [u8; DENSE_MAX_BLOCK] = std::array::from_fn(|k| (if k < 8 { lo >> (8 * k) } else { hi >> (8 * (k - 8)) }) as u8);
            self.decode_vector(&fields, map, data, at + t, stride);
        }
    }

    /// [`DenseBlock::decode8`] on AVX2.
    ///
    /// The byte lanes of vectors t and t + 4 share a register (two 128-bit
    /// halves); a 16-bit transpose inside the halves gives, per quad of
    /// components 4m..4m+4, one register whose half holds its 4 vectors'
    /// fields as (4m, 4m+1) pairs, then (4m+2, 4m+3) pairs. Byte shuffles of
    /// the groups' level tables (blended where the quad's components are in
    /// other groups) give the levels' low and high bytes; unpacking them
    /// gives the inverse's component pairs directly.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn decode8_avx2<U: CodeUnit, const AVX512: bool>(&self, lanes: &[(u64, u64); 8], plan: &QuadPlan, data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        use core::arch::x86_64::*;
        let b = self.b;
        // SAFETY: see `decode8`; reads are of the arrays here
        unsafe {
            // (a loop, not `array::map`: its closure would not get the features)
            let mut r = [_mm256_setzero_si256(); 4];
            for (t, rt) in r.iter_mut().enumerate() {
                *rt = _mm256_set_epi64x(lanes[t + 4].1 as i64, lanes[t + 4].0 as i64, lanes[t].1 as i64, lanes[t].0 as i64);
            }
            let (a0, a1) = (_mm256_unpacklo_epi16(r[0], r[1]), _mm256_unpackhi_epi16(r[0], r[1]));
            let (a2, a3) = (_mm256_unpacklo_epi16(r[2], r[3]), _mm256_unpackhi_epi16(r[2], r[3]));
            let quads = [_mm256_unpacklo_epi32(a0, a2), _mm256_unpackhi_epi32(a0, a2), _mm256_unpacklo_epi32(a1, a3), _mm256_unpackhi_epi32(a1, a3)];
            let mut pairs = [_mm256_setzero_si256(); DENSE_MAX_BLOCK / 2];
            for (m, &key) in plan.keys[..b.div_ceil(4)].iter().enumerate() {
                let q = quads[m];
                let groups: &[u8; 4] = plan.groups[4 * m..4 * m + 4].try_into().expect("4 groups");
                if plan.wide >> m & 1 == 1 {
                    self.levels_by_lookup(q, groups, &mut pairs[2 * m..2 * m + 2]);
                    continue;
                }
                let (n, first, subset) = QUAD_PARTITIONS[key as usize];
                let (mut lo, mut hi) = self.levels_by_shuffle(q, groups[0] as usize);
                for e in 1..n as usize {
                    let mask = _mm256_loadu_si256(QUAD_SUBSET[subset[e] as usize].as_ptr() as *const __m256i);
                    let (l, h) = self.levels_by_shuffle(q, groups[first[e] as usize] as usize);
                    lo = _mm256_blendv_epi8(lo, l, mask);
                    hi = _mm256_blendv_epi8(hi, h, mask);
                }
                pairs[2 * m] = _mm256_unpacklo_epi8(lo, hi);
                pairs[2 * m + 1] = _mm256_unpackhi_epi8(lo, hi);
            }
            let mut live = pairs;
            if !self.live_prefix {
                for (lq, &j) in live.iter_mut().zip(&self.live[..self.live_pairs]) {
                    *lq = pairs[j];
                }
            }
            let live = &live;
            if self.inv_halves {
                // (only in blocks of more than 8)
                self.inverse_channels::<4, AVX512, U>(live, 0, 8, data, at, stride);
                let z = _mm256_setzero_si256();
                let upper = [live[4], live[5], live[6], live[7], z, z, z, z];
                self.inverse_channels::<4, AVX512, U>(&upper, 8, self.b, data, at, stride);
                return;
            }
            match self.live_pairs {
                0..=2 => self.inverse_channels::<2, AVX512, U>(live, 0, self.b, data, at, stride),
                3..=4 => self.inverse_channels::<4, AVX512, U>(live, 0, self.b, data, at, stride),
                5 => self.inverse_channels::<5, AVX512, U>(live, 0, self.b, data, at, stride),
                6 => self.inverse_channels::<6, AVX512, U>(live, 0, self.b, data, at, stride),
                7 => self.inverse_channels::<7, AVX512, U>(live, 0, self.b, data, at, stride),
                _ => self.inverse_channels::<8, AVX512, U>(live, 0, self.b, data, at, stride),
            }
        }
    }

    /// The levels of group `g` (at most 6 bits) for every field of a quad
    /// register (see `decode8_avx2`), as (low bytes, high bytes).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn levels_by_shuffle(&self, q: core::arch::x86_64::__m256i, g: usize) -> (core::arch::x86_64::__m256i, core::arch::x86_64::__m256i) {
        use core::arch::x86_64::*;
        // SAFETY: reads of the group's 128-byte table
        unsafe {
            let t = self.shuffle[g].as_ptr() as *const __m128i;
            let (lo, hi) = shuffle_chunk(t, 0, q);
            let bits = self.bits[g];
            if bits <= 4 {
                return (lo, hi);
            }
            // bit 4 moved to each byte's top bit picks the table of fields 16..32
            // (or 48..64 from 32..48), then bit 5 the upper pair (a field's byte
            // has its bits above the group's width clear; the shifts' carries
            // into the next byte reach its low bits only)
            let bit4 = _mm256_slli_epi16::<3>(q);
            let (lo1, hi1) = shuffle_chunk(t, 1, q);
            let (lo, hi) = (_mm256_blendv_epi8(lo, lo1, bit4), _mm256_blendv_epi8(hi, hi1, bit4));
            if bits == 5 {
                return (lo, hi);
            }
            let ((lo2, hi2), (lo3, hi3)) = (shuffle_chunk(t, 2, q), shuffle_chunk(t, 3, q));
            let (lo2, hi2) = (_mm256_blendv_epi8(lo2, lo3, bit4), _mm256_blendv_epi8(hi2, hi3, bit4));
            let bit5 = _mm256_slli_epi16::<2>(q);
            (_mm256_blendv_epi8(lo, lo2, bit5), _mm256_blendv_epi8(hi, hi2, bit5))
        }
    }

    /// The component pairs 2m, 2m+1 of a quad register (see `decode8_avx2`)
    /// whose groups `g` include one too wide for byte shuffles: a lookup per field
    /// (out of line, compiled for AVX2 itself: the caller's features do not reach it).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    unsafe fn levels_by_lookup(&self, q: core::arch::x86_64::__m256i, g: &[u8; 4], pairs: &mut [core::arch::x86_64::__m256i]) {
        use core::arch::x86_64::*;
        // SAFETY: stores and loads of local arrays of 32 bytes
        unsafe {
            let mut fields = [0u8; 32];
            _mm256_storeu_si256(fields.as_mut_ptr() as *mut __m256i, q);
            // component c of the quad, vector 4·half + s: its level goes to the
            // same place of pair c / 2 (16-bit lanes: vector 4·half + s, then c % 2)
            let mut y = [[0i16; 16]; 2];
            for half in 0..2 {
                for c in 0..4 {
                    for s in 0..4 {
                        let at = quad_byte(c, half, s);
                        y[c / 2][8 * half + 2 * s + c % 2] = self.level_of[g[c] as usize][fields[at] as usize];
                    }
                }
            }
            pairs[0] = _mm256_loadu_si256(y[0].as_ptr() as *const __m256i);
            pairs[1] = _mm256_loadu_si256(y[1].as_ptr() as *const __m256i);
        }
    }

    /// Channel i's 8 outputs of a run (before the clamp) from the first `NP`
    /// live component pairs: multiply-adds (`AVX512`: VNNI dot-product
    /// accumulates, the caller compiled for AVX-512), rounding shift, mean.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn inverse_channel<const NP: usize, const AVX512: bool>(&self, pairs: &[core::arch::x86_64::__m256i; DENSE_MAX_BLOCK / 2], i: usize, round: core::arch::x86_64::__m256i, shift: core::arch::x86_64::__m128i) -> core::arch::x86_64::__m256i {
        use core::arch::x86_64::*;
        // SAFETY: register arithmetic only (the caller runs on AVX2, or AVX-512)
        unsafe {
            let mut acc = round;
            let coefficients = self.inv_pairs_wide[i].as_ptr() as *const __m256i;
            for (p, &pp) in pairs[..NP].iter().enumerate() {
                if AVX512 {
                    acc = _mm256_dpwssd_epi32(acc, pp, _mm256_loadu_si256(coefficients.add(p)));
                } else {
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pp, _mm256_loadu_si256(coefficients.add(p))));
                }
            }
            _mm256_add_epi32(_mm256_sra_epi32(acc, shift), _mm256_set1_epi32(self.inv_mean[i]))
        }
    }

    /// Channels `first..end`: each one's 8 outputs of a run from the first
    /// `NP` component pairs of `pairs` (the live ones, or its half's; the
    /// rest are zero): multiply-adds, rounding shift, mean, clamp,
    /// store. Bytes go out four channels at a time: the saturating packs are
    /// the clamp to the code range, which is a byte's whole range.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn inverse_channels<const NP: usize, const AVX512: bool, U: CodeUnit>(&self, pairs: &[core::arch::x86_64::__m256i; DENSE_MAX_BLOCK / 2], first: usize, end: usize, data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        use core::arch::x86_64::*;
        // SAFETY: the caller (decode8) asserted the runs written lie in `data`
        unsafe {
            let round = _mm256_set1_epi32(1 << (self.inv_shift - 1));
            let shift = _mm_cvtsi32_si128(self.inv_shift as i32);
            let out = data.as_mut_ptr().add(at);
            let mut i = first;
            if !U::WIDE {
                let spread = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
                while i + 4 <= end {
                    let v01 = _mm256_packs_epi32(self.inverse_channel::<NP, AVX512>(pairs, i, round, shift), self.inverse_channel::<NP, AVX512>(pairs, i + 1, round, shift));
                    let v23 = _mm256_packs_epi32(self.inverse_channel::<NP, AVX512>(pairs, i + 2, round, shift), self.inverse_channel::<NP, AVX512>(pairs, i + 3, round, shift));
                    let v = if self.signed { _mm256_packs_epi16(v01, v23) } else { _mm256_packus_epi16(v01, v23) };
                    // (per half: 4 outputs of each channel; then channel by channel)
                    let v = _mm256_permutevar8x32_epi32(v, spread);
                    let (v01, v23) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
                    _mm_storel_epi64(out.add(i * stride) as *mut __m128i, v01);
                    _mm_storeh_pd(out.add((i + 1) * stride) as *mut f64, _mm_castsi128_pd(v01));
                    _mm_storel_epi64(out.add((i + 2) * stride) as *mut __m128i, v23);
                    _mm_storeh_pd(out.add((i + 3) * stride) as *mut f64, _mm_castsi128_pd(v23));
                    i += 4;
                }
            }
            let (lo, hi) = (_mm256_set1_epi32(self.lo), _mm256_set1_epi32(self.hi));
            while i < end {
                let v = _mm256_max_epi32(_mm256_min_epi32(self.inverse_channel::<NP, AVX512>(pairs, i, round, shift), hi), lo);
                // 8 codes of the range as i16, then as the unit
                let w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
                let dst = out.add(i * stride) as *mut __m128i;
                if U::WIDE {
                    _mm_storeu_si128(dst, w);
                } else if self.signed {
                    _mm_storel_epi64(dst, _mm_packs_epi16(w, w));
                } else {
                    _mm_storel_epi64(dst, _mm_packus_epi16(w, w));
                }
                i += 1;
            }
        }
    }
}

/// The low and high bytes of the levels of fields 16j..16j+16 (the j-th
/// pair of 16-byte tables at `t`) for every field of `q` (as `pshufb` reads
/// it: its low 4 bits). The caller runs on AVX2 and `t` holds 2j + 2 tables.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn shuffle_chunk(t: *const core::arch::x86_64::__m128i, j: usize, q: core::arch::x86_64::__m256i) -> (core::arch::x86_64::__m256i, core::arch::x86_64::__m256i) {
    use core::arch::x86_64::*;
    // SAFETY: the caller's (the tables lie at `t`)
    unsafe {
        let lo = _mm256_broadcastsi128_si256(_mm_loadu_si128(t.add(2 * j)));
        let hi = _mm256_broadcastsi128_si256(_mm_loadu_si128(t.add(2 * j + 1)));
        (_mm256_shuffle_epi8(lo, q), _mm256_shuffle_epi8(hi, q))
    }
}

/// How the levels of each quad of components (4m..4m+4) of a run are
/// looked up under a map: `keys[m]`, which of the quad's positions share a
/// group (a [`QUAD_PARTITIONS`] index); `wide` bit m, one of its groups is
/// too wide for byte shuffles; `groups`, the map, where components past the
/// block take their quad's first group (their fields are 0 and their inverse
/// coefficients 0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct QuadPlan {
    keys: [u8; DENSE_MAX_BLOCK / 4],
    wide: u8,
    groups: [u8; DENSE_MAX_BLOCK],
}

impl QuadPlan {
    /// The plan of a block of `b` components under `map`; `wide_group[g]`
    /// is non-zero for a group too wide for byte shuffles.
    fn new(b: usize, wide_group: &[u8; 16], map: &[u8; DENSE_MAX_BLOCK]) -> QuadPlan {
        let mut plan = QuadPlan { groups: *map, ..QuadPlan::default() };
        for m in 0..b.div_ceil(4) {
            let g = &mut plan.groups[4 * m..4 * m + 4];
            for k in 1..4 {
                if 4 * m + k >= b {
                    g[k] = g[0];
                }
            }
            let same = (g[1] == g[0]) as usize | ((g[2] == g[0]) as usize) << 1 | ((g[3] == g[0]) as usize) << 2 | ((g[2] == g[1]) as usize) << 3 | ((g[3] == g[1]) as usize) << 4 | ((g[3] == g[2]) as usize) << 5;
            plan.keys[m] = same as u8;
            if g.iter().any(|&g| wide_group[g as usize] != 0) {
                plan.wide |= 1 << m;
            }
        }
        plan
    }

    /// [`QuadPlan::new`] on AVX2 and BMI2 (a dynamic map's, run by run),
    /// `past_block` 0xff at the components past the block: byte compares of
    /// the map with each quad's first, second and third group give the
    /// partition keys of all quads at once.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn new_avx2(wide_group: &[u8; 16], past_block: &[u8; 16], map: &[u8; DENSE_MAX_BLOCK]) -> QuadPlan {
        use core::arch::x86_64::*;
        // SAFETY: loads and stores of 16-byte arrays; BMI2 comes with the caller's features
        unsafe {
            // (each quad's position c in all its 4 bytes)
            let spread = |c: usize| _mm_loadu_si128(QUAD_SPREAD[c].as_ptr() as *const __m128i);
            let m = _mm_loadu_si128(map.as_ptr() as *const __m128i);
            let first = _mm_shuffle_epi8(m, spread(0));
            let m = _mm_blendv_epi8(m, first, _mm_loadu_si128(past_block.as_ptr() as *const __m128i));
            let same0 = _mm_movemask_epi8(_mm_cmpeq_epi8(m, first)) as u64;
            let same1 = _mm_movemask_epi8(_mm_cmpeq_epi8(m, _mm_shuffle_epi8(m, spread(1)))) as u64;
            let same2 = _mm_movemask_epi8(_mm_cmpeq_epi8(m, _mm_shuffle_epi8(m, spread(2)))) as u64;
            let wide = _mm_movemask_epi8(_mm_shuffle_epi8(_mm_loadu_si128(wide_group.as_ptr() as *const __m128i), m)) as u64;
            // per quad: 3 bits (0-1, 0-2, 0-3), 2 bits (1-2, 1-3), 1 bit (2-3)
            let (k0, k1, k2) = (_pext_u64(same0, 0xeeee), _pext_u64(same1, 0xcccc), _pext_u64(same2, 0x8888));
            let mut plan = QuadPlan::default();
            for (q, key) in plan.keys.iter_mut().enumerate() {
                *key = ((k0 >> (3 * q) & 7) | (k1 >> (2 * q) & 3) << 3 | (k2 >> q & 1) << 5) as u8;
            }
            plan.wide = _pext_u64(wide | wide >> 1 | wide >> 2 | wide >> 3, 0x1111) as u8;
            _mm_storeu_si128(plan.groups.as_mut_ptr() as *mut __m128i, m);
            plan
        }
    }
}

/// `[same]`: the partition of a quad's 4 positions by group, from which of
/// them share a group (bits of `same`: 0-1, 0-2, 0-3, 1-2, 1-3, 2-3), as
/// (n, first, subset): part e (of n) is the positions of `subset[e]` (bit c:
/// position c), whose first is `first[e]`; part 0 holds position 0.
const QUAD_PARTITIONS: [(u8, [u8; 4], [u8; 4]); 64] = {
    let pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];
    let mut table = [(0u8, [0u8; 4], [0u8; 4]); 64];
    let mut same = 0;
    while same < 64 {
        // each position's part: that of the first earlier position it shares a group with
        let mut part = [0usize; 4];
        let (mut n, mut first, mut subset) = (0usize, [0u8; 4], [0u8; 4]);
        let mut c = 0;
        while c < 4 {
            part[c] = usize::MAX;
            let mut e = 0;
            while e < 6 {
                let (a, b) = pairs[e];
                if b == c && same >> e & 1 == 1 && part[c] == usize::MAX {
                    part[c] = part[a];
                }
                e += 1;
            }
            if part[c] == usize::MAX {
                part[c] = n;
                first[n] = c as u8;
                n += 1;
            }
            subset[part[c]] |= 1 << c;
            c += 1;
        }
        table[same] = (n as u8, first, subset);
        same += 1;
    }
    table
};

/// `[c]`: a byte shuffle that puts each quad's position c in all 4 of its bytes.
#[cfg(target_arch = "x86_64")]
static QUAD_SPREAD: [[u8; 16]; 3] = {
    let mut t = [[0u8; 16]; 3];
    let mut c = 0;
    while c < 3 {
        let mut k = 0;
        while k < 16 {
            t[c][k] = (k - k % 4 + c) as u8;
            k += 1;
        }
        c += 1;
    }
    t
};

/// The byte of a quad register (see `DenseBlock::decode8_avx2`) that holds
/// the field of the quad's component c (0..4) of vector 4·half + s: per
/// 128-bit half, 4 vectors' (4m, 4m+1) pairs, then their (4m+2, 4m+3) pairs.
#[cfg(target_arch = "x86_64")]
const fn quad_byte(c: usize, half: usize, s: usize) -> usize {
    16 * half + 8 * (c / 2) + 2 * s + c % 2
}

/// `[subset]`: the bytes of a quad register (see `DenseBlock::decode8_avx2`)
/// that hold the positions of `subset` (bit c: component 4m + c), as a blend
/// mask (see [`quad_byte`]).
#[cfg(target_arch = "x86_64")]
static QUAD_SUBSET: [[u8; 32]; 16] = {
    let mut m = [[0u8; 32]; 16];
    let mut subset = 0;
    while subset < 16 {
        let mut c = 0;
        while c < 4 {
            if subset >> c & 1 == 1 {
                let mut at = 0;
                while at < 8 {
                    let (half, s) = (at / 4, at % 4);
                    m[subset][quad_byte(c, half, s)] = 0xff;
                    at += 1;
                }
            }
            c += 1;
        }
        subset += 1;
    }
    m
};

/// Per 128-bit lane of four registers `a`: the sums of each register's 4
/// words in that lane (register r's in word r). The caller runs with AVX-512.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn lane_sums4(a: &[core::arch::x86_64::__m512i]) -> core::arch::x86_64::__m512i {
    use core::arch::x86_64::*;
    // SAFETY: register arithmetic only
    unsafe {
        let b0 = _mm512_add_epi32(_mm512_unpacklo_epi32(a[0], a[1]), _mm512_unpackhi_epi32(a[0], a[1]));
        let b1 = _mm512_add_epi32(_mm512_unpacklo_epi32(a[2], a[3]), _mm512_unpackhi_epi32(a[2], a[3]));
        _mm512_add_epi32(_mm512_unpacklo_epi64(b0, b1), _mm512_unpackhi_epi64(b0, b1))
    }
}

/// Four 128-bit registers as one 512-bit register (`p[0]` lowest). The
/// caller runs with AVX-512.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn concat4(p: &[core::arch::x86_64::__m128i]) -> core::arch::x86_64::__m512i {
    use core::arch::x86_64::*;
    // SAFETY: register moves only
    unsafe { _mm512_inserti32x4::<3>(_mm512_inserti32x4::<2>(_mm512_inserti32x4::<1>(_mm512_castsi128_si512(p[0]), p[1]), p[2]), p[3]) }
}

/// `[c]`: where [`DenseBlock::transform8_energy_avx512`]'s sums hold
/// component c's (lanes of components 0, 2, 4, 6, then 1, 3, 5, 7, then
/// 8, 10, 12, 14, then 9, 11, 13, 15).
#[cfg(target_arch = "x86_64")]
static ENERGY_ORDER: [u32; 16] = {
    let mut t = [0u32; 16];
    let mut c = 0;
    while c < 16 {
        t[c] = (4 * (2 * (c / 8) + c % 2) + (c % 8) / 2) as u32;
        c += 1;
    }
    t
};

/// `[o]`: for byte o = 16·t + k of a run's byte lanes, where
/// [`DenseBlock::fields8_avx512`] has component k of vector t in its two
/// component-major registers (byte 8k + t of the first, or of the second
/// from 64 on).
#[cfg(target_arch = "x86_64")]
static LANES_BY_VECTOR: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut o = 0;
    while o < 128 {
        let (v, k) = (o / 16, o % 16);
        t[o] = (64 * (k / 8) + 8 * (k % 8) + v) as u8;
        o += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn quad_partitions_put_positions_together_exactly_when_their_groups_are_equal() {
        for code in 0..256usize {
            let g: [u8; 4] = std::array::from_fn(|c| (code >> (2 * c) & 3) as u8);
            let plan = QuadPlan::new(4, &[0; 16], &std::array::from_fn(|k| if k < 4 { g[k] } else { 0 }));
            let (n, first, subset) = QUAD_PARTITIONS[plan.keys[0] as usize];
            let part = |c: usize| (0..n as usize).find(|&e| subset[e] >> c & 1 == 1).expect("every position in a part");
            assert_eq!(part(0), 0, "groups {g:?}");
            let parts = &subset[..n as usize];
            assert_eq!(parts.iter().fold(0, |a, &s| a | s), 15, "groups {g:?}: the parts cover the 4 positions");
            assert_eq!(parts.iter().map(|s| s.count_ones()).sum::<u32>(), 4, "groups {g:?}: the parts are disjoint");
            for e in 0..n as usize {
                assert_eq!(first[e], subset[e].trailing_zeros() as u8, "groups {g:?}, part {e}");
            }
            for c1 in 0..4 {
                for c2 in 0..4 {
                    assert_eq!(part(c1) == part(c2), g[c1] == g[c2], "groups {g:?}, positions {c1} {c2}");
                }
            }
        }
    }

    #[test]
    fn quad_plans_on_avx2_equal_the_portable_ones() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("bmi2") {
            let mut rng = rand::rngs::StdRng::seed_from_u64(17);
            for _ in 0..20_000 {
                let b = rng.gen_range(1..=DENSE_MAX_BLOCK);
                let groups = rng.gen_range(1..=8u8);
                let wide_group: [u8; 16] = std::array::from_fn(|g| if g < groups as usize && rng.gen_bool(0.3) { 0x80 } else { 0 });
                let past_block: [u8; 16] = std::array::from_fn(|k| if k < b { 0 } else { 0xff });
                let map: [u8; 16] = std::array::from_fn(|_| rng.gen_range(0..groups));
                let plan = QuadPlan::new(b, &wide_group, &map);
                // SAFETY: the features were detected above
                let fast = unsafe { avx2_plan(&wide_group, &past_block, &map) };
                let quads = b.div_ceil(4);
                assert_eq!((fast.keys[..quads].to_vec(), fast.wide & ((1 << quads) - 1), &fast.groups[..4 * quads]), (plan.keys[..quads].to_vec(), plan.wide, &plan.groups[..4 * quads]), "b {b}, map {map:?}, wide groups {wide_group:?}");
            }
        }
    }

    /// The AVX-512 run kernels (transform with energies; byte lanes from
    /// outputs and from codes) equal the portable ones on random dense
    /// blocks, codes and group maps (the byte lanes of coded components: the
    /// others carry no field).
    #[test]
    fn avx512_runs_equal_the_portable_ones() {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::avx512_available() {
            use crate::policy::Dtype;
            use crate::testkit::{random_policy, PolicySpec};
            let mut rng = rand::rngs::StdRng::seed_from_u64(23);
            let mut checked = 0;
            for case in 0..600 {
                let b = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16][case % 11];
                let spec = PolicySpec { channels: Some(b), block_size: Some(b), dtype: Some([Dtype::I8, Dtype::U8, Dtype::F32][case % 3]), ..Default::default() };
                let p = random_policy(&mut rng, &spec);
                let blk = &p.blocks[0];
                let Some(d) = DenseBlock::new(&p, blk, &BlockMatrices::new(blk), None) else { continue };
                let (lo, hi) = (p.input.code_range.min(), p.input.code_range.max());
                // a run of 8 vectors, channel i's codes at 8i.. (mostly at the range's ends
                // in some cases: saturated outputs)
                let data: Vec<i16> = (0..8 * b).map(|_| if case % 4 == 0 { [lo, hi][rng.gen_range(0..2)] } else { rng.gen_range(lo..=hi) } as i16).collect();
                let map: [u8; DENSE_MAX_BLOCK] = std::array::from_fn(|k| if k < b { rng.gen_range(0..blk.groups.len()) as u8 } else { 0 });
                let mut y = [[0i16; 8]; DENSE_MAX_BLOCK];
                d.transform::<false, i16>(&data, 0, 8, 8, u32::MAX, &mut y);
                let mut energy = [0u32; DENSE_MAX_BLOCK];
                d.add_energy(&y, 8, &mut energy);
                let mut lanes = [0u8; 8 * DENSE_MAX_BLOCK];
                d.fields::<false, false>(&y, &map, 0xff, &mut lanes);
                // SAFETY: the features were detected above
                let (fast_y, fast_energy, of_outputs, of_codes) = unsafe { avx512_run(&d, &data, &map) };
                assert_eq!((fast_y, fast_energy), (y, energy), "case {case}: outputs and energies (B = {b})");
                for k in (0..b).filter(|&k| blk.groups[map[k] as usize].bits > 0) {
                    for t in 0..8 {
                        let want = lanes[16 * t + k];
                        assert_eq!((of_outputs[16 * t + k], of_codes[16 * t + k]), (want, want), "case {case}: field of component {k}, vector {t} (B = {b}, map {map:?})");
                    }
                }
                checked += 1;
            }
            assert!(checked >= 300, "only {checked} random blocks had a dense form");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt,lzcnt,avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")]
    unsafe fn avx512_run(d: &DenseBlock, data: &[i16], map: &[u8; DENSE_MAX_BLOCK]) -> (RunOutputs, [u32; DENSE_MAX_BLOCK], [u8; 128], [u8; 128]) {
        let (mut y, mut energy) = ([[0i16; 8]; DENSE_MAX_BLOCK], [0u32; DENSE_MAX_BLOCK]);
        // SAFETY: the caller's (the features); the run lies in `data`
        unsafe { d.transform8_energy_avx512(data, 0, 8, &mut y, &mut energy) };
        let (mut of_outputs, mut of_codes) = ([0u8; 128], [0u8; 128]);
        d.fields::<true, true>(&y, map, 0xff, &mut of_outputs);
        d.fields_of_codes::<true, true, i16>(data, 0, 8, 8, map, 0xff, &mut of_codes);
        (y, energy, of_outputs, of_codes)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2")]
    unsafe fn avx2_plan(wide_group: &[u8; 16], past_block: &[u8; 16], map: &[u8; 16]) -> QuadPlan {
        // SAFETY: the caller's
        unsafe { QuadPlan::new_avx2(wide_group, past_block, map) }
    }
}
