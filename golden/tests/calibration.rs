//! Calibration over random shapes and options: the policy is valid, meets
//! its target, and round-trips exactly through the codec.

use actcomp_golden::calibrate::{calibrate, CalibrateOptions, Partition, Target};
use actcomp_golden::codec::Codec;
use actcomp_golden::input_map::to_codes;
use actcomp_golden::policy::{Grouping, TransformKind};
use actcomp_golden::quant_learn::QuantStyle;
use actcomp_golden::testkit::random_activations;
use rand::{Rng, SeedableRng};

#[test]
fn random_calibrations_meet_the_rate_and_roundtrip() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    for case in 0..24 {
        let c = [4usize, 8, 12, 16][rng.gen_range(0..4)];
        let divisors: Vec<usize> = (1..=c).filter(|d| c % d == 0 && *d >= 2).collect();
        let b = divisors[rng.gen_range(0..divisors.len())];
        let relu = rng.gen_bool(0.5);
        let t = random_activations(&mut rng, vec![2, c, 6, 7], relu);
        let target = rng.gen_range(0.5..5.0);
        let opts = CalibrateOptions {
            target: Target::BitsPerValue(target),
            transform: [TransformKind::Pca, TransformKind::Dct, TransformKind::Identity][rng.gen_range(0..3)],
            block_size: Some(b),
            groups: rng.gen_range(1..=8),
            grouping: if rng.gen_bool(0.5) { Grouping::Static } else { Grouping::Dynamic },
            tile: [1usize, 4, 16][rng.gen_range(0..3)],
            word_bits: if rng.gen_bool(0.5) { 32 } else { 64 },
            style: [QuantStyle::Uniform, QuantStyle::Centroid, QuantStyle::Lloyd][rng.gen_range(0..3)],
            partition: if rng.gen_bool(0.8) { Partition::Optimal } else { Partition::Equal },
            ..CalibrateOptions::default()
        };
        let cal = match calibrate(&[&t], &opts, &|_, _| {}) {
            Ok(c) => c,
            // small targets with dynamic side information can be impossible: that must be a clear error
            Err(e) => {
                let m = e.to_string();
                assert!(m.contains("target bits per value"), "case {case}: unexpected error {m}");
                continue;
            }
        };
        let p = &cal.policy;
        p.validate().unwrap();
        assert!(p.payload_bpv() <= target + 1e-9, "case {case}: {} > {target}", p.payload_bpv());
        assert!(p.blocks.iter().all(|blk| blk.groups.len() <= opts.groups));
        let codec = Codec::new(p).unwrap();
        let codes = to_codes(&t, &p.input, "t").unwrap();
        let words = codec.compress(&codes, &t.shape).unwrap();
        assert_eq!(codec.decompress(&words, &t.shape).unwrap(), codec.reconstruct(&codes, &t.shape).unwrap(), "case {case}");
        // the search trajectory never exceeds 8 bits per value and ends within the budget
        let last = cal.trajectory.last().unwrap();
        assert!(last.code_bpv <= target + 1e-9, "case {case}");
    }
}

#[test]
fn more_bits_give_more_quality() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let t = random_activations(&mut rng, vec![4, 16, 8, 8], true);
    let mut prev = f64::NEG_INFINITY;
    for target in [1.0, 2.0, 3.0, 4.0] {
        let opts = CalibrateOptions { target: Target::BitsPerValue(target), ..CalibrateOptions::default() };
        let s = calibrate(&[&t], &opts, &|_, _| {}).unwrap().calibration_distortion.sqnr_db;
        assert!(s > prev, "{target} bits/value: {s} dB, not above {prev} dB");
        prev = s;
    }
}

#[test]
fn automatic_selection_keeps_the_best_candidate() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let t = random_activations(&mut rng, vec![2, 8, 8, 8], true);
    let opts = CalibrateOptions {
        try_transforms: vec![TransformKind::Pca, TransformKind::Identity],
        try_groupings: vec![Grouping::Static, Grouping::Dynamic],
        ..CalibrateOptions::default()
    };
    let cal = calibrate(&[&t], &opts, &|_, _| {}).unwrap();
    assert_eq!(cal.candidates.len(), 4);
    let best = cal.candidates.iter().filter_map(|c| c.calibration_sqnr_db).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(cal.calibration_distortion.sqnr_db, best);
    assert!(cal.policy.calibration.as_ref().unwrap().get("candidates").is_some());
}

