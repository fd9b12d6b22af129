//! Golden codec speed for a policy file on a tensor, single thread and all cores:
//! `cargo run --release -p actcomp-golden --example codec_speed -- POLICY.json TENSOR.npy [REPS]`.
use actcomp_golden::codec::Codec;
use actcomp_golden::input_map::to_codes;
use actcomp_golden::policy::Policy;
use actcomp_golden::tensor::Tensor;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        eprintln!("usage: codec_speed POLICY.json TENSOR.npy [REPS]");
        std::process::exit(2);
    }
    let policy = Policy::load(a[1].as_ref()).unwrap_or_else(|e| panic!("{e}"));
    let test = Tensor::load_npy(a[2].as_ref()).unwrap_or_else(|e| panic!("{e}"));
    let reps: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(40);
    let codec = Codec::new(&policy).unwrap();
    let codes = to_codes(&test, &policy.input, "test").unwrap();
    let n = test.len() as f64;
    let time = |f: &dyn Fn()| {
        let t0 = Instant::now();
        for _ in 0..reps {
            f();
        }
        n / (t0.elapsed().as_secs_f64() / reps as f64) / 1e6
    };
    let words = codec.compress(&codes, &test.shape).unwrap();
    let c1 = time(&|| drop(std::hint::black_box(codec.compress(&codes, &test.shape).unwrap())));
    let d1 = time(&|| drop(std::hint::black_box(codec.decompress(&words, &test.shape).unwrap())));
    let cp = time(&|| drop(std::hint::black_box(codec.compress_parallel(&codes, &test.shape).unwrap())));
    let dp = time(&|| drop(std::hint::black_box(codec.decompress_parallel(&words, &test.shape).unwrap())));
    println!(
        "{:?} B={} {:?}: one core: compress {c1:.1} M values/s, decompress {d1:.1} M values/s; all cores: {cp:.1} / {dp:.1}",
        policy.transform, policy.block_size, policy.grouping
    );
}
