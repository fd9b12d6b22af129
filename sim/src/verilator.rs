//! Running emitted top-level Verilog under Verilator: a generated C++
//! harness per top level, a cached `verilator --build`, and the raw
//! captured output transfers of each run.
//!
//! * [`harness_cpp`] writes the C++ harness for a [`HarnessSpec`] (top
//!   module, `s_axis_tdata` / `m_axis_tdata` widths, whether the module
//!   has a `num_vectors` input). Ports wider than 64 bits are Verilator
//!   `VlWide` arrays of 32-bit words; the harness packs them from two
//!   64-bit limbs.
//! * [`build_model`] writes the Verilog, the harness and the lint waiver
//!   file (`lint/verilator.vlt`) into `<cache>/<hash>/` and runs
//!   `verilator --cc --exe --build -O2 --x-assign 0 --x-initial 0`. The
//!   hash covers the Verilog, the harness, the waivers, the flags and the
//!   verilator version, so an unchanged design is never rebuilt (also
//!   across processes: builds happen in a private directory that is
//!   renamed into place).
//! * [`VerilatedModel::run`] writes a binary [`Stimulus`] file, runs the
//!   harness for a list of [`RunSpec`]s and parses what it recorded into
//!   [`RunCapture`]s. Comparing against the golden model is the caller's
//!   job (see `top_verilator`).
//!
//! # Harness protocol
//!
//! The harness holds `reset` high for 2 cycles before the first run and
//! between runs, and checks that `s_axis_tready` and `m_axis_tvalid` are
//! low while it is high. One cycle is: drive the inputs with the clock
//! low and `eval()`, sample both handshakes (a transfer happens where
//! `tvalid && tready`), raise the clock and `eval()`. Stalls come from a
//! seeded splitmix64 generator: an idle source presents its next beat
//! with probability `1 - p` (and holds it until accepted), the sink is
//! ready with probability `1 - p`. A word shown with `m_axis_tvalid` and
//! not taken must stay unchanged (else a protocol failure is recorded). A
//! run ends when every input was accepted and the expected number of
//! outputs arrived, followed by 16 idle cycles with the sink ready (extra
//! outputs are recorded, so the caller reports them); it times out after
//! `200 * (inputs + outputs) + 1000` cycles. A run with `reset_after = k`
//! asserts reset after the `k`-th accepted input (outputs so far are
//! recorded as "before reset"), then restarts the stream from the first
//! input with the cycle counter at 0.
//!
//! Stimulus file (little-endian `u64`s): magic `ACVLSTM1`, input count,
//! expected output count, `num_vectors`, then per input `lo`, `hi` (bits
//! 64..128 of `tdata`) and `tlast`. Output file (text), per run: `run k`,
//! then `o <epoch> <cycle> <tlast> <lo hex> <hi hex>` per output
//! transfer (epoch 0 = before a mid-run reset), then `done <cycles>
//! <inputs> <first input cycle|-1> <last input cycle|-1> <wall ns>` or
//! `fail timeout <cycles> <inputs> <outputs>` / `fail protocol <cycle>
//! <text>` (the harness stops at a failure).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};


/// The lint waiver file (`lint/verilator.vlt`), passed to every build so
/// the known rust-hdl emission idioms do not print warnings.
pub const WAIVERS: &str = include_str!("../../lint/verilator.vlt");

/// Verilator flags of every build (besides top module, output and files).
pub const BUILD_FLAGS: [&str; 9] = ["--cc", "--exe", "--build", "-O2", "--x-assign", "0", "--x-initial", "0", "-Wno-fatal"];

/// Name of the harness executable inside `obj_dir`.
const EXE_NAME: &str = "actcomp_vsim";

/// Cycles with reset high before the first run and between runs.
pub const RESET_CYCLES: u64 = 2;

/// Idle cycles after a run in which no further output may appear.
pub const IDLE_CYCLES: u64 = 16;

