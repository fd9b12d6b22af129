//! `actcomp verilog`: the compressor and decompressor top levels of a
//! policy (static or dynamic grouping) as Verilog (`actcomp_compressor.v`,
//! `actcomp_decompressor.v`) plus `manifest.json` (ports, parameters,
//! latency, expected throughput). Same policy and options: byte-identical files.

use actcomp_golden::policy::{Grouping, Policy};
use actcomp_hdl::{
    check_top_policy, compressor_addr_bits, compressor_latency, compressor_throughput, compressor_verilog,
    decompressor_throughput, decompressor_verilog, sorter_stages, Multipliers, decompressor_latency,
};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Multiplier budget of the forward transforms.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultArg {
    /// B*B multipliers per block transform (one beat per cycle).
    Full,
    /// B multipliers per block transform (one beat per B cycles).
    Serial,
}

impl From<MultArg> for Multipliers {
    fn from(m: MultArg) -> Self {
        match m {
            MultArg::Full => Multipliers::Full,
            MultArg::Serial => Multipliers::Serial,
        }
    }
}

/// `actcomp verilog` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy JSON (B = 4 or 8; dynamic grouping needs T <= 256).
    #[arg(long)]
    pub policy: PathBuf,
    /// Output directory (created if missing).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Multiplier budget of the compressor's forward transforms.
    #[arg(long, value_enum, default_value_t = MultArg::Full)]
    pub multipliers: MultArg,
    /// Print the manifest on stdout.
    #[arg(long)]
    pub json: bool,
}

fn port(name: &str, dir: &str, width: usize, what: &str) -> Value {
    json!({"name": name, "dir": dir, "width": width, "description": what})
}

/// Ports of `actcomp_compressor` for B lanes and W-bit words.
pub fn compressor_ports(b: usize, w: usize) -> Vec<Value> {
    let lanes = actcomp_hdl::port_lanes(b);
    let beat = if lanes == b {
        "one block of one pixel vector: lane i = 9-bit two's complement code of channel j*B+i in [9i+8:9i]".to_string()
    } else {
        format!("one of the {} port beats of a block, in order: lane i of beat q = 9-bit two's complement code of channel j*B+{lanes}q+i in [9i+8:9i]", b / lanes)
    };
    vec![
        port("clock", "in", 1, "rising edge"),
        port("reset", "in", 1, "synchronous, active high"),
        port("s_axis_tdata", "in", 9 * lanes, &beat),
        port("s_axis_tvalid", "in", 1, "input beat valid"),
        port("s_axis_tready", "out", 1, "input beat accepted (registered state only)"),
        port("s_axis_tlast", "in", 1, "optional early tile end: set on every block beat of the last vector of a partial tile; tiles of T vectors are counted internally"),
        port("m_axis_tdata", "out", w, "payload word"),
        port("m_axis_tvalid", "out", 1, "word valid (register)"),
        port("m_axis_tready", "in", 1, "sink takes the word"),
        port("m_axis_tlast", "out", 1, "last word of a tile"),
    ]
}

/// Ports of `actcomp_decompressor` for B lanes and W-bit words.
pub fn decompressor_ports(b: usize, w: usize) -> Vec<Value> {
    let lanes = actcomp_hdl::port_lanes(b);
    let beat = if lanes == b {
        "one reconstructed block: lane i = code of channel j*B+i in [8i+7:8i] (int8: two's complement, uint8: unsigned)".to_string()
    } else {
        format!("one of the {} port beats of a reconstructed block, in order: lane i of beat q = code of channel j*B+{lanes}q+i in [8i+7:8i] (int8: two's complement, uint8: unsigned)", b / lanes)
    };
    vec![
        port("clock", "in", 1, "rising edge"),
        port("reset", "in", 1, "synchronous, active high"),
        port("num_vectors", "in", 32, "pixel vectors of the tensor; stable during a run"),
        port("s_axis_tdata", "in", w, "payload word"),
        port("s_axis_tvalid", "in", 1, "word valid"),
        port("s_axis_tready", "out", 1, "word accepted (registered state only)"),
        port("m_axis_tdata", "out", 8 * lanes, &beat),
        port("m_axis_tvalid", "out", 1, "beat valid (register)"),
        port("m_axis_tready", "in", 1, "sink takes the beat"),
        port("m_axis_tlast", "out", 1, "last beat of the last block of a tile"),
    ]
}

