//! The emitted top levels (`actcomp_compressor.v`,
//! `actcomp_decompressor.v`) under Verilator against the golden codec,
//! with the same stimulus, expected data and first-mismatch descriptions
//! as the rust-hdl benches in [`crate::top`].
//!
//! [`verilate_compressor`] / [`verilate_decompressor`] emit the Verilog of
//! a policy, build (or reuse) the verilated harness ([`crate::verilator`])
//! and make three runs in one harness invocation: full rate, random
//! stalls on both sides, and random stalls cut by a reset after half of
//! the inputs (the stream then restarts from the beginning and must be
//! bit-exact; outputs before the reset must be a prefix of the golden
//! stream). [`compressor_capture_report`] /
//! [`decompressor_capture_report`] turn one run's recorded transfers into
//! a [`RunReport`] or a located mismatch; tests call them with altered
//! expectations to prove that the comparison fails.

use std::path::PathBuf;

use actcomp_golden::codec::Codec;
use actcomp_golden::policy::Policy;
use actcomp_hdl::{check_top_policy, compressor_verilog, decompressor_verilog};

use crate::axis::OutWord;
use crate::scoreboard::{ExpectedWord, Scoreboard, SimFailure};
use crate::top::{
    compressor_beats, compressor_expected, decompressor_expected, describe_compressor_failure,
    describe_decompressor_failure, run_report, vectors_of, RunReport, TopReport, TopSimOptions,
};
use crate::transform::LaneBeat;
use crate::unpacker::{lane_diff, BeatFailure, OutBeat};
use crate::verilator::{build_model, HarnessFailure, HarnessSpec, RunCapture, RunSpec, StimBeat, Stimulus, TopKind, VerilatedModel, VerilatorError};

/// Options of the Verilator backend.
#[derive(Debug, Clone, PartialEq)]
pub struct VerilatorOptions {
    /// Build cache directory (see [`crate::verilator::default_cache_dir`]).
    pub cache_dir: PathBuf,
    /// Add a stalled run cut by a reset in the middle.
    pub reset_mid_run: bool,
}

impl Default for VerilatorOptions {
    fn default() -> Self {
        VerilatorOptions { cache_dir: crate::verilator::default_cache_dir(), reset_mid_run: true }
    }
}

/// A [`TopReport`] of the Verilator backend plus its build figures.
#[derive(Debug, Clone, PartialEq)]
pub struct VerilatedTopReport {
    /// Bit-exactness and the runs (wall times exclude the build).
    pub report: TopReport,
    /// Seconds spent building (0 when the build was cached).
    pub build_s: f64,
    /// The build came from the cache.
    pub cached: bool,
    /// Build directory (Verilog, harness, `build.log`, `obj_dir`).
    pub build_dir: PathBuf,
}

/// `tdata` of lane beat `b` with `bits`-bit lanes (lane 0 in the low bits)
/// as 64-bit limbs; panics beyond 256 bits.
pub fn lane_beat_limbs(b: &LaneBeat, bits: usize) -> [u64; 4] {
    assert!(b.lanes.len() * bits <= 256, "a lane beat of more than 256 bits");
    let mask = (1u64 << bits) - 1;
    let mut limbs = [0u64; 4];
    for (i, &x) in b.lanes.iter().enumerate() {
        let (pos, v) = (bits * i, x as u64 & mask);
        limbs[pos / 64] |= v << (pos % 64);
        if pos % 64 + bits > 64 {
            limbs[pos / 64 + 1] |= v >> (64 - pos % 64);
        }
    }
    limbs
}

/// The harness stimulus of the compressor: the beats of
/// [`compressor_beats`] (9-bit lanes, `tlast` exactly as given).
pub fn compressor_stimulus(beats: &[LaneBeat], expected_words: usize) -> Stimulus {
    Stimulus {
        inputs: beats.iter().map(|b| StimBeat { limbs: lane_beat_limbs(b, 9), last: b.last }).collect(),
        expected_outputs: expected_words,
        num_vectors: 0,
    }
}

/// The harness stimulus of the decompressor: the payload words and the vector count.
pub fn decompressor_stimulus(words: &[u64], expected_beats: usize, vectors: usize) -> Stimulus {
    Stimulus {
        inputs: words.iter().map(|&w| StimBeat::from_u128(w as u128, false)).collect(),
        expected_outputs: expected_beats, num_vectors: vectors as u64 }
}