/// Why building or running a verilated model failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerilatorError {
    /// A tool is not on `PATH`.
    #[error("`{tool}` not found on PATH; install it with `apt-get install {package}`{ci}")]
    MissingTool {
        /// Executable name.
        tool: String,
        /// Debian package.
        package: String,
        /// Extra note when `CI=true`.
        ci: String,
    },
    /// `verilator --build` failed; `lines` are the tool's own error lines.
    #[error("verilator build of {module} failed ({status}); build directory {dir}:\n{lines}")]
    Build {
        /// Top module.
        module: String,
        /// Exit status.
        status: String,
        /// Build directory (holds `build.log` with the full output).
        dir: String,
        /// The tool's error lines.
        lines: String,
    },
    /// The harness crashed or wrote an unreadable output file.
    #[error("verilated harness {exe} failed: {what}")]
    Harness {
        /// Executable.
        exe: String,
        /// What happened (exit status and output, or parse error).
        what: String,
    },
    /// A file could not be written or read.
    #[error("{0}")]
    Io(String),
    /// The policy or the design cannot be simulated (invalid policy, no top level).
    #[error("{0}")]
    Design(String),
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> VerilatorError {
    VerilatorError::Io(format!("cannot {what} {}: {e}", p.display()))
}

/// Finds `tool` on `PATH` or returns [`VerilatorError::MissingTool`]
/// naming it and its Debian package.
pub fn tool_path(tool: &str, package: &str) -> Result<PathBuf, VerilatorError> {
    if let Some(p) = crate::vtb::find_tool(tool) {
        return Ok(p);
    }
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    Err(VerilatorError::MissingTool {
        tool: tool.into(),
        package: package.into(),
        ci: if ci { " [CI=true: missing EDA tools are errors]".into() } else { String::new() },
    })
}

/// Checks that everything a Verilator build needs is installed
/// (`verilator`, `make`, a C++ compiler) and returns the verilator path.
pub fn require_build_tools() -> Result<PathBuf, VerilatorError> {
    let v = tool_path("verilator", "verilator")?;
    tool_path("make", "make")?;
    tool_path("g++", "g++").or_else(|e| tool_path("c++", "g++").map_err(|_| e))?;
    Ok(v)
}

/// Default build cache: `$ACTCOMP_VERILATOR_CACHE`, else
/// `<system temp>/actcomp-verilator`.
pub fn default_cache_dir() -> PathBuf {
    match std::env::var_os("ACTCOMP_VERILATOR_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir().join("actcomp-verilator"),
    }
}

/// Which top level a harness drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKind {
    /// `actcomp_compressor`: lane beats in, payload words out.
    Compressor,
    /// `actcomp_decompressor`: payload words in (plus `num_vectors`), lane beats out.
    Decompressor,
}

impl TopKind {
    /// The Verilog top module name.
    pub fn module(self) -> &'static str {
        match self {
            TopKind::Compressor => "actcomp_compressor",
            TopKind::Decompressor => "actcomp_decompressor",
        }
    }
}

/// Shape of a harness: the top module and its data port widths (the
/// compressor has `s_axis_tlast`, the decompressor `num_vectors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HarnessSpec {
    /// Top level.
    pub top: TopKind,
    /// `s_axis_tdata` width (at most 128).
    pub in_bits: usize,
    /// `m_axis_tdata` width (at most 128).
    pub out_bits: usize,
}

impl HarnessSpec {
    /// The ports of the top levels for lane count `b` and word width `w`:
    /// compressor `9b` in / `w` out, decompressor `w` in / `8b` out.
    pub fn for_top(top: TopKind, b: usize, w: usize) -> Self {
        match top {
            TopKind::Compressor => HarnessSpec { top, in_bits: 9 * actcomp_hdl::port_lanes(b), out_bits: w },
            TopKind::Decompressor => HarnessSpec { top, in_bits: w, out_bits: 8 * actcomp_hdl::port_lanes(b) },
        }
    }
}

