//! The channel-major engine (`Engine::Channel`) against the plain engine on
//! the policies it takes — diagonal or dense (PCA, DCT) transforms, blocks of at most 16, tiles of at most 64 — including tiles that straddle two images, short last
//! tiles, corrupt payloads, and the policies it must hand back to the
//! other engines.

use actcomp_golden::codec::{Codec, Engine};
use actcomp_golden::policy::{Dtype, Grouping, Policy, TransformKind};
use actcomp_golden::testkit::{make_diagonal, random_policy, PolicySpec};
use rand::{Rng, SeedableRng};

/// A random policy with diagonal matrices (the identity transform's shape).
fn diagonal_policy(rng: &mut impl Rng, spec: &PolicySpec) -> Policy {
    let mut p = random_policy(rng, spec);
    p.transform = TransformKind::Identity;
    make_diagonal(&mut p);
    p.validate().unwrap();
    p
}

/// Codes in one of several styles: all at the zero point, runs of rest
/// codes with live channels here and there (post-ReLU-like), the extremes,
/// or uniform noise.
fn codes_for(rng: &mut impl Rng, p: &Policy, shape: &[usize], style: usize) -> Vec<i16> {
    let n: usize = shape.iter().product();
    let (lo, hi) = (p.input.code_range.min(), p.input.code_range.max());
    let zp = p.input.zero_point.clamp(lo, hi);
    let live: Vec<bool> = (0..p.channels).map(|_| rng.gen_bool(0.5)).collect();
    let s: usize = shape[2..].iter().product();
    (0..n)
        .map(|i| {
            let ch = (i / s) % p.channels;
            (match style {
                0 => zp,
                1 => {
                    if live[ch] && rng.gen_bool(0.3) {
                        rng.gen_range(lo..=hi)
                    } else {
                        zp
                    }
                }
                2 => [lo, hi, zp][rng.gen_range(0..3)],
                _ => rng.gen_range(lo..=hi),
            }) as i16
        })
        .collect()
}

fn first_difference<T: PartialEq>(a: &[T], b: &[T]) -> Option<usize> {
    (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))
}

/// The byte API of each codec (`compress` / `decompress` call it) against the
/// plain engine's payload `words` and reconstruction `back` of `codes`; a
/// mismatch names the first differing word or flat index.
#[allow(clippy::type_complexity)]
fn check_byte_api(
    what: &str,
    codecs: [(&str, &Codec); 2],
    codes: &[i16],
    words: &[u64],
    back: &[i16],
    compress: impl Fn(&Codec, &[u8]) -> actcomp_golden::Result<Vec<u64>>,
    decompress: impl Fn(&Codec, &[u64]) -> actcomp_golden::Result<Vec<u8>>,
) {
    let bytes: Vec<u8> = codes.iter().map(|&c| c as u8).collect();
    let back_bytes: Vec<u8> = back.iter().map(|&c| c as u8).collect();
    for (name, codec) in codecs {
        let got = compress(codec, &bytes).unwrap();
        if let Some(i) = first_difference(words, &got) {
            panic!("{what} {name}: bytes in, first differing payload word {i}: {:?} vs {:?}", got.get(i), words.get(i));
        }
        let got = decompress(codec, words).unwrap();
        if let Some(i) = first_difference(&back_bytes, &got) {
            panic!("{what} {name}: bytes out, first differing byte at flat index {i}: {:?} vs {:?}", got.get(i), back_bytes.get(i));
        }
    }
}

/// `channel` against `plain` on `codes`: the same payload words, the same
/// reconstruction, and the same with the byte API; a mismatch names the
/// case (`what`) and the first differing word or flat index. Returns the
/// plain engine's payload and reconstruction.
fn matches_plain(what: &str, plain: &Codec, channel: &Codec, codes: &[i16], shape: &[usize]) -> (Vec<u64>, Vec<i16>) {
    let words = plain.compress(codes, shape).unwrap();
    let got = channel.compress(codes, shape).unwrap();
    if let Some(i) = first_difference(&words, &got) {
        panic!("{what}: first differing payload word {i}: {:?} vs plain {:?}", got.get(i), words.get(i));
    }
    let back = plain.decompress(&words, shape).unwrap();
    let got = channel.decompress(&words, shape).unwrap();
    if let Some(i) = first_difference(&back, &got) {
        panic!("{what}: decompressed code at flat index {i}: {:?} vs plain {:?}", got.get(i), back.get(i));
    }
    let codecs = [("channel-major", channel), ("plain", plain)];
    check_byte_api(&format!("{what}, bytes"), codecs, codes, &words, &back, |c, b| c.compress_bytes(b, shape), |c, w| c.decompress_bytes(w, shape));
    (words, back)
}