/// The three runs of a backend invocation and their labels.
fn run_plan(opts: &TopSimOptions, v: &VerilatorOptions, inputs: usize) -> Vec<(String, RunSpec)> {
    let p = opts.stall_prob;
    let mut runs = vec![
        ("full rate".to_string(), RunSpec { stall_prob: 0.0, reset_after: None }),
        (format!("stalls p={p}"), RunSpec { stall_prob: p, reset_after: None }),
    ];
    if v.reset_mid_run && inputs >= 2 {
        runs.push((format!("stalls p={p}, reset mid-run"), RunSpec { stall_prob: p, reset_after: Some(inputs / 2) }));
    }
    runs
}

fn latency(cap: &RunCapture) -> Option<u64> {
    match (cap.first_input, cap.outputs.first()) {
        (Some(a), Some(o)) => Some(o.cycle.saturating_sub(a)),
        _ => None,
    }
}

/// Checks one recorded compressor run against `expected` (outputs before a
/// mid-run reset must be a prefix of it) and reports it like the rust-hdl
/// bench: a mismatch names word, tile, cycle and the vector / block / lane
/// of the first differing bit.
pub fn compressor_capture_report(
    policy: &Policy,
    vectors: usize,
    inputs: usize,
    expected: &[ExpectedWord],
    cap: &RunCapture,
    stall: f64,
    label: &str,
) -> Result<RunReport, String> {
    let golden: Vec<u64> = expected.iter().map(|w| w.data).collect();
    let fail = |e: SimFailure| describe_compressor_failure(policy, vectors, &golden, &e);
    let word = |t: &crate::verilator::Transfer| OutWord { data: t.data as u64, last: t.last };
    let mut before = Scoreboard::new(expected.to_vec(), policy.word_bits);
    for t in &cap.before_reset {
        before.check(word(t), t.cycle).map_err(|e| format!("before the mid-run reset: {}", fail(e)))?;
    }
    let mut sb = Scoreboard::new(expected.to_vec(), policy.word_bits);
    for t in &cap.outputs {
        sb.check(word(t), t.cycle).map_err(fail)?;
    }
    match &cap.failure {
        Some(HarnessFailure::Protocol { cycle, what }) => return Err(fail(SimFailure::Protocol { cycle: *cycle, what: what.clone() })),
        Some(HarnessFailure::Timeout { cycles, inputs: got, outputs }) => {
            return Err(fail(SimFailure::Timeout {
                cycles: *cycles,
                beats_sent: *got,
                beats_total: inputs,
                words_seen: *outputs,
                words_expected: expected.len(),
            }))
        }
        None if !sb.done() => {
            return Err(format!("the harness stopped after {}/{} words", sb.seen(), expected.len()));
        }
        None => {}
    }
    Ok(run_report(label, stall, cap.cycles, cap.inputs, cap.outputs.len(), vectors * policy.channels, latency(cap), cap.wall_s))
}

/// Checks one recorded decompressor run against `expected` (see
/// [`compressor_capture_report`]); a mismatch names beat, cycle, vector,
/// block, lane and channel.
pub fn decompressor_capture_report(
    policy: &Policy,
    vectors: usize,
    inputs: usize,
    expected: &[OutBeat],
    cap: &RunCapture,
    stall: f64,
    label: &str,
) -> Result<RunReport, String> {
    let fail = |e: BeatFailure| describe_decompressor_failure(policy, &e);
    let check = |outs: &[crate::verilator::Transfer]| -> Result<(), BeatFailure> {
        for (index, t) in outs.iter().enumerate() {
            let Some(e) = expected.get(index) else {
                return Err(BeatFailure::Extra { index, cycle: t.cycle, got: t.data, expected_len: expected.len() });
            };
            if e.data != t.data || e.last != t.last {
                return Err(BeatFailure::Mismatch {
                    index,
                    cycle: t.cycle,
                    expected: e.data,
                    expected_last: e.last,
                    got: t.data,
                    got_last: t.last,
                    detail: lane_diff(e.data, t.data, 8, actcomp_hdl::port_lanes(policy.block_size)),
                });
            }
        }
        Ok(())
    };
    check(&cap.before_reset).map_err(|e| format!("before the mid-run reset: {}", fail(e)))?;
    check(&cap.outputs).map_err(fail)?;
    match &cap.failure {
        Some(HarnessFailure::Protocol { cycle, what }) => return Err(fail(BeatFailure::Protocol { cycle: *cycle, what: what.clone() })),
        Some(HarnessFailure::Timeout { cycles, inputs: got, outputs }) => {
            return Err(fail(BeatFailure::Timeout {
                cycles: *cycles,
                accepted: vec![*got],
                offered: vec![inputs],
                seen: *outputs,
                expected: expected.len(),
            }))
        }
        None if cap.outputs.len() < expected.len() => {
            return Err(format!("the harness stopped after {}/{} beats", cap.outputs.len(), expected.len()));
        }
        None => {}
    }
    Ok(run_report(label, stall, cap.cycles, cap.inputs, cap.outputs.len(), vectors * policy.channels, latency(cap), cap.wall_s))
}