/// Tiles and group counts are searched for dynamic grouping only; the kept
/// policy is the best candidate and carries its tile and group count.
#[test]
fn tile_and_group_search_keeps_the_best_dynamic_candidate() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let t = random_activations(&mut rng, vec![2, 8, 8, 8], true);
    let opts = CalibrateOptions {
        try_groupings: vec![Grouping::Static, Grouping::Dynamic],
        try_tiles: vec![4, 16],
        try_groups: vec![2, 4],
        ..CalibrateOptions::default()
    };
    let cal = calibrate(&[&t], &opts, &|_, _| {}).unwrap();
    // one static candidate at the default tile and groups, 2 x 2 dynamic ones
    assert_eq!(cal.candidates.len(), 5);
    let statics: Vec<_> = cal.candidates.iter().filter(|c| c.grouping == Grouping::Static).collect();
    assert_eq!(statics.len(), 1);
    assert_eq!((statics[0].tile, statics[0].groups), (Some(opts.tile), Some(opts.groups)));
    let mut dynamic: Vec<_> = cal.candidates.iter().filter(|c| c.grouping == Grouping::Dynamic).map(|c| (c.tile.unwrap(), c.groups.unwrap())).collect();
    dynamic.sort();
    assert_eq!(dynamic, vec![(4, 2), (4, 4), (16, 2), (16, 4)]);
    let best = cal.candidates.iter().filter(|c| c.calibration_sqnr_db == Some(cal.calibration_distortion.sqnr_db)).collect::<Vec<_>>();
    assert!(!best.is_empty());
    let top = cal.candidates.iter().filter_map(|c| c.calibration_sqnr_db).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(cal.calibration_distortion.sqnr_db, top);
    let p = &cal.policy;
    assert!(best.iter().any(|c| c.grouping == p.grouping && c.tile == Some(p.tile)));
    assert!(p.blocks.iter().all(|blk| blk.groups.len() <= best[0].groups.unwrap()));
    // the record keeps the search lists for a later re-calibration
    let o = &p.calibration.as_ref().unwrap()["options"];
    assert_eq!(o["try_tiles"], serde_json::json!([4, 16]));
    assert_eq!(o["try_groups"], serde_json::json!([2, 4]));
}

/// A bad entry of `try_tiles` / `try_groups` is a clear error naming the
/// list, not a silently skipped candidate.
#[test]
fn bad_search_list_entries_are_errors() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let t = random_activations(&mut rng, vec![1, 8, 4, 4], true);
    for (tiles, groups, needle) in [(vec![4, 0], vec![], "try_tiles"), (vec![], vec![2, 9], "try_groups"), (vec![], vec![0], "try_groups")] {
        let opts = CalibrateOptions { try_tiles: tiles, try_groups: groups, ..CalibrateOptions::default() };
        let e = calibrate(&[&t], &opts, &|_, _| {}).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}

/// Without a block size, calibration takes the largest preferred size dividing C, or all C
/// channels when none does (or no preference is given).
#[test]
fn default_block_is_the_largest_preferred_divisor_or_all_channels() {
    use actcomp_golden::calibrate::default_block;
    let hw = [4usize, 8, 16];
    assert_eq!(default_block(64, &hw), 16);
    assert_eq!(default_block(24, &hw), 8);
    assert_eq!(default_block(12, &hw), 4);
    assert_eq!(default_block(6, &hw), 6, "no preferred size divides 6: one block");
    assert_eq!(default_block(64, &[]), 64);
    assert_eq!(default_block(8, &[0, 16]), 8, "0 and non-divisors are skipped");
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let t = random_activations(&mut rng, vec![2, 24, 5, 5], true);
    for (preferred, want) in [(hw.to_vec(), 8), (vec![], 24)] {
        let opts = CalibrateOptions { preferred_blocks: preferred, groups: 4, ..CalibrateOptions::default() };
        let cal = calibrate(&[&t], &opts, &|_, _| {}).unwrap();
        assert_eq!(cal.policy.block_size, want);
    }
}
