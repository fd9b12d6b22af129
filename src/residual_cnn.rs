//! A small residual CNN (one identity skip connection) as a trainable candle network, for
//! `actcomp train-reference --arch residual`:
//!
//! conv 3x3 (c) → ReLU → max-pool 2 = `pool1` ─┬─ conv 3x3 (c) → ReLU → conv 3x3 (c) ─┐
//!                                            └──────────────── (identity) ──────── Add → ReLU → max-pool 2 → fc (classes)
//!
//! `pool1` feeds two consumers (the block's first convolution and the Add), so no single
//! tensor after it separates the graph: the network on which `actcomp eval` shows that a
//! compressed tensor reaches every consumer. Layouts are PyTorch's (conv: out x in x 3 x 3;
//! linear: out x in), the same as the ONNX export ([`crate::onnx_export::residual_to_onnx`]).

use crate::onnx_export::ResidualWeights;
use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::Rng;

/// The trainable parameters of the residual network.
pub struct ResidualCnn {
    conv1_w: Var,
    conv1_b: Var,
    block_conv1_w: Var,
    block_conv1_b: Var,
    block_conv2_w: Var,
    block_conv2_b: Var,
    fc_w: Var,
    fc_b: Var,
}

/// PyTorch's default initialisation: uniform in ±1/sqrt(fan_in) for weights and biases.
fn uniform_var(rng: &mut StdRng, shape: &[usize], fan_in: usize, dev: &Device) -> Result<Var> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-bound..bound)).collect();
    Ok(Var::from_tensor(&Tensor::from_vec(v, shape, dev)?)?)
}

impl ResidualCnn {
    /// A freshly initialised network with `c` channels throughout (PyTorch-style uniform
    /// initialisation from `rng`).
    pub fn new(rng: &mut StdRng, c: usize, classes: usize, dev: &Device) -> Result<ResidualCnn> {
        let flat = c * 7 * 7;
        Ok(ResidualCnn {
            conv1_w: uniform_var(rng, &[c, 1, 3, 3], 9, dev)?,
            conv1_b: uniform_var(rng, &[c], 9, dev)?,
            block_conv1_w: uniform_var(rng, &[c, c, 3, 3], c * 9, dev)?,
            block_conv1_b: uniform_var(rng, &[c], c * 9, dev)?,
            block_conv2_w: uniform_var(rng, &[c, c, 3, 3], c * 9, dev)?,
            block_conv2_b: uniform_var(rng, &[c], c * 9, dev)?,
            fc_w: uniform_var(rng, &[classes, flat], flat, dev)?,
            fc_b: uniform_var(rng, &[classes], flat, dev)?,
        })
    }

    /// The trainable variables (for the optimizer).
    pub fn vars(&self) -> Vec<Var> {
        [
            &self.conv1_w,
            &self.conv1_b,
            &self.block_conv1_w,
            &self.block_conv1_b,
            &self.block_conv2_w,
            &self.block_conv2_b,
            &self.fc_w,
            &self.fc_b,
        ]
        .into_iter()
        .cloned()
        .collect()
    }

    /// Logits of normalized images (N x 1 x 28 x 28).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let conv = |x: &Tensor, w: &Var, b: &Var| -> Result<Tensor> {
            Ok(x.conv2d(w, 1, 1, 1, 1)?.broadcast_add(&b.as_tensor().reshape((1, b.dims()[0], 1, 1))?)?)
        };
        let pool1 = conv(x, &self.conv1_w, &self.conv1_b)?.relu()?.max_pool2d(2)?;
        let branch = conv(&conv(&pool1, &self.block_conv1_w, &self.block_conv1_b)?.relu()?, &self.block_conv2_w, &self.block_conv2_b)?;
        let x = (branch + &pool1)?.relu()?.max_pool2d(2)?.flatten_from(1)?;
        Ok(x.matmul(&self.fc_w.t()?)?.broadcast_add(&self.fc_b)?)
    }

    /// The weights, for the ONNX export; `mean` and `std` are the input normalization the graph applies.
    pub fn export(&self, mean: f32, std: f32) -> Result<ResidualWeights> {
        let flat = |v: &Var| -> Result<Vec<f32>> { Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?) };
        Ok(ResidualWeights {
            mean,
            std,
            channels: self.conv1_w.dims()[0],
            classes: self.fc_w.dims()[0],
            conv1_w: flat(&self.conv1_w)?,
            conv1_b: flat(&self.conv1_b)?,
            block_conv1_w: flat(&self.block_conv1_w)?,
            block_conv1_b: flat(&self.block_conv1_b)?,
            block_conv2_w: flat(&self.block_conv2_w)?,
            block_conv2_b: flat(&self.block_conv2_b)?,
            fc_w: flat(&self.fc_w)?,
            fc_b: flat(&self.fc_b)?,
        })
    }
}
