//! Running emitted Verilog under Icarus Verilog: tool discovery, hex
//! stimulus files for `$readmemh`, and the packer's plain-Verilog testbench.
//!
//! The testbench reads three files from its working directory:
//! `beats.hex` (`{tlast, tuser, tdata}` per input beat), `words.hex`
//! (`{tlast, tdata}` per expected output word) and `stalls.hex` (per cycle
//! `{out_stall, in_stall}`, replayed cyclically). It prints `PASS ...` or
//! `FAIL ...` (first mismatch with word index and cycle) and finishes.

use std::path::{Path, PathBuf};
use std::process::Command;

use actcomp_golden::packer::PackBeat;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::packer::{beat_tdata, beat_tuser};
use crate::scoreboard::ExpectedWord;

/// Finds `tool` on `PATH`.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// Returns the path of `tool`, or handles its absence: when the environment
/// variable `CI` is `true` this panics (the check must not silently pass in
/// CI) with a message naming the tool and the `apt-get install` line;
/// otherwise it prints a loud skip banner to stderr and returns `None`.
pub fn require_tool(tool: &str, apt_package: &str) -> Option<PathBuf> {
    if let Some(p) = find_tool(tool) {
        return Some(p);
    }
    let msg = format!("`{tool}` not found on PATH; install it with `apt-get install {apt_package}`");
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("CI=true and {msg}");
    }
    // Written to the stderr handle directly (not `eprintln!`) so that the
    // libtest output capture does not hide it.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n{bar}\n!! SKIPPED: {msg}\n!! (set CI=true to make this a failure)\n{bar}\n",
        bar = "!".repeat(72)
    );
    None
}

/// Writes `values` as a `$readmemh` file, one value of `bits` bits per line.
pub fn write_hex(path: &Path, values: impl IntoIterator<Item = u128>, bits: usize) -> std::io::Result<()> {
    let digits = bits.div_ceil(4);
    let mut s = String::new();
    for v in values {
        s.push_str(&format!("{v:0digits$x}\n"));
    }
    std::fs::write(path, s)
}

/// Random per-cycle stall pattern: bit 0 = input stall (source idle this
/// cycle if not already presenting), bit 1 = output stall (sink not ready).
pub fn stall_pattern(seed: u64, cycles: usize, in_stall: f64, out_stall: f64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..cycles)
        .map(|_| (rng.gen_bool(in_stall) as u8) | ((rng.gen_bool(out_stall) as u8) << 1))
        .collect()
}

/// Writes `beats.hex`, `words.hex` and `stalls.hex` for the packer testbench into `dir`.
pub fn write_packer_vectors(
    dir: &Path,
    lanes: usize,
    word_bits: u32,
    beats: &[PackBeat],
    expected: &[ExpectedWord],
    stalls: &[u8],
) -> std::io::Result<()> {
    let (dw, uw) = (8 * lanes, 4 * lanes);
    write_hex(
        &dir.join("beats.hex"),
        beats.iter().map(|b| ((b.last as u128) << (dw + uw)) | ((beat_tuser(b) as u128) << dw) | beat_tdata(b) as u128),
        dw + uw + 1,
    )?;
    write_hex(
        &dir.join("words.hex"),
        expected.iter().map(|e| ((e.last as u128) << word_bits) | e.data as u128),
        word_bits as usize + 1,
    )?;
    write_hex(&dir.join("stalls.hex"), stalls.iter().map(|&s| s as u128), 2)
}