/// C++ statements that drive port `name` (`width` bits, at most 256) from
/// the beat's 64-bit limbs `l[0..4]` (limb 0 = bits 63:0).
fn cpp_set(name: &str, width: usize) -> String {
    if width <= 64 {
        let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
        format!("t->{name} = l[0] & 0x{mask:x}ULL;")
    } else {
        let words = width.div_ceil(32);
        let mut s = String::new();
        for k in 0..words {
            let src = if k % 2 == 0 { format!("l[{}]", k / 2) } else { format!("l[{}] >> 32", k / 2) };
            let top_bits = width - 32 * k;
            let mask = if top_bits >= 32 { 0xffff_ffffu64 } else { (1u64 << top_bits) - 1 };
            let _ = write!(s, "t->{name}[{k}] = (uint32_t)(({src}) & 0x{mask:x}ULL); ");
        }
        s
    }
}

/// C++ statements that read port `name` (`width` bits) into `lo`/`hi`.
fn cpp_get(name: &str, width: usize) -> String {
    if width <= 64 {
        format!("lo = (uint64_t)t->{name}; hi = 0;")
    } else {
        let words = width.div_ceil(32);
        let w = |k: usize| if k < words { format!("(uint64_t)t->{name}[{k}]") } else { "0".to_string() };
        format!("lo = {} | ({} << 32); hi = {} | ({} << 32);", w(0), w(1), w(2), w(3))
    }
}

/// The C++ harness for `spec` (see the module documentation for its
/// behaviour and file formats).
pub fn harness_cpp(spec: &HarnessSpec) -> String {
    assert!(spec.in_bits <= 4 * 64 && spec.out_bits <= 128, "input ports wider than 256 bits or output ports wider than 128 bits are not supported");
    let m = spec.top.module();
    let (num_vectors, tlast) = match spec.top {
        TopKind::Decompressor => ("t->num_vectors = (uint32_t)num_vectors;", "(void)b.last;"),
        TopKind::Compressor => ("(void)num_vectors;", "t->s_axis_tlast = b.last;"),
    };
    HARNESS_TEMPLATE
        .replace("@MODULE@", m)
        .replace("@SET_IN@", &cpp_set("s_axis_tdata", spec.in_bits))
        .replace("@GET_OUT@", &cpp_get("m_axis_tdata", spec.out_bits))
        .replace("@SET_NUM_VECTORS@", num_vectors)
        .replace("@SET_TLAST@", tlast)
}

const HARNESS_TEMPLATE: &str = r#"// Generated by actcomp-sim (sim/src/verilator.rs): AXI4-Stream harness for @MODULE@.
#include "V@MODULE@.h"
#include "verilated.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

struct Beat { uint64_t l[4]; bool last; };
struct Out { int epoch; uint64_t cycle; bool last; uint64_t lo, hi; };
typedef V@MODULE@ Top;

