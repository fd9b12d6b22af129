//! Learning a group quantizer from calibration data: the fine step (`qmul`)
//! by a log-spaced scan refined by golden-section search, and the code /
//! level tables by one of three styles, so reports can show what each buys:
//! - `Uniform`: equal cells of the fine grid, levels at cell centres
//!   (a uniform quantizer with a learned step and clipping range);
//! - `Centroid`: equal cells, levels at the data centroid of each cell;
//! - `Lloyd`: cell boundaries and levels learned jointly (Lloyd–Max on the
//!   fine grid), i.e. a non-uniform fixed-length quantizer.
//!
//! Errors are weighted squared errors: each sample carries the weight that
//! converts a transform-output error into input-code units² (1/gain²).

use crate::policy::{FINE_CELLS, QUANT_SHIFT, Y_MAX, Y_MIN};
use serde::{Deserialize, Serialize};

/// How a group quantizer's tables are learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantStyle {
    /// Uniform cells, uniform levels.
    Uniform,
    /// Uniform cells, centroid levels.
    Centroid,
    /// Lloyd–Max cells and levels.
    Lloyd,
}

/// Weighted samples of transform outputs, sorted by value, duplicates merged,
/// with prefix sums of weight, weight·y and weight·y².
#[derive(Debug, Clone, Default)]
pub struct WeightedHist {
    vals: Vec<i32>,
    w: Vec<f64>,
    pw: Vec<f64>,
    ps: Vec<f64>,
    pq: Vec<f64>,
}

impl WeightedHist {
    /// From (value, weight) pairs in any order.
    pub fn from_pairs(mut pairs: Vec<(i32, f64)>) -> Self {
        pairs.sort_unstable_by_key(|p| p.0);
        let mut vals: Vec<i32> = Vec::new();
        let mut w: Vec<f64> = Vec::new();
        for (v, wt) in pairs {
            if wt <= 0.0 {
                continue;
            }
            if vals.last() == Some(&v) {
                *w.last_mut().unwrap() += wt;
            } else {
                vals.push(v);
                w.push(wt);
            }
        }
        let n = vals.len();
        let (mut pw, mut ps, mut pq) = (vec![0.0; n + 1], vec![0.0; n + 1], vec![0.0; n + 1]);
        for i in 0..n {
            let y = vals[i] as f64;
            pw[i + 1] = pw[i] + w[i];
            ps[i + 1] = ps[i] + w[i] * y;
            pq[i + 1] = pq[i] + w[i] * y * y;
        }
        WeightedHist { vals, w, pw, ps, pq }
    }

    /// From samples sharing one weight.
    pub fn from_samples(ys: &[i32], weight: f64) -> Self {
        Self::from_pairs(ys.iter().map(|&y| (y, weight)).collect())
    }

    /// Union of several histograms.
    pub fn merge(parts: &[&WeightedHist]) -> Self {
        let pairs = parts.iter().flat_map(|h| h.vals.iter().copied().zip(h.w.iter().copied())).collect();
        Self::from_pairs(pairs)
    }

    /// Σ weight·y²: the weighted error if every value is reconstructed as 0.
    pub fn energy(&self) -> f64 {
        *self.pq.last().unwrap_or(&0.0)
    }

    /// Σ weight.
    pub fn total_weight(&self) -> f64 {
        *self.pw.last().unwrap_or(&0.0)
    }

    /// Largest |y|.
    pub fn abs_max(&self) -> i32 {
        match (self.vals.first(), self.vals.last()) {
            (Some(&a), Some(&b)) => a.abs().max(b.abs()),
            _ => 0,
        }
    }

