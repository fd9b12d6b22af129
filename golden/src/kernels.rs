//! Dense matrix-vector kernels for the block transforms on 16-bit operands
//! with exact 32-bit accumulation (`pmaddwd` on AVX2), used when a block's
//! bounds prove that no partial sum can leave the i32 range.
//!
//! Both kernels compute `acc_r = init_r + Σ_c M[r][c]·v_c` for r < rows with
//! i16 entries and operands. The matrix is stored as column pairs
//! interleaved per row, `[(p·R + r)·2 + {0,1}] = M[r][2p], M[r][2p+1]`,
//! padded with zeros to R = rows rounded up to 8 and an even column count,
//! so one `pmaddwd` gives 8 rows the sum over one column pair. Every partial
//! sum is bounded by `|init_r| + Σ_c |M[r][c]|·max|v_c|`, which the
//! constructor checks against `i32::MAX`, so the integer result equals the
//! exact one. [`PairMatrix::apply_scalar`] is the portable twin.

/// A matrix in column-pair layout with its exactness bound checked.
#[derive(Debug, Clone)]
pub struct PairMatrix {
    rows: usize,
    cols: usize,
    rows_padded: usize,
    pairs: usize,
    m: Vec<i16>,
}

impl PairMatrix {
    /// From a row-major `rows x cols` matrix of 16-bit entries, if
    /// `init_bound + Σ_c |M[r][c]|·v_max[c]` stays within i32 for every row r
    /// (`init_bound[r]` bounds the initial accumulator of row r).
    pub fn new(m: &[i32], rows: usize, cols: usize, v_max: &[i64], init_bound: &[i64]) -> Option<Self> {
        debug_assert!(m.len() == rows * cols && v_max.len() == cols && init_bound.len() == rows);
        for r in 0..rows {
            let row = &m[r * cols..(r + 1) * cols];
            if row.iter().any(|&v| i16::try_from(v).is_err()) {
                return None;
            }
            let bound: i64 = init_bound[r] + row.iter().zip(v_max).map(|(&a, &v)| a.unsigned_abs() as i64 * v).sum::<i64>();
            if bound > i32::MAX as i64 {
                return None;
            }
        }
        let rows_padded = rows.div_ceil(8) * 8;
        let pairs = cols.div_ceil(2);
        let mut p = vec![0i16; pairs * rows_padded * 2];
        for r in 0..rows {
            for c in 0..cols {
                p[((c / 2) * rows_padded + r) * 2 + c % 2] = m[r * cols + c] as i16;
            }
        }
        Some(PairMatrix { rows, cols, rows_padded, pairs, m: p })
    }

    /// Rows of the matrix.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Accumulator length callers must provide: rows rounded up to 8.
    pub fn rows_padded(&self) -> usize {
        self.rows_padded
    }

    /// `acc[r] += Σ_c M[r][c]·v[c]` over the column pairs `pairs` (indices p:
    /// columns 2p, 2p+1); `v` has an even length >= 2·pairs (pad with 0).
    /// Portable evaluation.
    pub fn apply_scalar(&self, v: &[i16], pairs: &[u16], acc: &mut [i32]) {
        let rp = self.rows_padded;
        for &p in pairs {
            let p = p as usize;
            let (a, b) = (v[2 * p] as i32, v[2 * p + 1] as i32);
            let col = &self.m[p * rp * 2..(p + 1) * rp * 2];
            for (r, x) in acc[..rp].iter_mut().enumerate() {
                *x += col[2 * r] as i32 * a + col[2 * r + 1] as i32 * b;
            }
        }
    }

    /// All column pairs, for callers that use every column.
    pub fn all_pairs(&self) -> Vec<u16> {
        (0..self.pairs as u16).collect()
    }

