//! Golden codec throughput on the real fixture, side by side with zstd
//! level 1 on the same int8 bytes, and calibration time on a 1 M-value tensor.
//! Run: `cargo bench -p actcomp-golden --bench codec`.

use actcomp_golden::calibrate::{calibrate, CalibrateOptions};
use actcomp_golden::codec::Codec;
use actcomp_golden::input_map::to_codes;
use actcomp_golden::tensor::Tensor;
use actcomp_golden::testkit::random_activations;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::SeedableRng;
use std::hint::black_box;
use std::path::Path;

fn fixture(name: &str) -> Tensor {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/activations").join(name);
    Tensor::load_npy(&p).expect("fixture")
}

fn codec(c: &mut Criterion) {
    let calib = fixture("mnist_conv2_relu_calib.npy");
    let test = fixture("mnist_conv2_relu_test.npy");
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(test.len() as u64));
    for block in [8usize, 16, 64] {
        // the codec's speed depends on the transform: benchmark the dense PCA case
        let opts = CalibrateOptions { block_size: Some(block), ..CalibrateOptions::default() };
        let cal = calibrate(&[&calib], &opts, &|_, _| {}).unwrap();
        let codec = Codec::new(&cal.policy).unwrap();
        let codes = to_codes(&test, &cal.policy.input, "test").unwrap();
        let words = codec.compress(&codes, &test.shape).unwrap();
        g.bench_with_input(BenchmarkId::new("compress", format!("B{block}")), &codes, |b, codes| {
            b.iter(|| black_box(codec.compress(black_box(codes), &test.shape).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("decompress", format!("B{block}")), &words, |b, words| {
            b.iter(|| black_box(codec.decompress(black_box(words), &test.shape).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("compress all cores", format!("B{block}")), &codes, |b, codes| {
            b.iter(|| black_box(codec.compress_parallel(black_box(codes), &test.shape).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("decompress all cores", format!("B{block}")), &words, |b, words| {
            b.iter(|| black_box(codec.decompress_parallel(black_box(words), &test.shape).unwrap()))
        });
    }
    // zstd level 1 on the same values as int8 bytes
    let policy = calibrate(&[&calib], &CalibrateOptions::default(), &|_, _| {}).unwrap().policy;
    let bytes: Vec<u8> = to_codes(&test, &policy.input, "test").unwrap().iter().map(|&q| q as u8).collect();
    let z = zstd::bulk::compress(&bytes, 1).unwrap();
    g.bench_function("zstd-1 compress", |b| b.iter(|| black_box(zstd::bulk::compress(black_box(&bytes), 1).unwrap())));
    g.bench_function("zstd-1 decompress", |b| {
        b.iter(|| black_box(zstd::bulk::decompress(black_box(&z), bytes.len()).unwrap()))
    });
    g.finish();
    eprintln!(
        "zstd-1 on the int8 bytes: {} -> {} bytes = {:.3} bits/value (lossless)",
        bytes.len(),
        z.len(),
        z.len() as f64 * 8.0 / bytes.len() as f64
    );
}

fn calibration(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let t = random_activations(&mut rng, vec![64, 64, 16, 16], true);
    let mut g = c.benchmark_group("calibrate");
    g.sample_size(10);
    g.throughput(Throughput::Elements(t.len() as u64));
    for block in [16usize, 64] {
        let opts = CalibrateOptions { block_size: Some(block), ..CalibrateOptions::default() };
        g.bench_function(BenchmarkId::new("1M values", format!("B{block}")), |b| {
            b.iter(|| black_box(calibrate(&[&t], &opts, &|_, _| {}).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, codec, calibration);
criterion_main!(benches);
