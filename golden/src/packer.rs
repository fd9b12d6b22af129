//! Golden counterpart of the hardware variable bit-width packer
//! (`hdl/src/packer.rs`): beats of per-lane codes and widths in, payload
//! words out, with the LSB-first rule of [`crate::bitstream`].

use crate::bitstream::BitWriter;

/// One input beat of the hardware packer: `LANES` codes with their widths,
/// and whether it closes a tile (then the word is padded out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackBeat {
    /// Two's complement codes; only the low `widths[i]` bits are packed.
    pub codes: Vec<i32>,
    /// Width of each lane's field, 0..=8 (0 = nothing packed for that lane).
    pub widths: Vec<u32>,
    /// Pad to the next word boundary after this beat (end of tile).
    pub last: bool,
}

/// Golden counterpart of the hardware variable bit-width packer: packs the
/// lanes of each beat in lane order, aligning after every `last` beat.
pub fn pack_beats(beats: &[PackBeat], word_bits: u32) -> Vec<u64> {
    let mut w = BitWriter::new(word_bits);
    for beat in beats {
        for (&c, &b) in beat.codes.iter().zip(&beat.widths) {
            w.push(c as u32 as u64, b);
        }
        if beat.last {
            w.align();
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_beats_aligns_on_last() {
        let beats = vec![
            PackBeat { codes: vec![-1, 1], widths: vec![2, 3], last: false },
            PackBeat { codes: vec![5, 0], widths: vec![4, 0], last: true },
            PackBeat { codes: vec![1, 1], widths: vec![1, 1], last: true },
        ];
        let w = pack_beats(&beats, 32);
        assert_eq!(w, vec![0b0101_001_11, 0b11]);
    }
}
