//! Fast bit packing for the codec's hot loops: the same LSB-first rule as
//! [`crate::bitstream`], on a 64-bit accumulator with no per-field error
//! handling.
//!
//! A payload of W-bit words (W = 32 or 64) read LSB-first is one continuous
//! bit sequence; W only decides where padding goes. So both sides work on a
//! continuous stream of u64 chunks and convert to W-bit words at the ends:
//! a W = 32 payload is the chunk stream cut into low and high halves.

/// Appends fields LSB-first to a continuous bit stream.
#[derive(Debug, Clone)]
pub struct BitSink {
    /// Full 64-bit chunks, or (in `halves` mode) full 32-bit words.
    chunks: Vec<u64>,
    acc: u64,
    fill: u32,
    /// Each full chunk is stored as its two 32-bit payload words (W = 32).
    halves: bool,
}

impl BitSink {
    /// An empty stream with room for `bits` bits.
    pub fn with_capacity_bits(bits: usize) -> Self {
        BitSink { chunks: Vec::with_capacity(bits / 64 + 1), acc: 0, fill: 0, halves: false }
    }

    /// An empty stream that stores `word_bits`-bit payload words as it goes
    /// (no conversion in [`BitSink::into_words`]), with room for `words` of them.
    pub fn for_words(word_bits: u32, words: usize) -> Self {
        BitSink { chunks: Vec::with_capacity(words + 2), acc: 0, fill: 0, halves: word_bits == 32 }
    }

    /// Stores a full 64-bit chunk.
    #[inline(always)]
    fn flush(&mut self, chunk: u64) {
        if self.halves {
            self.chunks.extend_from_slice(&[chunk & 0xffff_ffff, chunk >> 32]);
        } else {
            self.chunks.push(chunk);
        }
    }

    /// Appends the `bits` low bits of `v` (`bits` <= 64; the bits of `v` above them must be 0).
    #[inline(always)]
    pub fn push(&mut self, v: u64, bits: u32) {
        debug_assert!(bits <= 64 && (bits == 64 || v >> bits == 0));
        self.acc |= v << self.fill;
        let total = self.fill + bits;
        if total >= 64 {
            self.flush(self.acc);
            // the bits of v that did not fit (none when fill was 0)
            self.acc = v.checked_shr(64 - self.fill).unwrap_or(0);
            self.fill = total - 64;
        } else {
            self.fill = total;
        }
    }

    /// Appends a run of fields `(value, bits)` (each `bits` <= 64, value
    /// bits above `bits` zero) with the accumulator held in registers for
    /// the whole run: the same stream as [`BitSink::push`] field by field.
    #[inline(always)]
    pub fn push_run(&mut self, fields: impl Iterator<Item = (u64, u32)>) {
        let (mut acc, mut fill) = (self.acc, self.fill);
        for (v, bits) in fields {
            debug_assert!(bits <= 64 && (bits == 64 || v >> bits == 0));
            acc |= v << fill;
            fill += bits;
            if fill >= 64 {
                self.flush(acc);
                fill -= 64;
                // the bits of v that did not fit: bits - fill of them did
                // (1..=64 of them as fill was < 64 before this field; none
                // are left when all did)
                acc = v.checked_shr(bits - fill).unwrap_or(0);
            }
        }
        self.acc = acc;
        self.fill = fill;
    }

