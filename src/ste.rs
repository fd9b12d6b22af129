//! The straight-through compression layer of `actcomp finetune`.
//!
//! Forward: the feature map is replaced, value for value, by the golden codec's
//! decompress(compress(x)) — computed in Rust per image exactly as `actcomp eval` does
//! ([`crate::commands::eval::roundtrip`]), so training sees what the hardware will produce.
//! Backward: straight through — the gradient reaching the reconstruction is passed to x
//! unchanged (the rounding of the quantizer has zero gradient almost everywhere; the
//! straight-through estimator treats decompress(compress(·)) as the identity).
//!
//! This is `y = x + (r − x).detach()` of the usual formulation, done as one candle custom
//! op whose output is `r` itself, so the forward is bit-exact (x + (r − x) need not equal r
//! in floating point).

use crate::commands::eval::{roundtrip, Coder, PolicyCoder, Totals};
use crate::level_learning::{accumulate_level_grads, block_matrices, LevelGrads};
use actcomp_golden::codec::QuantTrace;
use actcomp_golden::policy::Policy;
use anyhow::{anyhow, ensure, Result};
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use std::sync::{Arc, Mutex};

/// The custom op: outputs the given values (the reconstruction), passes the gradient through.
struct StraightThrough {
    values: Vec<f32>,
    shape: Shape,
    /// With learned levels: what the backward pass needs to add the level gradient.
    levels: Option<LevelTap>,
}

/// One batch's codec passes, for the level gradient ([`crate::level_learning`]).
struct LevelTap {
    policy: Policy,
    /// Per image: reconstructed integer codes (C order) and the codec's trace.
    images: Vec<(Vec<i16>, QuantTrace)>,
    sink: Arc<Mutex<LevelGrads>>,
}

