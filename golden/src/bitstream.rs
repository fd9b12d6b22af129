//! LSB-first bit packing into W-bit words (W = 32 or 64): the payload rule.
//!
//! A field of `n` bits is appended at the current bit position `p`: its bit
//! `j` lands in word `(p + j) / W`, bit `(p + j) % W`. Fields may straddle
//! words. [`BitWriter::align`] pads with zero bits to the next word boundary.
//! The hardware packer (`hdl/src/packer.rs`, golden counterpart
//! `golden/src/packer.rs`) produces exactly these words.

use crate::error::{GoldenError, Result};

/// Word widths the payload may use.
pub const WORD_BITS_ALLOWED: [u32; 2] = [32, 64];

/// Checks that `word_bits` is a supported payload word width.
pub fn check_word_bits(word_bits: u32) -> Result<()> {
    if WORD_BITS_ALLOWED.contains(&word_bits) {
        Ok(())
    } else {
        Err(GoldenError::invalid(
            "word_bits",
            format!("{word_bits} is not a supported payload word width (32 or 64)"),
        ))
    }
}

/// Appends fields LSB-first into W-bit words.
#[derive(Debug, Clone)]
pub struct BitWriter {
    word_bits: u32,
    words: Vec<u64>,
    acc: u128,
    fill: u32,
}

impl BitWriter {
    /// A writer for `word_bits`-bit words (32 or 64; panics otherwise — callers validate policies first).
    pub fn new(word_bits: u32) -> Self {
        assert!(WORD_BITS_ALLOWED.contains(&word_bits), "word_bits must be 32 or 64");
        BitWriter { word_bits, words: Vec::new(), acc: 0, fill: 0 }
    }

    /// A writer that reserves room for `words` output words.
    pub fn with_capacity(word_bits: u32, words: usize) -> Self {
        let mut w = Self::new(word_bits);
        w.words.reserve(words);
        w
    }

    /// Appends the low `bits` bits of `value` (0 <= bits <= 32).
    #[inline]
    pub fn push(&mut self, value: u64, bits: u32) {
        debug_assert!(bits <= 32);
        if bits == 0 {
            return;
        }
        let v = (value & ((1u64 << bits) - 1)) as u128;
        self.acc |= v << self.fill;
        self.fill += bits;
        if self.fill >= self.word_bits {
            let mask = if self.word_bits == 64 { u64::MAX as u128 } else { (1u128 << self.word_bits) - 1 };
            self.words.push((self.acc & mask) as u64);
            self.acc >>= self.word_bits;
            self.fill -= self.word_bits;
        }
    }

    /// Pads with zero bits up to the next word boundary (no-op when aligned).
    pub fn align(&mut self) {
        if self.fill > 0 {
            self.words.push(self.acc as u64);
            self.acc = 0;
            self.fill = 0;
        }
    }

    /// Total bits written so far, padding included.
    pub fn bit_len(&self) -> u64 {
        self.words.len() as u64 * self.word_bits as u64 + self.fill as u64
    }

    /// Aligns and returns the words (each in the low `word_bits` bits of a u64).
    pub fn finish(mut self) -> Vec<u64> {
        self.align();
        self.words
    }
}

/// Reads fields LSB-first from W-bit words; running past the end is an error.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    words: &'a [u64],
    word_bits: u32,
    word: usize,
    acc: u128,
    fill: u32,
}

impl<'a> BitReader<'a> {
    /// A reader over `words` of `word_bits` bits each.
    pub fn new(words: &'a [u64], word_bits: u32) -> Self {
        assert!(WORD_BITS_ALLOWED.contains(&word_bits), "word_bits must be 32 or 64");
        BitReader { words, word_bits, word: 0, acc: 0, fill: 0 }
    }

