//! The Fashion-MNIST reference CNN as a trainable candle network:
//! conv 3x3 (c1) → ReLU → max-pool 2 → conv 3x3 (c2) → ReLU → max-pool 2 → fc (hidden) → ReLU → fc (classes).
//!
//! `actcomp train-reference` trains it from a seeded initialisation; `actcomp finetune`
//! loads it from the ONNX initializers of a model `train-reference` wrote
//! ([`crate::onnx_export::onnx_to_cnn`]) and trains it with feature maps compressed in the
//! loop through [`Cnn::forward_tapped`]. Layouts are PyTorch's (conv: out x in x 3 x 3;
//! linear: out x in), the same as the ONNX export.

use crate::onnx_export::CnnWeights;
use anyhow::{bail, Result};
use candle_core::{Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::Rng;

/// A feature map of the network where a tap can read and replace the activations; the names
/// are the ONNX tensor names of the export (what `actcomp eval --at` takes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tap {
    /// Output of the first convolution (before ReLU).
    Conv1,
    /// conv1 after ReLU (N x c1 x 28 x 28).
    Relu1,
    /// relu1 max-pooled (N x c1 x 14 x 14).
    Pool1,
    /// Output of the second convolution (before ReLU).
    Conv2,
    /// conv2 after ReLU (N x c2 x 14 x 14).
    Relu2,
    /// relu2 max-pooled (N x c2 x 7 x 7).
    Pool2,
}

impl Tap {
    /// Every tap, in graph order.
    pub const ALL: [Tap; 6] = [Tap::Conv1, Tap::Relu1, Tap::Pool1, Tap::Conv2, Tap::Relu2, Tap::Pool2];

    /// The ONNX tensor name of the tap.
    pub fn name(self) -> &'static str {
        match self {
            Tap::Conv1 => "conv1",
            Tap::Relu1 => "relu1",
            Tap::Pool1 => "pool1",
            Tap::Conv2 => "conv2",
            Tap::Relu2 => "relu2",
            Tap::Pool2 => "pool2",
        }
    }

    /// The tap of an ONNX tensor name; an error lists the names there are.
    pub fn from_name(name: &str) -> Result<Tap> {
        match Tap::ALL.iter().find(|t| t.name() == name) {
            Some(t) => Ok(*t),
            None => {
                let names: Vec<&str> = Tap::ALL.iter().map(|t| t.name()).collect();
                bail!("tensor '{name}' is not a feature map of the reference network that can be trained through; use {}", names.join(", "))
            }
        }
    }
}

/// The trainable parameters.
pub struct Cnn {
    conv1_w: Var,
    conv1_b: Var,
    conv2_w: Var,
    conv2_b: Var,
    fc1_w: Var,
    fc1_b: Var,
    fc2_w: Var,
    fc2_b: Var,
}

/// PyTorch's default initialisation: uniform in ±1/sqrt(fan_in) for weights and biases.
fn uniform_var(rng: &mut StdRng, shape: &[usize], fan_in: usize, dev: &Device) -> Result<Var> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-bound..bound)).collect();
    Ok(Var::from_tensor(&Tensor::from_vec(v, shape, dev)?)?)
}

impl Cnn {
    /// A freshly initialised network (PyTorch-style uniform initialisation from `rng`).
    pub fn new(rng: &mut StdRng, c1: usize, c2: usize, hidden: usize, classes: usize, dev: &Device) -> Result<Cnn> {
        let flat = c2 * 7 * 7;
        Ok(Cnn {
            conv1_w: uniform_var(rng, &[c1, 1, 3, 3], 9, dev)?,
            conv1_b: uniform_var(rng, &[c1], 9, dev)?,
            conv2_w: uniform_var(rng, &[c2, c1, 3, 3], c1 * 9, dev)?,
            conv2_b: uniform_var(rng, &[c2], c1 * 9, dev)?,
            fc1_w: uniform_var(rng, &[hidden, flat], flat, dev)?,
            fc1_b: uniform_var(rng, &[hidden], flat, dev)?,
            fc2_w: uniform_var(rng, &[classes, hidden], hidden, dev)?,
            fc2_b: uniform_var(rng, &[classes], hidden, dev)?,
        })
    }