static uint64_t rng_state;
static inline uint64_t splitmix64() {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
// true with probability p
static inline bool chance(double p) { return p > 0.0 && (double)(splitmix64() >> 11) * (1.0 / 9007199254740992.0) < p; }

static inline void drive_in(Top *t, const Beat &b) { const uint64_t *l = b.l; @SET_IN@ @SET_TLAST@ }
static inline void read_out(Top *t, uint64_t &lo, uint64_t &hi) { @GET_OUT@ }

static FILE *out_file;
static bool reset_cycles(Top *t, int n, uint64_t num_vectors, uint64_t cycle) {
    t->reset = 1;
    t->s_axis_tvalid = 0;
    @SET_NUM_VECTORS@
    for (int k = 0; k < n; k++) {
        t->m_axis_tready = (k & 1);
        t->clock = 0; t->eval();
        if (t->m_axis_tvalid || t->s_axis_tready) {
            fprintf(out_file, "fail protocol %llu m_axis_tvalid or s_axis_tready high during reset\n", (unsigned long long)cycle);
            return false;
        }
        t->clock = 1; t->eval();
    }
    t->reset = 0;
    t->clock = 0; t->eval();
    return true;
}

static uint64_t rd(FILE *f) {
    uint64_t v;
    if (fread(&v, 8, 1, f) != 1) { fprintf(stderr, "stimulus file truncated\n"); exit(3); }
    return v;
}

int main(int argc, char **argv) {
    if (argc < 6 || (argc - 6) % 2 != 0) {
        fprintf(stderr, "usage: %s STIMULUS OUTPUT SEED IDLE_CYCLES RESET_CYCLES [STALL_PROB RESET_AFTER]...\n", argv[0]);
        return 2;
    }
    FILE *sf = fopen(argv[1], "rb");
    if (!sf) { perror(argv[1]); return 2; }
    if (rd(sf) != 0x324d54534c564341ULL) { fprintf(stderr, "%s: not an actcomp stimulus file\n", argv[1]); return 2; }
    const uint64_t n_in = rd(sf), n_exp = rd(sf), num_vectors = rd(sf);
    std::vector<Beat> beats(n_in);
    for (uint64_t i = 0; i < n_in; i++) { for (int k = 0; k < 4; k++) beats[i].l[k] = rd(sf); beats[i].last = rd(sf) != 0; }
    fclose(sf);
    out_file = fopen(argv[2], "w");
    if (!out_file) { perror(argv[2]); return 2; }
    const uint64_t seed = strtoull(argv[3], 0, 10);
    const uint64_t idle = strtoull(argv[4], 0, 10);
    const int rst = atoi(argv[5]);
    const uint64_t max_cycles = 200 * (n_in + n_exp) + 1000;

    VerilatedContext ctx;
    Top *t = new Top{&ctx};
    t->clock = 0; t->reset = 0; t->s_axis_tvalid = 0; t->m_axis_tready = 0;
    t->eval();
    std::vector<Out> outs;
    outs.reserve(n_exp + 64);
    int n_runs = (argc - 6) / 2;
    bool ok = reset_cycles(t, rst, num_vectors, 0);
    for (int r = 0; ok && r < n_runs; r++) {
        const double p = atof(argv[6 + 2 * r]);
        const long long reset_after = atoll(argv[7 + 2 * r]);
        rng_state = seed * 0x9e3779b97f4a7c15ULL + (uint64_t)r;
        fprintf(out_file, "run %d\n", r);
        outs.clear();
        int epoch = (reset_after >= 0) ? 0 : 1;
        uint64_t idx = 0, n_out = 0, cyc = 0;
        long long first_in = -1, last_in = -1;
        bool presenting = false, held = false, held_last = false;
        uint64_t held_lo = 0, held_hi = 0;
        const char *fail = 0;
        char fail_text[256];
        auto t0 = std::chrono::steady_clock::now();
        while (idx < n_in || n_out < n_exp) {
            if (cyc >= max_cycles) {
                snprintf(fail_text, sizeof fail_text, "timeout %llu %llu %llu", (unsigned long long)cyc, (unsigned long long)idx, (unsigned long long)n_out);
                fail = fail_text;
                break;
            }
            if (!presenting && idx < n_in) presenting = !chance(p);
            const bool sink_ready = !chance(p);
            if (presenting) drive_in(t, beats[idx]);
            t->s_axis_tvalid = presenting;
            t->m_axis_tready = sink_ready;
            t->clock = 0; t->eval();
            const bool fire_in = presenting && t->s_axis_tready;
            if (t->m_axis_tvalid) {
                uint64_t lo, hi;
                read_out(t, lo, hi);
                const bool last = t->m_axis_tlast;
                if (held && (lo != held_lo || hi != held_hi || last != held_last)) {
                    snprintf(fail_text, sizeof fail_text, "protocol %llu output word 0x%llx last=%d was not taken but changed to 0x%llx last=%d",
                             (unsigned long long)cyc, (unsigned long long)held_lo, (int)held_last, (unsigned long long)lo, (int)last);
                    fail = fail_text;
                    break;
                }
                if (sink_ready) {
                    outs.push_back(Out{epoch, cyc, last, lo, hi});
                    n_out++;
                    held = false;
                } else {
                    held = true; held_lo = lo; held_hi = hi; held_last = last;
                }
            } else if (held) {
                snprintf(fail_text, sizeof fail_text, "protocol %llu output word 0x%llx last=%d was not taken but m_axis_tvalid dropped",
                         (unsigned long long)cyc, (unsigned long long)held_lo, (int)held_last);
                fail = fail_text;
                break;
            }
            t->clock = 1; t->eval();
            if (fire_in) {
                if (first_in < 0) first_in = (long long)cyc;
                last_in = (long long)cyc;
                idx++;
                presenting = false;
            }
            cyc++;
            if (epoch == 0 && (long long)idx >= reset_after) {
                // reset in the middle of the stream, then restart it from the first input
                if (!reset_cycles(t, rst, num_vectors, cyc)) { ok = false; break; }
                epoch = 1; idx = 0; n_out = 0; cyc = 0; first_in = -1; last_in = -1;
                presenting = false; held = false;
            }
        }
        if (ok && !fail) {
            t->s_axis_tvalid = 0;
            t->m_axis_tready = 1;
            for (uint64_t k = 0; k < idle; k++) {
                t->clock = 0; t->eval();
                if (t->m_axis_tvalid) {
                    uint64_t lo, hi;
                    read_out(t, lo, hi);
                    outs.push_back(Out{epoch, cyc + k, (bool)t->m_axis_tlast, lo, hi});
                }
                t->clock = 1; t->eval();
            }
        }
        const double wall_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        for (const Out &o : outs)
            fprintf(out_file, "o %d %llu %d %llx %llx\n", o.epoch, (unsigned long long)o.cycle, (int)o.last, (unsigned long long)o.lo, (unsigned long long)o.hi);
        if (!ok) break;
        if (fail) { fprintf(out_file, "fail %s\n", fail); break; }
        fprintf(out_file, "done %llu %llu %lld %lld %.0f\n", (unsigned long long)cyc, (unsigned long long)idx, first_in, last_in, wall_ns);
        if (r + 1 < n_runs && !reset_cycles(t, rst, num_vectors, cyc)) break;
    }
    t->final();
    delete t;
    if (fclose(out_file) != 0) { perror(argv[2]); return 2; }
    return 0;
}
"#;

/// A built harness executable.
#[derive(Debug, Clone, PartialEq)]
pub struct VerilatedModel {
    /// The harness shape.
    pub spec: HarnessSpec,
    /// Build directory (`<cache>/<hash>`).
    pub dir: PathBuf,
    /// The executable.
    pub exe: PathBuf,
    /// Seconds spent building (0 when taken from the cache).
    pub build_s: f64,
    /// The build came from the cache.
    pub cached: bool,
}

/// `verilator --version`, part of the cache key.
fn verilator_version(verilator: &Path) -> Result<String, VerilatorError> {
    let o = Command::new(verilator).arg("--version").output().map_err(|e| VerilatorError::Io(format!("cannot run verilator: {e}")))?;
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The lines of a failed build worth showing: verilator diagnostics
/// (`%Error`, `%Warning` and their indented excerpts), compiler
/// `error:` lines and make failures; the last 30 lines if none match.
pub fn build_error_lines(output: &str) -> String {
    let mut v = Vec::new();
    let mut inside = false;
    for l in output.lines() {
        let diag = l.starts_with("%Error") || l.starts_with("%Warning");
        if diag || l.contains("error:") || l.contains("Error ") || l.contains("undefined reference") {
            inside = diag;
            v.push(l);
        } else if inside && (l.starts_with(' ') || l.starts_with('\t')) {
            v.push(l);
        } else {
            inside = false;
        }
    }
    if v.is_empty() {
        let all: Vec<&str> = output.lines().collect();
        v = all[all.len().saturating_sub(30)..].to_vec();
    }
    v.join("\n")
}

/// Builds (or takes from the cache under `cache_root`) the harness of
/// `spec` around `verilog`, whose top module must be `spec.top.module()`.
pub fn build_model(verilog: &str, spec: &HarnessSpec, cache_root: &Path) -> Result<VerilatedModel, VerilatorError> {
    let verilator = require_build_tools()?;
    let harness = harness_cpp(spec);
    let module = spec.top.module();
    let mut h = Sha256::new();
    for part in [
        "actcomp-verilator-build-1",
        &verilator_version(&verilator)?,
        &BUILD_FLAGS.join(" "),
        module,
        verilog,
        &harness,
        WAIVERS,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let hash: String = h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
    let dir = cache_root.join(format!("{module}-{hash}"));
    let exe = dir.join("obj_dir").join(EXE_NAME);
    if exe.is_file() {
        return Ok(VerilatedModel { spec: *spec, dir, exe, build_s: 0.0, cached: true });
    }
    std::fs::create_dir_all(cache_root).map_err(|e| io_err("create", cache_root, e))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tmp = cache_root.join(format!("{module}-{hash}.building-{}-{nanos}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io_err("create", &tmp, e))?;
    let write = |name: &str, text: &str| std::fs::write(tmp.join(name), text).map_err(|e| io_err("write", &tmp.join(name), e));
    let vfile = format!("{module}.v");
    write(&vfile, verilog)?;
    write("harness.cpp", &harness)?;
    write("verilator.vlt", WAIVERS)?;
    let t0 = Instant::now();
    let o = Command::new(&verilator)
        .current_dir(&tmp)
        .args(BUILD_FLAGS)
        .args(["--top-module", module, "--Mdir", "obj_dir", "-o", EXE_NAME, "-j", "2"])
        .args(["verilator.vlt", &vfile, "harness.cpp"])
        .output()
        .map_err(|e| VerilatorError::Io(format!("cannot run verilator: {e}")))?;
    let build_s = t0.elapsed().as_secs_f64();
    let log = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::write(tmp.join("build.log"), &log);
    if !o.status.success() || !tmp.join("obj_dir").join(EXE_NAME).is_file() {
        return Err(VerilatorError::Build {
            module: module.into(),
            status: o.status.to_string(),
            dir: tmp.display().to_string(),
            lines: build_error_lines(&log),
        });
    }
    // Publish atomically; if another process won the race, use its build.
    if std::fs::rename(&tmp, &dir).is_err() {
        if exe.is_file() {
            let _ = std::fs::remove_dir_all(&tmp);
        } else {
            return Err(VerilatorError::Io(format!("cannot move {} to {}", tmp.display(), dir.display())));
        }
    }
    Ok(VerilatedModel { spec: *spec, dir, exe, build_s, cached: false })
}

/// What the harness streams in one invocation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stimulus {
    /// Input beats (`tdata` up to 128 bits, `tlast`).
    pub inputs: Vec<StimBeat>,
    /// Output transfers after which a run is complete.
    pub expected_outputs: usize,
    /// Value of `num_vectors` (decompressor only).
    pub num_vectors: u64,
}

/// One input beat of the harness stimulus: `tdata` as four 64-bit limbs
/// (limb 0 = bits 63:0; ports up to 256 bits) and `tlast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StimBeat {
    /// `tdata`, least significant limb first.
    pub limbs: [u64; 4],
    /// `tlast`.
    pub last: bool,
}

impl StimBeat {
    /// A beat whose `tdata` fits 128 bits.
    pub fn from_u128(data: u128, last: bool) -> Self {
        StimBeat { limbs: [data as u64, (data >> 64) as u64, 0, 0], last }
    }
}

/// One run of a harness invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Probability of a source or sink stall per cycle.
    pub stall_prob: f64,
    /// Assert reset after this many accepted inputs, then restart the stream.
    pub reset_after: Option<usize>,
}

/// One recorded output transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// `m_axis_tdata`.
    pub data: u128,
    /// `m_axis_tlast`.
    pub last: bool,
    /// Cycle of the transfer (from the start of the run or of the restart).
    pub cycle: u64,
}

/// Why the harness stopped a run early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarnessFailure {
    /// The cycle limit was hit.
    Timeout {
        /// Cycles simulated.
        cycles: u64,
        /// Inputs accepted.
        inputs: usize,
        /// Outputs received.
        outputs: usize,
    },
    /// The DUT broke an AXI4-Stream or reset rule.
    Protocol {
        /// Cycle.
        cycle: u64,
        /// What.
        what: String,
    },
}

