//! actcomp-hdl: the rust-hdl hardware units of the actcomp compressor.
//!
//! Units are checked three ways: against the golden model
//! (`actcomp-golden`), in rust-hdl's own simulator (via the thread-free
//! testbench in `actcomp-sim`), and as emitted Verilog under an independent
//! simulator (Icarus Verilog). See docs/hardware.md.
//!
//! rust-hdl 0.46 rules followed by every unit here: no `let`/`while`/helper
//! calls in `#[hdl_gen]` kernels (local signals instead), no dynamic
//! indexing, no const-generic arithmetic inside kernel expressions
//! (parameter-dependent numbers are `Constant`s or loop bounds), no
//! `bit_cast` on loop-indexed signals, no `signed_bit_cast` of the most
//! negative value.

pub mod packer;
pub mod verilog;

pub use packer::{
    packer_acc_bits, PackLane, Packer4x32, Packer4x64, Packer8x32, Packer8x64, VarWidthPacker,
};
pub use verilog::{check_emitted, emit_verilog, is_verilog_identifier, module_names, EmitError};