    /// Stats (Σw, Σwy, Σwy²) of each fine cell for a multiplier.
    fn bins(&self, qmul: u32) -> [[f64; 3]; FINE_CELLS] {
        let mut out = [[0.0; 3]; FINE_CELLS];
        let q = qmul as i64;
        let half = 1i64 << (QUANT_SHIFT - 1);
        let mut prev = 0usize;
        for f in -127i64..=128 {
            // first index whose value has fine index >= f (f = 128: end)
            let idx = if f == 128 {
                self.vals.len()
            } else {
                let lb = ((f << QUANT_SHIFT) - half).div_euclid(q) + (((f << QUANT_SHIFT) - half).rem_euclid(q) != 0) as i64;
                self.vals.partition_point(|&v| (v as i64) < lb)
            };
            let bin = (f - 1 + 128) as usize;
            out[bin] = [self.pw[idx] - self.pw[prev], self.ps[idx] - self.ps[prev], self.pq[idx] - self.pq[prev]];
            prev = idx;
        }
        out
    }
}

/// A learned group quantizer: tables and its weighted squared error on the data.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedQuantizer {
    /// Code width.
    pub bits: u32,
    /// Fine multiplier (0 for 0 bits).
    pub qmul: u32,
    /// Code of each fine index + 128.
    pub encode: Vec<i32>,
    /// Level of each code + 2^(bits-1).
    pub levels: Vec<i32>,
    /// Weighted squared error on the data it was learned from.
    pub sse: f64,
}

fn cell_cost(st: [f64; 3], level: f64) -> f64 {
    (st[2] - 2.0 * level * st[1] + level * level * st[0]).max(0.0)
}

fn clamp_level(v: f64) -> i32 {
    v.round().clamp(Y_MIN as f64, Y_MAX as f64) as i32
}

/// Tables and error for one multiplier.
fn tables_for(bins: &[[f64; 3]; FINE_CELLS], qmul: u32, bits: u32, style: QuantStyle) -> LearnedQuantizer {
    let cells = 1usize << bits;
    let step = (1u64 << QUANT_SHIFT) as f64 / qmul as f64;
    let mut pref = vec![[0.0f64; 3]; FINE_CELLS + 1];
    for i in 0..FINE_CELLS {
        for j in 0..3 {
            pref[i + 1][j] = pref[i][j] + bins[i][j];
        }
    }
    let stats = |a: usize, b: usize| [pref[b][0] - pref[a][0], pref[b][1] - pref[a][1], pref[b][2] - pref[a][2]];
    let centre = |a: usize, b: usize| ((a + b - 1) as f64 / 2.0 - 128.0) * step;
    let level_of = |a: usize, b: usize, centroid: bool| {
        let st = stats(a, b);
        if centroid && st[0] > 0.0 {
            clamp_level(st[1] / st[0])
        } else {
            clamp_level(centre(a, b))
        }
    };
    // starts[c]..starts[c+1] are the fine cells of code cell c
    let per = FINE_CELLS / cells;
    let mut starts: Vec<usize> = (0..=cells).map(|c| c * per).collect();
    let centroid = style != QuantStyle::Uniform;
    let mut levels: Vec<i32> = (0..cells).map(|c| level_of(starts[c], starts[c + 1], centroid)).collect();
    if style == QuantStyle::Lloyd && cells < FINE_CELLS {
        let rep: Vec<f64> = (0..FINE_CELLS)
            .map(|f| if bins[f][0] > 0.0 { bins[f][1] / bins[f][0] } else { (f as f64 - 128.0) * step })
            .collect();
        for _ in 0..100 {
            let next = nearest_level_starts(&rep, &levels);
            let new_levels: Vec<i32> = (0..cells).map(|c| level_of(next[c], next[c + 1], true)).collect();
            let done = next == starts && new_levels == levels;
            starts = next;
            levels = new_levels;
            if done {
                break;
            }
        }
    }
    let encode = encode_from_starts(&starts);
    let mut sse = 0.0;
    for c in 0..cells {
        sse += cell_cost(stats(starts[c], starts[c + 1]), levels[c] as f64);
    }
    LearnedQuantizer { bits, qmul, encode, levels, sse }
}

