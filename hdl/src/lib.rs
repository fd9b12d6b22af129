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

pub mod compressor;
pub mod decompressor;
pub mod dequantizer;
pub mod group_map;
pub mod grouping;
pub mod inverse;
pub mod lane_split;
pub mod lane_word;
pub mod packer;
pub mod quantizer;
pub mod transform;
pub mod unpacker;
pub mod verilog;

pub use packer::{
    packer_acc_bits, PackLane, PACKER_LATENCY, Packer4x32, Packer4x64, Packer8x32, Packer8x64, VarWidthPacker,
};
pub use verilog::{check_emitted, emit_verilog, is_verilog_identifier, module_names, EmitError};
pub use dequantizer::{DeqLane, Dequantizer, Dequantizer16, Dequantizer32, Dequantizer4, Dequantizer64, Dequantizer8};
pub use inverse::{InvMul, InvRow, Inverse16, Inverse32, Inverse4, Inverse64, Inverse8, InverseTransform};
pub use unpacker::{UnpackLane, Unpacker4x32, Unpacker4x64, Unpacker8x32, Unpacker8x64, VarWidthUnpacker};
pub use quantizer::{QuantLane, Quantizer, Quantizer16, Quantizer4, Quantizer8, QUANTIZER_LATENCY};
pub use transform::{
    TransformFull, TransformFull16, TransformFull4, TransformFull8, TransformSerial, TransformSerial16, TransformSerial4,
    TransformSerial8,
};
pub use compressor::{
    check_top_policy, compressor_addr_bits, compressor_latency, compressor_throughput, compressor_verilog,
    sorter_addr_bits, Compressor, Compressor4x32, Compressor4x32T256, Compressor4x64, Compressor4x64T256, Compressor8x32,
    Compressor8x32T256, Compressor8x64, Compressor8x64T256, Compressor16x32, Compressor16x32T256, Compressor16x64,
    Compressor16x64T256, Compressor32x32, Compressor32x64, Compressor64x32, Compressor64x64,
    port_beats, port_lanes, Multipliers, TopError, HW_DEFAULT_BLOCK_SIZES, TOP_BLOCK_SIZES, TOP_PORT_LANES,
};
pub use lane_split::{narrow_lanes, sub_beats, LaneGather, LaneSplitter};
pub use group_map::{map_widths_bits, FieldPlace, MapDecoder, MapWiden};
pub use lane_word::lane_word;
pub use decompressor::{
    decompressor_throughput, decompressor_verilog, Decompressor, Decompressor16x32, Decompressor16x64, Decompressor4x32,
    Decompressor32x32, Decompressor32x64, Decompressor4x64, Decompressor64x32, Decompressor64x64, Decompressor8x32,
    Decompressor8x64, decompressor_latency, DECOMPRESSOR_LATENCY,
};
pub use grouping::{
    sorter_stages, EnergyLane, GroupSorter, GroupSorter16x256, GroupSorter4x16, GroupSorter8x16, GroupSorter8x256,
};
