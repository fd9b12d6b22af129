//! Property tests of the golden model over random policies and tensors:
//! round trips are exact, payload sizes are analytic, bad bytes are errors.

use actcomp_golden::bitstream::BitReader;
use actcomp_golden::codec::{Codec, Engine};
use actcomp_golden::container::Container;
use actcomp_golden::policy::*;
use actcomp_golden::testkit::{make_diagonal, random_codes, random_policy, PolicySpec};
use rand::{Rng, SeedableRng};

/// A slow, independent reading of docs/scheme.md: i128 arithmetic, no
/// shared code with the codec except the policy struct.
fn reference_reconstruct(p: &Policy, codes: &[i16], shape: &[usize]) -> (Vec<i16>, u64) {
    let c = p.channels;
    let b = p.block_size;
    let s: usize = shape[2..].iter().product();
    let v = shape[0] * s;
    let (lo, hi) = (p.input.code_range.min() as i128, p.input.code_range.max() as i128);
    let mut out = vec![0i16; codes.len()];
    let mut bits_total = 0u64;
    let mut first = 0;
    while first < v {
        let count = p.tile.min(v - first);
        let mut tile_bits = 0u64;
        // y[t][ch]
        let mut y = vec![vec![0i128; c]; count];
        for t in 0..count {
            let pv = first + t;
            let (n, sp) = (pv / s, pv % s);
            let x: Vec<i128> = (0..c).map(|ch| codes[(n * c + ch) * s + sp] as i128).collect();
            for (bi, blk) in p.blocks.iter().enumerate() {
                for k in 0..b {
                    let acc: i128 = (0..b).map(|i| blk.forward[k][i] as i128 * (x[bi * b + i] - blk.mean[i] as i128)).sum();
                    let sh = blk.forward_shift[k];
                    let r = (acc + (1i128 << (sh - 1))).div_euclid(1i128 << sh);
                    y[t][bi * b + k] = r.clamp(-32768, 32767);
                }
            }
        }
        let mut yhat = vec![vec![0i128; c]; count];
        for (bi, blk) in p.blocks.iter().enumerate() {
            // group of each component
            let order: Vec<usize> = match p.grouping {
                Grouping::Static => blk.rank.clone(),
                Grouping::Dynamic => {
                    let energy: Vec<i128> = (0..b).map(|k| (0..count).map(|t| y[t][bi * b + k].abs()).sum()).collect();
                    let pos: Vec<usize> = (0..b).map(|k| blk.rank.iter().position(|&r| r == k).unwrap()).collect();
                    let mut o: Vec<usize> = (0..b).collect();
                    o.sort_by(|&a, &c2| energy[c2].cmp(&energy[a]).then(pos[a].cmp(&pos[c2])));
                    tile_bits += b as u64 * group_index_bits(blk.groups.len()) as u64;
                    o
                }
            };
            let mut group = vec![0usize; b];
            let mut r = 0;
            for (g, grp) in blk.groups.iter().enumerate() {
                for _ in 0..grp.size {
                    group[order[r]] = g;
                    r += 1;
                }
            }
            for t in 0..count {
                for k in 0..b {
                    let g = &blk.groups[group[k]];
                    tile_bits += g.bits as u64;
                    if g.bits == 0 {
                        continue;
                    }
                    let f = ((y[t][bi * b + k] * g.qmul as i128 + 32768).div_euclid(65536)).clamp(-128, 127);
                    let code = g.encode[(f + 128) as usize];
                    yhat[t][bi * b + k] = g.levels[(code + (1 << (g.bits - 1))) as usize] as i128;
                }
            }
            for t in 0..count {
                let pv = first + t;
                let (n, sp) = (pv / s, pv % s);
                for i in 0..b {
                    let acc: i128 = (0..b).map(|k| blk.inverse[i][k] as i128 * yhat[t][bi * b + k]).sum();
                    let sh = blk.inverse_shift;
                    let xr = (acc + (1i128 << (sh - 1))).div_euclid(1i128 << sh) + blk.inverse_mean[i] as i128;
                    out[(n * c + bi * b + i) * s + sp] = xr.clamp(lo, hi) as i16;
                }
            }
        }
        bits_total += tile_bits.div_ceil(p.word_bits as u64) * p.word_bits as u64;
        first += count;
    }
    (out, bits_total)
}

