//! Activation tensors (N x C x spatial...) and their .npy files.

use crate::error::{GoldenError, Result};
use crate::policy::Dtype;
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::io::Cursor;
use std::path::Path;

/// The values of a tensor in their source element type.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// signed bytes.
    I8(Vec<i8>),
    /// unsigned bytes.
    U8(Vec<u8>),
}

/// A dense C-order tensor whose axis 1 is the channel axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, at least 2: N x C x (spatial...).
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: TensorData,
}

impl Tensor {
    /// Builds a tensor, checking that the shape has at least 2 axes and matches the data length.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor> {
        let t = Tensor { shape, data };
        t.check_shape()?;
        Ok(t)
    }

    fn check_shape(&self) -> Result<()> {
        if self.shape.len() < 2 {
            return Err(GoldenError::BadInput(format!(
                "tensor has shape {:?}; need at least 2 axes (N x C x ...), channels on axis 1",
                self.shape
            )));
        }
        let n: usize = self.shape.iter().product();
        if n != self.len() {
            return Err(GoldenError::BadInput(format!("shape {:?} holds {n} values, data has {}", self.shape, self.len())));
        }
        if n == 0 {
            return Err(GoldenError::BadInput(format!("tensor of shape {:?} is empty", self.shape)));
        }
        Ok(())
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::U8(v) => v.len(),
        }
    }

    /// Whether the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element type.
    pub fn dtype(&self) -> Dtype {
        match &self.data {
            TensorData::F32(_) => Dtype::F32,
            TensorData::F64(_) => Dtype::F64,
            TensorData::I8(_) => Dtype::I8,
            TensorData::U8(_) => Dtype::U8,
        }
    }

    /// Channel count (axis 1).
    pub fn channels(&self) -> usize {
        self.shape[1]
    }

    /// Values per channel per sample (product of the axes after 1).
    pub fn spatial(&self) -> usize {
        self.shape[2..].iter().product()
    }

    /// Number of pixel vectors (N x spatial).
    pub fn vectors(&self) -> usize {
        self.shape[0] * self.spatial()
    }

    /// All values as f64 (C order).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::I8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// Errors if any value is NaN or infinite, naming the first one's index.
    pub fn check_finite(&self, name: &str) -> Result<()> {
        let bad = match &self.data {
            TensorData::F32(v) => v.iter().position(|x| !x.is_finite()).map(|i| (i, v[i] as f64)),
            TensorData::F64(v) => v.iter().position(|x| !x.is_finite()).map(|i| (i, v[i])),
            _ => None,
        };
        match bad {
            Some((i, x)) => Err(GoldenError::BadInput(format!(
                "{name}: value {x} at flat index {i} (multi-index {:?}) is not finite",
                unravel(i, &self.shape)
            ))),
            None => Ok(()),
        }
    }

    /// Reads a .npy file of dtype f32, f64, i8 or u8 (C order, at least 2 axes).
    pub fn load_npy(path: &Path) -> Result<Tensor> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| GoldenError::Io { path: name.clone(), source: e })?;
        Self::from_npy_bytes(&bytes, &name)
    }

    /// Parses .npy bytes; `name` labels errors.
    pub fn from_npy_bytes(bytes: &[u8], name: &str) -> Result<Tensor> {
        let npy_err = |reason: String| GoldenError::Npy { path: name.to_string(), reason };
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err(npy_err("missing the \\x93NUMPY magic".into()));
        }
        let descr = header_descr(bytes).unwrap_or_else(|| "?".into());
        let fortran = header_text(bytes).map(|h| h.contains("'fortran_order': True")).unwrap_or(false);
        if fortran {
            return Err(npy_err("Fortran-order arrays are not supported; save with C order".into()));
        }
        macro_rules! try_read {
            ($t:ty, $variant:ident) => {
                match ArrayD::<$t>::read_npy(Cursor::new(bytes)) {
                    Ok(a) => {
                        let shape = a.shape().to_vec();
                        let data = a.into_raw_vec_and_offset().0;
                        return Tensor::new(shape, TensorData::$variant(data)).map_err(|e| npy_err(e.to_string()));
                    }
                    Err(ndarray_npy::ReadNpyError::WrongDescriptor(_)) => {}
                    Err(e) => return Err(npy_err(e.to_string())),
                }
            };
        }
        try_read!(f32, F32);
        try_read!(f64, F64);
        try_read!(i8, I8);
        try_read!(u8, U8);
        Err(npy_err(format!("dtype '{descr}' is not supported (use float32, float64, int8 or uint8)")))
    }

    /// Writes the tensor as a .npy file in its own dtype.
    pub fn save_npy(&self, path: &Path) -> Result<()> {
        let name = path.display().to_string();
        let file = std::fs::File::create(path).map_err(|e| GoldenError::Io { path: name.clone(), source: e })?;
        let w = std::io::BufWriter::new(file);
        let shape = IxDyn(&self.shape);
        let res = match &self.data {
            TensorData::F32(v) => ArrayD::from_shape_vec(shape, v.clone()).unwrap().write_npy(w),
            TensorData::F64(v) => ArrayD::from_shape_vec(shape, v.clone()).unwrap().write_npy(w),
            TensorData::I8(v) => ArrayD::from_shape_vec(shape, v.clone()).unwrap().write_npy(w),
            TensorData::U8(v) => ArrayD::from_shape_vec(shape, v.clone()).unwrap().write_npy(w),
        };
        res.map_err(|e| GoldenError::Npy { path: name, reason: e.to_string() })
    }
}

