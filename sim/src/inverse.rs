//! The inverse transform as a [`BeatDut`], expected output from the golden
//! [`BlockMatrices::inverse`], and random / extreme ŷ inputs.

use actcomp_golden::policy::{BlockPolicy, CodeRange};
use actcomp_golden::transform::BlockMatrices;
use actcomp_hdl::InverseTransform;
use rand::Rng;
use rust_hdl::prelude::*;

use crate::dequantizer::yhat_word;
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
