//! The fixed-point block transform (step 2 of the scheme) and the float
//! bases calibration starts from (PCA, DCT-II, identity).
//!
//! Forward, per block and component k:
//! `y_k = sat16((sum_i F[k][i] * (x_i - mean_i) + 2^(s_k-1)) >> s_k)`.
//! Inverse, per channel i:
//! `x^_i = clamp(((sum_k V[i][k] * y^_k + 2^(r-1)) >> r) + inverse_mean_i, code_min, code_max)`.
//! `>>` is an arithmetic (floor) shift; accumulators are exact (at most 48 bits).

use crate::policy::{Y_MAX, Y_MIN};

/// `(acc + 2^(s-1)) >> s` with an arithmetic shift: round half toward +infinity.
#[inline]
pub fn round_shift(acc: i64, s: u32) -> i64 {
    (acc + (1i64 << (s - 1))) >> s
}

/// Saturates to the signed 16-bit range.
#[inline]
pub fn sat16(v: i64) -> i32 {
    v.clamp(Y_MIN as i64, Y_MAX as i64) as i32
}

/// A block's matrices flattened for fast evaluation.
#[derive(Debug, Clone)]
pub struct BlockMatrices {
    /// Block size B.
    pub b: usize,
    /// Means, one per channel.
    pub mean: Vec<i32>,
    /// Forward matrix, row-major `[k * B + i]`.
    pub forward: Vec<i32>,
    /// Per-component forward shift.
    pub forward_shift: Vec<u32>,
    /// Inverse matrix, row-major `[i * B + k]`.
    pub inverse: Vec<i32>,
    /// Inverse shift.
    pub inverse_shift: u32,
    /// Added after the inverse transform, before the clamp.
    pub inverse_mean: Vec<i32>,
    /// Forward matrix transposed, `[i * B + k]`.
    forward_t: Vec<i32>,
    /// `-Σ_i F[k][i]·mean_i`: the mean folded into a per-component bias.
    bias: Vec<i64>,
    /// Inverse matrix transposed, `[k * B + i]`, as exact f64.
    inverse_tf: Vec<f64>,
    /// Sparse columns (CSC) of the forward matrix when it is mostly zeros (identity, ...).
    forward_sparse: Option<Csc<i32>>,
    /// Sparse columns of the inverse matrix when it is mostly zeros.
    inverse_sparse: Option<Csc<f64>>,
}

/// Compressed sparse columns: column j holds `rows[ptr[j]..ptr[j+1]]`, `vals[..]`.
#[derive(Debug, Clone)]
struct Csc<T> {
    ptr: Vec<usize>,
    rows: Vec<usize>,
    vals: Vec<T>,
}

impl<T: Copy> Csc<T> {
    /// From a transposed dense matrix `t[j * b + i]` (column j, row i), when at most a quarter is non-zero.
    fn from_transposed(t: &[T], b: usize, is_zero: impl Fn(T) -> bool) -> Option<Self> {
        let nnz = t.iter().filter(|&&v| !is_zero(v)).count();
        if nnz * 4 > b * b {
            return None;
        }
        let mut c = Csc { ptr: vec![0], rows: Vec::with_capacity(nnz), vals: Vec::with_capacity(nnz) };
        for j in 0..b {
            for i in 0..b {
                let v = t[j * b + i];
                if !is_zero(v) {
                    c.rows.push(i);
                    c.vals.push(v);
                }
            }
            c.ptr.push(c.rows.len());
        }
        Some(c)
    }
}

impl BlockMatrices {
    /// Flattens a validated block policy.
    pub fn new(blk: &crate::policy::BlockPolicy) -> Self {
        Self::from_parts(
            blk.mean.clone(),
            blk.forward.iter().flatten().copied().collect(),
            blk.forward_shift.clone(),
            blk.inverse.iter().flatten().copied().collect(),
            blk.inverse_shift,
        )
        .with_inverse_mean(blk.inverse_mean.clone())
    }

    /// Sets the inverse mean (by default equal to the forward mean).
    pub fn with_inverse_mean(mut self, inverse_mean: Vec<i32>) -> Self {
        self.inverse_mean = inverse_mean;
        self
    }

    /// From flat row-major matrices (entries must fit 16 bits).
    pub fn from_parts(mean: Vec<i32>, forward: Vec<i32>, forward_shift: Vec<u32>, inverse: Vec<i32>, inverse_shift: u32) -> Self {
        let b = mean.len();
        let forward_t: Vec<i32> = (0..b * b).map(|j| forward[(j % b) * b + j / b]).collect();
        let inverse_tf: Vec<f64> = (0..b * b).map(|j| inverse[(j % b) * b + j / b] as f64).collect();
        let bias = (0..b).map(|k| -(0..b).map(|i| forward[k * b + i] as i64 * mean[i] as i64).sum::<i64>()).collect();
        let inverse_mean = mean.clone();
        let forward_sparse = Csc::from_transposed(&forward_t, b, |v| v == 0);
        let inverse_sparse = Csc::from_transposed(&inverse_tf, b, |v| v == 0.0);
        BlockMatrices {
            b,
            mean,
            forward,
            forward_shift,
            inverse,
            inverse_shift,
            inverse_mean,
            forward_t,
            bias,
            inverse_tf,
            forward_sparse,
            inverse_sparse,
        }
    }

