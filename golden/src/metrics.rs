//! Quality and rate metrics (step 7 of the scheme) and the Gaussian
//! rate–distortion bound obtained by reverse water-filling.

use serde::{Deserialize, Serialize};

/// Distortion of a reconstruction against the original values.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Distortion {
    /// Number of values compared.
    pub values: usize,
    /// Mean squared error.
    pub mse: f64,
    /// 10·log10(Σx² / Σ(x−x̂)²) in dB (infinite when exact).
    pub sqnr_db: f64,
    /// Largest |x − x̂|.
    pub max_abs_error: f64,
    /// Cosine similarity of x and x̂ (1 when both are zero).
    pub cosine: f64,
}

/// Computes [`Distortion`] in f64 over all values.
pub fn distortion(x: &[f64], xh: &[f64]) -> Distortion {
    assert_eq!(x.len(), xh.len());
    let (mut se, mut sx, mut sxh, mut sxx, mut maxe) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&a, &b) in x.iter().zip(xh) {
        let e = a - b;
        se += e * e;
        sx += a * a;
        sxh += b * b;
        sxx += a * b;
        maxe = maxe.max(e.abs());
    }
    let n = x.len().max(1) as f64;
    let cosine = if sx == 0.0 && sxh == 0.0 { 1.0 } else if sx == 0.0 || sxh == 0.0 { 0.0 } else { sxx / (sx.sqrt() * sxh.sqrt()) };
    Distortion { values: x.len(), mse: se / n, sqnr_db: sqnr_db(sx, se), max_abs_error: maxe, cosine }
}

/// 10·log10(signal / noise) with the conventions ∞ for zero noise.
pub fn sqnr_db(signal: f64, noise: f64) -> f64 {
    if noise <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// Eigenvalues (descending) of the channel covariance of an N x C x ... tensor
/// given as f64 values in C order: the component variances the bound uses.
pub fn channel_eigenvalues(x: &[f64], shape: &[usize]) -> Vec<f64> {
    let c = shape[1];
    let s: usize = shape[2..].iter().product();
    let n = shape[0];
    let p = (n * s) as f64;
    let mut mean = vec![0.0; c];
    for ni in 0..n {
        for ch in 0..c {
            let base = (ni * c + ch) * s;
            mean[ch] += x[base..base + s].iter().sum::<f64>();
        }
    }
    mean.iter_mut().for_each(|m| *m /= p);
    let mut cov = vec![0.0; c * c];
    let mut v = vec![0.0; c];
    for ni in 0..n {
        for sp in 0..s {
            for ch in 0..c {
                v[ch] = x[(ni * c + ch) * s + sp] - mean[ch];
            }
            for a in 0..c {
                let va = v[a];
                if va == 0.0 {
                    continue;
                }
                let row = &mut cov[a * c..(a + 1) * c];
                for b in a..c {
                    row[b] += va * v[b];
                }
            }
        }
    }
    for a in 0..c {
        for b in a..c {
            let val = cov[a * c + b] / p;
            cov[a * c + b] = val;
            cov[b * c + a] = val;
        }
    }
    crate::transform::pca_basis(&cov, c).0
}

/// Gaussian rate–distortion bound in bits per value at mean squared error
/// `mse` for independent components of variances `eig` (reverse water-filling:
/// `D = mean_k min(θ, λ_k)`, `R = mean_k max(0, ½·log2(λ_k/θ))`).
pub fn rd_bound_bits(eig: &[f64], mse: f64) -> f64 {
    let c = eig.len() as f64;
    let total: f64 = eig.iter().sum::<f64>() / c;
    if mse >= total {
        return 0.0;
    }
    if mse <= 0.0 {
        return f64::INFINITY;
    }
    // bisection on the water level θ
    let (mut lo, mut hi) = (0.0f64, eig.iter().cloned().fold(0.0, f64::max));
    for _ in 0..200 {
        let th = 0.5 * (lo + hi);
        let d: f64 = eig.iter().map(|&l| l.min(th)).sum::<f64>() / c;
        if d > mse {
            hi = th;
        } else {
            lo = th;
        }
    }
    let th = 0.5 * (lo + hi);
    eig.iter().filter(|&&l| l > th).map(|&l| 0.5 * (l / th).log2()).sum::<f64>() / c
}

/// The bound's distortion at a rate: inverse of [`rd_bound_bits`].
pub fn rd_bound_mse(eig: &[f64], bits: f64) -> f64 {
    let total: f64 = eig.iter().sum::<f64>() / eig.len() as f64;
    let (mut lo, mut hi) = (0.0f64, total);
    for _ in 0..200 {
        let m = 0.5 * (lo + hi);
        if rd_bound_bits(eig, m) > bits {
            lo = m;
        } else {
            hi = m;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_gaussian_bound_is_6db_per_bit() {
        // one component of variance 1: R(D) = 0.5 log2(1/D)
        for d in [0.5, 0.25, 0.01] {
            let r = rd_bound_bits(&[1.0], d);
            assert!((r - 0.5 * (1.0f64 / d).log2()).abs() < 1e-9, "{r}");
            assert!((rd_bound_mse(&[1.0], r) - d).abs() < 1e-9);
        }
    }

    #[test]
    fn water_filling_drops_weak_components() {
        // variances 4 and 0.1 at D = 0.1 (mean): θ = 0.1 makes (0.1+0.1)/2 = 0.1
        let r = rd_bound_bits(&[4.0, 0.1], 0.1);
        assert!((r - 0.25 * (40.0f64).log2()).abs() < 1e-6, "{r}");
    }

    #[test]
    fn distortion_figures() {
        let d = distortion(&[1.0, -1.0, 2.0], &[1.0, -1.0, 1.0]);
        assert!((d.mse - 1.0 / 3.0).abs() < 1e-12);
        assert!((d.sqnr_db - 10.0 * 6.0f64.log10()).abs() < 1e-12);
        assert_eq!(d.max_abs_error, 1.0);
        assert!(distortion(&[1.0], &[1.0]).sqnr_db.is_infinite());
    }

    #[test]
    fn eigenvalues_of_correlated_channels() {
        // two channels, perfectly correlated: eigenvalues (2 var, 0)
        let x = vec![1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
        // shape N=1, C=2, S=4: channel 0 = [1,-1,1,-1], channel 1 = same
        let e = channel_eigenvalues(&x, &[1, 2, 4]);
        assert!((e[0] - 2.0).abs() < 1e-9 && e[1].abs() < 1e-9, "{e:?}");
    }
}
