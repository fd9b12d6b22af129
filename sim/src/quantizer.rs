//! The quantizer unit as a [`StreamDut`], its expected output from the
//! golden [`GroupQuantizer`], and input generators.
//!
//! Input beat: `lanes` = `y` (16-bit two's complement), `aux` = group index
//! per lane. Output beat: `lanes` = codes (8-bit two's complement, i.e. the
//! golden code value), `aux` = widths.

use actcomp_golden::policy::BlockPolicy;
use actcomp_golden::quantizer::GroupQuantizer;
use actcomp_hdl::Quantizer;
use rand::Rng;

use crate::transform::{bits_to_lanes, lanes_to_bits, BeatFormat, LaneBeat, StreamDut};

/// Input format: `B` lanes of `y` (16 bits) with a 3-bit group index in `tuser`.
pub fn quantizer_in_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 16, user_bits: 3 }
}

/// Output format (the packer's input): `B` codes of 8 bits, widths of 4 bits in `tuser`.
pub fn quantizer_out_format(b: usize) -> BeatFormat {
    BeatFormat { lanes: b, data_bits: 8, user_bits: 4 }
}

impl<const B: usize, const YW: usize, const GW: usize, const DW: usize, const UW: usize> StreamDut
    for Quantizer<B, YW, GW, DW, UW>
{
    crate::axis_handshake!();
    fn drive_input(&mut self, beat: Option<&LaneBeat>) {
        match beat {
            Some(b) => {
                assert_eq!(b.lanes.len(), B, "beat has {} lanes, unit has {B}", b.lanes.len());
                self.s_axis_tdata.next = lanes_to_bits::<YW>(&b.lanes, 16);
                self.s_axis_tuser.next = lanes_to_bits::<GW>(&b.aux, 3);
                self.s_axis_tlast.next = b.last;
                self.s_axis_tvalid.next = true;
            }
            None => self.s_axis_tvalid.next = false,
        }
    }    fn output(&self) -> Option<LaneBeat> {
        self.m_axis_tvalid.val().then(|| LaneBeat {
            lanes: bits_to_lanes(self.m_axis_tdata.val(), B, 8, true),
            aux: bits_to_lanes(self.m_axis_tuser.val(), B, 4, false),
            last: self.m_axis_tlast.val(),
        })
    }
}

/// Expected quantizer output: per lane `GroupQuantizer::quantize(y)` of the
/// lane's group and the group's `bits` (code 0, width 0 for a 0-bit group;
/// for a group index beyond the block's groups the unit's documented
/// behaviour, code 0 and width 0).
pub fn quantizer_expected(blk: &BlockPolicy, beats: &[LaneBeat]) -> Vec<LaneBeat> {
    let qs: Vec<GroupQuantizer> = blk.groups.iter().map(GroupQuantizer::new).collect();
    beats
        .iter()
        .map(|b| {
            let (codes, widths) = b
                .lanes
                .iter()
                .zip(&b.aux)
                .map(|(&y, &g)| match qs.get(g as usize) {
                    Some(q) => (q.quantize(y as i32) as i64, q.bits as i64),
                    None => (0, 0),
                })
                .unzip();
            LaneBeat { lanes: codes, aux: widths, last: b.last }
        })
        .collect()
}

/// `n` random quantizer beats for a block with `groups` groups: `y` uniform
/// over 16 bits with extremes (-32768, 32767, 0, -1, 1, small values)
/// over-represented, groups uniform over `0..groups`; `tlast` with
/// probability 0.2 (and on the final beat).
pub fn quantizer_beats<R: Rng>(rng: &mut R, b: usize, groups: usize, n: usize) -> Vec<LaneBeat> {
    (0..n)
        .map(|k| {
            let mode = rng.gen_range(0..12);
            let lanes = (0..b)
                .map(|_| match mode {
                    0 => -32768,
                    1 => 32767,
                    2 => 0,
                    _ => match rng.gen_range(0..10) {
                        0 => -32768,
                        1 => 32767,
                        2 => rng.gen_range(-2..=2),
                        3 => rng.gen_range(-300..=300),
                        _ => rng.gen_range(-32768..=32767),
                    },
                })
                .collect();
            let aux = (0..b).map(|_| rng.gen_range(0..groups) as i64).collect();
            LaneBeat { lanes, aux, last: k + 1 == n || rng.gen_bool(0.2) }
        })
        .collect()
}
