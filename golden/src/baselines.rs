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

/// Per-tensor uniform b-bit quantization of the source values with a
/// grid-searched step (unsigned levels for non-negative data, two's
/// complement levels otherwise), fitted on the calibration values.
pub fn per_tensor_uniform(calib: &[&Tensor], eval: &Tensor, bits: u32) -> Result<BaselineResult> {
    if bits == 0 || bits > MAX_BITS {
        return Err(GoldenError::invalid("bits", format!("{bits}; 1..=8 allowed")));
    }
    let xs: Vec<f64> = calib.iter().flat_map(|t| t.to_f64()).collect();
    let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, &x| (a.0.min(x), a.1.max(x)));
    let unsigned = lo >= 0.0;
    let levels = (1u64 << bits) as f64;
    let (qmin, qmax) = if unsigned { (0.0, levels - 1.0) } else { (-levels / 2.0, levels / 2.0 - 1.0) };
    let range = if unsigned { hi } else { hi.max(-lo) };
    let quant = |x: f64, s: f64| (x / s).round().clamp(qmin, qmax) * s;
    let err = |s: f64| xs.iter().map(|&x| (x - quant(x, s)).powi(2)).sum::<f64>();
    let full = if range > 0.0 { range / qmax.max(1.0) } else { 1.0 };
    // grid over the clipping range: full range down to 1/64 of it
    let mut best = (err(full), full);
    let sample: Vec<f64> = (0..=48).map(|i| full * (-(i as f64) / 48.0 * (64.0f64).ln()).exp()).collect();
    for s in sample {
        let e = err(s);
        if e < best.0 {
            best = (e, s);
        }
    }
    let x = eval.to_f64();
    let xh: Vec<f64> = x.iter().map(|&v| quant(v, best.1)).collect();
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
    let c = eval.channels();
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
                        da.partial_cmp(&db).unwrap()
                    })
                    .unwrap();
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
    let m = block_matrices(&bs.mean, &bs.fixed);
    let codes = to_codes(eval, &prep.input, "evaluation tensor")?;
    let s = eval.spatial();
    let (lo, hi) = (prep.input.code_range.min(), prep.input.code_range.max());
    let mut xh = vec![0f64; codes.len()];
    let (mut xv, mut y, mut out) = (vec![0i16; c], vec![0i32; c], vec![0i16; c]);
    for p in 0..eval.vectors() {
        let (n, sp) = (p / s, p % s);
        let base = n * c * s + sp;
        for ch in 0..c {
            xv[ch] = codes[base + ch * s];
        }
        m.forward(&xv, &mut y);
        for k in 0..c {
            y[k] = quants[k].dequantize(quants[k].quantize(y[k]));
        }
        m.inverse(&y, lo, hi, &mut out);
        for ch in 0..c {
            xh[base + ch * s] = code_to_float(out[ch] as i32, &prep.input);
        }
    }
    let used: u32 = bits.iter().sum();
    Ok(BaselineResult { method: method.into(), bpv: used as f64 / c as f64, distortion: distortion(&eval.to_f64(), &xh) })
}
