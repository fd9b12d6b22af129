//! Reference methods every report compares against, fitted on calibration
//! tensors and measured on an evaluation tensor with the same fixed-point
//! transform machinery as the scheme itself:
//! - per-tensor uniform b-bit quantization (INT8, INT4, ...);
//! - per-channel mixed precision without transform (greedy integer bits per
//!   channel, uniform quantizers with learned steps);
//! - transform with uniform bits on the kept components (PCA over all
//!   channels, the best K components at b bits each);
//! - the straightforward PCA scheme (PCA over all channels, greedy integer
//!   bits per component, grid-searched uniform steps).
//!
//! Rates here are code bits per value with no tiling, side information or
//! padding: the baselines get their ideal rate.

use crate::calibrate::{block_matrices, component_curves, component_hists, prepare};
use crate::error::{GoldenError, Result};
use crate::input_map::{code_to_float, to_codes};
use crate::policy::InputFormat;
use crate::transform::BlockMatrices;
use crate::metrics::{distortion, Distortion};
use crate::policy::{TransformKind, MAX_BITS};
use crate::quant_learn::{learn_quantizer, QuantStyle};
use crate::quantizer::GroupQuantizer;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// A baseline measured at one rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineResult {
    /// Method name.
    pub method: String,
    /// Code bits per value.
    pub bpv: f64,
    /// Distortion on the evaluation tensor.
    pub distortion: Distortion,
}

/// A fitted per-tensor uniform quantizer: one step for the whole tensor,
/// `bits`-bit levels (unsigned for non-negative calibration data, two's
/// complement otherwise).
#[derive(Debug, Clone)]
pub struct UniformFit {
    /// Code bits per value.
    pub bits: u32,
    /// Quantization step (source units).
    pub step: f64,
    /// Lowest level index.
    pub qmin: f64,
    /// Highest level index.
    pub qmax: f64,
}

impl UniformFit {
    /// Quantizes and dequantizes one value.
    pub fn reconstruct(&self, x: f64) -> f64 {
        (x / self.step).round().clamp(self.qmin, self.qmax) * self.step
    }
}

/// Fits per-tensor uniform b-bit quantization with a grid-searched step
/// (clipping range from the full range down to 1/64 of it) on the calibration values.
pub fn fit_per_tensor_uniform(calib: &[&Tensor], bits: u32) -> Result<UniformFit> {
    if bits == 0 || bits > MAX_BITS {
        return Err(GoldenError::invalid("bits", format!("{bits}; 1..=8 allowed")));
    }
    let xs: Vec<f64> = calib.iter().flat_map(|t| t.to_f64()).collect();
    if xs.is_empty() {
        return Err(GoldenError::BadInput("no calibration values".into()));
    }
    let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, &x| (a.0.min(x), a.1.max(x)));
    let unsigned = lo >= 0.0;
    let levels = (1u64 << bits) as f64;
    let (qmin, qmax) = if unsigned { (0.0, levels - 1.0) } else { (-levels / 2.0, levels / 2.0 - 1.0) };
    let range = if unsigned { hi } else { hi.max(-lo) };
    let full = if range > 0.0 { range / qmax.max(1.0) } else { 1.0 };
    let err = |s: f64| {
        let f = UniformFit { bits, step: s, qmin, qmax };
        xs.iter().map(|&x| (x - f.reconstruct(x)).powi(2)).sum::<f64>()
    };
    let mut best = (err(full), full);
    for i in 0..=48 {
        let s = full * (-(i as f64) / 48.0 * (64.0f64).ln()).exp();
        let e = err(s);
        if e < best.0 {
            best = (e, s);
        }
    }
    Ok(UniformFit { bits, step: best.1, qmin, qmax })
}

/// Per-tensor uniform b-bit quantization of the source values with a
/// grid-searched step (unsigned levels for non-negative data, two's
/// complement levels otherwise), fitted on the calibration values.
pub fn per_tensor_uniform(calib: &[&Tensor], eval: &Tensor, bits: u32) -> Result<BaselineResult> {
    let fit = fit_per_tensor_uniform(calib, bits)?;
    let x = eval.to_f64();
    let xh: Vec<f64> = x.iter().map(|&v| fit.reconstruct(v)).collect();
    Ok(BaselineResult { method: format!("per-tensor uniform INT{bits}"), bpv: bits as f64, distortion: distortion(&x, &xh) })
}

/// How per-component bits are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// Greedy integer bits per component (least distortion per bit cut first).
    Greedy,
    /// The best K components at b bits each, the rest dropped.
    KeepTop,
}

/// A fitted per-component coder: one block over all channels, a fixed-point
/// transform (identity or PCA), integer bits and a uniform quantizer per component.
pub struct ComponentFit {
    input: InputFormat,
    matrices: BlockMatrices,
    quants: Vec<GroupQuantizer>,
    /// Code bits of each component (0 = dropped).
    pub bits: Vec<u32>,
}