    /// The network with the given weights (shapes as in [`CnnWeights`]).
    pub fn from_weights(w: &CnnWeights, dev: &Device) -> Result<Cnn> {
        let [c1, c2] = w.channels;
        let (h, k) = (w.hidden, w.classes);
        let var = |v: &[f32], shape: &[usize]| -> Result<Var> { Ok(Var::from_tensor(&Tensor::from_slice(v, shape, dev)?)?) };
        Ok(Cnn {
            conv1_w: var(&w.conv1_w, &[c1, 1, 3, 3])?,
            conv1_b: var(&w.conv1_b, &[c1])?,
            conv2_w: var(&w.conv2_w, &[c2, c1, 3, 3])?,
            conv2_b: var(&w.conv2_b, &[c2])?,
            fc1_w: var(&w.fc1_w, &[h, c2 * 7 * 7])?,
            fc1_b: var(&w.fc1_b, &[h])?,
            fc2_w: var(&w.fc2_w, &[k, h])?,
            fc2_b: var(&w.fc2_b, &[k])?,
        })
    }

    /// The trainable variables (for the optimizer).
    pub fn vars(&self) -> Vec<Var> {
        [&self.conv1_w, &self.conv1_b, &self.conv2_w, &self.conv2_b, &self.fc1_w, &self.fc1_b, &self.fc2_w, &self.fc2_b]
            .into_iter()
            .cloned()
            .collect()
    }

    /// The variables of the classifier head (fc1, fc2): the layers after the last feature map.
    pub fn head_vars(&self) -> Vec<Var> {
        [&self.fc1_w, &self.fc1_b, &self.fc2_w, &self.fc2_b].into_iter().cloned().collect()
    }

    /// Logits of normalized images (N x 1 x 28 x 28).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_tapped(x, &mut |_, t| Ok(t))
    }

    /// Logits of normalized images, with every feature map passed through `tap(which, map)`,
    /// whose result is what the rest of the network reads (return the map unchanged to leave it).
    pub fn forward_tapped(&self, x: &Tensor, tap: &mut dyn FnMut(Tap, Tensor) -> Result<Tensor>) -> Result<Tensor> {
        let bias4 = |b: &Var| b.as_tensor().reshape((1, b.dims()[0], 1, 1));
        let x = tap(Tap::Conv1, x.conv2d(&self.conv1_w, 1, 1, 1, 1)?.broadcast_add(&bias4(&self.conv1_b)?)?)?;
        let x = tap(Tap::Relu1, x.relu()?)?;
        let x = tap(Tap::Pool1, x.max_pool2d(2)?)?;
        let x = tap(Tap::Conv2, x.conv2d(&self.conv2_w, 1, 1, 1, 1)?.broadcast_add(&bias4(&self.conv2_b)?)?)?;
        let x = tap(Tap::Relu2, x.relu()?)?;
        let x = tap(Tap::Pool2, x.max_pool2d(2)?)?;
        let x = x.flatten_from(1)?;
        let x = x.matmul(&self.fc1_w.t()?)?.broadcast_add(&self.fc1_b)?.relu()?;
        Ok(x.matmul(&self.fc2_w.t()?)?.broadcast_add(&self.fc2_b)?)
    }

    /// The weights, for the ONNX export; `mean` and `std` are the input normalization the graph applies.
    pub fn export(&self, mean: f32, std: f32) -> Result<CnnWeights> {
        let flat = |v: &Var| -> Result<Vec<f32>> { Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?) };
        Ok(CnnWeights {
            mean,
            std,
            channels: [self.conv1_w.dims()[0], self.conv2_w.dims()[0]],
            hidden: self.fc1_w.dims()[0],
            classes: self.fc2_w.dims()[0],
            conv1_w: flat(&self.conv1_w)?,
            conv1_b: flat(&self.conv1_b)?,
            conv2_w: flat(&self.conv2_w)?,
            conv2_b: flat(&self.conv2_b)?,
            fc1_w: flat(&self.fc1_w)?,
            fc1_b: flat(&self.fc1_b)?,
            fc2_w: flat(&self.fc2_w)?,
            fc2_b: flat(&self.fc2_b)?,
        })
    }
}