#[test]
fn random_policies_roundtrip_exactly() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for case in 0..400 {
        let mut p = random_policy(&mut rng, &PolicySpec::default());
        // the inverse mean is independent of the forward mean
        for blk in p.blocks.iter_mut() {
            for m in blk.inverse_mean.iter_mut() {
                *m += rng.gen_range(-40..=40);
            }
        }
        p.validate().unwrap();
        let codec = Codec::new(&p).unwrap();
        let (shape, codes) = random_codes(&mut rng, &p);
        let words = codec.compress(&codes, &shape).unwrap();
        let vectors = shape[0] * shape[2] * shape[3];
        assert_eq!(words.len() as u64, p.payload_words(vectors), "case {case}: payload size");
        let (reference, ref_bits) = reference_reconstruct(&p, &codes, &shape);
        assert_eq!(words.len() as u64 * p.word_bits as u64, ref_bits, "case {case}: analytic bit count");
        assert_eq!(codec.compress_parallel(&codes, &shape).unwrap(), words, "case {case}: parallel compress");
        let back = codec.decompress(&words, &shape).unwrap();
        assert_eq!(codec.decompress_parallel(&words, &shape).unwrap(), back, "case {case}: parallel decompress");
        let rec = codec.reconstruct(&codes, &shape).unwrap();
        assert_eq!(back, rec, "case {case}: decompress(compress(x)) != reconstruct(x)");
        if let Some(i) = (0..rec.len()).find(|&i| rec[i] != reference[i]) {
            panic!("case {case}: golden differs from the reference at flat index {i}: {} vs {}", rec[i], reference[i]);
        }
        if p.word_bits == 32 {
            assert!(words.iter().all(|&w| w >> 32 == 0), "case {case}: 32-bit words overflow");
        }
    }
}

#[test]
fn corrupted_payloads_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut errors = 0;
    for _ in 0..300 {
        let p = random_policy(&mut rng, &PolicySpec { grouping: Some(Grouping::Dynamic), ..Default::default() });
        let codec = Codec::new(&p).unwrap();
        let (shape, codes) = random_codes(&mut rng, &p);
        let mut words = codec.compress(&codes, &shape).unwrap();
        match rng.gen_range(0..3) {
            0 if !words.is_empty() => {
                let i = rng.gen_range(0..words.len());
                words[i] ^= 1 << rng.gen_range(0..p.word_bits);
            }
            1 if !words.is_empty() => {
                words.pop();
            }
            _ => words.push(rng.gen::<u32>() as u64),
        }
        if codec.decompress(&words, &shape).is_err() {
            errors += 1;
        }
    }
    // length changes are always caught; bit flips are caught when they hit padding or a group map
    assert!(errors >= 150, "only {errors} of 300 corruptions detected");
}

#[test]
fn random_bytes_are_not_containers() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for _ in 0..2000 {
        let n = rng.gen_range(0..200);
        let mut bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        if rng.gen_bool(0.5) && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(b"ACZ\x1a");
        }
        assert!(Container::from_bytes(&bytes, "random").is_err());
    }
}

#[test]
fn container_from_another_policy_is_rejected() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let p1 = random_policy(&mut rng, &PolicySpec { channels: Some(8), ..Default::default() });
    let mut p2 = p1.clone();
    p2.blocks[0].mean[0] = if p2.blocks[0].mean[0] == 0 { 1 } else { 0 };
    let c = Container { dtype: p1.input.source_dtype, shape: vec![1, 8, 2], fingerprint: p1.fingerprint(), word_bits: p1.word_bits, words: vec![] };
    assert!(c.check_policy(&p1, "x").is_ok());
    let e = c.check_policy(&p2, "x.acz").unwrap_err().to_string();
    assert!(e.contains("x.acz") && e.contains("policy"), "{e}");
}

#[test]
fn invalid_policies_name_the_field() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let base = random_policy(&mut rng, &PolicySpec { channels: Some(8), block_size: Some(4), ..Default::default() });
    let cases: Vec<(Box<dyn Fn(&mut Policy)>, &str)> = vec![
        (Box::new(|p| p.blocks[1].groups[0].bits = 9), "bits"),
        (Box::new(|p| p.blocks[0].groups[0].size += 1), "group sizes add up"),
        (Box::new(|p| p.block_size = 3), "block_size"),
        (Box::new(|p| p.word_bits = 48), "word width"),
        (Box::new(|p| p.blocks[0].forward[0][0] = 40000), "forward"),
        (Box::new(|p| p.blocks[0].rank[0] = p.blocks[0].rank[1]), "permutation"),
        (Box::new(|p| p.input.scale = f64::NAN), "input.scale"),
        (Box::new(|p| p.tile = 0), "tile"),
        (
            Box::new(|p| {
                let g = &mut p.blocks[0].groups[0];
                g.bits = 2;
                g.qmul = 5;
                g.encode = vec![3; 256];
                g.levels = vec![0; 4];
            }),
            "does not fit 2 bits",
        ),
    ];
    for (mutate, needle) in cases {
        let mut p = base.clone();
        mutate(&mut p);
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains(needle), "expected '{needle}' in: {e}");
        // and through JSON parsing, with the file name
        let text = serde_json::to_string(&p).unwrap();
        let e = Policy::from_json(&text, "bad.json").unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
    }
    let e = Policy::from_json("{ not json", "broken.json").unwrap_err().to_string();
    assert!(e.contains("broken.json"), "{e}");
}