/// A corrupted payload `bad`: `channel` gives `plain`'s output or its error,
/// word for word; returns the error text when it is one.
fn corrupt_like_plain(what: &str, plain: &Codec, channel: &Codec, bad: &[u64], shape: &[usize]) -> Option<String> {
    match (plain.decompress(bad, shape), channel.decompress(bad, shape)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "{what}: corrupted payload");
            None
        }
        (Err(a), Err(b)) => {
            assert_eq!(b.to_string(), a.to_string(), "{what}: corrupted payload");
            Some(a.to_string())
        }
        (a, b) => panic!("{what}: plain {:?}, channel-major {:?}", a.map(|_| "decoded"), b.map(|_| "decoded")),
    }
}

#[test]
fn channel_engine_gives_the_plain_bits_on_diagonal_policies() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(61);
    let mut straddling = 0;
    for case in 0..400 {
        let channels = [1, 2, 3, 4, 8, 16, 32, 48][case % 8];
        let divisors: Vec<usize> = (1..=channels.min(16)).filter(|b| channels % b == 0).collect();
        let spec = PolicySpec {
            channels: Some(channels),
            block_size: Some(divisors[rng.gen_range(0..divisors.len())]),
            grouping: Some([Grouping::Static, Grouping::Dynamic][(case / 8) % 2]),
            word_bits: Some([32, 64][(case / 16) % 2]),
            dtype: Some([Dtype::I8, Dtype::U8, Dtype::F32][case % 3]),
            tile: Some([1, 2, 3, 5, 8, 16, 31, 64][rng.gen_range(0..8)]),
            ..Default::default()
        };
        let p = diagonal_policy(&mut rng, &spec);
        let shape = vec![rng.gen_range(1..=3), channels, rng.gen_range(1..=7), rng.gen_range(1..=9)];
        let s = shape[2] * shape[3];
        straddling += (s % p.tile != 0 && shape[0] > 1) as usize;
        let codes = codes_for(&mut rng, &p, &shape, case % 4);
        let plain = Codec::with_engine(&p, Engine::Plain).unwrap();
        // odd cases: the portable tile loops (what runs without AVX2/BMI2)
        let channel = Codec::with_engine(&p, Engine::Channel).unwrap();
        let channel = if case % 2 == 1 { channel.with_portable_channel_loops() } else { channel };
        assert!(channel.channel_major(), "case {case}: B = {} T = {} should run channel-major", p.block_size, p.tile);
        // (and the same tensor as its int8/uint8 bytes, on both engines)
        let what = format!("case {case} ({:?} B={} T={} W={} shape {shape:?})", p.grouping, p.block_size, p.tile, p.word_bits);
        let (words, _) = matches_plain(&what, &plain, &channel, &codes, &shape);
        assert_eq!(channel.compress_parallel(&codes, &shape).unwrap(), words, "case {case}: parallel compress");
    }
    assert!(straddling >= 100, "only {straddling} cases had tiles straddling two images");
}

