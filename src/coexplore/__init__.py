"""coexplore: co-exploring neural architectures and the multi-FPGA accelerators running them."""

__version__ = "0.1.0"