    /// Columns of the matrix.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// As [`PairMatrix::apply_scalar`], with AVX2 when `simd` (which the
    /// caller sets only after `is_x86_feature_detected!("avx2")`).
    #[inline]
    pub fn apply(&self, v: &[i16], pairs: &[u16], acc: &mut [i32], simd: bool) {
        assert!(acc.len() >= self.rows_padded && v.len() >= 2 * self.pairs);
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: `simd` is only true when AVX2 was detected at run time
            // (Codec::new); the bounds were asserted above and pair indices come
            // from `0..pairs` (checked again inside).
            unsafe { avx2::apply(self, v, pairs, acc) };
            return;
        }
        let _ = simd;
        self.apply_scalar(v, pairs, acc)
    }
}

/// Whether the AVX2 kernels may run on this machine.
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX-512 with byte permutes and 16-bit dot products (F, BW, VL,
/// VBMI and VNNI) is available on top of [`avx2_bmi2_available`]: the
/// channel engine's dense blocks then transform two components per
/// register and look their code tables up 64 bytes at a time.
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2_bmi2_available()
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vbmi")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX2 and BMI2 are both available (the fast engine's tile loops
/// are compiled for the pair).
pub fn avx2_bmi2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("bmi2")
            && std::is_x86_feature_detected!("bmi1")
            && std::is_x86_feature_detected!("popcnt")
            && std::is_x86_feature_detected!("lzcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `y[k] = clamp(acc[k] >> shift[k], -32768, 32767)`: the forward
/// transform's rounding shift and saturation, with the rounding term
/// already in `acc` (shifts 1..=31). AVX2 (variable shifts) when `simd`.
#[inline]
pub fn finish_forward(acc: &[i32], shift: &[u32], y: &mut [i32], simd: bool) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only true when AVX2 was detected at run time.
        unsafe { avx2::finish_forward(acc, shift, y) };
        return;
    }
    let _ = simd;
    finish_forward_body(acc, shift, y)
}

#[inline(always)]
fn finish_forward_body(acc: &[i32], shift: &[u32], y: &mut [i32]) {
    for ((y, &a), &s) in y.iter_mut().zip(acc).zip(shift) {
        *y = (a >> s).clamp(-32768, 32767);
    }
}

/// `out[i] = clamp((acc[i] >> shift) + mean[i], lo, hi)`: the inverse
/// transform's rounding shift, mean and clamp, with the rounding term
/// already in `acc` (shift 1..=31). AVX2 when `simd`.
#[inline]
pub fn finish_inverse(acc: &[i32], shift: u32, mean: &[i32], lo: i32, hi: i32, out: &mut [i16], simd: bool) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only true when AVX2 was detected at run time.
        unsafe { avx2::finish_inverse(acc, shift, mean, lo, hi, out) };
        return;
    }
    let _ = simd;
    finish_inverse_body(acc, shift, mean, lo, hi, out)
}

#[inline(always)]
fn finish_inverse_body(acc: &[i32], shift: u32, mean: &[i32], lo: i32, hi: i32, out: &mut [i16]) {
    for ((o, &a), &m) in out.iter_mut().zip(acc).zip(mean) {
        // |a >> shift| < 2^30 and |mean| <= 1023: no overflow
        *o = ((a >> shift) + m).clamp(lo, hi) as i16;
    }
}

