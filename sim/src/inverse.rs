//! The inverse transform as a [`BeatDut`] (u128 beats, B <= 8) and as a
//! [`StreamDut`] (lane beats of any width, B = 16 / 32 / 64), expected
//! output from the golden [`BlockMatrices::inverse`], random / extreme ŷ
//! inputs, and blocks with calibrated PCA / DCT / identity matrices.

use actcomp_golden::basis::{fixed_basis, float_basis};
use actcomp_golden::policy::{BlockPolicy, CodeRange, TransformKind};
use actcomp_golden::transform::BlockMatrices;
use actcomp_hdl::InverseTransform;
use rand::Rng;
use rust_hdl::prelude::*;

use crate::dequantizer::yhat_word;
use crate::transform::{bits_to_lanes, lanes_to_bits, BeatFormat, LaneBeat, StreamDut};
use crate::unpacker::{to_bits, BeatDut, InBeat, OutBeat};

impl<const B: usize, const YW: usize, const OW: usize> BeatDut for InverseTransform<B, YW, OW> {
    fn inputs(&self) -> usize {
        1
    }
    fn set_clock(&mut self, high: bool) {
        self.clock.next = Clock { clk: high };
    }
    fn set_reset(&mut self, on: bool) {
        self.reset.next = on;
    }
    fn drive(&mut self, _port: usize, beat: Option<&InBeat>) {
        match beat {
            Some(b) => {
                self.s_axis_tdata.next = to_bits::<YW>(b.data);
                self.s_axis_tlast.next = b.last;
                self.s_axis_tvalid.next = true;
            }
            None => self.s_axis_tvalid.next = false,
        }
    }
    fn ready(&self, _port: usize) -> bool {
        self.s_axis_tready.val()
    }
    fn set_output_ready(&mut self, ready: bool) {
        self.m_axis_tready.next = ready;
    }
    fn output(&self) -> Option<OutBeat> {
        self.m_axis_tvalid.val().then(|| OutBeat { data: self.m_axis_tdata.val().to_u128(), last: self.m_axis_tlast.val() })
    }
}

/// The input beat of one ŷ vector.
pub fn inv_in_beat(yhat: &[i32], last: bool) -> InBeat {
    InBeat { data: yhat_word(yhat), user: 0, last }
}

/// Golden x̂ of one ŷ vector (`BlockMatrices::inverse` with the range's clamp).
pub fn golden_xhat(block: &BlockPolicy, range: CodeRange, yhat: &[i32]) -> Vec<i16> {
    let m = BlockMatrices::new(block);
    let mut out = vec![0i16; yhat.len()];
    m.inverse(yhat, range.min(), range.max(), &mut out);
    out
}

/// Expected output beat: x̂_i as 8 bits at `8i` (two's complement for int8,
/// unsigned for uint8).
pub fn expected_xhat(block: &BlockPolicy, range: CodeRange, yhat: &[i32], last: bool) -> OutBeat {
    let x = golden_xhat(block, range, yhat);
    OutBeat { data: x.iter().enumerate().fold(0, |a, (i, &v)| a | (((v as u8) as u128) << (8 * i))), last }
}

/// `n` random ŷ vectors of `b` components: level-table values of the
/// block's groups, uniform 16-bit values, small values, and the extremes
/// −32768 / 32767 (all lanes or mixed).
pub fn random_yhat<R: Rng>(rng: &mut R, block: &BlockPolicy, n: usize) -> Vec<Vec<i32>> {
    let b = block.mean.len();
    let levels: Vec<i32> = block.groups.iter().flat_map(|g| g.levels.iter().copied()).chain([0]).collect();
    (0..n)
        .map(|_| {
            let style = rng.gen_range(0..8);
            (0..b)
                .map(|_| match style {
                    0 => -32768,
                    1 => 32767,
                    2 => [-32768, 32767][rng.gen_range(0..2)],
                    3 => rng.gen_range(-64..=64),
                    4 | 5 => levels[rng.gen_range(0..levels.len())],
                    _ => rng.gen_range(-32768..=32767),
                })
                .collect()
        })
        .collect()
}