#[test]
fn payload_is_lsb_first_in_natural_component_order() {
    // one block of 2 channels, identity-like matrices, one 3-bit group: the
    // first code sits in bits 0..3 of word 0, the second in bits 3..6
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut p = random_policy(
        &mut rng,
        &PolicySpec { channels: Some(2), block_size: Some(2), grouping: Some(Grouping::Static), word_bits: Some(32), dtype: Some(Dtype::I8), tile: Some(1), max_groups: Some(1) },
    );
    let blk = &mut p.blocks[0];
    blk.mean = vec![0, 0];
    blk.inverse_mean = vec![0, 0];
    blk.forward = vec![vec![1 << 8, 0], vec![0, 1 << 8]];
    blk.forward_shift = vec![8, 8];
    let g = &mut blk.groups[0];
    g.bits = 3;
    g.qmul = 32767; // fine index = floor(y * 32767 / 65536 + 1/2), about round(y / 2)
    g.encode = (0..256).map(|f: i32| (f - 128).clamp(-4, 3)).collect();
    g.levels = (0..8).map(|c| (c - 4) * 2).collect();
    let codec = Codec::new(&p).unwrap();
    let words = codec.compress(&[4, -6], &[1, 2, 1]).unwrap();
    let mut r = BitReader::new(&words, 32);
    assert_eq!(r.read_signed(3).unwrap(), 2);
    assert_eq!(r.read_signed(3).unwrap(), -3);
    assert_eq!(words, vec![0b101_010]);
}

/// Codes that exercise the fast paths: all at the zero point (rest vectors),
/// mostly rest vectors with a few live channels, the extremes, alternating
/// extremes, and uniform noise.
fn fast_path_codes(rng: &mut impl Rng, p: &Policy, style: usize) -> (Vec<usize>, Vec<i16>) {
    let shape = vec![rng.gen_range(1..=3), p.channels, rng.gen_range(1..=6), rng.gen_range(1..=9)];
    let n: usize = shape.iter().product();
    let (lo, hi) = (p.input.code_range.min(), p.input.code_range.max());
    let zp = p.input.zero_point;
    let s: usize = shape[2..].iter().product();
    let codes = (0..n)
        .map(|i| {
            let v = match style {
                0 => zp,
                1 => lo,
                2 => hi,
                3 => [lo, hi][i % 2],
                // mostly rest vectors: a pixel is live with probability 1/4, a live pixel has a few live channels
                4 => {
                    let pixel = (i / (p.channels * s)) * s + i % s;
                    if (pixel.wrapping_mul(2654435761) >> 7).is_multiple_of(4) && rng.gen_bool(0.3) {
                        rng.gen_range(lo..=hi)
                    } else {
                        zp
                    }
                }
                5 => {
                    if rng.gen_bool(0.9) {
                        zp
                    } else {
                        [lo, hi][rng.gen_range(0..2)]
                    }
                }
                _ => rng.gen_range(lo..=hi),
            };
            v as i16
        })
        .collect();
    (shape, codes)
}