#[test]
fn channel_engine_rejects_corrupt_payloads_like_plain() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(67);
    let mut errors = 0;
    for case in 0..400 {
        let spec = PolicySpec {
            channels: Some([4, 8, 16, 32][case % 4]),
            block_size: Some([4, 8, 16, 16][case % 4]),
            grouping: Some([Grouping::Dynamic, Grouping::Static][(case / 4) % 2]),
            tile: Some([1, 4, 8, 13][rng.gen_range(0..4)]),
            ..Default::default()
        };
        let p = diagonal_policy(&mut rng, &spec);
        let shape = vec![2, p.channels, rng.gen_range(1..=5), rng.gen_range(1..=5)];
        let codes = codes_for(&mut rng, &p, &shape, case % 4);
        let plain = Codec::with_engine(&p, Engine::Plain).unwrap();
        let mut words = plain.compress(&codes, &shape).unwrap();
        if words.is_empty() {
            continue; // every group dropped, static: nothing to corrupt
        }
        for _ in 0..rng.gen_range(1..=3) {
            let i = rng.gen_range(0..words.len());
            words[i] ^= 1 << rng.gen_range(0..p.word_bits);
        }
        let want = plain.decompress(&words, &shape);
        let channel = Codec::with_engine(&p, Engine::Channel).unwrap();
        let channel = if case % 3 == 1 { channel.with_portable_channel_loops() } else { channel };
        let got = channel.decompress(&words, &shape);
        let got_bytes = channel.decompress_bytes(&words, &shape);
        assert_eq!(
            got_bytes.map_err(|e| e.to_string()),
            got.as_ref().map(|v| v.iter().map(|&c| c as u8).collect::<Vec<u8>>()).map_err(|e| e.to_string()),
            "case {case}: bytes out"
        );
        match (&want, &got) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "case {case}"),
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "case {case}");
                errors += 1;
            }
            _ => panic!("case {case}: plain {want:?}, channel-major {:?}", got.as_ref().map(|_| "decoded")),
        }
        // a payload of the wrong length is refused before decoding
        words.pop();
        assert!(Codec::with_engine(&p, Engine::Channel).unwrap().decompress(&words, &shape).is_err());
    }
    // corrupt maps and padding were reached, not only silently wrong fields
    assert!(errors >= 40, "only {errors} corrupt payloads were errors");
}

/// The channel-major codec with the tile loops of a test case: odd cases
/// the portable ones (what runs without AVX2/BMI2), every other even case
/// AVX2 and BMI2 only (what runs without AVX-512), the rest the machine's best.
fn loops_of_case(channel: Codec, case: usize) -> Codec {
    match case % 4 {
        1 | 3 => channel.with_portable_channel_loops(),
        2 => channel.with_avx2_channel_loops(),
        _ => channel,
    }
}

/// Whether a policy has a block whose forward matrix is not diagonal.
fn has_dense_block(p: &Policy) -> bool {
    p.blocks.iter().any(|b| b.forward.iter().enumerate().any(|(k, r)| r.iter().enumerate().any(|(i, &v)| i != k && v != 0)))
}

#[test]
fn channel_engine_gives_the_plain_bits_on_dense_policies() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(73);
    let (mut taken, mut errors, mut on_avx512) = (0, 0, 0);
    for case in 0..400 {
        let channels = [2, 3, 4, 8, 16, 32, 48][case % 7];
        let divisors: Vec<usize> = (1..=channels.min(16)).filter(|b| channels % b == 0).collect();
        let spec = PolicySpec {
            channels: Some(channels),
            block_size: Some(divisors[rng.gen_range(0..divisors.len())]),
            grouping: Some([Grouping::Static, Grouping::Dynamic][(case / 14) % 2]),
            word_bits: Some([32, 64][(case / 7) % 2]),
            dtype: Some([Dtype::I8, Dtype::U8, Dtype::F32][case % 3]),
            tile: Some([1, 3, 8, 16, 13, 64][rng.gen_range(0..6)]),
            ..Default::default()
        };
        let p = random_policy(&mut rng, &spec);
        let shape = vec![rng.gen_range(1..=3), channels, rng.gen_range(1..=7), rng.gen_range(1..=9)];
        let codes = codes_for(&mut rng, &p, &shape, case % 4);
        let plain = Codec::with_engine(&p, Engine::Plain).unwrap();
        // (the loops by case / 4: every style of codes on each)
        let channel = loops_of_case(Codec::with_engine(&p, Engine::Channel).unwrap(), case / 4);
        taken += (channel.channel_major() && has_dense_block(&p)) as usize;
        on_avx512 += (channel.channel_uses_avx512() && has_dense_block(&p) && case % 4 != 0) as usize;
        let what = format!("case {case} ({:?} B={} T={} W={} shape {shape:?})", p.transform, p.block_size, p.tile, p.word_bits);
        let (words, _) = matches_plain(&what, &plain, &channel, &codes, &shape);
        assert_eq!(channel.compress_parallel(&codes, &shape).unwrap(), words, "case {case}: parallel compress");
        // a corrupted payload: the plain engine's result or its error
        let mut bad = words.clone();
        if !bad.is_empty() {
            for _ in 0..rng.gen_range(1..=3) {
                let i = rng.gen_range(0..bad.len());
                bad[i] ^= 1 << rng.gen_range(0..p.word_bits);
            }
            errors += corrupt_like_plain(&what, &plain, &channel, &bad, &shape).is_some() as usize;
        }
    }
    // most random dense policies pass the engine's 32-bit bounds, and corrupt
    // padding was reached
    assert!(taken >= 200, "only {taken} of 400 dense policies ran channel-major");
    assert!(errors >= 20, "only {errors} corrupt payloads were errors");
    if actcomp_golden::kernels::avx512_available() {
        assert!(on_avx512 >= 40, "only {on_avx512} dense policies with codes off the rest code ran the AVX-512 code");
    }
}