/// The manifest of the two top levels of `policy`.
pub fn manifest(policy: &Policy, mult: Multipliers) -> Value {
    let (b, w, nb) = (policy.block_size, policy.word_bits as usize, policy.num_blocks());
    let groups: Vec<usize> = policy.blocks.iter().map(|blk| blk.groups.len()).collect();
    let dynamic = policy.grouping == Grouping::Dynamic;
    let (latency, latency_note) = if dynamic {
        (Value::Null, "dynamic grouping: each tile is ranked once its last vector has arrived, so the first word of a tile follows that tile's last input beat by about the sorter depth plus quantizer and packer; `actcomp sim` measures it")
    } else {
        (json!(compressor_latency(b, mult)), "from the input beat that completes a word (B > 16: from the first port beat of that block) to that word on m_axis")
    };
    let sorter = if dynamic {
        json!({"tile_buffer_vectors": 1usize << compressor_addr_bits(policy), "sort_stages": sorter_stages(b), "per_block": 1})
    } else {
        Value::Null
    };
    json!({
        "format": "actcomp-hardware-manifest",
        "version": 1,
        "policy_fingerprint": format!("{:016x}", policy.fingerprint()),
        "parameters": {
            "C": policy.channels,
            "B": b,
            "NB": nb,
            "G": groups.iter().copied().max().unwrap_or(0),
            "G_per_block": groups,
            "T": policy.tile,
            "W": w,
            "LANES": actcomp_hdl::port_lanes(b),
            "port_beats_per_block": actcomp_hdl::port_beats(b),
            "code_range": format!("{:?}", policy.input.code_range).to_lowercase(),
            "bits_per_vector": policy.bits_per_vector(),
            "words_per_tile": policy.words_per_tile(policy.tile),
            "multipliers": mult.name(),
            "grouping": if dynamic { "dynamic" } else { "static" },
        },
        "compressor": {
            "module": "actcomp_compressor",
            "file": "actcomp_compressor.v",
            "ports": compressor_ports(b, w),
            "forward_multipliers": nb * mult.per_block(b),
            "importance_sorter": sorter,
            "latency_cycles": latency,
            "latency_note": latency_note,
            "throughput_values_per_cycle": compressor_throughput(policy, mult),
        },
        "decompressor": {
            "module": "actcomp_decompressor",
            "file": "actcomp_decompressor.v",
            "ports": decompressor_ports(b, w),
            "inverse_multipliers": nb * b * b,
            "latency_cycles": decompressor_latency(b),
            "throughput_values_per_cycle": decompressor_throughput(policy),
        },
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// `actcomp verilog`.
pub fn run(a: Args) -> Result<()> {
    let policy = Policy::load(&a.policy)?;
    check_top_policy(&policy).map_err(|e| anyhow::anyhow!("{}: {e}", a.policy.display()))?;
    let mult: Multipliers = a.multipliers.into();
    let comp = compressor_verilog(&policy, mult)?;
    let decomp = decompressor_verilog(&policy)?;
    std::fs::create_dir_all(&a.output).with_context(|| format!("cannot create {}", a.output.display()))?;
    write(&a.output.join("actcomp_compressor.v"), &comp)?;
    write(&a.output.join("actcomp_decompressor.v"), &decomp)?;
    let m = manifest(&policy, mult);
    let text = serde_json::to_string_pretty(&m)? + "\n";
    write(&a.output.join("manifest.json"), &text)?;
    if a.json {
        print!("{text}");
    } else {
        println!(
            "wrote {}/actcomp_compressor.v ({} lines), actcomp_decompressor.v ({} lines), manifest.json: C={} B={} T={} W={} multipliers={}",
            a.output.display(),
            comp.lines().count(),
            decomp.lines().count(),
            policy.channels,
            policy.block_size,
            policy.tile,
            policy.word_bits,
            mult.name()
        );
    }
    Ok(())
}