    /// Forward transform of one block of channel codes `x` into `y`.
    ///
    /// Evaluated as `bias + Σ_{i: x_i ≠ 0} x_i·F[·][i]` (exact integer
    /// arithmetic, so identical to the definition); zero codes — most of a
    /// post-ReLU map — cost nothing.
    #[inline]
    pub fn forward(&self, x: &[i16], y: &mut [i32]) {
        let b = self.b;
        if let Some(sp) = &self.forward_sparse {
            let mut buf = [0i64; 64];
            let mut v: Vec<i64>;
            let acc: &mut [i64] = if b <= 64 {
                &mut buf[..b]
            } else {
                v = vec![0; b];
                &mut v
            };
            acc.copy_from_slice(&self.bias);
            for (i, &xi) in x[..b].iter().enumerate() {
                if xi == 0 {
                    continue;
                }
                for j in sp.ptr[i]..sp.ptr[i + 1] {
                    acc[sp.rows[j]] += sp.vals[j] as i64 * xi as i64;
                }
            }
            for k in 0..b {
                y[k] = sat16(round_shift(acc[k], self.forward_shift[k]));
            }
            return;
        }
        if b <= 64 {
            // |bias| <= 64·2^15·255 < 2^30 and |Σ x_i F| < 2^30: i32 cannot overflow
            let mut acc = [0i32; 64];
            let acc = &mut acc[..b];
            for (a, &c) in acc.iter_mut().zip(&self.bias) {
                *a = c as i32;
            }
            for (i, &xi) in x[..b].iter().enumerate() {
                if xi == 0 {
                    continue;
                }
                let col = &self.forward_t[i * b..(i + 1) * b];
                let xi = xi as i32;
                for (a, &f) in acc.iter_mut().zip(col) {
                    *a += f * xi;
                }
            }
            for k in 0..b {
                y[k] = sat16(round_shift(acc[k] as i64, self.forward_shift[k]));
            }
        } else {
            let mut acc = self.bias.clone();
            for (i, &xi) in x[..b].iter().enumerate() {
                if xi == 0 {
                    continue;
                }
                let col = &self.forward_t[i * b..(i + 1) * b];
                for (a, &f) in acc.iter_mut().zip(col) {
                    *a += (f * xi as i32) as i64;
                }
            }
            for k in 0..b {
                y[k] = sat16(round_shift(acc[k], self.forward_shift[k]));
            }
        }
    }

    /// Inverse transform of one block of reconstructed components into channel codes.
    /// Evaluated column by column, skipping components reconstructed as 0.
    #[inline]
    pub fn inverse(&self, yhat: &[i32], lo: i32, hi: i32, out: &mut [i16]) {
        let b = self.b;
        let mut buf = [0f64; 64];
        let mut v: Vec<f64>;
        let acc: &mut [f64] = if b <= 64 {
            &mut buf[..b]
        } else {
            v = vec![0.0; b];
            &mut v
        };
        // Products are integers below 2^31 and sums stay below 2^53 for any
        // B < 2^22, so f64 arithmetic here is exact (and vectorizes well).
        if let Some(sp) = &self.inverse_sparse {
            for (k, &yk) in yhat[..b].iter().enumerate() {
                if yk == 0 {
                    continue;
                }
                let yk = yk as f64;
                for j in sp.ptr[k]..sp.ptr[k + 1] {
                    acc[sp.rows[j]] += sp.vals[j] * yk;
                }
            }
        } else {
            for (k, &yk) in yhat[..b].iter().enumerate() {
                if yk == 0 {
                    continue;
                }
                let col = &self.inverse_tf[k * b..(k + 1) * b];
                let yk = yk as f64;
                for (a, &vi) in acc.iter_mut().zip(col) {
                    *a += vi * yk;
                }
            }
        }
        for i in 0..b {
            let x = round_shift(acc[i] as i64, self.inverse_shift) + self.inverse_mean[i] as i64;
            out[i] = x.clamp(lo as i64, hi as i64) as i16;
        }
    }

