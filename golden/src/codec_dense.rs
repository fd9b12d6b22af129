//! Dense blocks (PCA, DCT: every component a mix of every channel) in the
//! channel-major engine ([`crate::codec_channel`]), under static grouping.
//!
//! The engine stages a batch of vectors channel-major, so a block's run of
//! 8 vectors is 16 rows of 8 codes. Here that run is transformed
//! component-major, 8 vectors at a time:
//!
//! * **forward**: the codes of channels 2p and 2p+1 are interleaved into one
//!   register of 8 pairs; `pmaddwd` with the pair (F[k][2p], F[k][2p+1])
//!   broadcast adds that pair's part of component k for all 8 vectors, so a
//!   component is 8 multiply-adds, exact in 32 bits (the block's bounds are
//!   checked when it is built, as [`crate::kernels::PairMatrix`] does);
//! * **quantizer**: the fine index of 8 outputs at once (32-bit multiply,
//!   round, clamp), then the group's code table entry per output;
//! * **inverse**: the reconstructed components of 8 vectors, paired the same
//!   way, give each channel's 8 outputs in 8 multiply-adds, then the shift,
//!   mean and clamp, stored as one run.
//!
//! Everything else — staging, rest runs, packing the byte lanes with
//! PEXT/PDEP, payload layout, errors — is the channel-major engine's. A run
//! whose 16 x 8 codes are all at rest costs nothing here: its strings are
//! the plan's rest string and its outputs the rest vector's reconstruction.
//! Short runs (a tile of fewer than 8 vectors) and machines without AVX2 use
//! the golden per-vector transforms ([`BlockMatrices`]).

use crate::bitstream::sign_extend;
use crate::codec_channel::CodeUnit;
use crate::policy::{BlockPolicy, Policy, QUANT_SHIFT};
use crate::quantizer::{fine_index, GroupQuantizer};
use crate::transform::BlockMatrices;
use std::mem::MaybeUninit;

/// Components (and channels) of a dense block the engine takes.
pub(crate) const DENSE_MAX_BLOCK: usize = 16;

/// A dense block's transforms and per-component quantizer tables under its
/// static group map, in the forms the 8-vector kernels use.
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
    /// Each component's group multiplier (0: a dropped component).
    qmul: [i32; DENSE_MAX_BLOCK],
    /// `[k][fine + 128]`: the packed field of component k (its group's code table).
    field_of: Vec<[u8; 256]>,
    /// `[i][p]`: (V[i][2p], V[i][2p+1]) as one word.
    inv_pairs: [[i32; DENSE_MAX_BLOCK / 2]; DENSE_MAX_BLOCK],
    inv_shift: u32,
    inv_mean: [i32; DENSE_MAX_BLOCK],
    /// `[k][field]`: the reconstruction ŷ_k of a field (0 for a dropped component).
    level_of: Vec<[i16; 256]>,
    /// Each component's field width (0: dropped).
    bits: [u32; DENSE_MAX_BLOCK],
    /// `[k]`: the low bytes of the levels of fields 0..16, then their high
    /// bytes (components of at most 4 bits: byte-shuffle tables).
    shuffle: [[u8; 32]; DENSE_MAX_BLOCK],
    /// The golden transforms (short runs, portable code).
    m: BlockMatrices,
    quantizers: Vec<GroupQuantizer>,
    map: [u8; DENSE_MAX_BLOCK],
}

/// Two 16-bit values as the low and high halves of one word (`pmaddwd`'s pair).
fn pair(a: i32, b: i32) -> i32 {
    ((a as i16 as u16 as u32) | ((b as i16 as u16 as u32) << 16)) as i32
}

