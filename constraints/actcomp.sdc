# Clock constraint for the emitted actcomp_compressor / actcomp_decompressor
# top levels in SDC flows (e.g. OpenSTA / OpenROAD on the yosys netlist, or
# vendor tools that accept SDC). Not read by `actcomp synth` yet: the
# iCE40 flow passes the same constraint as `nextpnr-ice40 --freq`.
# 100 MHz on the single clock port `clock` (rust-hdl's synchronous design).
create_clock -name clock -period 10.000 [get_ports clock]
