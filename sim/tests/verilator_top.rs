//! The emitted top levels under Verilator (`actcomp_sim::top_verilator`):
//! small random static policies (B = 4, 8; W = 32, 64; full and serial
//! multipliers; C = 8..16) are bit-exact against the golden codec at full
//! rate, with random stalls, and after a reset in the middle of a stalled
//! run. The comparison is shown to fail: a corrupted expected word / beat
//! is reported with its word, tile, vector, lane and cycle, and a
//! deliberately altered constant in the Verilog is caught as a mismatch.
//!
//! Builds are cached by content hash under `CARGO_TARGET_TMPDIR`, so the
//! designs are built once per test binary (and reused by later runs).
//! Without `verilator` on PATH the tests fail when `CI=true` and otherwise
//! print a loud skip banner.

use std::path::PathBuf;

use actcomp_golden::codec::Codec;
use actcomp_golden::policy::{Grouping, Policy};
use actcomp_golden::testkit::{random_codes, random_policy, PolicySpec};
use actcomp_hdl::{compressor_verilog, Multipliers};
use actcomp_sim::top::{compressor_beats, compressor_expected, decompressor_expected, first_vectors, TlastMode, TopSimOptions};
use actcomp_sim::top_verilator::{
    compressor_capture_report, compressor_stimulus, decompressor_capture_report, decompressor_stimulus, verilate_compressor,
    verilate_decompressor, VerilatorOptions,
};
use actcomp_sim::verilator::{build_model, HarnessSpec, RunSpec, TopKind};
use actcomp_sim::vtb::require_tool;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("verilator-cache")
}

fn vopts() -> VerilatorOptions {
    VerilatorOptions { cache_dir: cache(), reset_mid_run: true }
}

fn have_verilator() -> bool {
    require_tool("verilator", "verilator").is_some()
}

/// A random static policy with `nb` blocks of `b` and a tensor of at most 40 vectors.
fn case(seed: u64, b: usize, nb: usize, w: u32) -> (Policy, Vec<usize>, Vec<i16>) {
    case_with(seed, b, nb, w, Grouping::Static)
}

/// [`case`] with the given grouping.
fn case_with(seed: u64, b: usize, nb: usize, w: u32, grouping: Grouping) -> (Policy, Vec<usize>, Vec<i16>) {
    let mut rng = StdRng::seed_from_u64(seed);
    // the B = 32 / 64 units are built for dynamic tiles of at most 16 vectors
    let tile = if b > 16 { Some(16) } else { None };
    let spec = PolicySpec { grouping: Some(grouping), channels: Some(b * nb), block_size: Some(b), word_bits: Some(w), tile, ..Default::default() };
    let p = random_policy(&mut rng, &spec);
    let mut best = random_codes(&mut rng, &p);
    for _ in 0..4 {
        let c = random_codes(&mut rng, &p);
        if c.1.len() > best.1.len() {
            best = c;
        }
    }
    let (shape, codes) = first_vectors(&best.1, &best.0, 40);
    (p, shape, codes)
}

fn check_both(seed: u64, b: usize, nb: usize, w: u32, mult: Multipliers, tlast: TlastMode, decompressor: bool) {
    check_grouping(seed, b, nb, w, mult, tlast, decompressor, Grouping::Static)
}