    /// `(Σ_k V[i][k]·ŷ_k + 2^(r−1)) >> r` for channel i: the inverse before mean and clamp.
    #[inline]
    pub fn inverse_unclamped(&self, yhat: &[i32], i: usize) -> i64 {
        let b = self.b;
        let row = &self.inverse[i * b..(i + 1) * b];
        let acc: i64 = row.iter().zip(yhat).map(|(&v, &y)| v as i64 * y as i64).sum();
        round_shift(acc, self.inverse_shift)
    }
}

/// Orthonormal DCT-II basis of size `b`: row k, column i.
pub fn dct_basis(b: usize) -> Vec<Vec<f64>> {
    (0..b)
        .map(|k| {
            let a = if k == 0 { (1.0 / b as f64).sqrt() } else { (2.0 / b as f64).sqrt() };
            (0..b)
                .map(|i| a * (std::f64::consts::PI * (2 * i + 1) as f64 * k as f64 / (2 * b) as f64).cos())
                .collect()
        })
        .collect()
}

/// Identity basis of size `b`.
pub fn identity_basis(b: usize) -> Vec<Vec<f64>> {
    (0..b).map(|k| (0..b).map(|i| if i == k { 1.0 } else { 0.0 }).collect()).collect()
}

/// Principal components of a `b x b` covariance: (eigenvalues descending,
/// basis rows). Each row's largest-magnitude entry is made positive so the
/// result is deterministic.
pub fn pca_basis(cov: &[f64], b: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let m = nalgebra::DMatrix::from_row_slice(b, b, cov);
    let eig = nalgebra::SymmetricEigen::new(m);
    let mut order: Vec<usize> = (0..b).collect();
    order.sort_by(|&a, &c| eig.eigenvalues[c].partial_cmp(&eig.eigenvalues[a]).unwrap().then(a.cmp(&c)));
    let mut vals = Vec::with_capacity(b);
    let mut rows = Vec::with_capacity(b);
    for &j in &order {
        vals.push(eig.eigenvalues[j].max(0.0));
        let mut v: Vec<f64> = eig.eigenvectors.column(j).iter().copied().collect();
        let big = v.iter().enumerate().fold((0, 0.0f64), |acc, (i, &x)| if x.abs() > acc.1 + 1e-12 { (i, x.abs()) } else { acc }).0;
        if v[big] < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        rows.push(v);
    }
    (vals, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_shift_rounds_half_up() {
        assert_eq!(round_shift(3, 1), 2); // 1.5 -> 2
        assert_eq!(round_shift(-3, 1), -1); // -1.5 -> -1
        assert_eq!(round_shift(-5, 2), -1); // -1.25 -> -1
        assert_eq!(round_shift(-6, 2), -1); // -1.5 -> -1
        assert_eq!(round_shift(-7, 2), -2); // -1.75 -> -2
    }

    #[test]
    fn dct_is_orthonormal() {
        for b in [1, 4, 8, 16] {
            let m = dct_basis(b);
            for a in 0..b {
                for c in 0..b {
                    let d: f64 = (0..b).map(|i| m[a][i] * m[c][i]).sum();
                    assert!((d - if a == c { 1.0 } else { 0.0 }).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn pca_sorts_and_fixes_signs() {
        // covariance with a dominant direction (1,1)/sqrt2
        let cov = vec![2.0, 1.5, 1.5, 2.0];
        let (vals, rows) = pca_basis(&cov, 2);
        assert!((vals[0] - 3.5).abs() < 1e-9 && (vals[1] - 0.5).abs() < 1e-9);
        assert!(rows[0][0] > 0.0 && rows[0][1] > 0.0);
    }

    #[test]
    fn fast_paths_match_the_definition_at_extremes() {
        use crate::policy::{Y_MAX, Y_MIN};
        for b in [4usize, 64, 65, 100] {
            for (fv, m, xv) in [(Y_MIN, 255, 0i16), (Y_MIN, 0, 255), (Y_MAX, -128, 127), (Y_MIN, 127, -128)] {
                let fwd = vec![fv; b * b];
                let inv = vec![fv; b * b];
                let bm = BlockMatrices::from_parts(vec![m; b], fwd.clone(), vec![20; b], inv.clone(), 30);
                let x = vec![xv; b];
                let mut y = vec![0; b];
                bm.forward(&x, &mut y);
                let acc: i64 = (0..b).map(|_| fv as i64 * (xv as i64 - m as i64)).sum();
                assert_eq!(y[0], sat16(round_shift(acc, 20)), "b {b}");
                let yh = vec![Y_MIN; b];
                let mut out = vec![0i16; b];
                bm.inverse(&yh, -100_000, 100_000, &mut out);
                let acc: i64 = (0..b).map(|_| fv as i64 * Y_MIN as i64).sum();
                assert_eq!(out[0] as i64, (round_shift(acc, 30) + m as i64).clamp(-32768, 32767), "b {b}");
            }
        }
    }
}
