//! The emitted top-level Verilog (`actcomp_compressor`,
//! `actcomp_decompressor`) of multi-block static and dynamic-grouping
//! policies under Icarus
//! Verilog: plain-Verilog testbenches replay hex stimulus with random
//! stalls and compare every payload word / reconstructed block with the
//! golden codec. A corrupted expectation must be reported as a FAIL.
//!
//! Without `iverilog` on PATH this test fails when `CI=true` and otherwise
//! prints a loud skip banner.

use std::path::{Path, PathBuf};

use actcomp_golden::codec::Codec;
use actcomp_golden::policy::{Grouping, Policy};
use actcomp_golden::testkit::{random_codes, random_policy, PolicySpec};
use actcomp_hdl::{compressor_verilog, decompressor_verilog, module_names, port_lanes, Multipliers};
use actcomp_sim::top::{compressor_beats, compressor_expected, decompressor_expected, decompressor_words, first_vectors, TlastMode};
use actcomp_sim::transform::{stream_testbench, write_beat_vectors, BeatFormat, LaneBeat};
use actcomp_sim::unpacker::{beat_stall_pattern, run_beat_verilog, VPort};
use actcomp_sim::vtb::{require_tool, run_iverilog, stall_pattern};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("top_verilog").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tools() -> bool {
    require_tool("iverilog", "iverilog").is_some() && require_tool("vvp", "iverilog").is_some()
}

fn policy(seed: u64, b: usize, nb: usize, w: u32, tile: usize) -> (Policy, Vec<usize>, Vec<i16>) {
    policy_with(seed, b, nb, w, tile, Grouping::Static)
}

fn policy_with(seed: u64, b: usize, nb: usize, w: u32, tile: usize, grouping: Grouping) -> (Policy, Vec<usize>, Vec<i16>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let spec = PolicySpec { grouping: Some(grouping), channels: Some(b * nb), block_size: Some(b), word_bits: Some(w), tile: Some(tile), ..Default::default() };
    let p = random_policy(&mut rng, &spec);
    let mut best = random_codes(&mut rng, &p);
    for _ in 0..4 {
        let c = random_codes(&mut rng, &p);
        if c.1.len() > best.1.len() {
            best = c;
        }
    }
    let (shape, codes) = first_vectors(&best.1, &best.0, 48);
    (p, shape, codes)
}

fn compressor_case(dir: &Path, p: &Policy, shape: &[usize], codes: &[i16], mult: Multipliers, stall: f64, mode: TlastMode, corrupt: bool) -> String {
    let v = compressor_verilog(p, mult).unwrap();
    assert!(module_names(&v).iter().all(|n| n.starts_with("actcomp_compressor")));
    std::fs::write(dir.join("dut.v"), &v).unwrap();
    let beats = compressor_beats(p, codes, shape, mode);
    let mut exp: Vec<LaneBeat> = compressor_expected(p, codes, shape)
        .unwrap()
        .iter()
        .map(|e| LaneBeat { lanes: vec![e.data as i64], aux: vec![], last: e.last })
        .collect();
    if corrupt {
        let k = exp.len() / 2;
        exp[k].lanes[0] ^= 1 << 5;
    }
    let fin = BeatFormat { lanes: port_lanes(p.block_size), data_bits: 9, user_bits: 0 };
    let fout = BeatFormat { lanes: 1, data_bits: p.word_bits as usize, user_bits: 0 };
    let stalls = stall_pattern(11, 997, stall, stall);
    write_beat_vectors(dir, fin, fout, &beats, &exp, &stalls).unwrap();
    let tb = stream_testbench("actcomp_compressor", fin, fout, beats.len(), exp.len(), stalls.len(), 60 * beats.len() + 400);
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    run_iverilog(dir, &[dir.join("tb.v"), dir.join("dut.v")], "tb").unwrap_or_else(|e| panic!("{e}"))
}