impl CustomOp1 for StraightThrough {
    fn name(&self) -> &'static str {
        "actcomp-straight-through"
    }

    fn cpu_fwd(&self, _storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        if layout.shape() != &self.shape {
            candle_core::bail!("straight-through: input has shape {:?}, the reconstruction {:?}", layout.shape(), self.shape);
        }
        Ok((CpuStorage::F32(self.values.clone()), self.shape.clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        if let Some(tap) = &self.levels {
            let g = grad_res.flatten_all()?.to_vec1::<f32>()?;
            let per = g.len() / tap.images.len().max(1);
            let mats = block_matrices(&tap.policy);
            let mut local = LevelGrads::zeros(&tap.policy);
            for ((recon, trace), gi) in tap.images.iter().zip(g.chunks(per)) {
                accumulate_level_grads(&tap.policy, &mats, trace, recon, gi, &mut local);
            }
            match tap.sink.lock() {
                Ok(mut s) => s.add(&local),
                Err(_) => candle_core::bail!("straight-through: the level gradient store is poisoned"),
            }
        }
        Ok(Some(grad_res.clone()))
    }
}

/// `r` (C order, the shape of `x`) in the forward pass, the identity in the backward pass.
pub fn straight_through(x: &Tensor, r: Vec<f32>) -> Result<Tensor> {
    ensure!(r.len() == x.elem_count(), "straight-through: {} values for a tensor of shape {:?}", r.len(), x.dims());
    Ok(x.apply_op1(StraightThrough { values: r, shape: x.shape().clone(), levels: None })?)
}

/// [`compress_straight_through`] under a policy whose levels are learned: the same forward
/// (the golden reconstruction, image by image, on all cores) and the same straight-through
/// gradient to x; in addition the backward pass adds dL/d levels of this batch into `sink`.
pub fn compress_learning_levels(
    x: &Tensor,
    coder: &PolicyCoder,
    name: &str,
    totals: &mut Totals,
    sink: &Arc<Mutex<LevelGrads>>,
) -> Result<Tensor> {
    let shape = x.dims().to_vec();
    ensure!(shape.len() >= 2 && shape[1] == coder.policy.channels, "tensor '{name}' has shape {shape:?}; its policy is for {} channels", coder.policy.channels);
    let vals = x.flatten_all()?.to_vec1::<f32>()?;
    let n = shape[0].max(1);
    let per = vals.len() / n;
    let mut one = shape.clone();
    one[0] = 1;
    let threads = std::thread::available_parallelism().map(|t| t.get()).unwrap_or(1).clamp(1, n);
    let per_thread = n.div_ceil(threads);
    type Part = (Vec<f32>, Vec<(Vec<i16>, QuantTrace)>, Totals);
    let parts: Vec<Result<Part>> = std::thread::scope(|s| {
        let handles: Vec<_> = vals
            .chunks(per_thread * per)
            .map(|src| {
                let one = &one;
                s.spawn(move || -> Result<Part> {
                    let (mut out, mut imgs, mut t) = (Vec::with_capacity(src.len()), Vec::new(), Totals::default());
                    for img in src.chunks(per) {
                        let (rec, bits, codes, trace) = coder.roundtrip_traced(name, one, img)?;
                        t.add_image(img, &rec, bits);
                        out.extend_from_slice(&rec);
                        imgs.push((codes, trace));
                    }
                    Ok((out, imgs, t))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("codec thread panicked")))).collect()
    });
    let (mut rec, mut images) = (Vec::with_capacity(vals.len()), Vec::with_capacity(n));
    for p in parts {
        let (r, i, t) = p?;
        rec.extend(r);
        images.extend(i);
        totals.add(&t);
    }
    let tap = LevelTap { policy: coder.policy.clone(), images, sink: sink.clone() };
    Ok(x.apply_op1(StraightThrough { values: rec, shape: x.shape().clone(), levels: Some(tap) })?)
}

/// Compresses a batch feature map (N x C x ...) with `coder` image by image, and returns the
/// reconstruction with a straight-through gradient; the codec's distortion and stored bits
/// are added to `totals`.
pub fn compress_straight_through(x: &Tensor, coder: &dyn Coder, name: &str, totals: &mut Totals) -> Result<Tensor> {
    let shape = x.dims().to_vec();
    let vals = x.flatten_all()?.to_vec1::<f32>()?;
    let rec = roundtrip(coder, name, &shape, &vals, totals)?;
    straight_through(x, rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::eval::PolicyCoder;
    use actcomp_golden::calibrate::{calibrate, CalibrateOptions, Target};
    use actcomp_golden::tensor::{Tensor as GTensor, TensorData};
    use candle_core::{Device, Var};

    /// A ReLU-like feature map (N x 8 x 6 x 6) from a fixed formula: sparse, non-negative.
    fn map(n: usize) -> Vec<f32> {
        (0..n * 8 * 36).map(|i| (((i * 7919) % 97) as f32 / 20.0 - 2.0).max(0.0) * (1.0 + (i % 8) as f32 / 4.0)).collect()
    }

    fn coder() -> PolicyCoder {
        let calib = GTensor::new(vec![4, 8, 6, 6], TensorData::F32(map(4))).unwrap();
        let opts = CalibrateOptions { target: Target::BitsPerValue(2.0), ..CalibrateOptions::default() };
        let cal = calibrate(&[&calib], &opts, &|_, _| {}).unwrap();
        PolicyCoder::new(cal.policy).unwrap()
    }

    /// Forward: exactly the golden reconstruction (the same as eval's hook, bit for bit, and
    /// not x); backward: the incoming gradient, unchanged.
    #[test]
    fn forward_is_the_golden_reconstruction_and_gradient_passes_through() {
        let dev = Device::Cpu;
        let c = coder();
        let vals: Vec<f32> = map(3).iter().map(|v| v * 1.1).collect();
        let x = Var::from_tensor(&Tensor::from_vec(vals.clone(), (3, 8, 6, 6), &dev).unwrap()).unwrap();
        let mut tot = Totals::default();
        let y = compress_straight_through(x.as_tensor(), &c, "t", &mut tot).unwrap();
        let got = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // the golden codec, one image at a time, with no candle involved
        let mut want = Vec::new();
        for img in vals.chunks(8 * 36) {
            want.extend(c.roundtrip_one("t", &[1, 8, 6, 6], img).unwrap().0);
        }
        assert_eq!(got.len(), want.len());
        assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "forward differs from the golden reconstruction");
        assert!(got.iter().zip(&vals).any(|(a, b)| a != b), "2 bits/value reconstructed the map losslessly; the test cannot see the codec");
        assert_eq!(tot.values, vals.len());
        // d/dx of sum(w * y) must be w itself
        let w: Vec<f32> = (0..vals.len()).map(|i| (i % 13) as f32 - 6.0).collect();
        let wt = Tensor::from_vec(w.clone(), (3, 8, 6, 6), &dev).unwrap();
        let loss = (y * wt).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let g = grads.get(x.as_tensor()).expect("x gets a gradient").flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(g, w);
    }

    /// With learned levels the forward and the gradient to x are the same as without, and the
    /// backward pass fills the level gradient with what [`accumulate_level_grads`] gives per image.
    #[test]
    fn learning_levels_keeps_forward_and_gradient_and_fills_the_level_gradient() {
        let dev = Device::Cpu;
        let c = coder();
        let vals: Vec<f32> = map(3).iter().map(|v| v * 1.1).collect();
        let x = Var::from_tensor(&Tensor::from_vec(vals.clone(), (3, 8, 6, 6), &dev).unwrap()).unwrap();
        let (mut t1, mut t2) = (Totals::default(), Totals::default());
        let plain = compress_straight_through(x.as_tensor(), &c, "t", &mut t1).unwrap();
        let sink = Arc::new(Mutex::new(LevelGrads::zeros(&c.policy)));
        let y = compress_learning_levels(x.as_tensor(), &c, "t", &mut t2, &sink).unwrap();
        assert_eq!(plain.flatten_all().unwrap().to_vec1::<f32>().unwrap(), y.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        assert_eq!((t1.values, t1.noise, t1.payload_bits), (t2.values, t2.noise, t2.payload_bits));
        let w: Vec<f32> = (0..vals.len()).map(|i| (i % 13) as f32 - 6.0).collect();
        let loss = (y * Tensor::from_vec(w.clone(), (3, 8, 6, 6), &dev).unwrap()).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        assert_eq!(grads.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), w);
        let mut want = LevelGrads::zeros(&c.policy);
        let mats = block_matrices(&c.policy);
        for (img, wi) in vals.chunks(8 * 36).zip(w.chunks(8 * 36)) {
            let (_, _, codes, trace) = c.roundtrip_traced("t", &[1, 8, 6, 6], img).unwrap();
            accumulate_level_grads(&c.policy, &mats, &trace, &codes, wi, &mut want);
        }
        let got = sink.lock().unwrap().clone();
        assert_eq!(got, want);
        assert!(got.0.iter().flatten().flatten().any(|&g| g != 0.0), "no level got a gradient");
    }

    #[test]
    fn wrong_length_is_an_error() {
        let x = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let e = straight_through(&x, vec![0.0; 5]).unwrap_err().to_string();
        assert!(e.contains("5 values") && e.contains("[2, 3]"), "{e}");
    }
}