    /// Appends rows of fields: `fields` is rows of `bits.len()` fields, and
    /// field i of a row has `bits[i]` bits (each below 64; value bits above
    /// them zero). The same stream as [`BitSink::push`] field by field, with
    /// the accumulator in registers and no per-field iterator state.
    #[inline(always)]
    pub fn push_rows(&mut self, fields: &[u64], bits: &[u32]) {
        let (mut acc, mut fill) = (self.acc, self.fill);
        // room for every chunk the run fills, then stores through a local
        // length (no capacity check or length update in memory per chunk)
        let rows = fields.len() / bits.len().max(1);
        let run_bits = rows as u64 * bits.iter().map(|&n| n as u64).sum::<u64>();
        let per_chunk = if self.halves { 2 } else { 1 };
        let room = ((fill as u64 + run_bits) / 64) as usize * per_chunk;
        self.chunks.reserve(room);
        let (out, mut len) = (self.chunks.as_mut_ptr(), self.chunks.len());
        let end = len + room;
        for row in fields.chunks_exact(bits.len()) {
            for (&v, &n) in row.iter().zip(bits) {
                debug_assert!(n < 64 && v >> n == 0);
                acc |= v << fill;
                fill += n;
                if fill >= 64 {
                    assert!(len + per_chunk <= end);
                    // SAFETY: within the room reserved above (checked)
                    unsafe {
                        if self.halves {
                            out.add(len).write(acc & 0xffff_ffff);
                            out.add(len + 1).write(acc >> 32);
                        } else {
                            out.add(len).write(acc);
                        }
                    }
                    len += per_chunk;
                    fill -= 64;
                    // the bits of v that did not fit: n - fill of them did, 1..=63
                    // (fill was above 0 before this field, as n < 64)
                    acc = v >> (n - fill);
                }
            }
        }
        // SAFETY: the first `len` chunks are written (the old ones and those above)
        unsafe { self.chunks.set_len(len) };
        self.acc = acc;
        self.fill = fill;
    }

    /// Appends a bit string held LSB-first in `chunks`, `bits` long.
    #[inline]
    pub fn push_bits(&mut self, chunks: &[u64], bits: u32) {
        let full = (bits / 64) as usize;
        for &c in &chunks[..full] {
            self.push(c, 64);
        }
        let rest = bits % 64;
        if rest > 0 {
            self.push(chunks[full], rest);
        }
    }

    /// Zero bits up to the next multiple of `word_bits` (32 or 64).
    #[inline]
    pub fn align(&mut self, word_bits: u32) {
        if self.fill == 0 {
            return;
        }
        if word_bits == 32 && self.fill <= 32 {
            self.fill = 32;
        } else {
            self.flush(self.acc);
            self.acc = 0;
            self.fill = 0;
        }
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> u64 {
        self.chunks.len() as u64 * if self.halves { 32 } else { 64 } + self.fill as u64
    }

    /// The stream as `word_bits`-bit payload words; call after [`BitSink::align`].
    pub fn into_words(mut self, word_bits: u32) -> Vec<u64> {
        debug_assert!(self.fill.is_multiple_of(word_bits));
        if self.halves {
            assert_eq!(word_bits, 32, "a sink made for W = 32 words");
            if self.fill == 32 {
                self.chunks.push(self.acc & 0xffff_ffff);
            }
            return self.chunks;
        }
        if word_bits == 64 {
            return self.chunks;
        }
        let half = self.fill == 32;
        if half {
            self.chunks.push(self.acc);
        }
        let mut words = Vec::with_capacity(self.chunks.len() * 2);
        for &c in &self.chunks {
            words.push(c & 0xffff_ffff);
            words.push(c >> 32);
        }
        if half {
            words.pop();
        }
        words
    }
}

/// Reads fields LSB-first from a continuous bit stream without per-field
/// checks: callers know from the payload length how far they may read.
#[derive(Debug, Clone)]
pub struct BitSource {
    /// The stream plus one zero chunk, so a read never needs a branch at a chunk edge.
    chunks: Vec<u64>,
    pos: usize,
}

impl BitSource {
    /// The stream of `word_bits`-bit payload words (for W = 32 only each word's low 32 bits count).
    pub fn from_words(words: &[u64], word_bits: u32) -> Self {
        let mut chunks = if word_bits == 64 {
            let mut v = Vec::with_capacity(words.len() + 2);
            v.extend_from_slice(words);
            v
        } else {
            let mut v = Vec::with_capacity(words.len() / 2 + 3);
            let pairs = words.chunks_exact(2);
            let last = pairs.remainder().first().map(|&w| w & 0xffff_ffff);
            v.extend(pairs.map(|p| (p[0] & 0xffff_ffff) | (p[1] << 32)));
            v.extend(last);
            v
        };
        chunks.extend([0, 0]);
        BitSource { chunks, pos: 0 }
    }