impl ComponentFit {
    /// Code bits per value actually spent (Σ bits / channels).
    pub fn bpv(&self) -> f64 {
        self.bits.iter().sum::<u32>() as f64 / self.bits.len().max(1) as f64
    }

    /// Channels the coder was fitted for.
    pub fn channels(&self) -> usize {
        self.bits.len()
    }

    /// Reconstruction of a tensor (N x C x ..., C = the fitted channel count), in source units.
    pub fn reconstruct(&self, t: &Tensor) -> Result<Vec<f64>> {
        let c = self.bits.len();
        if t.channels() != c {
            return Err(GoldenError::BadInput(format!("tensor has {} channels; the baseline was fitted for {c}", t.channels())));
        }
        let codes = to_codes(t, &self.input, "baseline input")?;
        let s = t.spatial();
        let (lo, hi) = (self.input.code_range.min(), self.input.code_range.max());
        let mut xh = vec![0f64; codes.len()];
        let (mut xv, mut y, mut out) = (vec![0i16; c], vec![0i32; c], vec![0i16; c]);
        for p in 0..t.vectors() {
            let (n, sp) = (p / s, p % s);
            let base = n * c * s + sp;
            for ch in 0..c {
                xv[ch] = codes[base + ch * s];
            }
            self.matrices.forward(&xv, &mut y);
            for k in 0..c {
                y[k] = self.quants[k].dequantize(self.quants[k].quantize(y[k]));
            }
            self.matrices.inverse(&y, lo, hi, &mut out);
            for ch in 0..c {
                xh[base + ch * s] = code_to_float(out[ch] as i32, &self.input);
            }
        }
        Ok(xh)
    }
}

/// Fits a per-component coder on calibration tensors at `bpv` code bits per value:
/// `transform` Identity = per-channel mixed precision, Pca with Greedy = the
/// straightforward PCA scheme, Pca with KeepTop = transform + uniform bits.
pub fn fit_per_component(calib: &[&Tensor], transform: TransformKind, alloc: Allocation, bpv: f64) -> Result<ComponentFit> {
    let c = calib.first().ok_or_else(|| GoldenError::BadInput("no calibration tensors".into()))?.channels();
    let prep = prepare(calib, c, transform, true, 100_000)?;
    let hists = component_hists(&prep);
    let curves = &component_curves(&hists, QuantStyle::Uniform)[0];
    let bs = &prep.blocks[0];
    let budget = (bpv * c as f64 + 1e-9).floor() as u32;
    let mut bits = vec![0u32; c];
    match alloc {
        Allocation::Greedy => {
            bits.iter_mut().for_each(|b| *b = MAX_BITS);
            let mut used = MAX_BITS * c as u32;
            while used > budget {
                let k = (0..c)
                    .filter(|&k| bits[k] > 0)
                    .min_by(|&a, &b| {
                        let da = curves[a][bits[a] as usize - 1] - curves[a][bits[a] as usize];
                        let db = curves[b][bits[b] as usize - 1] - curves[b][bits[b] as usize];
                        da.total_cmp(&db)
                    })
                    .expect("some component has bits while over budget");
                bits[k] -= 1;
                used -= 1;
            }
        }
        Allocation::KeepTop => {
            let mut best = (f64::INFINITY, 0usize, 0u32);
            for b in 1..=MAX_BITS {
                let kk = ((budget / b) as usize).min(c);
                let d: f64 = bs.rank.iter().enumerate().map(|(r, &k)| if r < kk { curves[k][b as usize] } else { curves[k][0] }).sum();
                if d < best.0 {
                    best = (d, kk, b);
                }
            }
            for &k in &bs.rank[..best.1] {
                bits[k] = best.2;
            }
        }
    }
    let quants: Vec<GroupQuantizer> = (0..c)
        .map(|k| {
            let q = learn_quantizer(&hists[0][k], bits[k], QuantStyle::Uniform);
            GroupQuantizer { bits: q.bits, qmul: q.qmul, encode: q.encode, levels: q.levels }
        })
        .collect();
    Ok(ComponentFit { input: prep.input.clone(), matrices: block_matrices(&bs.mean, &bs.fixed), quants, bits })
}

/// Per-component quantization over all channels in one block:
/// `transform` Identity = per-channel mixed precision, Pca with Greedy =
/// the straightforward PCA scheme, Pca with KeepTop = transform + uniform bits.
pub fn per_component(
    calib: &[&Tensor],
    eval: &Tensor,
    transform: TransformKind,
    alloc: Allocation,
    bpv: f64,
    method: &str,
) -> Result<BaselineResult> {
    let fit = fit_per_component(calib, transform, alloc, bpv)?;
    let xh = fit.reconstruct(eval)?;
    Ok(BaselineResult { method: method.into(), bpv: fit.bpv(), distortion: distortion(&eval.to_f64(), &xh) })
}
