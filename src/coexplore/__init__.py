"""coexplore: hardware/software co-exploration of neural architectures and multi-FPGA accelerators."""

__version__ = "0.1.0"
