//! Writes the emitted Verilog of a packer configuration to a file.
//! Usage: cargo run -p actcomp-hdl --example emit_packer -- <4x32|4x64|8x32|8x64> <out.v>
use actcomp_hdl::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cfg = args.get(1).map(String::as_str).unwrap_or("4x32");
    let out = args.get(2).cloned().unwrap_or_else(|| format!("actcomp_packer_{cfg}.v"));
    let v = match cfg {
        "4x32" => emit_verilog(&mut Packer4x32::new(), "actcomp_packer"),
        "4x64" => emit_verilog(&mut Packer4x64::new(), "actcomp_packer"),
        "8x32" => emit_verilog(&mut Packer8x32::new(), "actcomp_packer"),
        "8x64" => emit_verilog(&mut Packer8x64::new(), "actcomp_packer"),
        other => panic!("unknown configuration {other}"),
    }
    .expect("emit");
    std::fs::write(&out, v).expect("write");
    println!("wrote {out}");
}
