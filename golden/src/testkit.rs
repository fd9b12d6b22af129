//! Random valid policies and tensors for property tests of the golden model
//! and of the hardware (shared by the golden, hdl and sim test suites).

use crate::policy::*;
use crate::tensor::{Tensor, TensorData};
use rand::Rng;

/// Knobs of [`random_policy`]; `None` picks at random.
#[derive(Debug, Clone, Default)]
pub struct PolicySpec {
    /// Channel count.
    pub channels: Option<usize>,
    /// Block size (must divide channels).
    pub block_size: Option<usize>,
    /// Grouping mode.
    pub grouping: Option<Grouping>,
    /// Word bits.
    pub word_bits: Option<u32>,
    /// Source dtype.
    pub dtype: Option<Dtype>,
    /// Tile size.
    pub tile: Option<usize>,
    /// Largest number of groups.
    pub max_groups: Option<usize>,
}

fn pick<T: Copy>(rng: &mut impl Rng, xs: &[T]) -> T {
    xs[rng.gen_range(0..xs.len())]
}

/// Zeroes every off-diagonal entry of the policy's forward and inverse
/// matrices: the shape of the identity transform, which the diagonal and
/// channel-major paths of the codec take.
pub fn make_diagonal(p: &mut Policy) {
    for blk in p.blocks.iter_mut() {
        for m in [&mut blk.forward, &mut blk.inverse] {
            for (k, row) in m.iter_mut().enumerate() {
                for (i, v) in row.iter_mut().enumerate() {
                    if i != k {
                        *v = 0;
                    }
                }
            }
        }
    }
}

/// A random policy that passes validation: arbitrary 16-bit matrices and
/// shifts, random group sizes, bit-widths 0..=8, multipliers, code and level tables.
pub fn random_policy(rng: &mut impl Rng, spec: &PolicySpec) -> Policy {
    let channels = spec.channels.unwrap_or_else(|| pick(rng, &[1, 3, 4, 8, 12, 16, 24, 32]));
    let divisors: Vec<usize> = (1..=channels).filter(|d| channels % d == 0).collect();
    let b = spec.block_size.unwrap_or_else(|| pick(rng, &divisors));
    let dtype = spec.dtype.unwrap_or_else(|| pick(rng, &[Dtype::F32, Dtype::F64, Dtype::I8, Dtype::U8]));
    let input = match dtype {
        Dtype::I8 => InputFormat { source_dtype: dtype, code_range: CodeRange::Int8, scale: 1.0, zero_point: 0 },
        Dtype::U8 => InputFormat { source_dtype: dtype, code_range: CodeRange::Uint8, scale: 1.0, zero_point: 0 },
        _ => {
            let range = pick(rng, &[CodeRange::Int8, CodeRange::Uint8]);
            InputFormat {
                source_dtype: dtype,
                code_range: range,
                scale: rng.gen_range(0.001..2.0),
                zero_point: rng.gen_range(range.min()..=range.max()),
            }
        }
    };
    let (lo, hi) = (input.code_range.min(), input.code_range.max());
    let max_groups = spec.max_groups.unwrap_or(MAX_GROUPS).min(b).max(1);
    let blocks = (0..channels / b)
        .map(|_| {
            let ng = rng.gen_range(1..=max_groups);
            // random composition of b into ng positive parts
            let mut cuts: Vec<usize> = (1..b).collect();
            for i in (1..cuts.len()).rev() {
                let j = rng.gen_range(0..=i);
                cuts.swap(i, j);
            }
            let mut cuts: Vec<usize> = cuts.into_iter().take(ng - 1).collect();
            cuts.sort();
            cuts.insert(0, 0);
            cuts.push(b);
            let groups = cuts
                .windows(2)
                .map(|w| {
                    let bits = rng.gen_range(0..=MAX_BITS);
                    if bits == 0 {
                        GroupPolicy { size: w[1] - w[0], bits, qmul: 0, encode: vec![], levels: vec![] }
                    } else {
                        let (clo, chi) = code_limits(bits);
                        // monotone code table (a real quantizer) with random thresholds
                        let mut th: Vec<usize> = (0..(1usize << bits) - 1).map(|_| rng.gen_range(0..FINE_CELLS)).collect();
                        th.sort();
                        let encode = (0..FINE_CELLS)
                            .map(|f| (clo + th.iter().filter(|&&t| t < f).count() as i32).min(chi))
                            .collect();
                        let levels = (0..1 << bits).map(|_| rng.gen_range(-4000..=4000)).collect();
                        GroupPolicy { size: w[1] - w[0], bits, qmul: rng.gen_range(1..=32767), encode, levels }
                    }
                })
                .collect();
            let mut rank: Vec<usize> = (0..b).collect();
            for i in (1..b).rev() {
                let j = rng.gen_range(0..=i);
                rank.swap(i, j);
            }
            let mean: Vec<i32> = (0..b).map(|_| rng.gen_range(lo..=hi)).collect();
            BlockPolicy {
                inverse_mean: mean.iter().map(|&m| (m + rng.gen_range(-40..=40)).clamp(-1024, 1023)).collect(),
                mean,
                forward: (0..b).map(|_| (0..b).map(|_| rng.gen_range(Y_MIN..=Y_MAX)).collect()).collect(),
                forward_shift: (0..b).map(|_| rng.gen_range(8..=24)).collect(),
                inverse: (0..b).map(|_| (0..b).map(|_| rng.gen_range(Y_MIN..=Y_MAX)).collect()).collect(),
                inverse_shift: rng.gen_range(14..=28),
                rank,
                groups,
            }
        })
        .collect();
    Policy {
        format: POLICY_FORMAT.into(),
        version: POLICY_VERSION,
        channels,
        input,
        transform: pick(rng, &[TransformKind::Pca, TransformKind::Dct, TransformKind::Identity]),
        block_size: b,
        grouping: spec.grouping.unwrap_or_else(|| pick(rng, &[Grouping::Static, Grouping::Dynamic])),
        tile: spec.tile.unwrap_or_else(|| pick(rng, &[1, 2, 3, 4, 7, 8, 16, 32])),
        word_bits: spec.word_bits.unwrap_or_else(|| pick(rng, &[32, 64])),
        blocks,
        calibration: None,
    }
}

