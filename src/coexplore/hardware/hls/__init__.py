"""The engine of every FPGA of a design as Vitis-HLS-style C++, and its C simulation.

- `write_hls(out_dir, qnet, design, pool)`: the hls/ folder (docs/hls.md): per FPGA a top
  function of the loop-tiled engine (cpp/cx_engine.h) with the design's tiling and its layer
  table, the parameter words, a host chaining the FPGAs, a Makefile (g++) and run_hls.tcl;
- `load_engine(hls_dir)`: the folder read back (its `QuantNet` from the very parameter words);
- `check(hls_dir, words)`: build with g++, run, compare every FPGA's outputs with
  `reference.run_integer` and the compute-loop trips with `accelerator.compute_cycles`.

Numpy only (no torch); `plan` splits a quantised net into FPGAs, `emit` and `project` write the
text, `manifest` the engine.json.
"""

from coexplore.hardware.hls.csim import CsimError, CsimResult, build, check, compiler, simulate
from coexplore.hardware.hls.manifest import LoadedEngine, load_engine
from coexplore.hardware.hls.plan import FpgaPlan, plan_design
from coexplore.hardware.hls.writer import HlsExport, write_hls

__all__ = [
    "CsimError",
    "CsimResult",
    "FpgaPlan",
    "HlsExport",
    "LoadedEngine",
    "build",
    "check",
    "compiler",
    "load_engine",
    "plan_design",
    "simulate",
    "write_hls",
]
