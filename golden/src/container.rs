//! The `.acz` software container around a payload (docs/stream-format.md):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"ACZ\x1a"` |
//! | 4 | 2 | container version (1), u16 LE |
//! | 6 | 1 | dtype code (0 f32, 1 f64, 2 i8, 3 u8) |
//! | 7 | 1 | number of axes D (2..=8) |
//! | 8 | 8 | policy fingerprint, u64 LE |
//! | 16 | 4 | payload word bits W (32 or 64), u32 LE |
//! | 20 | 4 | reserved, 0 |
//! | 24 | 8·D | dimensions, u64 LE each |
//! | 24+8D | 8 | payload word count, u64 LE |
//! | 32+8D | W/8 per word | payload words, little-endian |
//! | end-4 | 4 | CRC-32 (IEEE) of every preceding byte, u32 LE |

use crate::error::{GoldenError, Result};
use crate::policy::{Dtype, Policy};

/// Container magic.
pub const MAGIC: [u8; 4] = *b"ACZ\x1a";
/// Container version this build reads and writes.
pub const CONTAINER_VERSION: u16 = 1;

/// A parsed container.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// Element type of the original tensor.
    pub dtype: Dtype,
    /// Shape of the original tensor.
    pub shape: Vec<usize>,
    /// Fingerprint of the policy that made it.
    pub fingerprint: u64,
    /// Payload word width.
    pub word_bits: u32,
    /// Payload words.
    pub words: Vec<u64>,
}

/// Bytes of container overhead (everything but the payload words) for `axes` axes.
pub fn header_bytes(axes: usize) -> usize {
    24 + 8 * axes + 8 + 4
}

impl Container {
    /// Serializes to bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let wb = (self.word_bits / 8) as usize;
        let mut out = Vec::with_capacity(header_bytes(self.shape.len()) + self.words.len() * wb);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&CONTAINER_VERSION.to_le_bytes());
        out.push(self.dtype.code());
        out.push(self.shape.len() as u8);
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        out.extend_from_slice(&self.word_bits.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for &d in &self.shape {
            out.extend_from_slice(&(d as u64).to_le_bytes());
        }
        out.extend_from_slice(&(self.words.len() as u64).to_le_bytes());
        for &w in &self.words {
            out.extend_from_slice(&w.to_le_bytes()[..wb]);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses bytes; `name` labels errors. Checks magic, version, sizes and checksum.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Container> {
        let trunc = |what: &str| GoldenError::Truncated(format!("{name}: file ends inside the {what}"));
        let corrupt = |what: String| GoldenError::Corrupt(format!("{name}: {what}"));
        if bytes.len() < 4 {
            return Err(trunc("magic"));
        }
        if bytes[..4] != MAGIC {
            return Err(corrupt("not an .acz file (bad magic)".into()));
        }
        if bytes.len() < 24 {
            return Err(trunc("header"));
        }
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != CONTAINER_VERSION {
            return Err(corrupt(format!("container version {version}; this build reads {CONTAINER_VERSION}")));
        }
        let dtype = Dtype::from_code(bytes[6]).ok_or_else(|| corrupt(format!("unknown dtype code {}", bytes[6])))?;
        let axes = bytes[7] as usize;
        if !(2..=8).contains(&axes) {
            return Err(corrupt(format!("{axes} axes; 2..=8 allowed")));
        }
        let fingerprint = u64_at(8);
        let word_bits = u32_at(16);
        if word_bits != 32 && word_bits != 64 {
            return Err(corrupt(format!("payload word width {word_bits}")));
        }
        let hdr = 24 + 8 * axes + 8;
        if bytes.len() < hdr {
            return Err(trunc("shape"));
        }
        let shape: Vec<usize> = (0..axes).map(|a| u64_at(24 + 8 * a) as usize).collect();
        let nwords = u64_at(24 + 8 * axes);
        let wb = (word_bits / 8) as u64;
        let body = (bytes.len() - hdr) as u64;
        let need = nwords.checked_mul(wb).and_then(|x| x.checked_add(4));
        match need {
            Some(n) if n == body => {}
            Some(n) if n > body => return Err(trunc("payload")),
            _ => return Err(corrupt(format!("{} bytes after the header, {nwords} words of {word_bits} bits declared", body))),
        }
        let end = bytes.len() - 4;
        let crc = u32::from_le_bytes(bytes[end..].try_into().unwrap());
        if crc32fast::hash(&bytes[..end]) != crc {
            return Err(corrupt("checksum mismatch: the file is damaged".into()));
        }
        let words = bytes[hdr..end]
            .chunks_exact(wb as usize)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(b)
            })
            .collect();
        Ok(Container { dtype, shape, fingerprint, word_bits, words })
    }

    /// Checks that this container was made by `policy`.
    pub fn check_policy(&self, policy: &Policy, name: &str) -> Result<()> {
        if self.fingerprint != policy.fingerprint() {
            return Err(GoldenError::PolicyMismatch(format!(
                "{name} was made with policy {:016x}, not with this one ({:016x})",
                self.fingerprint,
                policy.fingerprint()
            )));
        }
        if self.word_bits != policy.word_bits || self.dtype != policy.input.source_dtype {
            return Err(GoldenError::PolicyMismatch(format!("{name}: word width or dtype differs from the policy")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Container {
        Container { dtype: Dtype::F32, shape: vec![2, 4, 3], fingerprint: 0x1234, word_bits: 32, words: vec![1, 2, 0xffff_ffff] }
    }

    #[test]
    fn roundtrip() {
        let c = sample();
        let b = c.to_bytes();
        assert_eq!(b.len(), header_bytes(3) + 12);
        assert_eq!(Container::from_bytes(&b, "x").unwrap(), c);
    }

    #[test]
    fn every_truncation_and_bitflip_is_an_error() {
        let b = sample().to_bytes();
        for n in 0..b.len() {
            assert!(Container::from_bytes(&b[..n], "x").is_err(), "truncated at {n}");
        }
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut m = b.clone();
                m[i] ^= 1 << bit;
                assert!(Container::from_bytes(&m, "x").is_err(), "flip byte {i} bit {bit}");
            }
        }
    }
}
