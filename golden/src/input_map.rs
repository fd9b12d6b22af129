//! The int8 / uint8 input mapping: source values <-> integer codes the
//! hardware sees (step 1 of the scheme).

use crate::error::{GoldenError, Result};
use crate::policy::{CodeRange, Dtype, InputFormat};
use crate::tensor::{Tensor, TensorData};

/// Maps one float to its integer code: `clamp(round_half_away(x/scale) + zp, min, max)`.
#[inline]
pub fn float_to_code(x: f64, f: &InputFormat) -> i32 {
    let q = (x / f.scale).round() + f.zero_point as f64;
    q.clamp(f.code_range.min() as f64, f.code_range.max() as f64) as i32
}

/// Maps an integer code back to the source value: `(q - zp) * scale`.
#[inline]
pub fn code_to_float(q: i32, f: &InputFormat) -> f64 {
    (q - f.zero_point) as f64 * f.scale
}

/// Converts a tensor to integer codes (C order), checking dtype and finiteness.
pub fn to_codes(t: &Tensor, f: &InputFormat, name: &str) -> Result<Vec<i16>> {
    if t.dtype() != f.source_dtype {
        return Err(GoldenError::BadInput(format!(
            "{name}: dtype {:?} does not match the policy's source dtype {:?}",
            t.dtype(),
            f.source_dtype
        )));
    }
    t.check_finite(name)?;
    Ok(match &t.data {
        TensorData::F32(v) => v.iter().map(|&x| float_to_code(x as f64, f) as i16).collect(),
        TensorData::F64(v) => v.iter().map(|&x| float_to_code(x, f) as i16).collect(),
        TensorData::I8(v) => v.iter().map(|&x| x as i16).collect(),
        TensorData::U8(v) => v.iter().map(|&x| x as i16).collect(),
    })
}

/// Converts integer codes back to a tensor of the source dtype.
pub fn from_codes(codes: &[i16], shape: Vec<usize>, f: &InputFormat) -> Result<Tensor> {
    let data = match f.source_dtype {
        Dtype::F32 => TensorData::F32(codes.iter().map(|&q| code_to_float(q as i32, f) as f32).collect()),
        Dtype::F64 => TensorData::F64(codes.iter().map(|&q| code_to_float(q as i32, f)).collect()),
        Dtype::I8 => TensorData::I8(codes.iter().map(|&q| q.clamp(-128, 127) as i8).collect()),
        Dtype::U8 => TensorData::U8(codes.iter().map(|&q| q.clamp(0, 255) as u8).collect()),
    };
    Tensor::new(shape, data)
}

/// Chooses the input mapping for calibration tensors: integer sources as
/// they are; non-negative floats (post-ReLU) to uint8 with zero point 0 and
/// scale max/255; signed floats to int8 with the affine scale (max-min)/255.
pub fn choose_input_format(tensors: &[&Tensor]) -> Result<InputFormat> {
    let dtype = tensors[0].dtype();
    if let Some(t) = tensors.iter().find(|t| t.dtype() != dtype) {
        return Err(GoldenError::BadInput(format!(
            "calibration tensors mix dtypes {:?} and {:?}",
            dtype,
            t.dtype()
        )));
    }
    match dtype {
        Dtype::I8 => return Ok(InputFormat { source_dtype: dtype, code_range: CodeRange::Int8, scale: 1.0, zero_point: 0 }),
        Dtype::U8 => return Ok(InputFormat { source_dtype: dtype, code_range: CodeRange::Uint8, scale: 1.0, zero_point: 0 }),
        _ => {}
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for t in tensors {
        for x in t.to_f64() {
            lo = lo.min(x);
            hi = hi.max(x);
        }
    }
    if lo >= 0.0 {
        let scale = if hi > 0.0 { hi / 255.0 } else { 1.0 };
        Ok(InputFormat { source_dtype: dtype, code_range: CodeRange::Uint8, scale, zero_point: 0 })
    } else {
        let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
        Ok(InputFormat { source_dtype: dtype, code_range: CodeRange::Int8, scale, zero_point: zp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_floats_map_to_uint8() {
        let t = Tensor::new(vec![1, 4], TensorData::F32(vec![0.0, 1.0, 2.55, 0.004])).unwrap();
        let f = choose_input_format(&[&t]).unwrap();
        assert_eq!(f.code_range, CodeRange::Uint8);
        let c = to_codes(&t, &f, "t").unwrap();
        assert_eq!(c, vec![0, 100, 255, 0]);
    }

    #[test]
    fn signed_floats_map_to_int8_and_back() {
        let t = Tensor::new(vec![1, 3], TensorData::F64(vec![-1.0, 0.0, 3.0])).unwrap();
        let f = choose_input_format(&[&t]).unwrap();
        assert_eq!(f.code_range, CodeRange::Int8);
        let c = to_codes(&t, &f, "t").unwrap();
        assert_eq!(c[0], -128);
        assert_eq!(c[2], 127);
        let back = from_codes(&c, vec![1, 3], &f).unwrap().to_f64();
        for (a, b) in back.iter().zip([-1.0, 0.0, 3.0]) {
            assert!((a - b).abs() <= f.scale / 2.0 + 1e-12);
        }
    }

    #[test]
    fn dtype_mismatch_is_an_error() {
        let t = Tensor::new(vec![1, 2], TensorData::I8(vec![1, 2])).unwrap();
        let f = InputFormat { source_dtype: Dtype::F32, code_range: CodeRange::Uint8, scale: 1.0, zero_point: 0 };
        assert!(to_codes(&t, &f, "t").is_err());
    }
}