/// The plain-Verilog testbench for a packer module named `dut_module`.
/// `n_beats`, `n_words` and `n_stalls` must match the hex files (all > 0);
/// the run fails after `max_cycles`.
pub fn packer_testbench(
    dut_module: &str,
    lanes: usize,
    word_bits: u32,
    n_beats: usize,
    n_words: usize,
    n_stalls: usize,
    max_cycles: usize,
) -> String {
    assert!(n_beats > 0 && n_words > 0 && n_stalls > 0, "empty vector files are not supported by $readmemh");
    format!(
        r#"`timescale 1ns/1ps
// Plain-Verilog testbench for {dut_module}: replays beats.hex with stalls
// from stalls.hex and checks every output word against words.hex.
module tb;
  localparam DW = {dw}, UW = {uw}, W = {w};
  localparam NBEATS = {n_beats}, NWORDS = {n_words}, NSTALL = {n_stalls}, MAXCYC = {max_cycles};
  reg [DW+UW:0] beats [0:NBEATS-1];
  reg [W:0] words [0:NWORDS-1];
  reg [1:0] stalls [0:NSTALL-1];
  reg clock, reset, s_tvalid, s_tlast, m_tready, fire_in, held_v;
  reg [DW-1:0] s_tdata;
  reg [UW-1:0] s_tuser;
  reg [W:0] held;
  reg [1:0] st;
  wire s_tready, m_tvalid, m_tlast;
  wire [W-1:0] m_tdata;
  integer bi, wi, cyc, k;

  {dut_module} dut(
    .clock(clock), .reset(reset),
    .s_axis_tdata(s_tdata), .s_axis_tuser(s_tuser), .s_axis_tvalid(s_tvalid),
    .s_axis_tready(s_tready), .s_axis_tlast(s_tlast),
    .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready),
    .m_axis_tlast(m_tlast));

  initial begin
    $readmemh("beats.hex", beats);
    $readmemh("words.hex", words);
    $readmemh("stalls.hex", stalls);
    clock = 0; reset = 1; s_tvalid = 0; s_tlast = 0; s_tdata = 0; s_tuser = 0;
    m_tready = 0; held_v = 0; held = 0; bi = 0; wi = 0;
    for (k = 0; k < 3; k = k + 1) begin
      #5 clock = 1; #5 clock = 0;
      if (m_tvalid !== 1'b0 || s_tready !== 1'b0) begin
        $display("FAIL reset: m_axis_tvalid=%b s_axis_tready=%b during reset", m_tvalid, s_tready);
        $finish;
      end
    end
    reset = 0;
    for (cyc = 0; cyc < MAXCYC && (bi < NBEATS || wi < NWORDS); cyc = cyc + 1) begin
      st = stalls[cyc % NSTALL];
      if (bi < NBEATS) begin
        if (!s_tvalid) s_tvalid = !st[0];
        {{s_tlast, s_tuser, s_tdata}} = beats[bi];
      end else begin
        s_tvalid = 0;
      end
      m_tready = !st[1];
      #1;
      if (^{{m_tvalid, s_tready, m_tlast}} === 1'bx || ^m_tdata === 1'bx) begin
        $display("FAIL X/Z on outputs at cycle %0d: tvalid=%b tready=%b tlast=%b tdata=%h", cyc, m_tvalid, s_tready, m_tlast, m_tdata);
        $finish;
      end
      if (held_v && !(m_tvalid && {{m_tlast, m_tdata}} == held)) begin
        $display("FAIL protocol at cycle %0d: word %h not taken but changed to %h (tvalid=%b)", cyc, held, {{m_tlast, m_tdata}}, m_tvalid);
        $finish;
      end
      held_v = 0;
      if (m_tvalid) begin
        if (m_tready) begin
          if (wi >= NWORDS) begin
            $display("FAIL extra word %0d at cycle %0d: got data=%h last=%0d", wi, cyc, m_tdata, m_tlast);
            $finish;
          end
          if ({{m_tlast, m_tdata}} !== words[wi]) begin
            $display("FAIL mismatch at word %0d cycle %0d: expected data=%h last=%0d, got data=%h last=%0d",
                     wi, cyc, words[wi][W-1:0], words[wi][W], m_tdata, m_tlast);
            $finish;
          end
          wi = wi + 1;
        end else begin
          held = {{m_tlast, m_tdata}};
          held_v = 1;
        end
      end
      fire_in = s_tvalid & s_tready;
      #4 clock = 1;
      #5 clock = 0;
      if (fire_in) begin
        bi = bi + 1;
        s_tvalid = 0;
      end
    end
    if (bi < NBEATS || wi < NWORDS) begin
      $display("FAIL timeout after %0d cycles: %0d/%0d beats accepted, %0d/%0d words received", cyc, bi, NBEATS, wi, NWORDS);
      $finish;
    end
    s_tvalid = 0;
    m_tready = 1;
    for (k = 0; k < 16; k = k + 1) begin
      #1;
      if (m_tvalid !== 1'b0) begin
        $display("FAIL extra word after the last expected one (idle cycle %0d): data=%h", k, m_tdata);
        $finish;
      end
      #4 clock = 1; #5 clock = 0;
    end
    $display("PASS beats=%0d words=%0d cycles=%0d", bi, wi, cyc);
    $finish;
  end
endmodule
"#,
        dw = 8 * lanes,
        uw = 4 * lanes,
        w = word_bits,
    )
}

/// Compiles `sources` with `iverilog -g2012 -s <top>` and runs `vvp` in
/// `dir` (so relative `$readmemh` paths resolve there). Returns the
/// simulator's stdout, or an error with the tool output.
pub fn run_iverilog(dir: &Path, sources: &[PathBuf], top: &str) -> Result<String, String> {
    let out = dir.join("sim.vvp");
    let c = Command::new("iverilog")
        .arg("-g2012")
        .arg("-s")
        .arg(top)
        .arg("-o")
        .arg(&out)
        .args(sources)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run iverilog: {e}"))?;
    if !c.status.success() {
        return Err(format!(
            "iverilog failed ({}):\n{}{}",
            c.status,
            String::from_utf8_lossy(&c.stdout),
            String::from_utf8_lossy(&c.stderr)
        ));
    }
    let r = Command::new("vvp")
        .arg("-n")
        .arg(&out)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run vvp: {e}"))?;
    let stdout = String::from_utf8_lossy(&r.stdout).into_owned();
    if !r.status.success() {
        return Err(format!("vvp failed ({}):\n{stdout}{}", r.status, String::from_utf8_lossy(&r.stderr)));
    }
    Ok(stdout)
}