    /// Total bits of the payload words.
    pub fn bit_pos(&self) -> usize {
        self.pos
    }

    /// The next `bits` bits (`bits` <= 57: at most two chunks).
    #[inline(always)]
    pub fn peek(&self, bits: u32) -> u64 {
        self.peek_at(0, bits)
    }

    /// The 128 bits from the read position on (zeros past the stream's end).
    #[inline(always)]
    pub fn window128(&self) -> u128 {
        let i = self.pos >> 6;
        let o = (self.pos & 63) as u32;
        let c = |j: usize| self.chunks.get(j).copied().unwrap_or(0);
        let (c0, c1, c2) = (c(i), c(i + 1), c(i + 2));
        // (x << 1) << (63 - o) is x << (64 - o) without a shift by 64 when o = 0
        let lo = (c0 >> o) | ((c1 << 1) << (63 - o));
        let hi = (c1 >> o) | ((c2 << 1) << (63 - o));
        lo as u128 | (hi as u128) << 64
    }

    /// The `bits` bits (`bits` <= 57) starting `offset` bits after the read position.
    #[inline(always)]
    pub fn peek_at(&self, offset: usize, bits: u32) -> u64 {
        debug_assert!(bits <= 57);
        let pos = self.pos + offset;
        let i = pos >> 6;
        let o = (pos & 63) as u32;
        let lo = self.chunks[i] >> o;
        // (x << 1) << (63 - o) is x << (64 - o) without the undefined shift by 64 when o = 0
        let hi = (self.chunks[i + 1] << 1) << (63 - o);
        (lo | hi) & ((1u64 << bits) - 1)
    }

    /// At least the 57 bits starting `offset` bits after the read position
    /// (in the low bits; the bits above them are the stream's next ones),
    /// where that bit lies inside the stream: one unaligned load.
    #[inline(always)]
    pub fn peek57_at(&self, offset: usize) -> u64 {
        assert!(self.peek57_ok(offset), "bit position past the stream");
        // SAFETY: checked just above
        unsafe { self.peek57_at_unchecked(offset) }
    }

    /// Whether [`BitSource::peek57_at_unchecked`] may read at `offset` (and
    /// at every smaller one) from the read position.
    #[inline(always)]
    pub fn peek57_ok(&self, offset: usize) -> bool {
        ((self.pos + offset) >> 6) + 1 < self.chunks.len()
    }

    /// [`BitSource::peek57_at`] without its check.
    ///
    /// # Safety
    /// [`BitSource::peek57_ok`] holds for `offset`.
    #[inline(always)]
    pub unsafe fn peek57_at_unchecked(&self, offset: usize) -> u64 {
        let pos = self.pos + offset;
        debug_assert!(self.peek57_ok(offset));
        #[cfg(target_endian = "little")]
        // SAFETY: the chunk after pos's exists (`peek57_ok`, the caller's
        // check), so bytes (pos >> 3) .. (pos >> 3) + 8 lie in the chunks; on a
        // little-endian machine they are the stream's bits in order
        unsafe {
            std::ptr::read_unaligned((self.chunks.as_ptr() as *const u8).add(pos >> 3) as *const u64) >> (pos & 7)
        }
        #[cfg(not(target_endian = "little"))]
        self.peek64_at(offset)
    }

    /// The 64 bits starting `offset` bits after the read position, where
    /// that bit lies inside the stream (zeros past its end).
    #[inline(always)]
    pub fn peek64_at(&self, offset: usize) -> u64 {
        let pos = self.pos + offset;
        let (i, o) = (pos >> 6, (pos & 63) as u32);
        (self.chunks[i] >> o) | ((self.chunks[i + 1] << 1) << (63 - o))
    }

