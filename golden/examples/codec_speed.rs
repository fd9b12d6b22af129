//! Golden codec speed on a tensor, one core and all cores, side by side with
//! zstd level 1 on the same values as 8-bit bytes (lossless reference):
//!
//! `cargo run --release -p actcomp-golden --example codec_speed -- POLICY.json TENSOR.npy [REPS]`
//!
//! In place of `POLICY.json` a calibration tensor `CALIB.npy` may be given:
//! the policy is then calibrated as `actcomp calibrate --target-bpv 2.5` does
//! by default (transform and grouping chosen automatically). `TENSOR.npy` may
//! be `random` for a dense signed random tensor (1 M values, its policy calibrated on another draw).
//! `--save-policy OUT.json` after REPS writes the policy used; the
//! environment variable `CODEC_SPEED_ENGINE=plain|portable|simd|channel` times one engine only, and
//! `CODEC_SPEED_ONLY=compress|decompress|compress-bytes|decompress-bytes` one direction of it
//! (i16 codes or the 8-bit bytes), one core, nothing else (for profiling);
//! `CODEC_SPEED_NO_AVX512=1` leaves the channel-major engine's AVX-512 code
//! out (what a CPU with AVX2 only runs; valgrind's tools see no AVX-512 either).
//! Pin to one core for the one-core figures: `taskset -c 0 ...`.
use actcomp_golden::calibrate::{calibrate, CalibrateOptions, DEFAULT_GROUPS, DEFAULT_TRY_TILES};
use actcomp_golden::codec::{Codec, Engine};
use actcomp_golden::input_map::to_codes;
use actcomp_golden::policy::{Grouping, Policy, TransformKind};
use actcomp_golden::tensor::Tensor;
use actcomp_golden::testkit::random_activations;
use rand::SeedableRng;
use std::hint::black_box;
use std::time::Instant;

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

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        eprintln!("usage: codec_speed (POLICY.json | CALIB.npy) (TENSOR.npy | random) [REPS]");
        std::process::exit(2);
    }
    let reps: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(40);
    let (test, calib) = if a[2] == "random" {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let calib = random_activations(&mut rng, vec![16, 64, 32, 32], false);
        (random_activations(&mut rng, vec![16, 64, 32, 32], false), Some(calib))
    } else {
        (Tensor::load_npy(a[2].as_ref()).unwrap_or_else(|e| panic!("{e}")), None)
    };
    let policy = if !a[1].ends_with(".json") {
        let calib = calib.unwrap_or_else(|| Tensor::load_npy(a[1].as_ref()).unwrap_or_else(|e| panic!("{e}")));
        calibrate(&[&calib], &auto_options(), &|_, _| {}).unwrap_or_else(|e| panic!("{e}")).policy
    } else {
        Policy::load(a[1].as_ref()).unwrap_or_else(|e| panic!("{e}"))
    };
    if let Some(i) = a.iter().position(|s| s == "--save-policy") {
        policy.save(a.get(i + 1).expect("--save-policy needs a path").as_ref()).unwrap_or_else(|e| panic!("{e}"));
    }
    let codes = to_codes(&test, &policy.input, "test").unwrap();
    let n = test.len() as f64;
    // best of `reps` runs: the machine may be shared, the fastest run is the least disturbed
    let time = |f: &dyn Fn()| {
        f();
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t0 = Instant::now();
            f();
            best = best.min(t0.elapsed().as_secs_f64());
        }
        n / best / 1e6
    };
    // two timings taken in turns (5 turns of reps/5 calls each, warm caches in
    // each turn), best of all calls each: on a machine whose speed drifts over
    // seconds (a shared VM) their ratio is steadier than that of two figures
    // taken one after the other
    let time_pair = |f: &dyn Fn(), g: &dyn Fn()| {
        let (mut bf, mut bg) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..5 {
            for (h, best) in [(f, &mut bf), (g, &mut bg)] {
                h();
                for _ in 0..(reps / 5).max(2) {
                    let t0 = Instant::now();
                    h();
                    *best = best.min(t0.elapsed().as_secs_f64());
                }
            }
        }
        (n / bf / 1e6, n / bg / 1e6)
    };
    let mut rows = Vec::new();
    let mut words_len = 0;
    // the same values as the 8-bit bytes zstd gets (two's complement for int8)
    let bytes: Vec<u8> = codes.iter().map(|&q| q as u8).collect();
    let mut byte_row = None;
    let no_avx512 = std::env::var_os("CODEC_SPEED_NO_AVX512").is_some();
    let codec_of = |engine: Engine| {
        let codec = Codec::with_engine(&policy, engine).unwrap();
        if no_avx512 {
            codec.with_avx2_channel_loops()
        } else {
            codec
        }
    };
    for engine in [Engine::Plain, Engine::Portable, Engine::Simd, Engine::Channel] {
        let codec = codec_of(engine);
        let only = std::env::var("CODEC_SPEED_ENGINE").ok();
        if codec.engine() != engine || only.is_some_and(|o| !o.eq_ignore_ascii_case(&format!("{engine:?}"))) {
            continue;
        }
        let words = codec.compress(&codes, &test.shape).unwrap();
        words_len = words.len();
        match std::env::var("CODEC_SPEED_ONLY").as_deref() {
            Ok("compress") => {
                println!("{engine:?} compress {:.1} M values/s", time(&|| drop(black_box(codec.compress(black_box(&codes), &test.shape).unwrap()))));
                return;
            }
            Ok("decompress") => {
                println!("{engine:?} decompress {:.1} M values/s", time(&|| drop(black_box(codec.decompress(black_box(&words), &test.shape).unwrap()))));
                return;
            }
            Ok("compress-bytes") => {
                println!("{engine:?} compress, bytes in {:.1} M values/s", time(&|| drop(black_box(codec.compress_bytes(black_box(&bytes), &test.shape).unwrap()))));
                return;
            }
            Ok("decompress-bytes") => {
                println!("{engine:?} decompress, bytes out {:.1} M values/s", time(&|| drop(black_box(codec.decompress_bytes(black_box(&words), &test.shape).unwrap()))));
                return;
            }
            _ => {}
        }
        let c1 = time(&|| drop(black_box(codec.compress(black_box(&codes), &test.shape).unwrap())));
        let d1 = time(&|| drop(black_box(codec.decompress(black_box(&words), &test.shape).unwrap())));
        let cp = time(&|| drop(black_box(codec.compress_parallel(black_box(&codes), &test.shape).unwrap())));
        let dp = time(&|| drop(black_box(codec.decompress_parallel(black_box(&words), &test.shape).unwrap())));
        rows.push((engine, c1, d1, cp, dp));
        if codec.channel_major() {
            let cb = time(&|| drop(black_box(codec.compress_bytes(black_box(&bytes), &test.shape).unwrap())));
            let db = time(&|| drop(black_box(codec.decompress_bytes(black_box(&words), &test.shape).unwrap())));
            let cbp = time(&|| drop(black_box(codec.compress_bytes_parallel(black_box(&bytes), &test.shape).unwrap())));
            let dbp = time(&|| drop(black_box(codec.decompress_bytes_parallel(black_box(&words), &test.shape).unwrap())));
            byte_row = Some((engine, cb, db, cbp, dbp));
        }
    }
    let z = zstd::bulk::compress(&bytes, 1).unwrap();
    let zc = time(&|| drop(black_box(zstd::bulk::compress(black_box(&bytes), 1).unwrap())));
    let zd = time(&|| drop(black_box(zstd::bulk::decompress(black_box(&z), bytes.len()).unwrap())));
    println!(
        "{:?} B={} {:?} W={}, {} values, {:.3} bits/value; M values/s, best of {reps}",
        policy.transform,
        policy.block_size,
        policy.grouping,
        policy.word_bits,
        test.len(),
        words_len as f64 * policy.word_bits as f64 / n
    );
    let paths = Codec::new(&policy).unwrap().transform_paths();
    println!("  transform paths (forward, inverse) of block 0 on this machine: {:?}", paths.first());
    if codec_of(Engine::Channel).channel_major() {
        let avx512 = codec_of(Engine::Channel).channel_uses_avx512();
        println!("  channel-major engine's dense blocks: {}", if avx512 { "AVX-512 (VBMI, VNNI) compressing" } else { "AVX2 and BMI2 at most" });
    }
    println!("  {:<24} {:>10} {:>10} {:>10} {:>10}", "", "compress", "decompress", "c. cores", "d. cores");
    for &(e, c1, d1, cp, dp) in &rows {
        println!("  {:<24} {c1:10.1} {d1:10.1} {cp:10.1} {dp:10.1}", format!("golden {e:?}"));
    }
    if let Some((e, cb, db, cbp, dbp)) = byte_row {
        println!("  {:<24} {cb:10.1} {db:10.1} {cbp:10.1} {dbp:10.1}", format!("golden {e:?}, bytes"));
    }
    println!("  {:<24} {zc:10.1} {zd:10.1}   ({:.3} bits/value lossless)", "zstd-1 (8-bit bytes)", z.len() as f64 * 8.0 / n);
    let &(e, c1, d1, _, _) = rows.last().expect("an engine ran");
    println!("  golden {e:?} / zstd-1: compress {:.2}, decompress {:.2}", c1 / zc, d1 / zd);
    if let Some((e, cb, db, cbp, dbp)) = byte_row {
        println!("  golden {e:?} on the same 8-bit bytes / zstd-1: compress {:.2}, decompress {:.2}", cb / zc, db / zd);
        println!("  the same, golden on all cores / zstd-1 on one: compress {:.2}, decompress {:.2}", cbp / zc, dbp / zd);
        // one core, golden and zstd-1 timed in turns
        let codec = codec_of(e);
        let words = codec.compress_bytes(&bytes, &test.shape).unwrap();
        let (gc, zc) = time_pair(
            &|| drop(black_box(codec.compress_bytes(black_box(&bytes), &test.shape).unwrap())),
            &|| drop(black_box(zstd::bulk::compress(black_box(&bytes), 1).unwrap())),
        );
        let (gd, zd) = time_pair(
            &|| drop(black_box(codec.decompress_bytes(black_box(&words), &test.shape).unwrap())),
            &|| drop(black_box(zstd::bulk::decompress(black_box(&z), bytes.len()).unwrap())),
        );
        println!(
            "  in turns, one core, bytes: compress golden {gc:.1} / zstd-1 {zc:.1} = {:.2}, decompress golden {gd:.1} / zstd-1 {zd:.1} = {:.2}",
            gc / zc,
            gd / zd
        );
    }
}
