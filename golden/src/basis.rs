//! Turning a float orthonormal basis into the policy's fixed-point forward
//! and inverse matrices, with per-component gains.
//!
//! Component k of a block is `y_k ≈ gain_k · (e_k · d)` where `e_k` is the
//! basis row and `d` the centred channel codes. In static grouping the gain
//! normalizes every component to a common spread (so the components of a
//! group can share one quantizer); in dynamic grouping all components of a
//! block share one gain (so tile energies compare like with like).

use crate::policy::{TransformKind, Y_MAX};
use crate::transform::{dct_basis, identity_basis, pca_basis};

/// Target standard deviation of a normalized component, in transform-output units.
pub const Y_STD: f64 = 1024.0;
/// Largest transform output magnitude seen in calibration (headroom to 32767 for unseen data).
pub const Y_PEAK: f64 = 16384.0;

/// A float basis with the statistics calibration needs.
#[derive(Debug, Clone)]
pub struct FloatBasis {
    /// Rows e_k (orthonormal).
    pub rows: Vec<Vec<f64>>,
    /// Variance of each component on the calibration data (code units²).
    pub variance: Vec<f64>,
    /// Largest |e_k · d| on the calibration data.
    pub peak: Vec<f64>,
}

/// Builds the basis of one block from its centred calibration vectors
/// `d` (V x B, row-major).
pub fn float_basis(kind: TransformKind, d: &[f64], b: usize) -> FloatBasis {
    let v = (d.len() / b).max(1) as f64;
    let mut cov = vec![0.0; b * b];
    for row in d.chunks_exact(b) {
        for i in 0..b {
            if row[i] == 0.0 {
                continue;
            }
            for j in i..b {
                cov[i * b + j] += row[i] * row[j];
            }
        }
    }
    for i in 0..b {
        for j in i..b {
            cov[i * b + j] /= v;
            cov[j * b + i] = cov[i * b + j];
        }
    }
    let rows = match kind {
        TransformKind::Pca => pca_basis(&cov, b).1,
        TransformKind::Dct => dct_basis(b),
        TransformKind::Identity => identity_basis(b),
    };
    let variance = rows
        .iter()
        .map(|e| (0..b).map(|i| (0..b).map(|j| e[i] * cov[i * b + j] * e[j]).sum::<f64>()).sum::<f64>().max(0.0))
        .collect();
    let mut peak = vec![0.0f64; b];
    for row in d.chunks_exact(b) {
        for (k, e) in rows.iter().enumerate() {
            let p: f64 = e.iter().zip(row).map(|(a, c)| a * c).sum();
            peak[k] = peak[k].max(p.abs());
        }
    }
    FloatBasis { rows, variance, peak }
}

/// Fixed-point matrices of one block.
#[derive(Debug, Clone)]
pub struct FixedBasis {
    /// Forward `[k][i]`.
    pub forward: Vec<Vec<i32>>,
    /// Per-component forward shift.
    pub forward_shift: Vec<u32>,
    /// Inverse `[i][k]`.
    pub inverse: Vec<Vec<i32>>,
    /// Inverse shift.
    pub inverse_shift: u32,
    /// Gain of each component (transform-output units per code unit).
    pub gain: Vec<f64>,
}

/// Chooses gains (normalized per component, or one per block) and quantizes
/// the basis to 16-bit matrices with the largest shifts that fit.
pub fn fixed_basis(fb: &FloatBasis, normalize: bool) -> FixedBasis {
    let b = fb.rows.len();
    let limit = Y_MAX as f64;
    let mut gain: Vec<f64> = if normalize {
        (0..b)
            .map(|k| {
                let s = fb.variance[k].sqrt();
                let g_std = if s > 0.0 { Y_STD / s } else { f64::INFINITY };
                let g_peak = if fb.peak[k] > 0.0 { Y_PEAK / fb.peak[k] } else { f64::INFINITY };
                g_std.min(g_peak)
            })
            .collect()
    } else {
        let s = fb.variance.iter().cloned().fold(0.0, f64::max).sqrt();
        let p = fb.peak.iter().cloned().fold(0.0, f64::max);
        let g_std = if s > 0.0 { Y_STD / s } else { f64::INFINITY };
        let g_peak = if p > 0.0 { Y_PEAK / p } else { f64::INFINITY };
        vec![g_std.min(g_peak); b]
    };
    // a gain must leave room for a shift of at least 1, and stay finite
    for (k, g) in gain.iter_mut().enumerate() {
        let emax = fb.rows[k].iter().fold(0.0f64, |a, &x| a.max(x.abs())).max(1e-12);
        let gmax = limit / (2.0 * emax);
        if !g.is_finite() || *g > gmax {
            *g = gmax.min(4096.0);
        }
    }
    let mut forward = Vec::with_capacity(b);
    let mut forward_shift = Vec::with_capacity(b);
    for k in 0..b {
        let a: Vec<f64> = fb.rows[k].iter().map(|&e| e * gain[k]).collect();
        let amax = a.iter().fold(0.0f64, |m, &x| m.max(x.abs())).max(1e-300);
        let mut s = 1u32;
        while s < 40 && amax * 2f64.powi(s as i32 + 1) <= limit {
            s += 1;
        }
        forward.push(a.iter().map(|&x| (x * 2f64.powi(s as i32)).round() as i32).collect());
        forward_shift.push(s);
    }
    let inv_max = (0..b)
        .flat_map(|k| {
            let g = gain[k];
            fb.rows[k].iter().map(move |&e| (e / g).abs())
        })
        .fold(0.0f64, f64::max)
        .max(1e-300);
    let mut r = 1u32;
    while r < 48 && inv_max * 2f64.powi(r as i32 + 1) <= limit {
        r += 1;
    }
    let inverse = (0..b)
        .map(|i| (0..b).map(|k| (fb.rows[k][i] / gain[k] * 2f64.powi(r as i32)).round() as i32).collect())
        .collect();
    FixedBasis { forward, forward_shift, inverse, inverse_shift: r, gain }
}
