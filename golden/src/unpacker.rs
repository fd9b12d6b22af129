//! Golden counterpart of the hardware variable bit-width unpacker
//! (`hdl/src/unpacker.rs`): payload words and a per-beat list of lane widths
//! in, per-lane codes out. The inverse of [`crate::packer::pack_beats`].
//!
//! Beat `j` reads, for lanes `i = 0..LANES` in order, a `widths[i]`-bit two's
//! complement field LSB-first ([`BitReader::read_signed`]: sign-extended,
//! width 0 gives 0). A beat with `last` closes a tile: the rest of the
//! current word is padding and is skipped ([`BitReader::align`], which
//! rejects non-zero padding). Empty tiles (no bits) consume no word.

use crate::bitstream::BitReader;
use crate::error::{GoldenError, Result};

/// The widths of one beat of the unpacker and whether it closes a tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackBeat {
    /// Width of each lane's field, 0..=8 (0 = no field, code 0).
    pub widths: Vec<u32>,
    /// Skip to the next word boundary after this beat (end of tile).
    pub last: bool,
}

impl From<&crate::packer::PackBeat> for UnpackBeat {
    fn from(b: &crate::packer::PackBeat) -> Self {
        UnpackBeat { widths: b.widths.clone(), last: b.last }
    }
}

/// Reads `beats` from `words` (W = `word_bits`): one vector of sign-extended
/// codes per beat. Errors: a width above 8 (`Invalid`), a payload that ends
/// inside a field (`Truncated`), non-zero padding or words left over after
/// the final beat (`Corrupt`).
pub fn unpack_beats(words: &[u64], word_bits: u32, beats: &[UnpackBeat]) -> Result<Vec<Vec<i32>>> {
    let mut r = BitReader::new(words, word_bits);
    let mut out = Vec::with_capacity(beats.len());
    for (j, beat) in beats.iter().enumerate() {
        let mut codes = Vec::with_capacity(beat.widths.len());
        for (i, &w) in beat.widths.iter().enumerate() {
            if w > 8 {
                return Err(GoldenError::invalid(format!("beats[{j}].widths[{i}]"), format!("{w} is above 8")));
            }
            codes.push(r.read_signed(w)?);
        }
        if beat.last {
            r.align()?;
        }
        out.push(codes);
    }
    if r.words_consumed() != words.len() {
        return Err(GoldenError::Corrupt(format!(
            "{} payload words, the beats use only {}",
            words.len(),
            r.words_consumed()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packer::{pack_beats, PackBeat};
    use rand::{Rng, SeedableRng};

    fn sext(c: i32, w: u32) -> i32 {
        crate::bitstream::sign_extend(c as u32, w)
    }

    #[test]
    fn inverts_pack_beats() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for &wb in &[32u32, 64] {
            for lanes in [1usize, 4, 8] {
                let beats: Vec<PackBeat> = (0..500)
                    .map(|_| {
                        let widths: Vec<u32> = (0..lanes).map(|_| rng.gen_range(0..=8)).collect();
                        let codes = (0..lanes).map(|_| rng.gen_range(-128..=127)).collect();
                        PackBeat { codes, widths, last: rng.gen_bool(0.2) }
                    })
                    .chain(std::iter::once(PackBeat { codes: vec![0; lanes], widths: vec![0; lanes], last: true }))
                    .collect();
                let words = pack_beats(&beats, wb);
                let ub: Vec<UnpackBeat> = beats.iter().map(UnpackBeat::from).collect();
                let got = unpack_beats(&words, wb, &ub).unwrap();
                for (b, g) in beats.iter().zip(&got) {
                    let want: Vec<i32> = b.codes.iter().zip(&b.widths).map(|(&c, &w)| sext(c, w)).collect();
                    assert_eq!(g, &want);
                }
            }
        }
    }

    #[test]
    fn stream_format_example() {
        // stream-format.md: codes 2 and -3 in 3 bits give word 0b101_010
        let got = unpack_beats(&[0b101_010], 32, &[UnpackBeat { widths: vec![3, 3], last: true }]).unwrap();
        assert_eq!(got, vec![vec![2, -3]]);
    }

    #[test]
    fn rejects_bad_payloads() {
        let one = [UnpackBeat { widths: vec![8, 8], last: true }];
        assert!(matches!(unpack_beats(&[0b1 << 20], 32, &one), Err(GoldenError::Corrupt(_))));
        assert!(matches!(unpack_beats(&[0, 0], 32, &one), Err(GoldenError::Corrupt(_))));
        let long = [UnpackBeat { widths: vec![8; 5], last: true }];
        assert!(matches!(unpack_beats(&[0], 32, &long), Err(GoldenError::Truncated(_))));
        let wide = [UnpackBeat { widths: vec![9], last: true }];
        assert!(matches!(unpack_beats(&[0], 32, &wide), Err(GoldenError::Invalid { .. })));
    }
}
