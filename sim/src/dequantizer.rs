//! The dequantizer as a [`BeatDut`] (u128 beats, B <= 8) and as a
//! [`StreamDut`] (lane beats of any width, B = 16 / 32 / 64), expected
//! output from the golden [`GroupQuantizer::dequantize`], and random inputs
//! from a block policy.

use actcomp_golden::grouping::static_group_map;
use actcomp_golden::policy::BlockPolicy;
use actcomp_golden::quantizer::GroupQuantizer;
use actcomp_hdl::Dequantizer;
use rand::Rng;
use rust_hdl::prelude::*;

use crate::transform::{bits_to_lanes, lanes_to_bits, BeatFormat, LaneBeat, StreamDut};
use crate::unpacker::{codes_word, to_bits, BeatDut, InBeat, OutBeat};

impl<const LANES: usize, const CW: usize, const GW: usize, const OW: usize> BeatDut for Dequantizer<LANES, CW, GW, OW> {
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
                self.s_axis_tdata.next = to_bits::<CW>(b.data);
                self.s_axis_tuser.next = to_bits::<GW>(b.user as u128);
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

/// One dequantizer input: per lane a code and a group index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeqBeat {
    /// Codes (in the lane's group range; 0 for 0-bit groups).
    pub codes: Vec<i32>,
    /// Group index per lane.
    pub groups: Vec<usize>,
    /// tlast.
    pub last: bool,
}

impl DeqBeat {
    /// The input beat (`tdata` codes, `tuser` 3-bit group indices).
    pub fn in_beat(&self) -> InBeat {
        let user = self.groups.iter().enumerate().fold(0u64, |a, (i, &g)| a | ((g as u64 & 7) << (3 * i)));
        InBeat { data: codes_word(&self.codes), user, last: self.last }
    }
}

/// Golden ŷ of a beat: `GroupQuantizer::dequantize` of each lane's group.
pub fn golden_yhat(block: &BlockPolicy, beat: &DeqBeat) -> Vec<i32> {
    beat.codes.iter().zip(&beat.groups).map(|(&c, &g)| GroupQuantizer::new(&block.groups[g]).dequantize(c)).collect()
}

/// Packs 16-bit lane values (lane `i` at bits `16i..16i+16`).
pub fn yhat_word(y: &[i32]) -> u128 {
    y.iter().enumerate().fold(0, |a, (i, &v)| a | (((v as u16) as u128) << (16 * i)))
}

/// Expected output beat of `beat`.
pub fn expected_beat(block: &BlockPolicy, beat: &DeqBeat) -> OutBeat {
    OutBeat { data: yhat_word(&golden_yhat(block, beat)), last: beat.last }
}

/// A random group map of `block` with the policy's group sizes: the static
/// map (rank order) or a random permutation (as dynamic grouping makes).
pub fn random_group_map<R: Rng>(rng: &mut R, block: &BlockPolicy) -> Vec<usize> {
    let mut map: Vec<usize> = static_group_map(block).into_iter().map(|g| g as usize).collect();
    if rng.gen_bool(0.5) {
        for i in (1..map.len()).rev() {
            let j = rng.gen_range(0..=i);
            map.swap(i, j);
        }
    }
    map
}

/// `n` random beats: a group map per tile of 1..=8 beats, codes uniform in
/// each group's range with the range ends over-represented.
pub fn random_deq_beats<R: Rng>(rng: &mut R, block: &BlockPolicy, n: usize) -> Vec<DeqBeat> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let map = random_group_map(rng, block);
        let t = rng.gen_range(1..=8);
        for k in 0..t {
            let codes = map
                .iter()
                .map(|&g| {
                    let b = block.groups[g].bits;
                    if b == 0 {
                        return 0;
                    }
                    let (lo, hi) = (-(1i32 << (b - 1)), (1i32 << (b - 1)) - 1);
                    match rng.gen_range(0..6) {
                        0 => lo,
                        1 => hi,
                        _ => rng.gen_range(lo..=hi),
                    }
                })
                .collect();
            out.push(DeqBeat { codes, groups: map.clone(), last: k + 1 == t });
        }
    }
    out.truncate(n);
    if let Some(b) = out.last_mut() {
        b.last = true;
    }
    out
}

// ---- wide blocks (B = 16, 32, 64): `LaneBeat` streams of any width ----

/// Input format of the dequantizer for [`crate::transform::StreamBench`] and
/// [`crate::transform::stream_testbench`]: `b` lanes of 8-bit codes in
/// `tdata`, 3-bit group indices in `tuser`.
pub fn deq_in_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 8, user_bits: 3 }
}

/// Output format: `b` lanes of 16-bit ŷ (two's complement).
pub fn deq_out_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 16, user_bits: 0 }
}

impl<const LANES: usize, const CW: usize, const GW: usize, const OW: usize> StreamDut for Dequantizer<LANES, CW, GW, OW> {
    crate::axis_handshake!();
    fn drive_input(&mut self, beat: Option<&LaneBeat>) {
        match beat {
            Some(b) => {
                assert_eq!(b.lanes.len(), LANES, "beat has {} lanes, unit has {LANES}", b.lanes.len());
                self.s_axis_tdata.next = lanes_to_bits::<CW>(&b.lanes, 8);
                self.s_axis_tuser.next = lanes_to_bits::<GW>(&b.aux, 3);
                self.s_axis_tlast.next = b.last;
                self.s_axis_tvalid.next = true;
            }
            None => self.s_axis_tvalid.next = false,
        }
    }
    fn output(&self) -> Option<LaneBeat> {
        self.m_axis_tvalid.val().then(|| LaneBeat {
            lanes: bits_to_lanes(self.m_axis_tdata.val(), LANES, 16, true),
            aux: vec![],
            last: self.m_axis_tlast.val(),
        })
    }
}

impl DeqBeat {
    /// The input as a lane beat (codes in `lanes`, group indices in `aux`).
    pub fn lane_beat(&self) -> LaneBeat {
        LaneBeat {
            lanes: self.codes.iter().map(|&c| c as i64).collect(),
            aux: self.groups.iter().map(|&g| g as i64).collect(),
            last: self.last,
        }
    }

    /// The expected output as a lane beat (golden ŷ per lane).
    pub fn expected_lanes(&self, block: &BlockPolicy) -> LaneBeat {
        LaneBeat { lanes: golden_yhat(block, self).into_iter().map(i64::from).collect(), aux: vec![], last: self.last }
    }
}
