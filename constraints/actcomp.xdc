## Clock constraint for the Xilinx Vivado flow on the yosys `synth_xilinx`
## netlist (or Vivado synthesis of actcomp_compressor.v /
## actcomp_decompressor.v). Not read by `actcomp synth` (yosys has no
## timing). 100 MHz on the single clock port `clock`; pins are not assigned.
create_clock -name clock -period 10.000 [get_ports clock]