/// What the harness recorded for one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunCapture {
    /// Output transfers before the mid-run reset (empty without one).
    pub before_reset: Vec<Transfer>,
    /// Output transfers of the (restarted) run, including any in the idle cycles.
    pub outputs: Vec<Transfer>,
    /// Cycles of the (restarted) run, up to its completion.
    pub cycles: u64,
    /// Inputs accepted.
    pub inputs: usize,
    /// Cycle of the first accepted input.
    pub first_input: Option<u64>,
    /// Cycle of the last accepted input.
    pub last_input: Option<u64>,
    /// Wall-clock seconds of the simulation loop (harness-measured).
    pub wall_s: f64,
    /// Set when the harness stopped the run early.
    pub failure: Option<HarnessFailure>,
}

static RUN_COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn write_stimulus(path: &Path, s: &Stimulus) -> Result<(), VerilatorError> {
    let mut b = Vec::with_capacity(32 + 40 * s.inputs.len());
    for v in [u64::from_le_bytes(*b"ACVLSTM2"), s.inputs.len() as u64, s.expected_outputs as u64, s.num_vectors] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for i in &s.inputs {
        for v in i.limbs.iter().copied().chain([i.last as u64]) {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, b).map_err(|e| io_err("write", path, e))
}

fn parse_output(text: &str, runs: usize) -> Result<Vec<RunCapture>, String> {
    let mut out: Vec<RunCapture> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("line {}: unexpected `{line}`", n + 1);
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).ok_or_else(bad);
        let hex = |i: usize| f.get(i).and_then(|s| u64::from_str_radix(s, 16).ok()).ok_or_else(bad);
        match f.first().copied() {
            Some("run") => out.push(RunCapture::default()),
            Some(tag) => {
                let cur = out.last_mut().ok_or_else(bad)?;
                match tag {
                    "o" => {
                        let t = Transfer { cycle: num(2)?, last: num(3)? != 0, data: hex(4)? as u128 | (hex(5)? as u128) << 64 };
                        if num(1)? == 0 {
                            cur.before_reset.push(t)
                        } else {
                            cur.outputs.push(t)
                        }
                    }
                    "done" => {
                        let opt = |i: usize| f.get(i).and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad).map(|v| u64::try_from(v).ok());
                        cur.cycles = num(1)?;
                        cur.inputs = num(2)? as usize;
                        cur.first_input = opt(3)?;
                        cur.last_input = opt(4)?;
                        cur.wall_s = num(5)? as f64 * 1e-9;
                    }
                    "fail" if f.get(1) == Some(&"timeout") => {
                        cur.failure = Some(HarnessFailure::Timeout { cycles: num(2)?, inputs: num(3)? as usize, outputs: num(4)? as usize })
                    }
                    "fail" if f.get(1) == Some(&"protocol") => {
                        cur.failure = Some(HarnessFailure::Protocol { cycle: num(2)?, what: f[3..].join(" ") })
                    }
                    _ => return Err(bad()),
                }
            }
            None => {}
        }
    }
    let stopped = out.last().is_some_and(|r| r.failure.is_some());
    if out.len() != runs && !stopped {
        return Err(format!("{} of {runs} runs reported", out.len()));
    }
    Ok(out)
}