/// Flat C-order index to multi-index.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (a, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[a] = i % d;
            i /= d;
        }
    }
    idx
}

fn header_text(bytes: &[u8]) -> Option<String> {
    let major = *bytes.get(6)?;
    let (len, start) = if major == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize, 12)
    };
    let h = bytes.get(start..start + len)?;
    Some(String::from_utf8_lossy(h).into_owned())
}

fn header_descr(bytes: &[u8]) -> Option<String> {
    let h = header_text(bytes)?;
    let i = h.find("'descr'")?;
    let rest = &h[i + 7..];
    let q1 = rest.find('\'')?;
    let rest = &rest[q1 + 1..];
    let q2 = rest.find('\'')?;
    Some(rest[..q2].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_roundtrip_all_dtypes() {
        let dir = std::env::temp_dir().join(format!("actcomp-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ts = vec![
            Tensor::new(vec![2, 3], TensorData::F32(vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.0])).unwrap(),
            Tensor::new(vec![1, 2, 2], TensorData::F64(vec![0.5, -1.0, 2.0, 3.0])).unwrap(),
            Tensor::new(vec![2, 2], TensorData::I8(vec![-128, 127, 0, 1])).unwrap(),
            Tensor::new(vec![2, 1, 2], TensorData::U8(vec![0, 255, 7, 8])).unwrap(),
        ];
        for (i, t) in ts.iter().enumerate() {
            let p = dir.join(format!("t{i}.npy"));
            t.save_npy(&p).unwrap();
            assert_eq!(&Tensor::load_npy(&p).unwrap(), t);
        }
    }

    #[test]
    fn malformed_npy_is_a_clear_error() {
        let e = Tensor::from_npy_bytes(b"hello world", "x.npy").unwrap_err().to_string();
        assert!(e.contains("x.npy") && e.contains("magic"), "{e}");
        // a valid header for int32 data
        let mut buf = Vec::new();
        ArrayD::<i32>::zeros(IxDyn(&[2, 2])).write_npy(&mut buf).unwrap();
        let e = Tensor::from_npy_bytes(&buf, "y.npy").unwrap_err().to_string();
        assert!(e.contains("<i4") && e.contains("not supported"), "{e}");
        // truncated data
        let mut buf = Vec::new();
        ArrayD::<f32>::zeros(IxDyn(&[4, 4])).write_npy(&mut buf).unwrap();
        let e = Tensor::from_npy_bytes(&buf[..buf.len() - 5], "z.npy").unwrap_err().to_string();
        assert!(e.contains("z.npy"), "{e}");
        // 1-D arrays have no channel axis
        let mut buf = Vec::new();
        ArrayD::<f32>::zeros(IxDyn(&[4])).write_npy(&mut buf).unwrap();
        let e = Tensor::from_npy_bytes(&buf, "w.npy").unwrap_err().to_string();
        assert!(e.contains("at least 2 axes"), "{e}");
    }

    #[test]
    fn nan_is_reported_with_position() {
        let t = Tensor::new(vec![1, 2, 2], TensorData::F32(vec![0.0, 1.0, f32::NAN, 2.0])).unwrap();
        let e = t.check_finite("a.npy").unwrap_err().to_string();
        assert!(e.contains("NaN") && e.contains("[0, 1, 0]"), "{e}");
    }
}
