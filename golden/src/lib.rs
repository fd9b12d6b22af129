//! actcomp-golden: the bit-exact software reference of actcomp's activation
//! compression scheme (see docs/scheme.md and docs/stream-format.md).
//!
//! Everything the hardware does is defined here first: the int8 input
//! mapping, the fixed-point block transform, the group quantizer, the
//! dynamic importance grouping, the payload packing and the `.acz` container.
//! Calibration (`calibrate`) learns a [`policy::Policy`] from activations.

pub mod baselines;
pub mod basis;
pub mod bitpack;
pub mod bitstream;
mod block_merge;
pub mod calibrate;
pub mod codec;
mod codec_channel;
mod codec_dense;
mod codec_fast;
pub mod container;
pub mod error;
pub mod grouping;
pub mod input_map;
pub mod kernels;
pub mod policy;
pub mod metrics;
pub mod packer;
pub mod quant_learn;
pub mod quantizer;
pub mod tensor;
pub mod testkit;
pub mod transform;
pub mod unpacker;

pub use error::{GoldenError, Result};