/// Policies of small blocks run as wider merged blocks (the engine's own
/// form, `block_merge`); channel counts such as 24 = 16 + 8 give blocks of
/// two sizes, and under dynamic grouping each merged block carries its
/// parts' group maps. Payload, reconstruction and the errors of corrupt
/// payloads (which name the policy's block) are the plain engine's.
#[test]
fn channel_engine_gives_the_plain_bits_on_merged_blocks() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(79);
    let mut map_errors = 0;
    for case in 0..270 {
        let (channels, block) = [(24, 8), (40, 8), (12, 4), (20, 4), (16, 8), (48, 8), (6, 2), (16, 1), (32, 4)][case % 9];
        let spec = PolicySpec {
            channels: Some(channels),
            block_size: Some(block),
            grouping: Some([Grouping::Static, Grouping::Dynamic][(case / 14) % 2]),
            max_groups: Some([2, 4][(case / 7) % 2]),
            tile: Some([1, 3, 8, 16, 13, 64][rng.gen_range(0..6)]),
            dtype: Some([Dtype::I8, Dtype::U8, Dtype::F32][case % 3]),
            ..Default::default()
        };
        let mut p = if case % 2 == 0 { random_policy(&mut rng, &spec) } else { diagonal_policy(&mut rng, &spec) };
        // close inverse shifts (merging evens them out by scaling levels)
        for blk in p.blocks.iter_mut() {
            blk.inverse_shift = rng.gen_range(16..=18);
        }
        let shape = vec![rng.gen_range(1..=3), channels, rng.gen_range(1..=7), rng.gen_range(1..=9)];
        let codes = codes_for(&mut rng, &p, &shape, case % 4);
        let plain = Codec::with_engine(&p, Engine::Plain).unwrap();
        let channel = loops_of_case(Codec::with_engine(&p, Engine::Channel).unwrap(), case / 4);
        let what = format!("case {case} ({:?} {:?} C={channels} B={block} T={})", p.transform, p.grouping, p.tile);
        let (words, _) = matches_plain(&what, &plain, &channel, &codes, &shape);
        // corrupted payloads: the plain engine's result or its error
        for attempt in 0..4 {
            let mut bad = words.clone();
            // (every other attempt in the first tile's group maps, at the start of word 0)
            let (i, bit) = if attempt % 2 == 0 { (0, rng.gen_range(0..16)) } else { (rng.gen_range(0..bad.len()), rng.gen_range(0..p.word_bits)) };
            bad[i] ^= 1 << bit;
            let error = corrupt_like_plain(&format!("{what}, word {i}"), &plain, &channel, &bad, &shape);
            map_errors += error.is_some_and(|e| e.contains("group")) as usize;
        }
    }
    assert!(map_errors >= 20, "only {map_errors} corrupt group maps");
}

