//! The variable bit-width packer as an [`AxisDut`], its expected output from
//! the golden model, and random beat generators.

use actcomp_golden::packer::{pack_beats, PackBeat};
use actcomp_hdl::VarWidthPacker;
use rand::Rng;

use crate::axis::{AxisDut, OutWord};
use crate::scoreboard::ExpectedWord;

/// `s_axis_tdata` value of a beat: lane `i` code (low 8 bits) at bits `8i..8i+8`.
pub fn beat_tdata(beat: &PackBeat) -> u64 {
    beat.codes.iter().enumerate().fold(0u64, |acc, (i, &c)| acc | (((c as u32 & 0xFF) as u64) << (8 * i)))
}

/// `s_axis_tuser` value of a beat: lane `i` width at bits `4i..4i+4`.
pub fn beat_tuser(beat: &PackBeat) -> u64 {
    beat.widths.iter().enumerate().fold(0u64, |acc, (i, &w)| acc | (((w & 0xF) as u64) << (4 * i)))
}

impl<const LANES: usize, const DW: usize, const UW: usize, const W: usize, const A: usize> AxisDut
    for VarWidthPacker<LANES, DW, UW, W, A>
{
    type Beat = PackBeat;

    crate::axis_handshake!();

    fn drive_input(&mut self, beat: Option<&PackBeat>) {
        match beat {
            Some(b) => {
                assert_eq!(b.codes.len(), LANES, "beat has {} codes, packer has {LANES} lanes", b.codes.len());
                assert_eq!(b.widths.len(), LANES, "beat has {} widths, packer has {LANES} lanes", b.widths.len());
                self.s_axis_tdata.next = beat_tdata(b).into();
                self.s_axis_tuser.next = beat_tuser(b).into();
                self.s_axis_tlast.next = b.last;
                self.s_axis_tvalid.next = true;
            }
            None => {
                self.s_axis_tvalid.next = false;
            }
        }
    }
    fn output(&self) -> Option<OutWord> {
        if self.m_axis_tvalid.val() {
            Some(OutWord { data: self.m_axis_tdata.val().to_u64(), last: self.m_axis_tlast.val() })
        } else {
            None
        }
    }
}

/// Expected packer output for `beats`: the words of the golden
/// `pack_beats`, each tagged with its tile, and `last` on the final word of
/// every tile that has at least one bit (an empty tile yields no word).
///
/// Panics if the beats do not end with `last = true` (the hardware only
/// flushes on `tlast`) or if the tile accounting disagrees with the golden
/// word count.
pub fn expected_words(beats: &[PackBeat], word_bits: u32) -> Vec<ExpectedWord> {
    assert!(beats.last().map(|b| b.last).unwrap_or(true), "a packer stream must end with a tlast beat");
    let words = pack_beats(beats, word_bits);
    let mut tags = Vec::with_capacity(words.len());
    let (mut tile, mut bits) = (0usize, 0u64);
    for b in beats {
        bits += b.widths.iter().map(|&w| w.min(8) as u64).sum::<u64>();
        if b.last {
            let n = bits.div_ceil(word_bits as u64) as usize;
            for k in 0..n {
                tags.push((tile, k + 1 == n));
            }
            tile += 1;
            bits = 0;
        }
    }
    assert_eq!(tags.len(), words.len(), "tile accounting disagrees with golden pack_beats");
    words.into_iter().zip(tags).map(|(data, (tile, last))| ExpectedWord { data, last, tile }).collect()
}

/// A random beat: each lane's width is drawn from 0..=8, except that with
/// probability 0.1 all widths are 0 and with probability 0.1 all are 8;
/// codes are random 8-bit two's complement values with -128/127/-1/0
/// extremes over-represented; `last` with probability `p_last`.
pub fn random_beat<R: Rng>(rng: &mut R, lanes: usize, p_last: f64) -> PackBeat {
    let mode = rng.gen_range(0..10);
    let widths: Vec<u32> = (0..lanes)
        .map(|_| match mode {
            0 => 0,
            1 => 8,
            _ => rng.gen_range(0..=8),
        })
        .collect();
    let codes: Vec<i32> = (0..lanes)
        .map(|_| match rng.gen_range(0..8) {
            0 => -128,
            1 => 127,
            2 => -1,
            3 => 0,
            _ => rng.gen_range(-128..=127),
        })
        .collect();
    PackBeat { codes, widths, last: rng.gen_bool(p_last) }
}

/// `tiles` tiles of random beats: each tile has 1..=`max_tile_beats`
/// beats (the final one with `last`), and with probability 0.1 a tile is
/// made only of zero-width beats.
pub fn random_tiles<R: Rng>(rng: &mut R, lanes: usize, tiles: usize, max_tile_beats: usize) -> Vec<PackBeat> {
    let mut beats = Vec::new();
    for _ in 0..tiles {
        let n = rng.gen_range(1..=max_tile_beats);
        let empty = rng.gen_bool(0.1);
        for k in 0..n {
            let mut b = random_beat(rng, lanes, 0.0);
            if empty {
                b.widths.iter_mut().for_each(|w| *w = 0);
            }
            b.last = k + 1 == n;
            beats.push(b);
        }
    }
    beats
}
