//! Golden codec throughput on the real fixtures, side by side with zstd
//! level 1 on the same values as 8-bit bytes (lossless reference), and
//! calibration time on a 1 M-value tensor.
//! Run: `cargo bench -p actcomp-golden --bench codec` (one core:
//! `taskset -c 0 cargo bench ...`; the "all cores" rows then measure overhead only).
//!
//! Cases: the policy `actcomp calibrate --target-bpv 2.5` picks by default
//! for each fixture (both: identity B=16 dynamic T=8, the channel-major
//! engine's case), a dense PCA B=16 static policy on conv2, and on both fixtures the policy
//! of the tile and group-count search (`--try-tiles 4,8,16 --try-groups 2,4,8`). Each runs the plain
//! field-by-field engine (the reference the fast engines are tested
//! against, and the speed before them) and the fastest engine of the machine;
//! where that is the channel-major engine, also with the tensor's 8-bit bytes
//! in and out (`compress_bytes` / `decompress_bytes`).

use actcomp_golden::calibrate::{calibrate, CalibrateOptions, DEFAULT_GROUPS, DEFAULT_TRY_TILES};
use actcomp_golden::codec::{Codec, Engine};
use actcomp_golden::input_map::to_codes;
use actcomp_golden::policy::{Grouping, TransformKind};
use actcomp_golden::tensor::Tensor;
use actcomp_golden::testkit::random_activations;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::SeedableRng;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

fn fixture(name: &str) -> Tensor {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/activations").join(name);
    Tensor::load_npy(&p).expect("fixture")
}

/// The CLI's default calibration: every transform and grouping tried.
fn auto_options() -> CalibrateOptions {
    CalibrateOptions {
        try_transforms: vec![TransformKind::Pca, TransformKind::Dct, TransformKind::Identity],
        try_groupings: vec![Grouping::Static, Grouping::Dynamic],
        // `--block hw`, the CLI's default: the largest of these dividing C
        // (actcomp_hdl::compressor::HW_DEFAULT_BLOCK_SIZES)
        preferred_blocks: vec![4, 8, 16],
        // and its tiles of dynamic grouping and group count
        try_tiles: DEFAULT_TRY_TILES.to_vec(),
        groups: DEFAULT_GROUPS,
        ..CalibrateOptions::default()
    }
}

fn codec(c: &mut Criterion) {
    let dense = CalibrateOptions { block_size: Some(16), ..CalibrateOptions::default() };
    // the tile and group-count search of docs/scheme.md (it picks T = 4 on both fixtures)
    let searched = CalibrateOptions { try_tiles: vec![4, 8, 16], try_groups: vec![2, 4, 8], ..auto_options() };
    let cases = [
        ("conv1", "auto", auto_options()),
        ("conv2", "auto", auto_options()),
        ("conv2", "pca-B16-static", dense),
        ("conv1", "auto-tile-search", searched.clone()),
        ("conv2", "auto-tile-search", searched),
    ];
    for (layer, label, opts) in cases {
        let calib = fixture(&format!("mnist_{layer}_relu_calib.npy"));
        let test = fixture(&format!("mnist_{layer}_relu_test.npy"));
        let policy = calibrate(&[&calib], &opts, &|_, _| {}).unwrap().policy;
        let codes = to_codes(&test, &policy.input, "test").unwrap();
        let mut g = c.benchmark_group(format!("{layer} {label}"));
        g.throughput(Throughput::Elements(test.len() as u64));
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        // the plain engine (the speed before the fast engine) on the first three cases only
        let engines = if label.ends_with("tile-search") { vec![Engine::best()] } else { vec![Engine::Plain, Engine::best()] };
        for engine in engines {
            let codec = Codec::with_engine(&policy, engine).unwrap();
            let words = codec.compress(&codes, &test.shape).unwrap();
            let name = format!("{engine:?}");
            g.bench_with_input(BenchmarkId::new("compress", &name), &codes, |b, codes| {
                b.iter(|| black_box(codec.compress(black_box(codes), &test.shape).unwrap()))
            });
            g.bench_with_input(BenchmarkId::new("decompress", &name), &words, |b, words| {
                b.iter(|| black_box(codec.decompress(black_box(words), &test.shape).unwrap()))
            });
            if codec.channel_major() {
                // the tensor's own 8-bit bytes in and out: the data zstd-1 gets below
                let bytes: Vec<u8> = codes.iter().map(|&q| q as u8).collect();
                g.bench_with_input(BenchmarkId::new("compress bytes", &name), &bytes, |b, bytes| {
                    b.iter(|| black_box(codec.compress_bytes(black_box(bytes), &test.shape).unwrap()))
                });
                g.bench_with_input(BenchmarkId::new("decompress bytes", &name), &words, |b, words| {
                    b.iter(|| black_box(codec.decompress_bytes(black_box(words), &test.shape).unwrap()))
                });
                g.bench_with_input(BenchmarkId::new("compress bytes all cores", &name), &bytes, |b, bytes| {
                    b.iter(|| black_box(codec.compress_bytes_parallel(black_box(bytes), &test.shape).unwrap()))
                });
                g.bench_with_input(BenchmarkId::new("decompress bytes all cores", &name), &words, |b, words| {
                    b.iter(|| black_box(codec.decompress_bytes_parallel(black_box(words), &test.shape).unwrap()))
                });
            }
            if engine != Engine::Plain {
                g.bench_with_input(BenchmarkId::new("compress all cores", &name), &codes, |b, codes| {
                    b.iter(|| black_box(codec.compress_parallel(black_box(codes), &test.shape).unwrap()))
                });
                g.bench_with_input(BenchmarkId::new("decompress all cores", &name), &words, |b, words| {
                    b.iter(|| black_box(codec.decompress_parallel(black_box(words), &test.shape).unwrap()))
                });
            }
        }
        // zstd level 1 on the same values as 8-bit bytes
        let bytes: Vec<u8> = codes.iter().map(|&q| q as u8).collect();
        let z = zstd::bulk::compress(&bytes, 1).unwrap();
        g.bench_function("zstd-1 compress", |b| b.iter(|| black_box(zstd::bulk::compress(black_box(&bytes), 1).unwrap())));
        g.bench_function("zstd-1 decompress", |b| {
            b.iter(|| black_box(zstd::bulk::decompress(black_box(&z), bytes.len()).unwrap()))
        });
        g.finish();
        eprintln!(
            "{layer} {label}: {:?} B={} {:?} T={}; zstd-1 on the 8-bit bytes: {} -> {} bytes = {:.3} bits/value (lossless)",
            policy.transform,
            policy.block_size,
            policy.grouping,
            policy.tile,
            bytes.len(),
            z.len(),
            z.len() as f64 * 8.0 / bytes.len() as f64
        );
    }
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