/// Runs `model` over the plan and folds the captures into a [`TopReport`]
/// with `check` (stops at the first failing run, like the rust-hdl benches).
fn run_top(
    model: &VerilatedModel,
    stimulus: &Stimulus,
    opts: &TopSimOptions,
    v: &VerilatorOptions,
    check: &dyn Fn(&RunCapture, f64, &str) -> Result<RunReport, String>,
) -> Result<VerilatedTopReport, VerilatorError> {
    let plan = run_plan(opts, v, stimulus.inputs.len());
    let specs: Vec<RunSpec> = plan.iter().map(|(_, s)| s.clone()).collect();
    let caps = model.run(stimulus, &specs, opts.seed)?;
    let mut runs = Vec::new();
    let mut mismatch = None;
    for ((label, spec), cap) in plan.iter().zip(&caps) {
        match check(cap, spec.stall_prob, label) {
            Ok(r) => runs.push(r),
            Err(e) => {
                mismatch = Some(format!("{label} run: {e}"));
                break;
            }
        }
    }
    let report = TopReport { unit: model.spec.top.module().into(), bit_exact: mismatch.is_none(), mismatch, runs };
    Ok(VerilatedTopReport { report, build_s: model.build_s, cached: model.cached, build_dir: model.dir.clone() })
}

fn design_err(e: impl std::fmt::Display) -> VerilatorError {
    VerilatorError::Design(e.to_string())
}

/// The compressor of `policy` (built with `opts.multipliers`) under
/// Verilator on the tensor: full rate, stalls, stalls + mid-run reset.
pub fn verilate_compressor(policy: &Policy, codes: &[i16], shape: &[usize], opts: &TopSimOptions, v: &VerilatorOptions) -> Result<VerilatedTopReport, VerilatorError> {
    check_top_policy(policy).map_err(design_err)?;
    let expected = compressor_expected(policy, codes, shape).map_err(design_err)?;
    let beats = compressor_beats(policy, codes, shape, opts.tlast);
    let vectors = vectors_of(shape);
    let verilog = compressor_verilog(policy, opts.multipliers).map_err(design_err)?;
    let spec = HarnessSpec::for_top(TopKind::Compressor, policy.block_size, policy.word_bits as usize);
    let model = build_model(&verilog, &spec, &v.cache_dir)?;
    let stim = compressor_stimulus(&beats, expected.len());
    run_top(&model, &stim, opts, v, &|cap, p, label| compressor_capture_report(policy, vectors, beats.len(), &expected, cap, p, label))
}

/// The decompressor of `policy` under Verilator on the golden payload of
/// the tensor: full rate, stalls, stalls + mid-run reset.
pub fn verilate_decompressor(policy: &Policy, codes: &[i16], shape: &[usize], opts: &TopSimOptions, v: &VerilatorOptions) -> Result<VerilatedTopReport, VerilatorError> {
    check_top_policy(policy).map_err(design_err)?;
    let words = Codec::new(policy).map_err(design_err)?.compress(codes, shape).map_err(design_err)?;
    let expected = decompressor_expected(policy, codes, shape).map_err(design_err)?;
    let vectors = vectors_of(shape);
    let verilog = decompressor_verilog(policy).map_err(design_err)?;
    let spec = HarnessSpec::for_top(TopKind::Decompressor, policy.block_size, policy.word_bits as usize);
    let model = build_model(&verilog, &spec, &v.cache_dir)?;
    let stim = decompressor_stimulus(&words, expected.len(), vectors);
    run_top(&model, &stim, opts, v, &|cap, p, label| decompressor_capture_report(policy, vectors, words.len(), &expected, cap, p, label))
}
