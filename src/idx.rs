//! Reader for the IDX format of the MNIST and Fashion-MNIST distributions
//! (`*-images-idx3-ubyte`, `*-labels-idx1-ubyte`), plain or gzip-compressed
//! (recognised by the gzip magic, whatever the file name says).
//!
//! Layout: two zero bytes, a type byte (0x08 = unsigned byte, the only type
//! these data sets use and the only one read here), the number of
//! dimensions, each dimension as a big-endian u32, then the values in C order.

use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// An unsigned-byte IDX array.
#[derive(Debug, Clone)]
pub struct IdxU8 {
    /// Dimensions, outermost first (e.g. [10000, 28, 28] for images, [10000] for labels).
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: Vec<u8>,
}

/// True when the file starts like an IDX file or a gzip stream (so `.npy` readers can hand it over).
pub fn looks_like_idx(path: &Path) -> bool {
    let mut head = [0u8; 4];
    match std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)) {
        Ok(()) => (head[0] == 0x1f && head[1] == 0x8b) || (head[0] == 0 && head[1] == 0 && head[2] == 0x08),
        Err(_) => false,
    }
}

/// Reads an IDX file of unsigned bytes, gunzipping it first when it is gzip-compressed.
pub fn read_idx_u8(path: &Path) -> Result<IdxU8> {
    let name = path.display();
    let raw = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    let bytes = if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| anyhow!("{name}: corrupt gzip stream ({e})"))?;
        out
    } else {
        raw
    };
    parse_idx_u8(&bytes).map_err(|e| anyhow!("{name}: {e}"))
}

/// Parses the bytes of an (uncompressed) IDX file of unsigned bytes.
pub fn parse_idx_u8(bytes: &[u8]) -> Result<IdxU8> {
    if bytes.len() < 4 {
        bail!("not an IDX file (only {} bytes)", bytes.len());
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        bail!("not an IDX file (magic starts {:02x} {:02x}, expected 00 00)", bytes[0], bytes[1]);
    }
    if bytes[2] != 0x08 {
        bail!("IDX type byte 0x{:02x} is not supported; only 0x08 (unsigned byte) is", bytes[2]);
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        bail!("IDX header declares 0 dimensions");
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        bail!("truncated IDX header: {ndim} dimensions need {header} bytes, file has {}", bytes.len());
    }
    let shape: Vec<usize> =
        (0..ndim).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize).collect();
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| anyhow!("IDX dimensions {shape:?} overflow"))?;
    let body = &bytes[header..];
    if body.len() != count {
        bail!("IDX dimensions {shape:?} need {count} bytes of data, file has {}", body.len());
    }
    Ok(IdxU8 { shape, data: body.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(shape: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, shape.len() as u8];
        for d in shape {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn parses_a_small_array() {
        let a = parse_idx_u8(&idx(&[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_malformed_files() {
        let short = parse_idx_u8(&idx(&[2, 3], &[1, 2, 3])).unwrap_err().to_string();
        assert!(short.contains("need 6 bytes"), "{short}");
        let long = parse_idx_u8(&idx(&[1], &[1, 2])).unwrap_err().to_string();
        assert!(long.contains("need 1 bytes"), "{long}");
        let magic = parse_idx_u8(b"\x93NUMPY\x01\x00").unwrap_err().to_string();
        assert!(magic.contains("not an IDX file"), "{magic}");
        let mut f32s = idx(&[1], &[0, 0, 0, 0]);
        f32s[2] = 0x0d;
        assert!(parse_idx_u8(&f32s).unwrap_err().to_string().contains("0x0d"));
        let head = parse_idx_u8(&[0, 0, 8, 3, 0, 0]).unwrap_err().to_string();
        assert!(head.contains("truncated IDX header"), "{head}");
    }
}
