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
//! * **inverse**: the reconstructed components of 8 vectors (byte-shuffle
//!   level tables for fields of up to 4 bits), paired the same way, give
//!   each channel's 8 outputs in 8 multiply-adds, then the shift, mean and
//!   clamp, stored as one run.
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
    inv_shift: u32,
    inv_mean: [i32; DENSE_MAX_BLOCK],
    /// Per group: its multiplier (0: a dropped group) and field width.
    qmul: Vec<i32>,
    bits: Vec<u32>,
    /// `[g][fine + 128]`: the packed field (the group's code table).
    field_of: Vec<[u8; 256]>,
    /// `[g][field]`: the reconstruction ŷ of a field (0 in a dropped group).
    level_of: Vec<[i16; 256]>,
    /// `[g]`: the low bytes of the levels of fields 0..16, then their high
    /// bytes (groups of at most 4 bits: byte-shuffle tables).
    shuffle: Vec<[u8; 32]>,
    /// The inverse's component order (under a static map the coded ones
    /// first: the dropped ones then cost no multiply), how many pairs of it
    /// carry coded components, and `[i][p]`: (V[i][order[2p]],
    /// V[i][order[2p+1]]) as one word.
    order: [usize; DENSE_MAX_BLOCK],
    live_pairs: usize,
    inv_pairs_ordered: [[i32; DENSE_MAX_BLOCK / 2]; DENSE_MAX_BLOCK],
    /// The golden transforms (short runs, portable code).
    m: BlockMatrices,
    quantizers: Vec<GroupQuantizer>,
}

/// Two 16-bit values as the low and high halves of one word (`pmaddwd`'s pair).
fn pair(a: i32, b: i32) -> i32 {
    ((a as i16 as u16 as u32) | ((b as i16 as u16 as u32) << 16)) as i32
}