/// Lloyd's cell step: code cell c covers the fine cells `starts[c]..starts[c+1]` (fine cell
/// f is fine index f - 128), each fine cell going to the level nearest its representative
/// value `rep[f]` (a tie to the upper level), with every code cell kept non-empty.
/// `levels` must be ascending.
fn nearest_level_starts(rep: &[f64], levels: &[i32]) -> Vec<usize> {
    let cells = levels.len();
    let mut next = vec![0usize; cells + 1];
    next[cells] = FINE_CELLS;
    for c in 1..cells {
        let t = 0.5 * (levels[c - 1] as f64 + levels[c] as f64);
        let mut s = rep.partition_point(|&r| r < t);
        // keep every cell non-empty
        s = s.max(next[c - 1] + 1).min(FINE_CELLS - (cells - c));
        next[c] = s;
    }
    next
}

/// The code table of code cells `starts` (code c - 2^(bits-1) for cell c).
fn encode_from_starts(starts: &[usize]) -> Vec<i32> {
    let cells = starts.len() - 1;
    let off = (cells / 2) as i32;
    let mut encode = vec![0i32; FINE_CELLS];
    for c in 0..cells {
        for e in encode.iter_mut().take(starts[c + 1]).skip(starts[c]) {
            *e = c as i32 - off;
        }
    }
    encode
}

/// The code table that sends each fine cell to the level nearest its centre (fine index
/// × step `65536 / qmul`), by the cell rule of Lloyd calibration (every code keeps at least
/// one fine cell): the encoder for level tables that were changed after calibration, e.g.
/// learned by gradient. `levels` (2^bits entries, 1..=8 bits) must be ascending.
pub fn encode_for_levels(qmul: u32, levels: &[i32]) -> Vec<i32> {
    debug_assert!(levels.len() >= 2 && levels.len().is_power_of_two() && levels.windows(2).all(|w| w[0] <= w[1]));
    let step = (1u64 << QUANT_SHIFT) as f64 / qmul.max(1) as f64;
    let rep: Vec<f64> = (0..FINE_CELLS).map(|f| (f as f64 - 128.0) * step).collect();
    encode_from_starts(&nearest_level_starts(&rep, levels))
}

