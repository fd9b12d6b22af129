//! Learning a policy's reconstruction levels from the task loss (LSQ-style) in `actcomp finetune`.
//!
//! The decoder reconstructs channel i of a block as
//! `x̂_i = scale · (clamp(((Σ_k V[i][k]·ŷ_k + 2^(r−1)) >> r) + inverse_mean_i, lo, hi) − zero_point)`
//! with `ŷ_k = levels_g[code_k]` (g the group of component k). Taking the rounding of the
//! shift as the identity (straight-through) and the clamp as it is (gradient 0 where it clamps),
//! `dL/dŷ_k = Σ_i dL/dx̂_i · scale · [not clamped]_i · V[i][k] / 2^r`, and
//! `dL/d levels_g[j]` is the sum of `dL/dŷ_k` over every component of group g coded j.
//! [`accumulate_level_grads`] computes that for one image from the codec's
//! [`QuantTrace`]; [`LevelLearner`] keeps float copies of the levels, steps them with Adam,
//! and writes them back as a valid policy: integer, ascending, in the 16-bit range, with the
//! code table re-derived by the nearest-level rule of Lloyd calibration
//! ([`actcomp_golden::quant_learn::encode_for_levels`]). The forward pass stays the golden
//! codec under that policy.

use actcomp_golden::codec::QuantTrace;
use actcomp_golden::policy::{Policy, QUANT_SHIFT, Y_MAX, Y_MIN};
use actcomp_golden::quant_learn::encode_for_levels;
use actcomp_golden::transform::BlockMatrices;
use anyhow::{ensure, Context, Result};

/// dL/d level of every level of a policy, `[block][group][code + 2^(bits-1)]` (empty for 0-bit groups).
#[derive(Clone, Debug, PartialEq)]
pub struct LevelGrads(pub Vec<Vec<Vec<f64>>>);

impl LevelGrads {
    /// All zero, shaped like `policy`'s level tables.
    pub fn zeros(policy: &Policy) -> Self {
        LevelGrads(policy.blocks.iter().map(|b| b.groups.iter().map(|g| vec![0.0; g.levels.len()]).collect()).collect())
    }

