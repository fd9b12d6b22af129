//! One module per `actcomp` subcommand.

pub mod calibrate;
pub mod codec;
pub mod demo;
pub mod eval;
pub mod eval_sweep;
pub mod report;
pub mod sim;
pub mod verilog;
pub mod lint;
pub mod synth;
pub mod pcf;
pub mod dse;
pub mod train;
pub mod finetune;