/// Transposes an 8 x 8 block of i16: `dst[j·dst_stride + i] = src[i·src_stride + j]`
/// for i, j < 8 (SSE2, part of every x86-64 CPU; scalar elsewhere).
#[inline]
pub fn transpose8x8(src: &[i16], src_stride: usize, dst: &mut [i16], dst_stride: usize) {
    assert!(src.len() >= 7 * src_stride + 8 && dst.len() >= 7 * dst_stride + 8);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is in the x86-64 baseline; the 8 loads and 8 stores of
        // 8 i16 each stay inside `src` / `dst` by the assert above.
        unsafe {
            let ld = |i: usize| _mm_loadu_si128(src.as_ptr().add(i * src_stride) as *const __m128i);
            let (r0, r1, r2, r3, r4, r5, r6, r7) = (ld(0), ld(1), ld(2), ld(3), ld(4), ld(5), ld(6), ld(7));
            let a0 = _mm_unpacklo_epi16(r0, r1);
            let a1 = _mm_unpackhi_epi16(r0, r1);
            let a2 = _mm_unpacklo_epi16(r2, r3);
            let a3 = _mm_unpackhi_epi16(r2, r3);
            let a4 = _mm_unpacklo_epi16(r4, r5);
            let a5 = _mm_unpackhi_epi16(r4, r5);
            let a6 = _mm_unpacklo_epi16(r6, r7);
            let a7 = _mm_unpackhi_epi16(r6, r7);
            let b0 = _mm_unpacklo_epi32(a0, a2);
            let b1 = _mm_unpackhi_epi32(a0, a2);
            let b2 = _mm_unpacklo_epi32(a1, a3);
            let b3 = _mm_unpackhi_epi32(a1, a3);
            let b4 = _mm_unpacklo_epi32(a4, a6);
            let b5 = _mm_unpackhi_epi32(a4, a6);
            let b6 = _mm_unpacklo_epi32(a5, a7);
            let b7 = _mm_unpackhi_epi32(a5, a7);
            let cols = [
                _mm_unpacklo_epi64(b0, b4),
                _mm_unpackhi_epi64(b0, b4),
                _mm_unpacklo_epi64(b1, b5),
                _mm_unpackhi_epi64(b1, b5),
                _mm_unpacklo_epi64(b2, b6),
                _mm_unpackhi_epi64(b2, b6),
                _mm_unpacklo_epi64(b3, b7),
                _mm_unpackhi_epi64(b3, b7),
            ];
            for (j, c) in cols.iter().enumerate() {
                _mm_storeu_si128(dst.as_mut_ptr().add(j * dst_stride) as *mut __m128i, *c);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in 0..8 {
        for j in 0..8 {
            dst[j * dst_stride + i] = src[i * src_stride + j];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::PairMatrix;
    use std::arch::x86_64::*;

    /// `v[2p]` in the low and `v[2p+1]` in the high half of a 32-bit lane.
    /// Caller guarantees `2p + 1 < v.len()`.
    #[inline(always)]
    unsafe fn pair_word(v: &[i16], p: usize) -> i32 {
        let lo = *v.get_unchecked(2 * p) as u16 as u32;
        let hi = *v.get_unchecked(2 * p + 1) as u16 as u32;
        (lo | (hi << 16)) as i32
    }

    /// Fixed accumulator count N (N·8 rows) keeps the accumulators in registers.
    #[target_feature(enable = "avx2")]
    unsafe fn apply_n<const N: usize>(m: &PairMatrix, v: &[i16], pairs: &[u16], acc: &mut [i32]) {
        let rp = m.rows_padded;
        let mut a = [_mm256_setzero_si256(); N];
        for (j, x) in a.iter_mut().enumerate() {
            *x = _mm256_loadu_si256(acc.as_ptr().add(8 * j) as *const __m256i);
        }
        for &p in pairs {
            let p = p as usize;
            assert!(p < m.pairs);
            // the pair (v[2p], v[2p+1]) as one little-endian 32-bit lane,
            // broadcast; in bounds as v.len() >= 2·pairs (asserted by the caller).
            // Two 16-bit loads: callers write v one i16 at a time, and a 32-bit
            // load over two such stores cannot be forwarded (a stall per pair)
            let xv = _mm256_set1_epi32(pair_word(v, p));
            let col = m.m.as_ptr().add(p * rp * 2);
            for (j, x) in a.iter_mut().enumerate() {
                let w = _mm256_loadu_si256(col.add(16 * j) as *const __m256i);
                *x = _mm256_add_epi32(*x, _mm256_madd_epi16(w, xv));
            }
        }
        for (j, x) in a.iter().enumerate() {
            _mm256_storeu_si256(acc.as_mut_ptr().add(8 * j) as *mut __m256i, *x);
        }
    }

    /// The portable loop compiled for AVX2 (the compiler vectorizes it).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn finish_forward(acc: &[i32], shift: &[u32], y: &mut [i32]) {
        super::finish_forward_body(acc, shift, y)
    }

    /// The portable loop compiled for AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn finish_inverse(acc: &[i32], shift: u32, mean: &[i32], lo: i32, hi: i32, out: &mut [i16]) {
        super::finish_inverse_body(acc, shift, mean, lo, hi, out)
    }

    /// Caller guarantees AVX2 and `acc.len() >= rows_padded`, `v.len() >= 2·pairs`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn apply(m: &PairMatrix, v: &[i16], pairs: &[u16], acc: &mut [i32]) {
        match m.rows_padded / 8 {
            1 => apply_n::<1>(m, v, pairs, acc),
            2 => apply_n::<2>(m, v, pairs, acc),
            3 => apply_n::<3>(m, v, pairs, acc),
            4 => apply_n::<4>(m, v, pairs, acc),
            5 => apply_n::<5>(m, v, pairs, acc),
            6 => apply_n::<6>(m, v, pairs, acc),
            7 => apply_n::<7>(m, v, pairs, acc),
            8 => apply_n::<8>(m, v, pairs, acc),
            _ => {
                // wide blocks: eight rows at a time, accumulators in memory
                let rp = m.rows_padded;
                for &p in pairs {
                    let p = p as usize;
                    assert!(p < m.pairs);
                    let xv = _mm256_set1_epi32(pair_word(v, p));
                    let col = m.m.as_ptr().add(p * rp * 2);
                    for j in 0..rp / 8 {
                        let dst = acc.as_mut_ptr().add(8 * j) as *mut __m256i;
                        let w = _mm256_loadu_si256(col.add(16 * j) as *const __m256i);
                        _mm256_storeu_si256(dst, _mm256_add_epi32(_mm256_loadu_si256(dst), _mm256_madd_epi16(w, xv)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn transpose8x8_transposes() {
        let src: Vec<i16> = (0..10 * 11).map(|v| v as i16 - 50).collect();
        let mut dst = vec![0i16; 9 * 12];
        transpose8x8(&src[3..], 11, &mut dst[1..], 12);
        for i in 0..8 {
            for j in 0..8 {
                assert_eq!(dst[1 + j * 12 + i], src[3 + i * 11 + j]);
            }
        }
    }

    #[test]
    fn simd_and_scalar_match_i64_at_the_bound() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for case in 0..300 {
            let rows = rng.gen_range(1..=80);
            let cols = rng.gen_range(1..=80);
            let vmax = rng.gen_range(1..=255i64);
            let extreme = case % 3 == 0;
            let m: Vec<i32> = (0..rows * cols)
                .map(|_| if extreme { if rng.gen_bool(0.5) { -32768 } else { 32767 } } else { rng.gen_range(-32768..=32767) })
                .collect();
            let vm = vec![vmax; cols];
            let init: Vec<i32> = (0..rows).map(|_| rng.gen_range(-1000..=1000)).collect();
            let ib: Vec<i64> = init.iter().map(|&x| (x as i64).abs()).collect();
            let Some(pm) = PairMatrix::new(&m, rows, cols, &vm, &ib) else {
                continue;
            };
            let mut v: Vec<i16> = (0..cols).map(|_| if extreme { if rng.gen_bool(0.5) { -vmax as i16 } else { vmax as i16 } } else { rng.gen_range(-vmax..=vmax) as i16 }).collect();
            v.resize(cols.div_ceil(2) * 2, 0);
            let want: Vec<i64> = (0..rows).map(|r| init[r] as i64 + (0..cols).map(|c| m[r * cols + c] as i64 * v[c] as i64).sum::<i64>()).collect();
            let mut a = vec![0i32; pm.rows_padded()];
            a[..rows].copy_from_slice(&init);
            let mut b = a.clone();
            pm.apply_scalar(&v, &pm.all_pairs(), &mut a);
            pm.apply(&v, &pm.all_pairs(), &mut b, avx2_available());
            for r in 0..rows {
                assert_eq!(a[r] as i64, want[r], "case {case} row {r}");
                assert_eq!(b[r] as i64, want[r], "case {case} row {r}");
            }
        }
    }
}
