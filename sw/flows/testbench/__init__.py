"""cocotb benches: they run inside the simulator, driven by job files."""