    /// Reads `bits` bits (`bits` <= 57).
    #[inline(always)]
    pub fn read(&mut self, bits: u32) -> u64 {
        let v = self.peek(bits);
        self.pos += bits as usize;
        v
    }

    /// Moves on by `bits` bits.
    #[inline(always)]
    pub fn skip(&mut self, bits: usize) {
        self.pos += bits;
    }

    /// Whether the next `bits` bits equal the bit string held LSB-first in `chunks`.
    #[inline]
    pub fn starts_with(&self, chunks: &[u64], bits: u32) -> bool {
        let mut at = 0u32;
        let mut i = 0;
        let mut probe = self.clone_pos();
        while at < bits {
            let n = (bits - at).min(32);
            let want = (chunks[i / 2] >> (32 * (i % 2))) & ((1u64 << n) - 1);
            if probe.read(n) != want {
                return false;
            }
            at += n;
            i += 1;
        }
        true
    }

    fn clone_pos(&self) -> Probe<'_> {
        Probe { chunks: &self.chunks, pos: self.pos }
    }

    /// Skips to the next multiple of `word_bits`; false if a skipped bit is 1.
    #[inline]
    pub fn align(&mut self, word_bits: u32) -> bool {
        debug_assert!(word_bits.is_power_of_two());
        // (a mask, not `%`: this runs once per tile and a division is slow)
        let mask = word_bits as usize - 1;
        let pad = (word_bits as usize - (self.pos & mask)) & mask;
        if pad == 0 {
            return true;
        }
        let ok = self.peek(pad.min(57) as u32) == 0 && (pad <= 57 || self.clone_pos().skip_read(57, pad as u32 - 57) == 0);
        self.pos += pad;
        ok
    }
}

/// A read position over a [`BitSource`]'s chunks that does not move the source.
struct Probe<'a> {
    chunks: &'a [u64],
    pos: usize,
}

impl Probe<'_> {
    #[inline(always)]
    fn read(&mut self, bits: u32) -> u64 {
        let i = self.pos >> 6;
        let o = (self.pos & 63) as u32;
        let lo = self.chunks[i] >> o;
        let hi = (self.chunks[i + 1] << 1) << (63 - o);
        self.pos += bits as usize;
        (lo | hi) & ((1u64 << bits) - 1)
    }

    fn skip_read(mut self, skip: usize, bits: u32) -> u64 {
        self.pos += skip;
        self.read(bits)
    }
}