impl VerilatedModel {
    /// Runs the harness once over `runs` (reset before the first and
    /// between runs; stall RNG seeded from `seed` and the run index) and
    /// returns what each run recorded. After a [`HarnessFailure`] no
    /// further runs are made, so the result may be shorter than `runs`.
    pub fn run(&self, stimulus: &Stimulus, runs: &[RunSpec], seed: u64) -> Result<Vec<RunCapture>, VerilatorError> {
        for r in runs {
            if let Some(k) = r.reset_after {
                if k == 0 || k >= stimulus.inputs.len() {
                    return Err(VerilatorError::Io(format!("reset_after = {k} must be within 1..{} inputs", stimulus.inputs.len())));
                }
            }
        }
        let id = RUN_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("actcomp-vsim-{}-{id}", std::process::id()));
        let (stim, outp) = (base.with_extension("stim"), base.with_extension("out"));
        write_stimulus(&stim, stimulus)?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg(&stim).arg(&outp).arg(seed.to_string()).arg(IDLE_CYCLES.to_string()).arg(RESET_CYCLES.to_string());
        for r in runs {
            cmd.arg(format!("{}", r.stall_prob)).arg(r.reset_after.map_or("-1".to_string(), |k| k.to_string()));
        }
        let o = cmd.output();
        let _ = std::fs::remove_file(&stim);
        let harness_err = |what: String| VerilatorError::Harness { exe: self.exe.display().to_string(), what };
        let o = o.map_err(|e| harness_err(format!("cannot run: {e}")))?;
        let text = std::fs::read_to_string(&outp);
        let _ = std::fs::remove_file(&outp);
        if !o.status.success() {
            return Err(harness_err(format!(
                "{}:\n{}{}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )));
        }
        let text = text.map_err(|e| harness_err(format!("no output file: {e}")))?;
        parse_output(&text, runs.len()).map_err(harness_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_ports_are_packed_from_64_bit_limbs() {
        let s = cpp_set("s_axis_tdata", 72);
        assert!(s.contains("t->s_axis_tdata[0] = (uint32_t)((l[0]) & 0xffffffffULL);"), "{s}");
        assert!(s.contains("t->s_axis_tdata[1] = (uint32_t)((l[0] >> 32) & 0xffffffffULL);"), "{s}");
        assert!(s.contains("t->s_axis_tdata[2] = (uint32_t)((l[1]) & 0xffULL);"), "{s}");
        assert!(!s.contains("[3]"), "{s}");
        let s = cpp_set("s_axis_tdata", 144);
        assert!(s.contains("t->s_axis_tdata[4] = (uint32_t)((l[2]) & 0xffffULL);") && !s.contains("[5]"), "{s}");
        assert_eq!(cpp_set("s_axis_tdata", 36), "t->s_axis_tdata = l[0] & 0xfffffffffULL;");
        assert!(cpp_get("m_axis_tdata", 96).contains("hi = (uint64_t)t->m_axis_tdata[2] | (0 << 32)"));
    }

    #[test]
    fn output_file_is_parsed_per_run() {
        let text = "run 0\no 0 3 0 ab 0\no 1 5 1 ff 1\ndone 9 4 1 7 1500\nrun 1\nfail protocol 4 output word changed\n";
        let r = parse_output(text, 3).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].before_reset, vec![Transfer { data: 0xab, last: false, cycle: 3 }]);
        assert_eq!(r[0].outputs, vec![Transfer { data: 0xff | 1 << 64, last: true, cycle: 5 }]);
        assert_eq!((r[0].cycles, r[0].inputs, r[0].first_input, r[0].last_input), (9, 4, Some(1), Some(7)));
        assert!((r[0].wall_s - 1.5e-6).abs() < 1e-12);
        assert_eq!(r[1].failure, Some(HarnessFailure::Protocol { cycle: 4, what: "output word changed".into() }));
        assert!(parse_output("run 0\ndone 1 1 -1 -1 5\n", 2).unwrap_err().contains("1 of 2 runs"));
        assert!(parse_output("o 1 2 3 4 5\n", 1).is_err());
    }

    #[test]
    fn build_errors_keep_the_tool_lines() {
        let log = "make: Entering\n%Error: x.v:3:5: syntax error\n   3 | foo\n     | ^\nother\nharness.cpp:4:1: error: 'x' was not declared\n";
        let l = build_error_lines(log);
        assert!(l.contains("%Error: x.v:3:5") && l.contains("   3 | foo") && l.contains("error: 'x'"), "{l}");
        assert!(!l.contains("other"));
    }
}
