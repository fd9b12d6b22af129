//! Regression on the shipped real activations: a static policy calibrated
//! with B = 8 on `mnist_conv2_relu_calib.npy` (64 channels: 8 blocks), and
//! the first 200 pixel vectors of `mnist_conv2_relu_test.npy` through both
//! top levels (full rate, reset, stalls), bit-exact against the golden codec.

use actcomp_golden::calibrate::{calibrate, CalibrateOptions};
use actcomp_golden::input_map::to_codes;
use actcomp_golden::policy::Grouping;
use actcomp_golden::tensor::Tensor;
use actcomp_hdl::Multipliers;
use actcomp_sim::top::{first_vectors, simulate_compressor, simulate_decompressor, TlastMode, TopSimOptions};
use std::path::PathBuf;
use std::time::Instant;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/activations").join(name)
}

#[test]
fn mnist_conv2_static_b8_bit_exact_through_both_top_levels() {
    let t0 = Instant::now();
    let calib = Tensor::load_npy(&fixture("mnist_conv2_relu_calib.npy")).unwrap();
    let opts = CalibrateOptions { block_size: Some(8), grouping: Grouping::Static, try_transforms: vec![], try_groupings: vec![], ..Default::default() };
    let policy = calibrate(&[&calib], &opts, &|_, _| {}).unwrap().policy;
    assert_eq!((policy.channels, policy.block_size, policy.num_blocks()), (64, 8, 8));
    let t_cal = t0.elapsed().as_secs_f64();
    let test = Tensor::load_npy(&fixture("mnist_conv2_relu_test.npy")).unwrap();
    let codes = to_codes(&test, &policy.input, "test").unwrap();
    let (shape, codes) = first_vectors(&codes, &test.shape, 200);
    let o = TopSimOptions { stall_prob: 0.2, seed: 7, multipliers: Multipliers::Full, tlast: TlastMode::TensorEnd };
    let c = simulate_compressor(&policy, &codes, &shape, &o).unwrap();
    assert!(c.bit_exact, "compressor: {}", c.mismatch.unwrap());
    let d = simulate_decompressor(&policy, &codes, &shape, &o).unwrap();
    assert!(d.bit_exact, "decompressor: {}", d.mismatch.unwrap());
    println!("calibration {t_cal:.1}s, policy T={} W={} bits/vector={}", policy.tile, policy.word_bits, policy.bits_per_vector());
    for r in c.runs.iter().chain(&d.runs) {
        println!("{r:?}");
    }
    println!("total {:.1}s", t0.elapsed().as_secs_f64());
}

/// Dynamic grouping on real data: the default calibration of conv1 (32
/// channels, B = 8: 4 blocks, the importance sorters in the loop), 240
/// pixel vectors = 15 tiles, serial multiplier budget.
#[test]
fn mnist_conv1_dynamic_b8_bit_exact_through_both_top_levels() {
    let t0 = Instant::now();
    let calib = Tensor::load_npy(&fixture("mnist_conv1_relu_calib.npy")).unwrap();
    let opts = CalibrateOptions { block_size: Some(8), grouping: Grouping::Dynamic, try_groupings: vec![], ..Default::default() };
    let policy = calibrate(&[&calib], &opts, &|_, _| {}).unwrap().policy;
    assert_eq!((policy.channels, policy.grouping, policy.num_blocks()), (32, Grouping::Dynamic, 4));
    let test = Tensor::load_npy(&fixture("mnist_conv1_relu_test.npy")).unwrap();
    let codes = to_codes(&test, &policy.input, "test").unwrap();
    let (shape, codes) = first_vectors(&codes, &test.shape, 240);
    let o = TopSimOptions { stall_prob: 0.25, seed: 11, multipliers: Multipliers::Serial, tlast: TlastMode::TensorEnd };
    let c = simulate_compressor(&policy, &codes, &shape, &o).unwrap();
    assert!(c.bit_exact, "compressor: {}", c.mismatch.unwrap());
    let d = simulate_decompressor(&policy, &codes, &shape, &o).unwrap();
    assert!(d.bit_exact, "decompressor: {}", d.mismatch.unwrap());
    for r in c.runs.iter().chain(&d.runs) {
        println!("{r:?}");
    }
    println!("total {:.1}s", t0.elapsed().as_secs_f64());
}