/// A wrapper that ties `num_vectors` to a constant so the generic
/// multi-port testbench can drive the decompressor.
fn decompressor_wrapper(b: usize, w: u32, vectors: usize) -> String {
    format!(
        r#"
module actcomp_decompressor_tb_wrap(clock, reset, s_axis_tdata, s_axis_tvalid, s_axis_tready, m_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast);
  input clock, reset, s_axis_tvalid, m_axis_tready;
  input [{wm}:0] s_axis_tdata;
  output s_axis_tready, m_axis_tvalid, m_axis_tlast;
  output [{om}:0] m_axis_tdata;
  actcomp_decompressor u(.clock(clock), .reset(reset), .num_vectors(32'd{vectors}),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast));
endmodule
"#,
        wm = w - 1,
        om = 8 * port_lanes(b) - 1
    )
}

fn decompressor_case(dir: &Path, p: &Policy, shape: &[usize], codes: &[i16], stall: f64, corrupt: bool) -> String {
    let v = decompressor_verilog(p).unwrap();
    assert!(module_names(&v).iter().all(|n| n.starts_with("actcomp_decompressor")));
    let vectors = shape[0] * shape[2..].iter().product::<usize>();
    let words = Codec::new(p).unwrap().compress(codes, shape).unwrap();
    let mut exp = decompressor_expected(p, codes, shape).unwrap();
    if corrupt {
        let k = exp.len() / 2;
        exp[k].data ^= 1 << 12;
    }
    let text = v + &decompressor_wrapper(p.block_size, p.word_bits, vectors);
    let ports = [VPort::new("s_axis", p.word_bits as usize, 0, false)];
    let stalls = beat_stall_pattern(13, 997, 1, stall, stall);
    run_beat_verilog(dir, &text, "actcomp_decompressor_tb_wrap", &ports, &[decompressor_words(&words)], 8 * port_lanes(p.block_size), &exp, &stalls)
}

#[test]
fn top_levels_under_icarus_match_golden() {
    if !tools() {
        return;
    }
    let t0 = std::time::Instant::now();
    // (seed, B, NB, W, T, multipliers, stall, tlast, grouping)
    let (st, dy) = (Grouping::Static, Grouping::Dynamic);
    let cases = [
        (1u64, 4, 4, 32u32, 5, Multipliers::Full, 0.3, TlastMode::TensorEnd, st),
        (2, 8, 2, 64, 3, Multipliers::Serial, 0.2, TlastMode::EveryTile, st),
        (3, 4, 2, 64, 16, Multipliers::Serial, 0.0, TlastMode::TensorEnd, st),
        (4, 8, 2, 32, 7, Multipliers::Full, 0.4, TlastMode::TensorEnd, st),
        (5, 4, 3, 32, 6, Multipliers::Full, 0.3, TlastMode::TensorEnd, dy),
        (6, 8, 2, 64, 32, Multipliers::Serial, 0.2, TlastMode::EveryTile, dy),
        (7, 8, 1, 32, 4, Multipliers::Full, 0.0, TlastMode::TensorEnd, dy),
        (8, 16, 2, 64, 5, Multipliers::Full, 0.3, TlastMode::TensorEnd, st),
        (9, 16, 1, 32, 6, Multipliers::Serial, 0.2, TlastMode::EveryTile, dy),
        (10, 32, 1, 32, 8, Multipliers::Serial, 0.3, TlastMode::TensorEnd, st),
        (11, 64, 1, 64, 5, Multipliers::Full, 0.2, TlastMode::EveryTile, st),
    ];
    for (seed, b, nb, w, t, mult, stall, mode, grouping) in cases {
        let (p, shape, codes) = policy_with(seed, b, nb, w, t, grouping);
        let what = format!("{grouping:?} B={b} NB={nb} W={w} T={t} {mult:?} stall {stall} {mode:?} shape {shape:?}");
        let dir = work_dir(&format!("comp{seed}"));
        let out = compressor_case(&dir, &p, &shape, &codes, mult, stall, mode, false);
        assert!(out.contains("PASS"), "compressor {what}:\n{out}");
        println!("compressor {what}: {}", out.trim());
        let dir = work_dir(&format!("decomp{seed}"));
        let out = decompressor_case(&dir, &p, &shape, &codes, stall, false);
        assert!(out.contains("PASS"), "decompressor {what}:\n{out}");
        println!("decompressor {what}: {}", out.trim());
    }
    // the benches catch a wrong word / beat
    let (p, shape, codes) = policy(1, 4, 4, 32, 5);
    let out = compressor_case(&work_dir("comp_bad"), &p, &shape, &codes, Multipliers::Full, 0.2, TlastMode::TensorEnd, true);
    assert!(out.contains("FAIL mismatch at beat"), "{out}");
    let out = decompressor_case(&work_dir("decomp_bad"), &p, &shape, &codes, 0.2, true);
    assert!(out.contains("FAIL mismatch at beat"), "{out}");
    println!("{:.1}s", t0.elapsed().as_secs_f64());
}

/// The demo's policy under Icarus: conv2 (64 channels) calibrated as
/// `actcomp demo` does (B = 16, 2.5 bits/value, transform and grouping as
/// calibration chooses), the first 48 held-out pixel vectors (3 tiles),
/// stalls.
#[test]
fn demo_like_conv2_b16_policy_under_icarus_matches_golden() {
    use actcomp_golden::calibrate::{calibrate, CalibrateOptions};
    use actcomp_golden::input_map::to_codes;
    use actcomp_golden::tensor::Tensor;
    if !tools() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/activations");
    let calib = Tensor::load_npy(&dir.join("mnist_conv2_relu_calib.npy")).unwrap();
    let opts = CalibrateOptions { block_size: Some(16), ..Default::default() };
    let p = calibrate(&[&calib], &opts, &|_, _| {}).unwrap().policy;
    assert_eq!((p.channels, p.block_size), (64, 16));
    let test = Tensor::load_npy(&dir.join("mnist_conv2_relu_test.npy")).unwrap();
    let codes = to_codes(&test, &p.input, "test").unwrap();
    let (shape, codes) = first_vectors(&codes, &test.shape, 48);
    let what = format!("conv2 {:?} B=16 T={} W={}", p.grouping, p.tile, p.word_bits);
    let out = compressor_case(&work_dir("demo_comp"), &p, &shape, &codes, Multipliers::Serial, 0.2, TlastMode::TensorEnd, false);
    assert!(out.contains("PASS"), "compressor {what}:\n{out}");
    let out = decompressor_case(&work_dir("demo_decomp"), &p, &shape, &codes, 0.2, false);
    assert!(out.contains("PASS"), "decompressor {what}:\n{out}");
}
