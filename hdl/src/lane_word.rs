//! Per-lane constants as one wide `Bits<N>` word (group maps of 3-bit
//! lanes, width maps of 4-bit lanes): built bit by bit, so blocks of 32 and
//! 64 lanes (words of 96 to 256 bits) do not overflow a `u64`.

use rust_hdl::prelude::*;

/// `values[i]` (each `width` bits) packed at bit `width * i` of an
/// `N`-bit constant; builds words wider than 64 bits (3-bit group maps and
/// 4-bit width maps of B = 32 and 64 lanes).
pub fn lane_word<const N: usize>(values: &[u64], width: usize) -> Bits<N> {
    assert!(values.len() * width <= N, "{} lanes of {width} bits do not fit {N} bits", values.len());
    let mut word = Bits::<N>::default();
    for (i, &v) in values.iter().enumerate() {
        assert!(width == 64 || v >> width == 0, "lane {i} value {v} does not fit {width} bits");
        for k in 0..width {
            word = word.replace_bit(width * i + k, (v >> k) & 1 == 1);
        }
    }
    word
}