/// Every transform with its real calibrated matrices (not testkit's random
/// ones): conv1 calibrated with PCA, DCT-II and identity (forced, not
/// chosen), static and dynamic grouping, B = 8 and 16, the first 48
/// held-out pixel vectors through both top levels with stalls.
#[test]
fn every_transform_calibrated_on_conv1_is_bit_exact_through_both_top_levels() {
    use actcomp_golden::policy::TransformKind;
    let calib = Tensor::load_npy(&fixture("mnist_conv1_relu_calib.npy")).unwrap();
    let test = Tensor::load_npy(&fixture("mnist_conv1_relu_test.npy")).unwrap();
    let cases = [
        (TransformKind::Pca, Grouping::Static, 8, Multipliers::Full),
        (TransformKind::Dct, Grouping::Dynamic, 8, Multipliers::Serial),
        (TransformKind::Identity, Grouping::Static, 16, Multipliers::Serial),
        (TransformKind::Dct, Grouping::Static, 16, Multipliers::Full),
    ];
    for (k, (transform, grouping, b, mult)) in cases.into_iter().enumerate() {
        let opts = CalibrateOptions { transform, block_size: Some(b), grouping, try_transforms: vec![], try_groupings: vec![], ..Default::default() };
        let policy = calibrate(&[&calib], &opts, &|_, _| {}).unwrap().policy;
        assert_eq!((policy.block_size, policy.grouping), (b, grouping));
        let codes = to_codes(&test, &policy.input, "test").unwrap();
        let (shape, codes) = first_vectors(&codes, &test.shape, 48);
        let o = TopSimOptions { stall_prob: 0.3, seed: k as u64, multipliers: mult, tlast: TlastMode::TensorEnd };
        let what = format!("{transform:?} {grouping:?} B={b} {mult:?}");
        let c = simulate_compressor(&policy, &codes, &shape, &o).unwrap();
        assert!(c.bit_exact, "{what}: compressor: {}", c.mismatch.unwrap());
        let d = simulate_decompressor(&policy, &codes, &shape, &o).unwrap();
        assert!(d.bit_exact, "{what}: decompressor: {}", d.mismatch.unwrap());
    }
}

/// One block of all channels (`calibrate --block all`) on both real
/// fixtures: conv1 (B = C = 32) with PCA and static grouping, conv2
/// (B = C = 64) with the calibration's own choice (dynamic grouping, a
/// 64-wire sorter), tile 16; 48 held-out pixel vectors through both top
/// levels with stalls, bit-exact.
#[test]
fn one_block_of_all_channels_is_bit_exact_through_both_top_levels() {
    use actcomp_golden::policy::TransformKind;
    let t0 = Instant::now();
    let cases = [
        ("mnist_conv1_relu", 32, Some((TransformKind::Pca, Grouping::Static)), Multipliers::Full),
        ("mnist_conv2_relu", 64, None, Multipliers::Serial),
    ];
    for (k, (name, c, forced, mult)) in cases.into_iter().enumerate() {
        let calib = Tensor::load_npy(&fixture(&format!("{name}_calib.npy"))).unwrap();
        let test = Tensor::load_npy(&fixture(&format!("{name}_test.npy"))).unwrap();
        let mut opts = CalibrateOptions { block_size: Some(c), tile: 16, ..Default::default() };
        if let Some((transform, grouping)) = forced {
            opts = CalibrateOptions { transform, grouping, try_transforms: vec![], try_groupings: vec![], ..opts };
        }
        let policy = calibrate(&[&calib], &opts, &|_, _| {}).unwrap().policy;
        assert_eq!((policy.channels, policy.block_size), (c, c));
        let codes = to_codes(&test, &policy.input, "test").unwrap();
        let (shape, codes) = first_vectors(&codes, &test.shape, 48);
        let o = TopSimOptions { stall_prob: 0.25, seed: 40 + k as u64, multipliers: mult, tlast: TlastMode::TensorEnd };
        let what = format!("{name} B = {c} {:?} {:?} {mult:?}", policy.transform, policy.grouping);
        let cmp = simulate_compressor(&policy, &codes, &shape, &o).unwrap();
        assert!(cmp.bit_exact, "{what}: compressor: {}", cmp.mismatch.unwrap());
        let dec = simulate_decompressor(&policy, &codes, &shape, &o).unwrap();
        assert!(dec.bit_exact, "{what}: decompressor: {}", dec.mismatch.unwrap());
        println!("{what}: bit-exact ({:.1}s)", t0.elapsed().as_secs_f64());
    }
}
