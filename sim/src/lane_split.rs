//! Testbench adapters and reference model of the lane width adapters
//! ([`actcomp_hdl::LaneSplitter`], [`actcomp_hdl::LaneGather`]).
//!
//! The reference is the payload rule they implement: codes are packed
//! LSB-first in lane order, so a wide beat of `B` lanes is the same bits as
//! its `ceil(B/8)` sub-beats of 8 lanes in order, lanes `[8s, 8s+8)` in
//! sub-beat `s`, `tlast` on the last sub-beat only.

use actcomp_hdl::{LaneGather, LaneSplitter};

use crate::transform::{bits_to_lanes, lanes_to_bits, BeatFormat, LaneBeat, StreamDut};

/// Beat format of a splitter port of `lanes` lanes (8-bit codes, 4-bit widths).
pub fn split_format(lanes: usize) -> BeatFormat {
    BeatFormat { lanes, data_bits: 8, user_bits: 4 }
}

/// Beat format of a gatherer port of `lanes` lanes (8-bit lanes, no `tuser`).
pub fn gather_format(lanes: usize) -> BeatFormat {
    BeatFormat { lanes, data_bits: 8, user_bits: 0 }
}

/// Reference splitter: every beat as `subs` sub-beats of `lanes/subs`
/// lanes (data and `aux` alike), `tlast` on the last sub-beat.
pub fn split_expected(beats: &[LaneBeat], subs: usize) -> Vec<LaneBeat> {
    let mut out = Vec::with_capacity(beats.len() * subs);
    for b in beats {
        let (l, u) = (b.lanes.len() / subs, b.aux.len() / subs);
        for s in 0..subs {
            out.push(LaneBeat {
                lanes: b.lanes[s * l..(s + 1) * l].to_vec(),
                aux: b.aux[s * u..(s + 1) * u].to_vec(),
                last: b.last && s + 1 == subs,
            });
        }
    }
    out
}

/// Reference gatherer: every `subs` consecutive sub-beats as one beat
/// (lanes concatenated, `tlast` of the last sub-beat).
pub fn gather_expected(beats: &[LaneBeat], subs: usize) -> Vec<LaneBeat> {
    beats
        .chunks_exact(subs)
        .map(|c| LaneBeat { lanes: c.iter().flat_map(|b| b.lanes.iter().copied()).collect(), aux: vec![], last: c[subs - 1].last })
        .collect()
}

impl<const DI: usize, const UI: usize, const DO: usize, const UO: usize> StreamDut for LaneSplitter<DI, UI, DO, UO> {
    crate::axis_handshake!();
    fn drive_input(&mut self, beat: Option<&LaneBeat>) {
        match beat {
            Some(b) => {
                assert_eq!((b.lanes.len(), b.aux.len()), (DI / 8, UI / 4), "beat shape");
                self.s_axis_tdata.next = lanes_to_bits::<DI>(&b.lanes, 8);
                self.s_axis_tuser.next = lanes_to_bits::<UI>(&b.aux, 4);
                self.s_axis_tlast.next = b.last;
                self.s_axis_tvalid.next = true;
            }
            None => self.s_axis_tvalid.next = false,
        }
    }    fn output(&self) -> Option<LaneBeat> {
        self.m_axis_tvalid.val().then(|| LaneBeat {
            lanes: bits_to_lanes(self.m_axis_tdata.val(), DO / 8, 8, false),
            aux: bits_to_lanes(self.m_axis_tuser.val(), UO / 4, 4, false),
            last: self.m_axis_tlast.val(),
        })
    }
}

impl<const DI: usize, const DO: usize> StreamDut for LaneGather<DI, DO> {
    crate::axis_handshake!();
    fn drive_input(&mut self, beat: Option<&LaneBeat>) {
        match beat {
            Some(b) => {
                assert_eq!(b.lanes.len(), DI / 8, "beat shape");
                self.s_axis_tdata.next = lanes_to_bits::<DI>(&b.lanes, 8);
                self.s_axis_tlast.next = b.last;
                self.s_axis_tvalid.next = true;
            }
            None => self.s_axis_tvalid.next = false,
        }
    }    fn output(&self) -> Option<LaneBeat> {
        self.m_axis_tvalid.val().then(|| LaneBeat {
            lanes: bits_to_lanes(self.m_axis_tdata.val(), DO / 8, 8, false),
            aux: vec![],
            last: self.m_axis_tlast.val(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_split_then_gather_is_the_identity_on_data_and_tlast() {
        let beats: Vec<LaneBeat> = (0..5)
            .map(|k| LaneBeat { lanes: (0..16).map(|i| (k * 16 + i) % 256).collect(), aux: (0..16).map(|i| (i + k) % 9).collect(), last: k % 2 == 1 })
            .collect();
        let s = split_expected(&beats, 2);
        assert_eq!(s.len(), 10);
        assert_eq!((s[2].lanes[0], s[3].lanes[0], s[3].aux[7]), (16, 24, (15 + 1) % 9));
        assert!(!s[2].last && s[3].last && !s[0].last && !s[1].last);
        let g = gather_expected(&s.iter().map(|b| LaneBeat { aux: vec![], ..b.clone() }).collect::<Vec<_>>(), 2);
        assert_eq!(g, beats.iter().map(|b| LaneBeat { aux: vec![], ..b.clone() }).collect::<Vec<_>>());
    }
}