    /// Adds `other` (same shape) into `self`.
    pub fn add(&mut self, other: &LevelGrads) {
        for (a, b) in self.0.iter_mut().flatten().zip(other.0.iter().flatten()) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

/// The block matrices of a policy, for [`accumulate_level_grads`].
pub fn block_matrices(policy: &Policy) -> Vec<BlockMatrices> {
    policy.blocks.iter().map(BlockMatrices::new).collect()
}

/// Adds to `acc` the level gradient of one image (1 x C x spatial): `recon` are its
/// reconstructed integer codes and `trace` the codec's trace of the same pass
/// ([`actcomp_golden::codec::Codec::reconstruct_traced`]), `grad` is dL/dx̂ (C order).
pub fn accumulate_level_grads(
    policy: &Policy,
    mats: &[BlockMatrices],
    trace: &QuantTrace,
    recon: &[i16],
    grad: &[f32],
    acc: &mut LevelGrads,
) {
    let (c, b) = (policy.channels, policy.block_size);
    let spatial = recon.len() / c;
    let (lo, hi) = (policy.input.code_range.min(), policy.input.code_range.max());
    let scale = policy.input.scale;
    let mut g = vec![0f64; b];
    let mut yhat = vec![0i32; b];
    for v in 0..spatial {
        for (bi, (blk, m)) in policy.blocks.iter().zip(mats).enumerate() {
            let slots = v * c + bi * b..v * c + (bi + 1) * b;
            let mut have_yhat = false;
            for (i, gi) in g.iter_mut().enumerate() {
                let at = (bi * b + i) * spatial + v;
                let q = recon[at] as i32;
                // at lo or hi the value may be clamped: decide from the unclamped inverse
                let passes = if q > lo && q < hi {
                    true
                } else {
                    if !have_yhat {
                        for (k, s) in slots.clone().enumerate() {
                            let grp = &blk.groups[trace.groups[s] as usize];
                            yhat[k] = if grp.bits == 0 { 0 } else { grp.levels[(trace.codes[s] + (1 << (grp.bits - 1))) as usize] };
                        }
                        have_yhat = true;
                    }
                    let u = m.inverse_unclamped(&yhat, i) + m.inverse_mean[i] as i64;
                    u >= lo as i64 && u <= hi as i64
                };
                *gi = if passes { grad[at] as f64 * scale } else { 0.0 };
            }
            if g.iter().all(|&x| x == 0.0) {
                continue;
            }
            let inv_r = 1.0 / (1u64 << m.inverse_shift) as f64;
            for (k, s) in slots.enumerate() {
                let gidx = trace.groups[s] as usize;
                let bits = blk.groups[gidx].bits;
                if bits == 0 {
                    continue;
                }
                let dy: f64 = (0..b).map(|i| g[i] * m.inverse[i * b + k] as f64).sum::<f64>() * inv_r;
                acc.0[bi][gidx][(trace.codes[s] + (1 << (bits - 1))) as usize] += dy;
            }
        }
    }
}

/// Adam state of one group's levels, in units of the group's fine step `65536 / qmul`.
#[derive(Clone, Debug)]
struct GroupState {
    step: f64,
    u: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
}

/// Float copies of a policy's levels and their Adam optimizer.
#[derive(Clone, Debug)]
pub struct LevelLearner {
    /// Adam learning rate, in fine steps of each group per update.
    pub lr: f64,
    t: i32,
    groups: Vec<Vec<GroupState>>,
}

impl LevelLearner {
    /// Starts from `policy`'s levels (fresh optimizer state).
    pub fn new(policy: &Policy, lr: f64) -> Self {
        let groups = policy
            .blocks
            .iter()
            .map(|b| {
                b.groups
                    .iter()
                    .map(|g| {
                        let step = if g.bits == 0 { 1.0 } else { (1u64 << QUANT_SHIFT) as f64 / g.qmul as f64 };
                        let n = g.levels.len();
                        GroupState { step, u: g.levels.iter().map(|&l| l as f64 / step).collect(), m: vec![0.0; n], v: vec![0.0; n] }
                    })
                    .collect()
            })
            .collect();
        LevelLearner { lr, t: 0, groups }
    }

    /// One Adam step on the levels with gradient `grads`, written back into `policy` as
    /// integers (ascending, in the 16-bit range) with the code tables re-derived by the
    /// nearest-level rule; the result is validated.
    pub fn step(&mut self, policy: &mut Policy, grads: &LevelGrads) -> Result<()> {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        const EPS: f64 = 1e-12;
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t), 1.0 - B2.powi(self.t));
        for (bi, blk) in policy.blocks.iter_mut().enumerate() {
            for (gi, grp) in blk.groups.iter_mut().enumerate() {
                if grp.bits == 0 {
                    continue;
                }
                let st = &mut self.groups[bi][gi];
                ensure!(st.u.len() == grp.levels.len(), "level learner: block {bi} group {gi} changed its bit-width");
                for (j, &gl) in grads.0[bi][gi].iter().enumerate() {
                    let gu = gl * st.step;
                    st.m[j] = B1 * st.m[j] + (1.0 - B1) * gu;
                    st.v[j] = B2 * st.v[j] + (1.0 - B2) * gu * gu;
                    st.u[j] -= self.lr * (st.m[j] / c1) / ((st.v[j] / c2).sqrt() + EPS);
                }
                // keep the float copies ascending and in range (the encoder's nearest-level rule
                // needs order; the Adam moments stay with their index)
                let (umin, umax) = (Y_MIN as f64 / st.step, Y_MAX as f64 / st.step);
                for u in st.u.iter_mut() {
                    *u = u.clamp(umin, umax);
                }
                st.u.sort_by(|a, b| a.total_cmp(b));
                grp.levels = st.u.iter().map(|&u| (u * st.step).round().clamp(Y_MIN as f64, Y_MAX as f64) as i32).collect();
                grp.encode = encode_for_levels(grp.qmul, &grp.levels);
            }
        }
        policy.validate().context("the learned levels give an invalid policy")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::eval::PolicyCoder;
    use actcomp_golden::calibrate::{calibrate, CalibrateOptions, Target};
    use actcomp_golden::policy::{Grouping, TransformKind};
    use actcomp_golden::codec::Codec;
    use actcomp_golden::tensor::{Tensor as GTensor, TensorData};

    /// A signed feature map (N x 8 x 5 x 5) from a fixed formula, channels correlated.
    fn map(n: usize) -> Vec<f32> {
        (0..n * 8 * 25)
            .map(|i| {
                let (ch, p) = ((i / 25) % 8, i % 25 + 25 * (i / 200));
                let base = ((p * 7919) % 101) as f32 / 25.0 - 2.0;
                base * (1.0 + ch as f32 / 8.0) + ((i * 31) % 17) as f32 / 17.0 - 0.5
            })
            .collect()
    }

    fn policy(transform: TransformKind) -> Policy {
        let calib = GTensor::new(vec![6, 8, 5, 5], TensorData::F32(map(6))).unwrap();
        let opts = CalibrateOptions {
            target: Target::BitsPerValue(2.5),
            transform,
            grouping: Grouping::Static,
            ..CalibrateOptions::default()
        };
        calibrate(&[&calib], &opts, &|_, _| {}).unwrap().policy
    }

    /// L = Σ w·x̂ over one image, with the golden codec under `p`.
    fn loss(p: &Policy, img: &[f32], w: &[f32]) -> f64 {
        let (rec, _) = crate::commands::eval::Coder::roundtrip_one(&PolicyCoder::new(p.clone()).unwrap(), "t", &[1, 8, 5, 5], img).unwrap();
        rec.iter().zip(w).map(|(&r, &w)| r as f64 * w as f64).sum()
    }

    /// The level gradient equals the central finite difference of L = Σ w·x̂ through the golden
    /// codec (levels moved by ±d with the code table kept), up to the inverse's rounding to whole
    /// codes: each value's error is at most one code, i.e. `scale · Σ|w| / d` over the
    /// values whose channel sees the level.
    fn check_gradient(transform: TransformKind) {
        let p = policy(transform);
        let img: Vec<f32> = map(7)[6 * 200..].iter().map(|v| v * 0.9).collect();
        let w: Vec<f32> = (0..img.len()).map(|i| 0.5 + ((i * 13) % 7) as f32 / 7.0).collect();
        let coder = PolicyCoder::new(p.clone()).unwrap();
        let (rec, _, codes, trace) = coder.roundtrip_traced("t", &[1, 8, 5, 5], &img).unwrap();
        // the trace reproduces the reconstruction: the levels it names, inverse-transformed, are the golden output
        let mats = block_matrices(&p);
        let (lo, hi) = (p.input.code_range.min(), p.input.code_range.max());
        for v in 0..25 {
            let blk = &p.blocks[0];
            let yhat: Vec<i32> = (0..8)
                .map(|k| {
                    let g = &blk.groups[trace.groups[v * 8 + k] as usize];
                    if g.bits == 0 { 0 } else { g.levels[(trace.codes[v * 8 + k] + (1 << (g.bits - 1))) as usize] }
                })
                .collect();
            let mut out = vec![0i16; 8];
            mats[0].inverse(&yhat, lo, hi, &mut out);
            for i in 0..8 {
                assert_eq!(out[i], codes[i * 25 + v], "trace disagrees with the reconstruction at vector {v}, channel {i}");
            }
        }
        assert!(rec.iter().zip(&img).any(|(a, b)| a != b), "lossless at 2.5 b/v: the test cannot see the codec");
        let mut acc = LevelGrads::zeros(&p);
        accumulate_level_grads(&p, &mats, &trace, &codes, &w, &mut acc);
        let d = 64;
        let (mut checked, mut significant) = (0, 0);
        for (gi, grp) in p.blocks[0].groups.iter().enumerate() {
            for j in 0..grp.levels.len() {
                let moved = |delta: i32| {
                    let mut q = p.clone();
                    q.blocks[0].groups[gi].levels[j] += delta;
                    loss(&q, &img, &w)
                };
                let fd = (moved(d) - moved(-d)) / (2 * d) as f64;
                let an = acc.0[0][gi][j];
                // values whose reconstruction uses this level: channel i of vector v, where
                // component k of v is coded with it and V[i][k] != 0
                let inv = &mats[0].inverse;
                let affected: Vec<(usize, usize)> = (0..25)
                    .flat_map(|v| (0..8).map(move |i| (v, i)))
                    .filter(|&(v, i)| {
                        (0..8).any(|k| {
                            trace.groups[v * 8 + k] as usize == gi
                                && (trace.codes[v * 8 + k] + (1 << (grp.bits - 1))) as usize == j
                                && inv[i * 8 + k] != 0
                        })
                    })
                    .collect();
                if affected.is_empty() {
                    assert_eq!(an, 0.0, "group {gi} level {j} is never used but has gradient {an}");
                    assert_eq!(fd, 0.0);
                    continue;
                }
                // round(a + δ) − round(a − δ) is within one code of 2δ: the error bound of fd
                let tol = p.input.scale * affected.iter().map(|&(v, i)| w[i * 25 + v] as f64).sum::<f64>() / (2 * d) as f64;
                assert!((fd - an).abs() <= tol, "{transform:?}: group {gi} level {j}: analytic {an}, finite difference {fd} (tolerance {tol})");
                if an.abs() > 3.0 * tol {
                    significant += 1;
                }
                checked += 1;
            }
        }
        assert!(checked >= 4, "only {checked} levels in use");
        // the gradient is large against the tolerance for some levels, so a wrong one would show
        assert!(significant >= 3, "{transform:?}: only {significant} of {checked} levels have a gradient above 3x the tolerance");
    }

    #[test]
    fn level_gradient_matches_finite_differences_identity() {
        check_gradient(TransformKind::Identity);
    }

    #[test]
    fn level_gradient_matches_finite_differences_pca() {
        check_gradient(TransformKind::Pca);
    }

    /// A step moves the levels against the gradient, and the learned policy validates, keeps its
    /// levels ascending with the nearest-level encoder, round-trips through JSON, and its codec
    /// compresses and decompresses to what `reconstruct` gives.
    #[test]
    fn learned_policy_validates_and_round_trips() {
        let mut p = policy(TransformKind::Pca);
        let before = p.clone();
        let mut grads = LevelGrads::zeros(&p);
        for (k, x) in grads.0.iter_mut().flatten().flatten().enumerate() {
            *x = if k % 2 == 0 { 1.0 } else { -1.0 };
        }
        let mut learner = LevelLearner::new(&p, 3.0);
        for _ in 0..5 {
            learner.step(&mut p, &grads).unwrap();
        }
        assert_ne!(p, before, "five steps left the levels as they were");
        for (gb, ga) in before.blocks[0].groups.iter().zip(&p.blocks[0].groups) {
            assert!(ga.levels.windows(2).all(|w| w[0] <= w[1]), "levels not ascending: {:?}", ga.levels);
            assert_eq!(ga.encode, encode_for_levels(ga.qmul, &ga.levels));
            assert_eq!((ga.bits, ga.qmul), (gb.bits, gb.qmul));
        }
        let text = serde_json::to_string(&p).unwrap();
        let back = Policy::from_json(&text, "learned.json").unwrap();
        // (the calibration record's floats need not survive JSON bit for bit; the codec fields must)
        assert_eq!((back.fingerprint(), &back.blocks), (p.fingerprint(), &p.blocks));
        let codec = Codec::new(&back).unwrap();
        let img: Vec<f32> = map(1);
        let coder = PolicyCoder::new(back.clone()).unwrap();
        let (_, _, rec_codes, _) = coder.roundtrip_traced("t", &[1, 8, 5, 5], &img).unwrap();
        let t = GTensor::new(vec![1, 8, 5, 5], TensorData::F32(img)).unwrap();
        let codes = actcomp_golden::input_map::to_codes(&t, &back.input, "t").unwrap();
        let words = codec.compress(&codes, &[1, 8, 5, 5]).unwrap();
        assert_eq!(codec.decompress(&words, &[1, 8, 5, 5]).unwrap(), rec_codes);
    }

    #[test]
    fn levels_stay_in_range_under_huge_steps() {
        let mut p = policy(TransformKind::Identity);
        let mut grads = LevelGrads::zeros(&p);
        grads.0.iter_mut().flatten().flatten().for_each(|x| *x = -1.0);
        let mut learner = LevelLearner::new(&p, 1e6);
        learner.step(&mut p, &grads).unwrap();
        assert!(p.blocks[0].groups.iter().filter(|g| g.bits > 0).all(|g| g.levels.iter().all(|&l| l == Y_MAX)));
    }
}
