//! Writes the emitted Verilog of a forward-transform unit (module
//! `actcomp_transform`) or a quantizer unit (module `actcomp_quantizer`)
//! built from a random policy block (seeded) to a file.
//! Usage: cargo run -p actcomp-hdl --example emit_transform -- <full4|full8|full16|serial4|serial8|serial16|quant4|quant8|quant16> <out.v> [seed]
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cfg = args.get(1).map(String::as_str).unwrap_or("full8");
    let out = args.get(2).cloned().unwrap_or_else(|| format!("actcomp_{cfg}.v"));
    let seed: u64 = args.get(3).map(|s| s.parse().expect("seed")).unwrap_or(1);
    let b: usize = cfg.trim_start_matches(|c: char| c.is_ascii_alphabetic()).parse().expect("block size");
    let spec = PolicySpec { channels: Some(b), block_size: Some(b), ..Default::default() };
    let policy = random_policy(&mut StdRng::seed_from_u64(seed), &spec);
    let blk = &policy.blocks[0];
    let v = match cfg {
        "full4" => emit_verilog(&mut TransformFull4::new(blk), "actcomp_transform"),
        "full8" => emit_verilog(&mut TransformFull8::new(blk), "actcomp_transform"),
        "full16" => emit_verilog(&mut TransformFull16::new(blk), "actcomp_transform"),
        "serial4" => emit_verilog(&mut TransformSerial4::new(blk), "actcomp_transform"),
        "serial8" => emit_verilog(&mut TransformSerial8::new(blk), "actcomp_transform"),
        "serial16" => emit_verilog(&mut TransformSerial16::new(blk), "actcomp_transform"),
        "quant4" => emit_verilog(&mut Quantizer4::new(blk), "actcomp_quantizer"),
        "quant8" => emit_verilog(&mut Quantizer8::new(blk), "actcomp_quantizer"),
        "quant16" => emit_verilog(&mut Quantizer16::new(blk), "actcomp_quantizer"),
        other => panic!("unknown configuration {other}"),
    }
    .expect("emit");
    let problems = check_emitted(&v);
    assert!(problems.is_empty(), "check_emitted: {problems:#?}");
    std::fs::write(&out, v).expect("write");
    println!("wrote {out}");
}