#[test]
fn policies_the_channel_engine_does_not_take_run_on_the_other_engines() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(71);
    let wide = diagonal_policy(&mut rng, &PolicySpec { channels: Some(32), block_size: Some(32), ..Default::default() });
    let long = diagonal_policy(&mut rng, &PolicySpec { channels: Some(8), block_size: Some(8), tile: Some(65), ..Default::default() });
    for (name, p) in [("B = 32", wide), ("T = 65", long)] {
        let channel = Codec::with_engine(&p, Engine::Channel).unwrap();
        assert!(!channel.channel_major(), "{name}: taken by the channel-major engine");
        let shape = [2, p.channels, 3, 5];
        let codes = codes_for(&mut rng, &p, &shape, 1);
        let plain = Codec::with_engine(&p, Engine::Plain).unwrap();
        let words = plain.compress(&codes, &shape).unwrap();
        assert_eq!(channel.compress(&codes, &shape).unwrap(), words, "{name}");
        assert_eq!(channel.decompress(&words, &shape).unwrap(), plain.decompress(&words, &shape).unwrap(), "{name}");
    }
}

#[test]
fn parallel_channel_major_decoding_matches_the_serial_decoder() {
    // tensors of several 64 K-value runs, so the runs really are decoded apart
    let mut rng = rand::rngs::StdRng::seed_from_u64(73);
    let mut errors = std::collections::BTreeMap::new();
    for case in 0..12 {
        let spec = PolicySpec {
            channels: Some([16, 32, 8][case % 3]),
            block_size: Some([16, 16, 8][case % 3]),
            grouping: Some([Grouping::Dynamic, Grouping::Static][(case / 3) % 2]),
            tile: Some([8, 5, 16][case % 3]),
            word_bits: Some([32, 64][case % 2]),
            ..Default::default()
        };
        let p = diagonal_policy(&mut rng, &spec);
        let shape = vec![3, p.channels, 37, 41];
        let codes = codes_for(&mut rng, &p, &shape, 1 + case % 3);
        let plain = Codec::with_engine(&p, Engine::Plain).unwrap();
        let channel = Codec::with_engine(&p, Engine::Channel).unwrap();
        let mut words = plain.compress(&codes, &shape).unwrap();
        assert_eq!(channel.compress_parallel(&codes, &shape).unwrap(), words, "case {case}: parallel compress");
        let back = plain.decompress(&words, &shape).unwrap();
        let got = channel.decompress_parallel(&words, &shape).unwrap();
        if let Some(i) = first_difference(&back, &got) {
            panic!("case {case}: parallel decompress, flat index {i}: {:?} vs plain {:?}", got.get(i), back.get(i));
        }
        // the byte API on all cores, on this engine and (widening) on the plain one
        let codecs = [("channel-major", &channel), ("plain", &plain)];
        check_byte_api(&format!("case {case}, bytes on all cores"), codecs, &codes, &words, &back, |c, b| c.compress_bytes_parallel(b, &shape), |c, w| c.decompress_bytes_parallel(w, &shape));
        // one flipped bit in the last third: the same error (or output) as the serial decoders
        for _ in 0..20 {
            let i = rng.gen_range(words.len() * 2 / 3..words.len());
            let bit = 1 << rng.gen_range(0..p.word_bits);
            words[i] ^= bit;
            let want = plain.decompress(&words, &shape).map_err(|e| e.to_string());
            assert_eq!(channel.decompress_parallel(&words, &shape).map_err(|e| e.to_string()), want, "case {case}: corrupt word {i}");
            assert_eq!(channel.decompress(&words, &shape).map_err(|e| e.to_string()), want, "case {case}: corrupt word {i}, serial");
            let want_bytes = want.clone().map(|codes| codes.iter().map(|&c| c as u8).collect::<Vec<u8>>());
            assert_eq!(channel.decompress_bytes_parallel(&words, &shape).map_err(|e| e.to_string()), want_bytes, "case {case}: corrupt word {i}, bytes");
            if let Err(e) = want {
                *errors.entry(if e.contains("padding") { "padding" } else { "group map" }).or_insert(0) += 1;
            }
            words[i] ^= bit;
        }
    }
    // both kinds of corruption were met far from the first run of tiles
    assert!(errors.get("padding").copied().unwrap_or(0) >= 5 && errors.get("group map").copied().unwrap_or(0) >= 5, "{errors:?}");
}