impl DenseBlock {
    /// The dense form of block `bi` under its static map `map`, when the
    /// block is at most [`DENSE_MAX_BLOCK`] wide, its matrices' entries fit
    /// 16 bits and no partial sum of either transform can leave the i32 range
    /// for any codes of the range and any levels.
    pub(crate) fn new(
        policy: &Policy,
        blk: &BlockPolicy,
        m: &BlockMatrices,
        map: &[u8],
    ) -> Option<Self> {
        let b = blk.mean.len();
        if b > DENSE_MAX_BLOCK || map.len() != b {
            return None;
        }
        let (lo, hi) = (policy.input.code_range.min(), policy.input.code_range.max());
        let fits16 = |v: i32| i16::try_from(v).is_ok();
        if !m.forward.iter().chain(&m.inverse).all(|&v| fits16(v)) {
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
            let init = -row
                .iter()
                .zip(&m.mean)
                .map(|(&f, &mu)| f as i64 * mu as i64)
                .sum::<i64>()
                + (1i64 << (s - 1));
            let bound = init.abs()
                + row
                    .iter()
                    .map(|&f| f.unsigned_abs() as i64 * x_max)
                    .sum::<i64>();
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
        let level_max = blk
            .groups
            .iter()
            .flat_map(|g| g.levels.iter())
            .map(|l| l.unsigned_abs() as i64)
            .max()
            .unwrap_or(0);
        let r = m.inverse_shift;
        if !(1..=31).contains(&r) || level_max > i16::MAX as i64 {
            return None;
        }
        let mut inv_pairs = [[0i32; DENSE_MAX_BLOCK / 2]; DENSE_MAX_BLOCK];
        let mut inv_mean = [0i32; DENSE_MAX_BLOCK];
        for i in 0..b {
            let row = &m.inverse[i * b..(i + 1) * b];
            let bound = (1i64 << (r - 1))
                + row
                    .iter()
                    .map(|&v| v.unsigned_abs() as i64 * level_max)
                    .sum::<i64>();
            if bound > i32::MAX as i64 {
                return None;
            }
            // (the shifted sum is below 2^30 in magnitude: adding the mean cannot overflow)
            if m.inverse_mean[i].unsigned_abs() > 1 << 20 {
                return None;
            }
            inv_mean[i] = m.inverse_mean[i];
            for p in 0..b.div_ceil(2) {
                inv_pairs[i][p] = pair(row[2 * p], if 2 * p + 1 < b { row[2 * p + 1] } else { 0 });
            }
        }
        let mut qmul = [0i32; DENSE_MAX_BLOCK];
        let mut field_of = vec![[0u8; 256]; b];
        let mut level_of = vec![[0i16; 256]; b];
        for k in 0..b {
            let q = &quantizers[map[k] as usize];
            if q.bits == 0 {
                continue;
            }
            qmul[k] = q.qmul as i32;
            let mask = (1u32 << q.bits) - 1;
            for (e, f) in field_of[k].iter_mut().enumerate() {
                *f = (q.encode[e] as u32 & mask) as u8;
            }
            for f in 0..1usize << q.bits {
                level_of[k][f] = q.dequantize(sign_extend(f as u32, q.bits)) as i16;
            }
        }
        let mut bits = [0u32; DENSE_MAX_BLOCK];
        let mut shuffle = [[0u8; 32]; DENSE_MAX_BLOCK];
        for k in 0..b {
            bits[k] = quantizers[map[k] as usize].bits;
            for f in 0..16 {
                let v = level_of[k][f] as u16;
                shuffle[k][f] = v as u8;
                shuffle[k][16 + f] = (v >> 8) as u8;
            }
        }
        let mut map16 = [0u8; DENSE_MAX_BLOCK];
        map16[..b].copy_from_slice(map);
        Some(DenseBlock {
            b,
            signed: lo < 0,
            lo,
            hi,
            fwd_pairs,
            fwd_init,
            fwd_shift,
            qmul,
            field_of,
            inv_pairs,
            inv_shift: r,
            inv_mean,
            level_of,
            bits,
            shuffle,
            m: m.clone(),
            quantizers,
            map: map16,
        })
    }

    /// The reconstruction of the vector whose every field is its rest field
    /// (`rest_fields[k]`): the outputs of a run at rest.
    pub(crate) fn rest_recon(&self, rest_fields: &[u8]) -> [i16; DENSE_MAX_BLOCK] {
        let yhat: Vec<i32> = (0..self.b)
            .map(|k| self.level_of[k][rest_fields[k] as usize] as i32)
            .collect();
        let mut out = [0i16; DENSE_MAX_BLOCK];
        self.m.inverse(&yhat, self.lo, self.hi, &mut out[..self.b]);
        out
    }

    /// The fields of vector t of a run (channel i's code at `data[at + i·stride + t]`)
    /// as byte lanes, `lanes[16·t + k]`: the golden forward transform and quantizer.
    #[inline(always)]
    fn fields_one<U: CodeUnit>(
        &self,
        data: &[U],
        at: usize,
        stride: usize,
        t: usize,
        lanes: &mut [u8; 8 * DENSE_MAX_BLOCK],
    ) {
        let b = self.b;
        let mut x = [0i16; DENSE_MAX_BLOCK];
        for (i, xi) in x[..b].iter_mut().enumerate() {
            *xi = (data[at + i * stride + t].index(self.lo) as i32 + self.lo) as i16;
        }
        let mut y = [0i32; DENSE_MAX_BLOCK];
        self.m.forward(&x[..b], &mut y[..b]);
        for k in 0..b {
            let q = &self.quantizers[self.map[k] as usize];
            lanes[16 * t + k] = if q.bits == 0 {
                0
            } else {
                self.field_of[k][(fine_index(y[k], q.qmul) + 128) as usize]
            };
        }
    }

    /// The fields of the vectors of `touched` (bits below 8) of a run of 8 as
    /// byte lanes, `lanes[16·t + k]` (the other vectors' lanes are left as they are).
    #[inline(always)]
    pub(crate) fn fields8<const NATIVE: bool, U: CodeUnit>(
        &self,
        data: &[U],
        at: usize,
        stride: usize,
        touched: u64,
        lanes: &mut [u8; 8 * DENSE_MAX_BLOCK],
    ) {
        assert!(at + (self.b - 1) * stride + 8 <= data.len());
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; the rows read lie in `data` (asserted above)
            unsafe { self.fields8_avx2(data, at, stride, touched, lanes) };
            return;
        }
        let mut m = touched;
        while m != 0 {
            self.fields_one(data, at, stride, m.trailing_zeros() as usize, lanes);
            m &= m - 1;
        }
    }

