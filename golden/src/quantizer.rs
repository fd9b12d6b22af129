//! The group quantizer (step 4 of the scheme): a fine uniform index followed
//! by a code table, and the level table that reconstructs each code.
//!
//! `fine = clamp((y * qmul + 2^15) >> 16, -128, 127)` (arithmetic shift: round
//! half toward +infinity on the fine grid of step `65536 / qmul`),
//! `code = encode[fine + 128]` (a `bits`-bit two's complement value),
//! `y^ = levels[code + 2^(bits-1)]`. A 0-bit group has no code and `y^ = 0`.

use crate::policy::{GroupPolicy, QUANT_SHIFT};

/// The fine quantization index of a transform output.
#[inline]
pub fn fine_index(y: i32, qmul: u32) -> i32 {
    let v = (y as i64 * qmul as i64 + (1i64 << (QUANT_SHIFT - 1))) >> QUANT_SHIFT;
    v.clamp(-128, 127) as i32
}

/// A group's quantizer in evaluation form.
#[derive(Debug, Clone)]
pub struct GroupQuantizer {
    /// Code width (0 = dropped).
    pub bits: u32,
    /// Fine multiplier.
    pub qmul: u32,
    /// Code of each fine index (+128).
    pub encode: Vec<i32>,
    /// Level of each code (+2^(bits-1)).
    pub levels: Vec<i32>,
}

impl GroupQuantizer {
    /// From a validated group policy.
    pub fn new(g: &GroupPolicy) -> Self {
        GroupQuantizer { bits: g.bits, qmul: g.qmul, encode: g.encode.clone(), levels: g.levels.clone() }
    }

    /// Code of a transform output (0 for a 0-bit group).
    #[inline]
    pub fn quantize(&self, y: i32) -> i32 {
        if self.bits == 0 {
            return 0;
        }
        self.encode[(fine_index(y, self.qmul) + 128) as usize]
    }

    /// Reconstruction of a code.
    #[inline]
    pub fn dequantize(&self, code: i32) -> i32 {
        if self.bits == 0 {
            return 0;
        }
        self.levels[(code + (1 << (self.bits - 1))) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fine_index_rounds_and_clips() {
        // qmul 32768: fine step 2
        assert_eq!(fine_index(1, 32768), 1); // 0.5 -> 1
        assert_eq!(fine_index(-1, 32768), 0); // -0.5 -> 0
        assert_eq!(fine_index(-3, 32768), -1); // -1.5 -> -1
        assert_eq!(fine_index(32767, 32767), 127);
        assert_eq!(fine_index(-32768, 32767), -128);
    }
}