/// Sign-extends the low `bits` bits of `v` (1..=32).
#[inline(always)]
pub fn sign_extend64(v: u64, bits: u32) -> i32 {
    let s = 64 - bits;
    ((v << s) as i64 >> s) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitstream::{BitReader, BitWriter};
    use rand::{Rng, SeedableRng};

    /// Random fields with random alignments, against the plain writer and reader.
    #[test]
    fn matches_the_plain_bitstream() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for case in 0..300 {
            let wb = if case % 2 == 0 { 32 } else { 64 };
            let mut plain = BitWriter::new(wb);
            let mut fast = BitSink::with_capacity_bits(0);
            let mut direct = BitSink::for_words(wb, 0);
            let mut fields = Vec::new();
            for _ in 0..rng.gen_range(0..400) {
                if rng.gen_bool(0.05) {
                    plain.align();
                    fast.align(wb);
                    direct.align(wb);
                    fields.push((0, u32::MAX));
                    continue;
                }
                let bits = rng.gen_range(0..=32u32);
                let v = if bits == 0 { 0 } else { rng.gen::<u64>() & ((1u64 << bits) - 1) };
                plain.push(v, bits);
                fast.push(v, bits);
                direct.push(v, bits);
                fields.push((v, bits));
            }
            plain.align();
            fast.align(wb);
            direct.align(wb);
            assert_eq!(fast.bit_len(), plain.bit_len(), "case {case}");
            assert_eq!(direct.bit_len(), plain.bit_len(), "case {case}");
            let words = plain.finish();
            assert_eq!(fast.into_words(wb), words, "case {case}");
            assert_eq!(direct.into_words(wb), words, "case {case}: words stored as they fill");
            let mut r = BitReader::new(&words, wb);
            let mut s = BitSource::from_words(&words, wb);
            for &(v, bits) in &fields {
                if bits == u32::MAX {
                    r.align().unwrap();
                    assert!(s.align(wb));
                } else {
                    assert_eq!(s.read(bits), v, "case {case}");
                    assert_eq!(r.read(bits).unwrap(), v, "case {case}");
                }
            }
        }
    }

    /// Rows of fields of 0..=63 bits each give the stream of the same fields pushed one by one.
    #[test]
    fn push_rows_matches_push() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for case in 0..300 {
            let wb = if case % 2 == 0 { 32 } else { 64 };
            let bits: Vec<u32> = (0..rng.gen_range(1..6)).map(|_| rng.gen_range(0..64u32)).collect();
            let fields: Vec<u64> = (0..bits.len() * rng.gen_range(0..20)).map(|i| rng.gen::<u64>() & ((1u64 << bits[i % bits.len()]) - 1)).collect();
            let lead = rng.gen_range(0..64u32);
            let (mut one, mut rows) = (BitSink::for_words(wb, 0), BitSink::for_words(wb, 0));
            one.push(0x5a5a_5a5a_5a5a_5a5a & ((1u64 << lead) - 1), lead);
            rows.push(0x5a5a_5a5a_5a5a_5a5a & ((1u64 << lead) - 1), lead);
            for (i, &v) in fields.iter().enumerate() {
                one.push(v, bits[i % bits.len()]);
            }
            rows.push_rows(&fields, &bits);
            one.align(wb);
            rows.align(wb);
            assert_eq!(rows.into_words(wb), one.into_words(wb), "case {case}: bits {bits:?}, lead {lead}");
        }
    }

    /// The 128-bit window equals the stream's bits at every position, zeros past its end.
    #[test]
    fn window128_matches_peeks() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for wb in [32, 64] {
            let words: Vec<u64> = (0..9).map(|_| rng.gen::<u64>() & if wb == 32 { 0xffff_ffff } else { u64::MAX }).collect();
            let mut s = BitSource::from_words(&words, wb);
            let total = words.len() * wb as usize;
            let bit = |j: usize| j < total && (words[j / wb as usize] >> (j % wb as usize)) & 1 == 1;
            for pos in 0..=total {
                let want = (0..128).fold(0u128, |v, j| v | (bit(pos + j) as u128) << j);
                assert_eq!(s.window128(), want, "W = {wb}, bit {pos}");
                s.skip(1);
            }
        }
    }

    #[test]
    fn bit_strings_and_padding() {
        let mut sink = BitSink::with_capacity_bits(0);
        let pattern = [0xdead_beef_0123_4567u64, 0x5];
        sink.push(3, 2);
        sink.push_bits(&pattern, 67);
        sink.align(32);
        let words = sink.into_words(32);
        assert_eq!(words.len(), 3);
        let mut s = BitSource::from_words(&words, 32);
        assert_eq!(s.read(2), 3);
        assert!(s.starts_with(&pattern, 67));
        assert!(!s.starts_with(&[0xdead_beef_0123_4566, 0x5], 67));
        s.skip(67);
        assert!(s.align(32));
        let mut bad = BitSource::from_words(&[1 << 5, 0], 32);
        bad.read(3);
        assert!(!bad.align(32));
        let mut bad = BitSource::from_words(&[0, 1 << 63], 64);
        bad.read(57);
        bad.read(9);
        assert!(!bad.align(64));
    }
}