/// Random integer codes in the policy's code range for a random N x C x H x W
/// shape, mixing uniform noise with the extremes and constant runs.
pub fn random_codes(rng: &mut impl Rng, policy: &Policy) -> (Vec<usize>, Vec<i16>) {
    let shape = vec![rng.gen_range(1..=3), policy.channels, rng.gen_range(1..=5), rng.gen_range(1..=7)];
    let n: usize = shape.iter().product();
    let (lo, hi) = (policy.input.code_range.min(), policy.input.code_range.max());
    let style = rng.gen_range(0..5);
    let codes = (0..n)
        .map(|i| match style {
            0 => lo,
            1 => hi,
            2 => {
                if i % 2 == 0 {
                    lo
                } else {
                    hi
                }
            }
            _ => rng.gen_range(lo..=hi),
        } as i16)
        .collect();
    (shape, codes)
}

/// A random float tensor shaped like ReLU activations (sparse, non-negative) or signed.
pub fn random_activations(rng: &mut impl Rng, shape: Vec<usize>, relu: bool) -> Tensor {
    let n: usize = shape.iter().product();
    let c = shape[1];
    let s: usize = shape[2..].iter().product();
    // correlated channels: a few latent factors
    let factors = 3;
    let mix: Vec<f32> = (0..c * factors).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut data = vec![0f32; n];
    for ni in 0..shape[0] {
        for sp in 0..s {
            let z: Vec<f32> = (0..factors).map(|_| rng.gen_range(-1.0f32..1.0) * 2.0).collect();
            for ch in 0..c {
                let mut v: f32 = (0..factors).map(|f| mix[ch * factors + f] * z[f]).sum::<f32>() + rng.gen_range(-0.2..0.2);
                if relu {
                    v = v.max(0.0);
                }
                data[(ni * c + ch) * s + sp] = v;
            }
        }
    }
    Tensor::new(shape, TensorData::F32(data)).expect("consistent shape")
}