    /// The fields of one vector of a run shorter than 8 (as [`DenseBlock::fields8`]).
    #[inline(always)]
    pub(crate) fn fields_vector<U: CodeUnit>(
        &self,
        data: &[U],
        at: usize,
        stride: usize,
        t: usize,
        lanes: &mut [u8; 8 * DENSE_MAX_BLOCK],
    ) {
        self.fields_one(data, at, stride, t, lanes);
    }

    /// The 8 codes of channel i of a run as i16 (zero past the block).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn row16<U: CodeUnit>(
        &self,
        data: &[U],
        at: usize,
        stride: usize,
        i: usize,
    ) -> core::arch::x86_64::__m128i {
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

    /// [`DenseBlock::fields8`] on AVX2: the transform of all 8 vectors, the
    /// fields of those of `touched`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn fields8_avx2<U: CodeUnit>(
        &self,
        data: &[U],
        at: usize,
        stride: usize,
        touched: u64,
        lanes: &mut [u8; 8 * DENSE_MAX_BLOCK],
    ) {
        use core::arch::x86_64::*;
        let b = self.b;
        let np = b.div_ceil(2);
        // SAFETY: see `fields8`; stores are into the 16-entry arrays here
        unsafe {
            let mut x = [_mm256_setzero_si256(); DENSE_MAX_BLOCK / 2];
            for (p, xp) in x[..np].iter_mut().enumerate() {
                let (r0, r1) = (
                    self.row16(data, at, stride, 2 * p),
                    self.row16(data, at, stride, 2 * p + 1),
                );
                *xp = _mm256_set_m128i(_mm_unpackhi_epi16(r0, r1), _mm_unpacklo_epi16(r0, r1));
            }
            let round = _mm256_set1_epi32(1 << (QUANT_SHIFT - 1));
            let mut entry = [0i32; 8];
            for k in 0..b {
                let q = self.qmul[k];
                if q == 0 {
                    continue;
                }
                let mut acc = _mm256_set1_epi32(self.fwd_init[k]);
                for (p, &xp) in x[..np].iter().enumerate() {
                    acc = _mm256_add_epi32(
                        acc,
                        _mm256_madd_epi16(xp, _mm256_set1_epi32(self.fwd_pairs[k][p])),
                    );
                }
                let y = _mm256_sra_epi32(acc, _mm_cvtsi32_si128(self.fwd_shift[k] as i32));
                let y = _mm256_max_epi32(
                    _mm256_min_epi32(y, _mm256_set1_epi32(32767)),
                    _mm256_set1_epi32(-32768),
                );
                // |y·qmul| < 2^30: the fine index in 32 bits
                let f = _mm256_srai_epi32::<{ QUANT_SHIFT as i32 }>(_mm256_add_epi32(
                    _mm256_mullo_epi32(y, _mm256_set1_epi32(q)),
                    round,
                ));
                let f = _mm256_max_epi32(
                    _mm256_min_epi32(f, _mm256_set1_epi32(127)),
                    _mm256_set1_epi32(-128),
                );
                _mm256_storeu_si256(
                    entry.as_mut_ptr() as *mut __m256i,
                    _mm256_add_epi32(f, _mm256_set1_epi32(128)),
                );
                let table = &self.field_of[k];
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
        }
    }

    /// Writes the outputs of one vector of a run from its fields as byte
    /// lanes (`lanes[k]`): the golden dequantizer and inverse transform.
    #[inline(always)]
    pub(crate) fn decode_vector<U: CodeUnit>(
        &self,
        lanes: &[u8; DENSE_MAX_BLOCK],
        data: &mut [MaybeUninit<U>],
        at: usize,
        stride: usize,
    ) {
        let b = self.b;
        let mut yhat = [0i32; DENSE_MAX_BLOCK];
        for k in 0..b {
            yhat[k] = self.level_of[k][lanes[k] as usize] as i32;
        }
        let mut out = [0i16; DENSE_MAX_BLOCK];
        self.m.inverse(&yhat[..b], self.lo, self.hi, &mut out[..b]);
        for (i, &o) in out[..b].iter().enumerate() {
            data[at + i * stride].write(U::from_code(o));
        }
    }

    /// Writes a run of 8 vectors' outputs (channel i's at `data[at + i·stride..+8]`)
    /// from their fields, channel-major (`cols[8·k + t]`).
    #[inline(always)]
    pub(crate) fn decode8<const NATIVE: bool, U: CodeUnit>(
        &self,
        cols: &[u8; 8 * DENSE_MAX_BLOCK],
        data: &mut [MaybeUninit<U>],
        at: usize,
        stride: usize,
    ) {
        assert!(at + (self.b - 1) * stride + 8 <= data.len());
        #[cfg(target_arch = "x86_64")]
        if NATIVE {
            // SAFETY: NATIVE code runs only inside functions compiled for AVX2 on a
            // machine that has it; the runs written lie in `data` (asserted above)
            unsafe { self.decode8_avx2(cols, data, at, stride) };
            return;
        }
        for t in 0..8 {
            let lanes: [u8; DENSE_MAX_BLOCK] = std::array::from_fn(|k| cols[8 * k + t]);
            self.decode_vector(&lanes, data, at + t, stride);
        }
    }

    /// [`DenseBlock::decode8`] on AVX2.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn decode8_avx2<U: CodeUnit>(
        &self,
        cols: &[u8; 8 * DENSE_MAX_BLOCK],
        data: &mut [MaybeUninit<U>],
        at: usize,
        stride: usize,
    ) {
        use core::arch::x86_64::*;
        let b = self.b;
        let np = b.div_ceil(2);
        // SAFETY: see `decode8`; reads are of the 16-entry arrays here
        unsafe {
            // each component's 8 reconstructions: fields of up to 4 bits index
            // the component's 16 levels by byte shuffles (low, high bytes)
            let mut yk = [_mm_setzero_si128(); DENSE_MAX_BLOCK];
            for k in 0..b {
                let fields = _mm_loadl_epi64(cols.as_ptr().add(8 * k) as *const __m128i);
                if self.bits[k] <= 4 {
                    let t = self.shuffle[k].as_ptr() as *const __m128i;
                    let lo = _mm_shuffle_epi8(_mm_loadu_si128(t), fields);
                    let hi = _mm_shuffle_epi8(_mm_loadu_si128(t.add(1)), fields);
                    yk[k] = _mm_unpacklo_epi8(lo, hi);
                } else {
                    let table = &self.level_of[k];
                    let mut y = [0i16; 8];
                    for (t, yt) in y.iter_mut().enumerate() {
                        *yt = table[cols[8 * k + t] as usize];
                    }
                    yk[k] = _mm_loadu_si128(y.as_ptr() as *const __m128i);
                }
            }
            let mut pairs = [_mm256_setzero_si256(); DENSE_MAX_BLOCK / 2];
            for (p, pp) in pairs[..np].iter_mut().enumerate() {
                let (r0, r1) = (yk[2 * p], yk[(2 * p + 1).min(DENSE_MAX_BLOCK - 1)]);
                *pp = _mm256_set_m128i(_mm_unpackhi_epi16(r0, r1), _mm_unpacklo_epi16(r0, r1));
            }
            let round = _mm256_set1_epi32(1 << (self.inv_shift - 1));
            let shift = _mm_cvtsi32_si128(self.inv_shift as i32);
            let (lo, hi) = (_mm256_set1_epi32(self.lo), _mm256_set1_epi32(self.hi));
            let out = data.as_mut_ptr().add(at);
            for i in 0..b {
                let mut acc = round;
                for (p, &pp) in pairs[..np].iter().enumerate() {
                    acc = _mm256_add_epi32(
                        acc,
                        _mm256_madd_epi16(pp, _mm256_set1_epi32(self.inv_pairs[i][p])),
                    );
                }
                let v = _mm256_add_epi32(
                    _mm256_sra_epi32(acc, shift),
                    _mm256_set1_epi32(self.inv_mean[i]),
                );
                let v = _mm256_max_epi32(_mm256_min_epi32(v, hi), lo);
                // 8 codes of the range as i16, then as the unit
                let w =
                    _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
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