#[allow(clippy::too_many_arguments)]
fn check_grouping(seed: u64, b: usize, nb: usize, w: u32, mult: Multipliers, tlast: TlastMode, decompressor: bool, grouping: Grouping) {
    let (p, shape, codes) = case_with(seed, b, nb, w, grouping);
    let what = format!("{grouping:?} B={b} NB={nb} W={w} T={} {mult:?} {tlast:?}", p.tile);
    let opts = TopSimOptions { stall_prob: 0.3, seed, multipliers: mult, tlast };
    let c = verilate_compressor(&p, &codes, &shape, &opts, &vopts()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(c.report.bit_exact, "{what}: compressor: {:?}", c.report.mismatch);
    assert_eq!(c.report.runs.len(), 3, "{what}: full rate, stalls, stalls + reset mid-run");
    let words = compressor_expected(&p, &codes, &shape).unwrap().len();
    for r in &c.report.runs {
        assert_eq!(r.outputs, words, "{what}: {}", r.label);
        assert!(r.cycles > 0 && r.wall_s > 0.0 && r.latency.is_some(), "{what}: {r:?}");
    }
    // stalls cost cycles at full rate (a serial budget that takes a beat only
    // every few cycles can absorb them all in its register stages)
    if mult == Multipliers::Full {
        assert!(c.report.runs[1].cycles > c.report.runs[0].cycles, "{what}: {:?}", c.report.runs);
    } else {
        assert!(c.report.runs[1].cycles >= c.report.runs[0].cycles, "{what}: {:?}", c.report.runs);
    }
    if decompressor {
        let d = verilate_decompressor(&p, &codes, &shape, &opts, &vopts()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(d.report.bit_exact, "{what}: decompressor: {:?}", d.report.mismatch);
        assert_eq!(d.report.runs.len(), 3);
        let beats = shape[0] * shape[2..].iter().product::<usize>() * p.num_blocks() * actcomp_hdl::port_beats(b);
        assert!(d.report.runs.iter().all(|r| r.outputs == beats), "{what}: {:?}", d.report.runs);
    }
}

#[test]
fn b4_policies_are_bit_exact_with_stalls_and_mid_run_reset() {
    if !have_verilator() {
        return;
    }
    check_both(1, 4, 2, 32, Multipliers::Full, TlastMode::TensorEnd, true);
    check_both(2, 4, 4, 64, Multipliers::Serial, TlastMode::EveryTile, true);
}

#[test]
fn b8_policies_are_bit_exact_with_stalls_and_mid_run_reset() {
    if !have_verilator() {
        return;
    }
    check_both(3, 8, 2, 32, Multipliers::Serial, TlastMode::TensorEnd, true);
    check_both(4, 8, 1, 64, Multipliers::Full, TlastMode::EveryTile, true);
}

/// B = 16: two 8-lane packer / unpacker sub-beats per block beat, a
/// 144-bit input port (three 64-bit stimulus limbs) and a 128-bit output.
#[test]
fn b16_policies_are_bit_exact_with_stalls_and_mid_run_reset() {
    if !have_verilator() {
        return;
    }
    check_grouping(7, 16, 2, 64, Multipliers::Full, TlastMode::TensorEnd, true, Grouping::Static);
    check_grouping(8, 16, 1, 32, Multipliers::Serial, TlastMode::EveryTile, true, Grouping::Dynamic);
}

/// B = 32 and 64: 16-lane port beats gathered into (split from) the block,
/// the 32- and 64-wire sorters, B² inverse multipliers.
#[test]
fn b32_b64_policies_are_bit_exact_with_stalls_and_mid_run_reset() {
    if !have_verilator() {
        return;
    }
    check_grouping(9, 32, 2, 32, Multipliers::Serial, TlastMode::EveryTile, true, Grouping::Static);
    check_grouping(10, 64, 1, 64, Multipliers::Full, TlastMode::TensorEnd, true, Grouping::Dynamic);
}

/// Dynamic grouping: the importance sorters and the decompressor's map
/// registers under Verilator (stalls, reset mid-run).
#[test]
fn dynamic_policies_are_bit_exact_with_stalls_and_mid_run_reset() {
    if !have_verilator() {
        return;
    }
    check_grouping(5, 4, 3, 32, Multipliers::Full, TlastMode::TensorEnd, true, Grouping::Dynamic);
    check_grouping(6, 8, 2, 64, Multipliers::Serial, TlastMode::EveryTile, true, Grouping::Dynamic);
}

#[test]
fn corrupted_expectations_are_reported_with_their_location() {
    if !have_verilator() {
        return;
    }
    let (p, shape, codes) = case(1, 4, 2, 32);
    let v = shape[0] * shape[2..].iter().product::<usize>();
    // compressor: same design as the B = 4 test above (cached build)
    let verilog = compressor_verilog(&p, Multipliers::Full).unwrap();
    let model = build_model(&verilog, &HarnessSpec::for_top(TopKind::Compressor, 4, 32), &cache()).unwrap();
    let mut exp = compressor_expected(&p, &codes, &shape).unwrap();
    let beats = compressor_beats(&p, &codes, &shape, TlastMode::TensorEnd);
    let caps = model.run(&compressor_stimulus(&beats, exp.len()), &[RunSpec { stall_prob: 0.2, reset_after: None }], 9).unwrap();
    compressor_capture_report(&p, v, beats.len(), &exp, &caps[0], 0.2, "ok").expect("uncorrupted expectation passes");
    let k = exp.len() / 2;
    exp[k].data ^= 1 << 3;
    let e = compressor_capture_report(&p, v, beats.len(), &exp, &caps[0], 0.2, "bad").unwrap_err();
    let cycle = caps[0].outputs[k].cycle;
    assert!(e.contains(&format!("mismatch at word {k} (tile {}) at cycle {cycle}", exp[k].tile)), "{e}");
    assert!(e.contains("first differing bit 3: tile") && e.contains("vector") && e.contains("lane"), "{e}");
    // decompressor
    let words = Codec::new(&p).unwrap().compress(&codes, &shape).unwrap();
    let mut dexp = decompressor_expected(&p, &codes, &shape).unwrap();
    let dmodel = build_model(&actcomp_hdl::decompressor_verilog(&p).unwrap(), &HarnessSpec::for_top(TopKind::Decompressor, 4, 32), &cache()).unwrap();
    let caps = dmodel.run(&decompressor_stimulus(&words, dexp.len(), v), &[RunSpec { stall_prob: 0.2, reset_after: Some(words.len() / 2) }], 9).unwrap();
    assert!(!caps[0].before_reset.is_empty() || words.len() < 4, "words were in flight at the reset");
    decompressor_capture_report(&p, v, words.len(), &dexp, &caps[0], 0.2, "ok").expect("uncorrupted expectation passes");
    let k = dexp.len() - 1;
    dexp[k].data ^= 0x80 << 8;
    let e = decompressor_capture_report(&p, v, words.len(), &dexp, &caps[0], 0.2, "bad").unwrap_err();
    let cycle = caps[0].outputs[k].cycle;
    assert!(e.contains(&format!("mismatch at beat {k} at cycle {cycle}")), "{e}");
    assert!(e.contains(&format!("(vector {}, block {}, lane 1, channel {})", k / 2, k % 2, (k % 2) * 4 + 1)), "{e}");
    // a missing word is a timeout, not a pass
    exp.push(exp[0]);
    let e = compressor_capture_report(&p, v, beats.len(), &exp, &caps[0], 0.2, "long");
    assert!(e.is_err());
}

#[test]
fn an_altered_verilog_constant_is_caught() {
    if !have_verilator() {
        return;
    }
    // C = 8 in one block of 8: flip the low bit of the first per-block
    // group-widths constant of the decompressor (the unpacker then reads
    // the wrong field widths).
    let (p, shape, codes) = case(4, 8, 1, 64);
    let v = shape[0] * shape[2..].iter().product::<usize>();
    let verilog = actcomp_hdl::decompressor_verilog(&p).unwrap();
    let needle = "c_widths$0 = ";
    let at = verilog.find(needle).unwrap_or_else(|| panic!("no `{needle}` in the emitted decompressor"));
    let start = at + needle.len();
    let end = start + verilog[start..].find(';').unwrap();
    let lit = &verilog[start..end];
    let (width, hex) = lit.split_once("'h").unwrap_or_else(|| panic!("constant `{lit}`"));
    let value = u64::from_str_radix(hex, 16).unwrap() ^ 1;
    let altered = format!("{}{width}'h{value:x}{}", &verilog[..start], &verilog[end..]);
    let words = Codec::new(&p).unwrap().compress(&codes, &shape).unwrap();
    let dexp = decompressor_expected(&p, &codes, &shape).unwrap();
    let model = build_model(&altered, &HarnessSpec::for_top(TopKind::Decompressor, 8, 64), &cache()).unwrap();
    let caps = model.run(&decompressor_stimulus(&words, dexp.len(), v), &[RunSpec { stall_prob: 0.0, reset_after: None }], 1).unwrap();
    let e = decompressor_capture_report(&p, v, words.len(), &dexp, &caps[0], 0.0, "altered").unwrap_err();
    assert!(e.contains("mismatch at beat") || e.contains("timeout"), "{e}");
    println!("altered constant: {e}");
}
