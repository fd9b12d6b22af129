//! Gap to the Gaussian rate–distortion bound of the policy calibrated on one
//! tensor and measured on another, for a list of tile sizes and group counts
//! (the same measurement as `actcomp report`: payload bits per value minus
//! R(D) at the achieved MSE, eigenvalues of the measured tensor):
//!
//! `cargo run --release -p actcomp-golden --example rd_gap -- CALIB.npy TEST.npy [--tiles 16,32] [--groups 8,4] [--bpv 2.5] [--search]`
//!
//! Transform and grouping are chosen as `actcomp calibrate` does by default
//! (every combination tried, the best calibration SQNR kept). One line per
//! (tile, groups): the chosen transform and grouping, payload and side
//! bits per value, SQNR on TEST, R(D) and the gap. With `--search` one
//! calibration instead tries all the tiles and group counts (dynamic
//! grouping) and keeps the best on CALIB (`try_tiles`, `try_groups`): one
//! line with the tile and group count it chose. `--save-policy OUT.json`
//! writes the (last) calibrated policy.
//!
//! `map H` estimates what entropy coding the group maps could save: the
//! empirical entropy of each component's group index over TEST's tiles
//! (a memoryless model per block and component), in bits per value, next to
//! the `side` bits per value the fixed-width map costs.
use actcomp_golden::calibrate::{calibrate, CalibrateOptions, Target};
use actcomp_golden::codec::Codec;
use actcomp_golden::input_map::{from_codes, to_codes};
use actcomp_golden::bitstream::BitReader;
use actcomp_golden::metrics::{channel_eigenvalues, distortion, rd_bound_bits};
use actcomp_golden::policy::{group_index_bits, Grouping, Policy, TransformKind};
use actcomp_golden::tensor::Tensor;

fn list(args: &[String], flag: &str, default: &str) -> Vec<String> {
    let v = args.iter().position(|a| a == flag).map_or(default, |i| args.get(i + 1).map_or(default, |s| s.as_str()));
    v.split(',').map(str::to_string).collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        eprintln!("usage: rd_gap CALIB.npy TEST.npy [--tiles 16,32] [--groups 8,4] [--bpv 2.5]");
        std::process::exit(2);
    }
    let calib = Tensor::load_npy(a[1].as_ref()).unwrap_or_else(|e| panic!("{e}"));
    let test = Tensor::load_npy(a[2].as_ref()).unwrap_or_else(|e| panic!("{e}"));
    let bpv: f64 = list(&a, "--bpv", "2.5")[0].parse().expect("--bpv takes a number");
    let x = test.to_f64();
    let eig = channel_eigenvalues(&x, &test.shape);
    println!("{:>5} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>6}", "tile", "groups", "transform", "grouping", "bpv", "side", "map H", "SQNR dB", "R(D)", "gap");
    let num = |v: Vec<String>| -> Vec<usize> { v.iter().map(|s| s.parse().expect("--tiles and --groups take numbers")).collect() };
    let (tiles, group_counts) = (num(list(&a, "--tiles", "16")), num(list(&a, "--groups", "8")));
    let base = CalibrateOptions {
        target: Target::BitsPerValue(bpv),
        try_transforms: vec![TransformKind::Pca, TransformKind::Dct, TransformKind::Identity],
        try_groupings: vec![Grouping::Static, Grouping::Dynamic],
        ..CalibrateOptions::default()
    };
    let runs: Vec<CalibrateOptions> = if a.iter().any(|s| s == "--search") {
        vec![CalibrateOptions { tile: tiles[0], groups: group_counts[0], try_tiles: tiles.clone(), try_groups: group_counts.clone(), ..base.clone() }]
    } else {
        tiles.iter().flat_map(|&tile| group_counts.iter().map(move |&groups| (tile, groups))).map(|(tile, groups)| CalibrateOptions { tile, groups, ..base.clone() }).collect()
    };
    {
        for opts in runs {
            let policy = match calibrate(&[&calib], &opts, &|_, _| {}) {
                Ok(c) => c.policy,
                Err(e) => {
                    println!("{:>5} {:>6} calibration failed: {e}", opts.tile, opts.groups);
                    continue;
                }
            };
            if let Some(i) = a.iter().position(|s| s == "--save-policy") {
                policy.save(a.get(i + 1).expect("--save-policy needs a path").as_ref()).unwrap_or_else(|e| panic!("{e}"));
            }
            let (tile, groups) = (policy.tile, policy.blocks.iter().map(|b| b.groups.len()).max().unwrap_or(0));
            let codes = to_codes(&test, &policy.input, "test").unwrap_or_else(|e| panic!("{e}"));
            let codec = Codec::new(&policy).unwrap_or_else(|e| panic!("{e}"));
            let words = codec.compress(&codes, &test.shape).unwrap_or_else(|e| panic!("{e}"));
            let back = codec.decompress(&words, &test.shape).unwrap_or_else(|e| panic!("{e}"));
            let rec = from_codes(&back, test.shape.clone(), &policy.input).unwrap_or_else(|e| panic!("{e}"));
            let d = distortion(&x, &rec.to_f64());
            let n = test.len() as f64;
            let payload = words.len() as f64 * policy.word_bits as f64 / n;
            let side = policy.side_bits_per_tile() as f64 * test.vectors().div_ceil(policy.tile) as f64 / n;
            let bound = rd_bound_bits(&eig, d.mse);
            let map_h = map_entropy(&policy, &words, test.vectors()) / n;
            println!(
                "{tile:>5} {groups:>6} {:>9} {:>8} {payload:8.3} {side:8.3} {map_h:8.3} {:9.2} {bound:8.3} {:6.3}",
                format!("{:?}", policy.transform),
                format!("{:?}", policy.grouping),
                d.sqnr_db,
                payload - bound
            );
        }
    }
}

/// Total empirical entropy in bits of the group maps in the payload `words`
/// (`vectors` pixel vectors): each tile starts on a word boundary with, per
/// block and component, its group index; the entropy is that of each
/// (block, component)'s index distribution over the tiles, times the tiles.
/// 0 for static grouping.
fn map_entropy(p: &Policy, words: &[u64], vectors: usize) -> f64 {
    if p.grouping != Grouping::Dynamic {
        return 0.0;
    }
    let tiles = vectors.div_ceil(p.tile);
    let wpt = p.words_per_tile(p.tile) as usize;
    let mut counts: Vec<Vec<[u64; 8]>> = p.blocks.iter().map(|b| vec![[0u64; 8]; b.mean.len()]).collect();
    for t in 0..tiles {
        let mut r = BitReader::new(&words[t * wpt..], p.word_bits);
        for (bi, blk) in p.blocks.iter().enumerate() {
            let bits = group_index_bits(blk.groups.len());
            for c in counts[bi].iter_mut() {
                let g = r.read(bits).unwrap_or_else(|e| panic!("tile {t}: {e}")) as usize;
                c[g] += 1;
            }
        }
    }
    let tiles = tiles as f64;
    counts
        .iter()
        .flatten()
        .map(|c| c.iter().filter(|&&k| k > 0).map(|&k| -(k as f64) * (k as f64 / tiles).log2()).sum::<f64>())
        .sum()
}
