//! The lane width adapters ([`LaneSplitter`]: 16 lanes + widths -> 2 x 8,
//! and the S = 1 register stage; [`LaneGather`]: 2 x 8 -> 16) against the
//! reference rule of `actcomp_sim::lane_split`, in rust-hdl's simulator with
//! random stalls on both sides, a reset with beats in flight and a clean
//! run after it, full rate; and their emitted Verilog under Icarus with
//! stalls (a corrupted expectation must FAIL).

use std::path::{Path, PathBuf};

use actcomp_hdl::{check_emitted, emit_verilog, LaneGather, LaneSplitter};
use actcomp_sim::lane_split::{gather_expected, gather_format, split_expected, split_format};
use actcomp_sim::transform::{stream_testbench, write_beat_vectors, BeatFormat, LaneBeat, StreamBench, StreamDut};
use actcomp_sim::vtb::{require_tool, run_iverilog, stall_pattern};
use actcomp_sim::StallConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Split16 = LaneSplitter<128, 64, 64, 32>;
type Split8 = LaneSplitter<64, 32, 64, 32>;
type Gather16 = LaneGather<64, 128>;

fn beats(rng: &mut StdRng, n: usize, lanes: usize, user: bool) -> Vec<LaneBeat> {
    (0..n)
        .map(|_| LaneBeat {
            lanes: (0..lanes).map(|_| *[0, 255, 128, 127].get(rng.gen_range(0..8)).unwrap_or(&rng.gen_range(0..256))).collect(),
            aux: if user { (0..lanes).map(|_| rng.gen_range(0..=8)).collect() } else { vec![] },
            last: rng.gen_bool(0.3),
        })
        .collect()
}

/// Runs, per stall set: a complete run, a run cut by a reset with the sink
/// stalled (beats in flight), a clean run; then a full-rate run that must
/// move one output beat per cycle.
fn check<D: StreamDut>(make: &dyn Fn() -> D, gen: &dyn Fn(&mut StdRng, usize) -> Vec<LaneBeat>, expect: &dyn Fn(&[LaneBeat]) -> Vec<LaneBeat>, unit: usize, what: &str) {
    let mut rng = StdRng::seed_from_u64(what.len() as u64);
    let sets = [StallConfig::NONE, StallConfig::both(0.3), StallConfig { in_stall: 0.6, out_stall: 0.1 }, StallConfig { in_stall: 0.1, out_stall: 0.6 }];
    for (k, s) in sets.iter().enumerate() {
        let mut bench = StreamBench::new(make(), k as u64, *s);
        let b = gen(&mut rng, 60);
        let e = expect(&b);
        bench.load(b, e.clone());
        let st = bench.run_to_completion(20_000, 8).unwrap_or_else(|err| panic!("{what} run 1 {s:?}: {err}"));
        assert_eq!(st.words, e.len(), "{what} run 1");
        let b = gen(&mut rng, 60);
        let e = expect(&b);
        let cut = unit * rng.gen_range(1..60 / unit);
        bench.load(b, e);
        bench.run_beats(cut, 20_000).unwrap_or_else(|err| panic!("{what} run 2 {s:?}: {err}"));
        bench.set_stalls(StallConfig { in_stall: s.in_stall, out_stall: 1.0 });
        for _ in 0..3 {
            bench.step().unwrap();
        }
        bench.reset(2).unwrap_or_else(|err| panic!("{what} reset {s:?}: {err}"));
        bench.set_stalls(*s);
        let b = gen(&mut rng, 60);
        let e = expect(&b);
        bench.load(b, e.clone());
        let st = bench.run_to_completion(20_000, 8).unwrap_or_else(|err| panic!("{what} run 3 (after reset) {s:?}: {err}"));
        assert_eq!(st.words, e.len(), "{what} run 3");
    }
    // full rate: one output beat per cycle once the pipeline is full
    let mut bench = StreamBench::new(make(), 1, StallConfig::NONE);
    let b = gen(&mut rng, 60);
    let e = expect(&b);
    bench.load(b, e.clone());
    let st = bench.run_to_completion(20_000, 0).unwrap();
    assert!(st.cycles <= e.len().max(st.beats) as u64 + 3, "{what}: {} outputs in {} cycles", e.len(), st.cycles);
}

#[test]
fn splitter_and_gatherer_match_the_reference_with_stalls_and_reset() {
    check(&Split16::new, &|r, n| beats(r, n, 16, true), &|b| split_expected(b, 2), 1, "split 16->2x8");
    check(&Split8::new, &|r, n| beats(r, n, 8, true), &|b| split_expected(b, 1), 1, "split 8->8 (register stage)");
    check(&Gather16::new, &|r, n| beats(r, n, 8, false), &|b| gather_expected(b, 2), 2, "gather 2x8->16");
}

#[test]
fn a_wrong_sub_beat_is_reported() {
    let mut rng = StdRng::seed_from_u64(3);
    let b = beats(&mut rng, 10, 16, true);
    let mut e = split_expected(&b, 2);
    e[5].lanes[3] ^= 1;
    let mut bench = StreamBench::new(Split16::new(), 1, StallConfig::both(0.2));
    bench.load(b, e);
    let err = bench.run_to_completion(10_000, 0).unwrap_err().to_string();
    assert!(err.contains("mismatch at beat 5"), "{err}");
}

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lane_split").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn icarus<B: rust_hdl::prelude::Block>(mut dut: B, name: &str, fi: BeatFormat, fo: BeatFormat, b: &[LaneBeat], e: &[LaneBeat], k: u64) -> String {
    let v = emit_verilog(&mut dut, name).unwrap();
    assert!(check_emitted(&v).is_empty(), "{name}: {:?}", check_emitted(&v));
    let dir = work_dir(&format!("{name}{k}"));
    std::fs::write(dir.join("dut.v"), &v).unwrap();
    let stalls = stall_pattern(k, 331, [0.0, 0.3, 0.6][k as usize % 3], [0.0, 0.4, 0.2][k as usize % 3]);
    write_beat_vectors(&dir, fi, fo, b, e, &stalls).unwrap();
    let tb = stream_testbench(name, fi, fo, b.len(), e.len(), stalls.len(), 40 * b.len() + 200);
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    run_iverilog(&dir, &[dir.join("tb.v"), dir.join("dut.v")], "tb").unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn emitted_splitter_and_gatherer_under_icarus_match_the_reference() {
    if require_tool("iverilog", "iverilog").is_none() || require_tool("vvp", "iverilog").is_none() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(17);
    for k in 0..3 {
        let b = beats(&mut rng, 50, 16, true);
        let out = icarus(Split16::new(), "actcomp_lane_splitter", split_format(16), split_format(8), &b, &split_expected(&b, 2), k);
        assert!(out.contains("PASS"), "splitter {k}: {out}");
        let b = beats(&mut rng, 50, 8, false);
        let out = icarus(Gather16::new(), "actcomp_lane_gather", gather_format(8), gather_format(16), &b, &gather_expected(&b, 2), k);
        assert!(out.contains("PASS"), "gather {k}: {out}");
    }
    let b = beats(&mut rng, 20, 16, true);
    let mut e = split_expected(&b, 2);
    e[7].aux[2] ^= 1;
    let out = icarus(Split16::new(), "actcomp_lane_splitter", split_format(16), split_format(8), &b, &e, 5);
    assert!(out.contains("FAIL"), "a corrupted expectation must fail: {out}");
}