#[test]
fn every_engine_gives_the_plain_bits() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let engines = [Engine::Portable, Engine::Simd, Engine::Channel];
    let mut paths = std::collections::BTreeMap::new();
    for case in 0..600 {
        let grouping = [Grouping::Static, Grouping::Dynamic][case % 2];
        let word_bits = [32, 64][(case / 2) % 2];
        let dtype = [Dtype::I8, Dtype::U8, Dtype::F32][(case / 4) % 3];
        let channels = [1, 3, 8, 16, 32, 64][(case / 12) % 6];
        let spec = PolicySpec { grouping: Some(grouping), word_bits: Some(word_bits), dtype: Some(dtype), channels: Some(channels), ..Default::default() };
        let mut p = random_policy(&mut rng, &spec);
        p.transform = [TransformKind::Pca, TransformKind::Dct, TransformKind::Identity][case % 3];
        if p.transform == TransformKind::Identity || case % 5 == 0 {
            // sparse matrices take the sparse transform paths
            make_diagonal(&mut p);
        }
        if case % 7 == 0 {
            // extreme matrix entries and levels: the 32-bit kernels must decline or stay exact
            for blk in p.blocks.iter_mut() {
                blk.forward.iter_mut().flatten().for_each(|v| *v = if *v < 0 { Y_MIN } else { Y_MAX });
                blk.inverse.iter_mut().flatten().for_each(|v| *v = if *v < 0 { Y_MIN } else { Y_MAX });
                for g in blk.groups.iter_mut() {
                    g.levels.iter_mut().for_each(|l| *l = if *l < 0 { Y_MIN } else { Y_MAX });
                }
            }
        }
        p.validate().unwrap();
        let plain = Codec::with_engine(&p, Engine::Plain).unwrap();
        let (shape, codes) = fast_path_codes(&mut rng, &p, case % 7);
        let words = plain.compress(&codes, &shape).unwrap();
        let back = plain.decompress(&words, &shape).unwrap();
        for e in engines {
            let fast = Codec::with_engine(&p, e).unwrap();
            if fast.channel_major() {
                *paths.entry("channel-major engine".to_string()).or_insert(0) += 1;
            }
            for (f, i) in fast.transform_paths() {
                *paths.entry(format!("forward {f}")).or_insert(0) += 1;
                *paths.entry(format!("inverse {i}")).or_insert(0) += 1;
            }
            let fw = fast.compress(&codes, &shape).unwrap();
            if let Some(i) = (0..words.len().max(fw.len())).find(|&i| words.get(i) != fw.get(i)) {
                panic!("case {case} {e:?} ({:?} {:?} B={} W={word_bits}): first differing payload word {i}: {:?} vs plain {:?}", p.transform, grouping, p.block_size, fw.get(i), words.get(i));
            }
            let fb = fast.decompress(&words, &shape).unwrap();
            if let Some(i) = (0..back.len()).find(|&i| back[i] != fb[i]) {
                panic!("case {case} {e:?}: decompress differs at flat index {i}: {} vs plain {}", fb[i], back[i]);
            }
            assert_eq!(fast.compress_parallel(&codes, &shape).unwrap(), words, "case {case} {e:?}: parallel compress");
            assert_eq!(fast.decompress_parallel(&words, &shape).unwrap(), back, "case {case} {e:?}: parallel decompress");
        }
    }
    // every transform path was compared with the plain one, many times
    let mut want = vec!["forward diagonal table", "forward portable", "inverse diagonal table", "inverse portable", "channel-major engine"];
    if actcomp_golden::kernels::avx2_available() {
        want.extend(["forward dense avx2", "inverse dense avx2"]);
    }
    for w in want {
        assert!(paths.get(w).copied().unwrap_or(0) >= 20, "path '{w}' reached too rarely: {paths:?}");
    }
}

#[test]
fn every_engine_rejects_corrupt_payloads_like_plain() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    for case in 0..300 {
        let p = random_policy(&mut rng, &PolicySpec { grouping: Some([Grouping::Static, Grouping::Dynamic][case % 2]), ..Default::default() });
        let plain = Codec::with_engine(&p, Engine::Plain).unwrap();
        let (shape, codes) = fast_path_codes(&mut rng, &p, case % 7);
        let mut words = plain.compress(&codes, &shape).unwrap();
        if !words.is_empty() {
            let i = rng.gen_range(0..words.len());
            words[i] ^= 1 << rng.gen_range(0..p.word_bits);
        }
        let want = plain.decompress(&words, &shape);
        for e in [Engine::Portable, Engine::Simd, Engine::Channel] {
            let got = Codec::with_engine(&p, e).unwrap().decompress(&words, &shape);
            match (&want, &got) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "case {case} {e:?}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "case {case} {e:?}"),
                _ => panic!("case {case} {e:?}: plain {:?}, fast {:?}", want.is_ok(), got.is_ok()),
            }
        }
    }
}

#[test]
fn codes_outside_the_code_range_are_an_error() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(29);
    for dtype in [Dtype::I8, Dtype::U8] {
        let p = random_policy(&mut rng, &PolicySpec { dtype: Some(dtype), channels: Some(4), ..Default::default() });
        let hi = p.input.code_range.max() as i16;
        for e in [Engine::Plain, Engine::Portable, Engine::Simd, Engine::Channel] {
            let codec = Codec::with_engine(&p, e).unwrap();
            let codes = vec![0, 1, hi + 1, 2];
            let msg = codec.compress(&codes, &[1, 4, 1]).unwrap_err().to_string();
            assert!(msg.contains("flat index 2") && msg.contains("code range"), "{msg}");
            assert!(codec.reconstruct(&[-129, 0, 0, 0], &[1, 4, 1]).is_err());
        }
    }
}