// ---- wide blocks (B = 16, 32, 64): `LaneBeat` streams of any width ----

/// Input format of the inverse transform for [`crate::transform::StreamBench`]
/// and [`crate::transform::stream_testbench`]: `b` lanes of 16-bit ŷ.
pub fn inverse_in_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 16, user_bits: 0 }
}

/// Output format: `b` lanes of 8-bit x̂ (raw bits, compared unsigned).
pub fn inverse_out_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 8, user_bits: 0 }
}

impl<const B: usize, const YW: usize, const OW: usize> StreamDut for InverseTransform<B, YW, OW> {
    crate::axis_handshake!();
    fn drive_input(&mut self, beat: Option<&LaneBeat>) {
        match beat {
            Some(b) => {
                assert_eq!(b.lanes.len(), B, "beat has {} lanes, unit has {B}", b.lanes.len());
                self.s_axis_tdata.next = lanes_to_bits::<YW>(&b.lanes, 16);
                self.s_axis_tlast.next = b.last;
                self.s_axis_tvalid.next = true;
            }
            None => self.s_axis_tvalid.next = false,
        }
    }
    fn output(&self) -> Option<LaneBeat> {
        self.m_axis_tvalid.val().then(|| LaneBeat {
            lanes: bits_to_lanes(self.m_axis_tdata.val(), B, 8, false),
            aux: vec![],
            last: self.m_axis_tlast.val(),
        })
    }
}

/// Input beats of ŷ vectors; `tlast` from `lasts`.
pub fn inverse_lane_beats(ys: &[Vec<i32>], lasts: &[bool]) -> Vec<LaneBeat> {
    ys.iter().zip(lasts).map(|(y, &last)| LaneBeat { lanes: y.iter().map(|&v| v as i64).collect(), aux: vec![], last }).collect()
}

/// Expected output beats: golden x̂ of every input beat as raw 8-bit lanes.
pub fn inverse_expected_lanes(block: &BlockPolicy, range: CodeRange, beats: &[LaneBeat]) -> Vec<LaneBeat> {
    beats
        .iter()
        .map(|b| {
            let y: Vec<i32> = b.lanes.iter().map(|&v| v as i32).collect();
            let x = golden_xhat(block, range, &y);
            LaneBeat { lanes: x.iter().map(|&v| (v as u8) as i64).collect(), aux: vec![], last: b.last }
        })
        .collect()
}

/// `block` with the fixed-point matrices calibration makes for `kind` (PCA
/// of random correlated centred vectors, DCT-II, identity) via the golden
/// [`float_basis`] / [`fixed_basis`], normalized gains or one gain per block.
pub fn calibrated_block<R: Rng>(rng: &mut R, block: &BlockPolicy, kind: TransformKind, normalize: bool) -> BlockPolicy {
    let b = block.mean.len();
    // correlated vectors: a few random directions with random weights plus noise
    let dirs: Vec<Vec<f64>> = (0..3).map(|_| (0..b).map(|_| rng.gen_range(-1.0..1.0)).collect()).collect();
    let mut d: Vec<f64> = Vec::with_capacity(64 * b);
    for _ in 0..64 {
        let w: Vec<f64> = (0..3).map(|_| rng.gen_range(-60.0..60.0)).collect();
        for i in 0..b {
            d.push((0..3).map(|j| w[j] * dirs[j][i]).sum::<f64>() + rng.gen_range(-4.0..4.0));
        }
    }
    let fb = fixed_basis(&float_basis(kind, &d, b), normalize);
    let mut out = block.clone();
    out.forward = fb.forward;
    out.forward_shift = fb.forward_shift;
    out.inverse = fb.inverse;
    out.inverse_shift = fb.inverse_shift;
    out
}