/// Learns the quantizer of `bits` bits (0..=8) for the data in `h`.
pub fn learn_quantizer(h: &WeightedHist, bits: u32, style: QuantStyle) -> LearnedQuantizer {
    if bits == 0 {
        return LearnedQuantizer { bits, qmul: 0, encode: vec![], levels: vec![], sse: h.energy() };
    }
    let amax = h.abs_max().max(1) as f64;
    // multiplier at which the fine grid just covers the data
    let cover = ((1u64 << QUANT_SHIFT) as f64 * 127.5 / amax).clamp(1.0, 32767.0);
    let eval = |q: f64| {
        let qm = q.round().clamp(1.0, 32767.0) as u32;
        tables_for(&h.bins(qm), qm, bits, style)
    };
    let mut best = eval(cover);
    let mut best_lq = cover.ln();
    let steps = 24;
    let span = (128.0f64).ln();
    let mut cands = Vec::new();
    for i in 1..=steps {
        let lq = cover.ln() + span * i as f64 / steps as f64;
        if lq.exp() > 32767.5 {
            break;
        }
        cands.push(lq);
    }
    let delta = span / steps as f64;
    for lq in cands {
        let r = eval(lq.exp());
        if r.sse < best.sse {
            best = r;
            best_lq = lq;
        }
    }
    // golden-section refinement in the bracket around the best scan point
    let (mut a, mut b) = (best_lq - delta, best_lq + delta);
    let g = 0.618_033_988_75;
    for _ in 0..10 {
        let x1 = b - g * (b - a);
        let x2 = a + g * (b - a);
        let (r1, r2) = (eval(x1.exp()), eval(x2.exp()));
        if r1.sse < best.sse {
            best = r1.clone();
        }
        if r2.sse < best.sse {
            best = r2.clone();
        }
        if r1.sse <= r2.sse {
            b = x2;
        } else {
            a = x1;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantizer::fine_index;
    use rand::{Rng, SeedableRng};

    fn gaussian(n: usize, sigma: f64, seed: u64) -> Vec<i32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let u1: f64 = rng.gen::<f64>().max(1e-12);
                let u2: f64 = rng.gen();
                ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * sigma).round() as i32
            })
            .collect()
    }

    /// The tables' reported error equals the error of applying them.
    fn check_sse(ys: &[i32], q: &LearnedQuantizer) {
        let mut sse = 0.0;
        for &y in ys {
            let c = q.encode[(fine_index(y, q.qmul) + 128) as usize];
            let l = q.levels[(c + (1 << (q.bits - 1))) as usize];
            sse += ((y - l) as f64).powi(2);
        }
        assert!((sse - q.sse).abs() <= 1e-6 * sse.max(1.0), "{sse} vs {}", q.sse);
    }

    #[test]
    fn gaussian_distortion_matches_theory() {
        let sigma = 1000.0;
        let ys = gaussian(50_000, sigma, 1);
        let h = WeightedHist::from_samples(&ys, 1.0);
        let n = ys.len() as f64;
        // Lloyd–Max for a Gaussian: D/σ² = 0.3634 (1 bit), 0.1175 (2), 0.03454 (3)
        for (bits, lm) in [(1, 0.3634), (2, 0.1175), (3, 0.03454)] {
            let q = learn_quantizer(&h, bits, QuantStyle::Lloyd);
            check_sse(&ys, &q);
            let d = q.sse / n / (sigma * sigma);
            assert!((d / lm - 1.0).abs() < 0.06, "bits {bits}: {d} vs {lm}");
            let u = learn_quantizer(&h, bits, QuantStyle::Uniform);
            check_sse(&ys, &u);
            assert!(u.sse >= q.sse * 0.999);
        }
        // optimal uniform 2-bit Gaussian quantizer: 0.1188
        let u = learn_quantizer(&h, 2, QuantStyle::Uniform);
        assert!((u.sse / n / (sigma * sigma) / 0.1188 - 1.0).abs() < 0.06);
    }

    #[test]
    fn more_bits_never_hurt_and_8_bits_is_fine() {
        let ys = gaussian(20_000, 300.0, 2);
        let h = WeightedHist::from_samples(&ys, 1.0);
        let mut prev = h.energy();
        for bits in 1..=8 {
            let q = learn_quantizer(&h, bits, QuantStyle::Lloyd);
            check_sse(&ys, &q);
            assert!(q.sse <= prev * 1.0001, "bits {bits}");
            prev = q.sse;
        }
    }

    /// The encoder re-derived from a Lloyd quantizer's levels sends every fine cell centre to
    /// its nearest level, and on uniform levels gives back the uniform quantizer's equal cells.
    #[test]
    fn encode_for_levels_is_nearest_level() {
        let ys = gaussian(20_000, 500.0, 3);
        let h = WeightedHist::from_samples(&ys, 1.0);
        for bits in [1, 2, 3] {
            let q = learn_quantizer(&h, bits, QuantStyle::Lloyd);
            let enc = encode_for_levels(q.qmul, &q.levels);
            let step = 65536.0 / q.qmul as f64;
            let off = 1i32 << (bits - 1);
            for f in 0..FINE_CELLS {
                let y = (f as f64 - 128.0) * step;
                let got = q.levels[(enc[f] + off) as usize] as f64;
                let best = q.levels.iter().map(|&l| (l as f64 - y).abs()).fold(f64::INFINITY, f64::min);
                assert!((got - y).abs() <= best + 1e-9, "bits {bits}, fine cell {f}: level {got} for {y}");
            }
            let u = learn_quantizer(&h, bits, QuantStyle::Uniform);
            assert_eq!(encode_for_levels(u.qmul, &u.levels), u.encode, "bits {bits}: uniform cells");
        }
        // two equal levels: both codes keep a fine cell
        let enc = encode_for_levels(256, &[-10, 5, 5, 40]);
        for c in -2..=1 {
            assert!(enc.contains(&c), "code {c} lost its cells");
        }
    }

    #[test]
    fn all_zero_data() {
        let h = WeightedHist::from_samples(&[0, 0, 0], 1.0);
        let q = learn_quantizer(&h, 2, QuantStyle::Lloyd);
        assert_eq!(q.sse, 0.0);
        check_sse(&[0, 0, 0], &q);
    }
}
