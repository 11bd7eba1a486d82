"""ganforge.testbench: cocotb testbenches, bus and memory models, and the runner that builds and simulates generated Verilog."""