    /// Reads an unsigned field of `bits` bits (0 <= bits <= 32).
    #[inline]
    pub fn read(&mut self, bits: u32) -> Result<u64> {
        debug_assert!(bits <= 32);
        if bits == 0 {
            return Ok(0);
        }
        if self.fill < bits {
            let Some(&w) = self.words.get(self.word) else {
                return Err(GoldenError::Truncated(format!(
                    "payload ends after {} words while a {}-bit field was being read",
                    self.words.len(),
                    bits
                )));
            };
            let w = if self.word_bits == 32 { w & 0xffff_ffff } else { w };
            self.acc |= (w as u128) << self.fill;
            self.fill += self.word_bits;
            self.word += 1;
        }
        let v = (self.acc & ((1u128 << bits) - 1)) as u64;
        self.acc >>= bits;
        self.fill -= bits;
        Ok(v)
    }

    /// Reads a `bits`-bit two's complement field, sign-extended.
    #[inline]
    pub fn read_signed(&mut self, bits: u32) -> Result<i32> {
        let v = self.read(bits)? as u32;
        Ok(sign_extend(v, bits))
    }

    /// Skips the rest of the current word (the reader side of [`BitWriter::align`]).
    /// Returns an error if the skipped padding bits are not zero.
    pub fn align(&mut self) -> Result<()> {
        if self.fill > 0 && self.acc != 0 {
            return Err(GoldenError::Corrupt(format!(
                "non-zero padding bits before word {}",
                self.word
            )));
        }
        self.acc = 0;
        self.fill = 0;
        Ok(())
    }

    /// Number of whole words consumed so far.
    pub fn words_consumed(&self) -> usize {
        self.word
    }
}

/// Sign-extends the low `bits` bits of `v` (1..=32); 0 bits gives 0.
#[inline]
pub fn sign_extend(v: u32, bits: u32) -> i32 {
    if bits == 0 {
        return 0;
    }
    let shift = 32 - bits;
    ((v << shift) as i32) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn lsb_first_layout() {
        let mut w = BitWriter::new(32);
        w.push(0b101, 3);
        w.push(0xff, 8);
        w.push(1, 1);
        let words = w.finish();
        assert_eq!(words, vec![0b1_11111111_101]);
    }

    #[test]
    fn straddles_words_and_roundtrips_every_width() {
        for &wb in &WORD_BITS_ALLOWED {
            let mut rng = rand::rngs::StdRng::seed_from_u64(wb as u64);
            let fields: Vec<(u32, u32)> = (0..5000)
                .map(|_| {
                    let b = rng.gen_range(0..=32u32);
                    let v = if b == 0 { 0 } else { rng.gen::<u32>() & (((1u64 << b) - 1) as u32) };
                    (v, b)
                })
                .collect();
            let mut w = BitWriter::new(wb);
            for &(v, b) in &fields {
                w.push(v as u64, b);
            }
            let total: u64 = fields.iter().map(|f| f.1 as u64).sum();
            assert_eq!(w.bit_len(), total);
            let words = w.finish();
            assert_eq!(words.len() as u64, total.div_ceil(wb as u64));
            let mut r = BitReader::new(&words, wb);
            for &(v, b) in &fields {
                assert_eq!(r.read(b).unwrap(), v as u64);
            }
        }
    }

    #[test]
    fn signed_fields() {
        for b in 1..=8u32 {
            let lo = -(1i32 << (b - 1));
            let hi = (1i32 << (b - 1)) - 1;
            let mut w = BitWriter::new(64);
            for c in lo..=hi {
                w.push(c as u32 as u64, b);
            }
            let words = w.finish();
            let mut r = BitReader::new(&words, 64);
            for c in lo..=hi {
                assert_eq!(r.read_signed(b).unwrap(), c);
            }
        }
    }

    #[test]
    fn reading_past_end_is_an_error() {
        let words = vec![0u64; 1];
        let mut r = BitReader::new(&words, 32);
        assert!(r.read(30).is_ok());
        assert!(matches!(r.read(3), Err(GoldenError::Truncated(_))));
    }

    #[test]
    fn nonzero_padding_is_detected() {
        let words = vec![0b1000u64];
        let mut r = BitReader::new(&words, 32);
        r.read(2).unwrap();
        assert!(r.align().is_err());
    }

}
