//! Golden codec speed on a fixture tensor, single thread, without criterion:
//! `cargo run --release -p actcomp-golden --example codec_speed -- CALIB.npy TEST.npy [BLOCK] [dynamic]`.
use actcomp_golden::calibrate::{calibrate, CalibrateOptions};
use actcomp_golden::codec::Codec;
use actcomp_golden::input_map::to_codes;
use actcomp_golden::policy::Grouping;
use actcomp_golden::tensor::Tensor;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let calib = Tensor::load_npy(a[1].as_ref()).expect("calibration tensor");
    let test = Tensor::load_npy(a[2].as_ref()).expect("test tensor");
    let block = a.get(3).and_then(|s| s.parse().ok());
    let grouping = if a.get(4).map(|s| s == "dynamic").unwrap_or(false) { Grouping::Dynamic } else { Grouping::Static };
    let opts = CalibrateOptions { block_size: block, grouping, ..CalibrateOptions::default() };
    let policy = calibrate(&[&calib], &opts, &|_, _| {}).expect("calibrates").policy;
    let codec = Codec::new(&policy).unwrap();
    let codes = to_codes(&test, &policy.input, "test").unwrap();
    let reps = 40;
    let t0 = Instant::now();
    let mut words = Vec::new();
    for _ in 0..reps {
        words = codec.compress(&codes, &test.shape).unwrap();
    }
    let c = t0.elapsed().as_secs_f64() / reps as f64;
    let t0 = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(codec.decompress(&words, &test.shape).unwrap());
    }
    let d = t0.elapsed().as_secs_f64() / reps as f64;
    let n = test.len() as f64;
    println!("B={} {:?}: compress {:.1} M values/s, decompress {:.1} M values/s", policy.block_size, grouping, n / c / 1e6, n / d / 1e6);
}