impl DenseBlock {
    /// The dense form of a block, when it is at most [`DENSE_MAX_BLOCK`]
    /// wide, its matrices' entries fit 16 bits and no partial sum of either
    /// transform can leave the i32 range for any codes of the range and any
    /// levels.
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
        let mut inv_mean = [0i32; DENSE_MAX_BLOCK];
        for i in 0..b {
            let row = &m.inverse[i * b..(i + 1) * b];
            let bound = (1i64 << (r - 1)) + row.iter().map(|&v| v.unsigned_abs() as i64 * level_max).sum::<i64>();
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
        let mut shuffle = vec![[0u8; 32]; ng];
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
            for f in 0..16 {
                let v = level_of[g][f] as u16;
                shuffle[g][f] = v as u8;
                shuffle[g][16 + f] = (v >> 8) as u8;
            }
        }
        // the inverse's pairs: under a static map the coded components first
        let mut order: [usize; DENSE_MAX_BLOCK] = std::array::from_fn(|k| k);
        let mut live_pairs = DENSE_MAX_BLOCK / 2;
        if let Some(map) = static_map {
            let coded = |k: usize| k < b && quantizers[map[k] as usize].bits > 0;
            let mut o: Vec<usize> = (0..DENSE_MAX_BLOCK).filter(|&k| coded(k)).collect();
            live_pairs = o.len().div_ceil(2);
            o.extend((0..DENSE_MAX_BLOCK).filter(|&k| !coded(k)));
            order.copy_from_slice(&o);
        }
        let mut inv_pairs_ordered = [[0i32; DENSE_MAX_BLOCK / 2]; DENSE_MAX_BLOCK];
        for i in 0..b {
            let v = |k: usize| if k < b { m.inverse[i * b + k] } else { 0 };
            for p in 0..DENSE_MAX_BLOCK / 2 {
                inv_pairs_ordered[i][p] = pair(v(order[2 * p]), v(order[2 * p + 1]));
            }
        }
        Some(DenseBlock {
            order,
            live_pairs,
            inv_pairs_ordered,
            b,
            signed: lo < 0,
            lo,
            hi,
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
        })
    }

    /// Components (and channels) of the block.
    pub(crate) fn b(&self) -> usize {
        self.b
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
    pub(crate) fn tile_outputs<const NATIVE: bool, U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, count: usize, touched: u64, rest_abs: &[u32; DENSE_MAX_BLOCK], outputs: &mut [RunOutputs]) -> [u32; DENSE_MAX_BLOCK] {
        let mut energy = [0u32; DENSE_MAX_BLOCK];
        for (ri, r) in (0..count).step_by(8).enumerate() {
            let n = (count - r).min(8);
            if (touched >> r) & 0xff != 0 {
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
    pub(crate) fn tile_fields<const NATIVE: bool, U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, count: usize, touched: u64, map: &[u8; DENSE_MAX_BLOCK], outputs: Option<&[RunOutputs]>, lanes: &mut [u8]) {
        for (ri, r) in (0..count).step_by(8).enumerate() {
            let run = (touched >> r) & 0xff;
            if run == 0 {
                continue;
            }
            let dst: &mut [u8; 128] = (&mut lanes[16 * r..16 * r + 128]).try_into().expect("8 vectors' lanes");
            match outputs {
                Some(y) => self.fields::<NATIVE>(&y[ri], map, run, dst),
                None => self.fields_of_codes::<NATIVE, U>(data, at + r, stride, (count - r).min(8), map, run, dst),
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
    /// `lanes[16·t + k]` (the other vectors' lanes are left as they are).
    #[inline(always)]
    pub(crate) fn fields<const NATIVE: bool>(&self, y: &RunOutputs, map: &[u8; DENSE_MAX_BLOCK], touched: u64, lanes: &mut [u8; 8 * DENSE_MAX_BLOCK]) {
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
    pub(crate) fn fields_of_codes<const NATIVE: bool, U: CodeUnit>(&self, data: &[U], at: usize, stride: usize, n: usize, map: &[u8; DENSE_MAX_BLOCK], touched: u64, lanes: &mut [u8; 8 * DENSE_MAX_BLOCK]) {
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
        self.fields::<NATIVE>(&y, map, touched, lanes);
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

    /// Writes a run of 8 vectors' outputs (channel i's at `data[at + i·stride..+8]`)
    /// from their fields, channel-major (`cols[8·k + t]`), under `map`.
    #[inline(always)]
    pub(crate) fn decode8<const NATIVE: bool, U: CodeUnit>(&self, cols: &[u8; 8 * DENSE_MAX_BLOCK], map: &[u8; DENSE_MAX_BLOCK], data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        assert!(at + (self.b - 1) * stride + 8 <= data.len());
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; the runs written lie in `data` (asserted above)
            unsafe { self.decode8_avx2(cols, map, data, at, stride) };
            return;
        }
        for t in 0..8 {
            let lanes: [u8; DENSE_MAX_BLOCK] = std::array::from_fn(|k| cols[8 * k + t]);
            self.decode_vector(&lanes, map, data, at + t, stride);
        }
    }

    /// [`DenseBlock::decode8`] on AVX2.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn decode8_avx2<U: CodeUnit>(&self, cols: &[u8; 8 * DENSE_MAX_BLOCK], map: &[u8; DENSE_MAX_BLOCK], data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        use core::arch::x86_64::*;
        let b = self.b;
        // SAFETY: see `decode8`; reads are of the arrays here
        unsafe {
            // each component's 8 reconstructions: fields of up to 4 bits index
            // the group's 16 levels by byte shuffles (low, high bytes)
            let mut yk = [_mm_setzero_si128(); DENSE_MAX_BLOCK];
            for k in 0..b {
                let g = map[k] as usize;
                let fields = _mm_loadl_epi64(cols.as_ptr().add(8 * k) as *const __m128i);
                if self.bits[g] <= 4 {
                    let t = self.shuffle[g].as_ptr() as *const __m128i;
                    let lo = _mm_shuffle_epi8(_mm_loadu_si128(t), fields);
                    let hi = _mm_shuffle_epi8(_mm_loadu_si128(t.add(1)), fields);
                    yk[k] = _mm_unpacklo_epi8(lo, hi);
                } else {
                    let table = &self.level_of[g];
                    let mut y = [0i16; 8];
                    for (t, yt) in y.iter_mut().enumerate() {
                        *yt = table[cols[8 * k + t] as usize];
                    }
                    yk[k] = _mm_loadu_si128(y.as_ptr() as *const __m128i);
                }
            }
            // component pairs in the inverse's order: a static map's coded
            // components first (the pairs of dropped ones are skipped), else 0..B
            let mut pairs = [_mm256_setzero_si256(); DENSE_MAX_BLOCK / 2];
            for (p, pp) in pairs.iter_mut().enumerate() {
                let (r0, r1) = (yk[self.order[2 * p]], yk[self.order[2 * p + 1]]);
                *pp = _mm256_set_m128i(_mm_unpackhi_epi16(r0, r1), _mm_unpacklo_epi16(r0, r1));
            }
            match self.live_pairs {
                0..=4 => self.inverse_channels::<4, U>(&pairs, data, at, stride),
                5 => self.inverse_channels::<5, U>(&pairs, data, at, stride),
                6 => self.inverse_channels::<6, U>(&pairs, data, at, stride),
                7 => self.inverse_channels::<7, U>(&pairs, data, at, stride),
                _ => self.inverse_channels::<8, U>(&pairs, data, at, stride),
            }
        }
    }

    /// Each channel's 8 outputs of a run from its first `NP` component pairs
    /// (the rest are zero): multiply-adds, rounding shift, mean, clamp, store.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn inverse_channels<const NP: usize, U: CodeUnit>(&self, pairs: &[core::arch::x86_64::__m256i; DENSE_MAX_BLOCK / 2], data: &mut [MaybeUninit<U>], at: usize, stride: usize) {
        use core::arch::x86_64::*;
        // SAFETY: the caller (decode8) asserted the runs written lie in `data`
        unsafe {
            let round = _mm256_set1_epi32(1 << (self.inv_shift - 1));
            let shift = _mm_cvtsi32_si128(self.inv_shift as i32);
            let (lo, hi) = (_mm256_set1_epi32(self.lo), _mm256_set1_epi32(self.hi));
            let out = data.as_mut_ptr().add(at);
            for i in 0..self.b {
                let mut acc = round;
                for (p, &pp) in pairs[..NP].iter().enumerate() {
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pp, _mm256_set1_epi32(self.inv_pairs_ordered[i][p])));
                }
                let v = _mm256_add_epi32(_mm256_sra_epi32(acc, shift), _mm256_set1_epi32(self.inv_mean[i]));
                let v = _mm256_max_epi32(_mm256_min_epi32(v, hi), lo);
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
            }
        }
    }
}
