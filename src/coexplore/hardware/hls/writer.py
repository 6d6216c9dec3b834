"""Write an hls/ folder: the engine of every FPGA of a design as Vitis-HLS-style C++, its
parameter words, the host of the C simulation, a Makefile (g++) and run_hls.tcl (Vitis HLS).

    hls/
      include/cx_fixed.h cx_engine.h   the word arithmetic and the tiled engine (shared)
      include/cx_design.h              the word type and table limits of this design
      fpgaN.h fpgaN.cpp                FPGA N's tiling, layer table and top function cx_fpgaN_top
      fpgaN_params.bin                 its weights, biases, affine scales and shifts (words)
      host.cpp                         the FPGAs in pipeline order over input images
      Makefile run_hls.tcl engine.json
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coexplore.errors import InputError
from coexplore.hardware.devices import Pool
from coexplore.hardware.engine.quantise import QuantNet
from coexplore.hardware.hls.emit import design_header, fpga_header, fpga_source, host_source
from coexplore.hardware.hls.manifest import MANIFEST, manifest, outputs_of, params_file, word_dtype
from coexplore.hardware.hls.plan import FpgaPlan, plan_design
from coexplore.hardware.hls.project import makefile, run_hls_tcl
from coexplore.hardware.pipeline import HardwareDesign

CPP_DIR = Path(__file__).with_name("cpp")
SHIPPED = ("cx_fixed.h", "cx_engine.h")


@dataclass(frozen=True, eq=False)
class HlsExport:
    out_dir: Path
    plans: tuple[FpgaPlan, ...]
    notes: tuple[str, ...]  # worth knowing: an input buffer larger than the model's, ...

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.out_dir.rglob("*") if p.is_file())


def write_hls(
    out_dir: Path,
    qnet: QuantNet,
    design: HardwareDesign,
    pool: Pool,
    source: dict[str, Any] | None = None,
) -> HlsExport:
    """Write the hls/ folder of `design` running `qnet` (its formats calibrated already) on the
    devices of `pool`; `source` (what the net and its formats came from) goes to engine.json."""
    plans = plan_design(qnet, design)
    clocks = {d.name: d.clock_mhz for d in pool.devices}
    devices = []
    for stage in design.stages:
        if stage.device not in clocks:
            raise InputError(f"the design uses {stage.device}, which the pool does not have")
        devices.append((stage.device, clocks[stage.device]))
    out = Path(out_dir)
    (out / "include").mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        shutil.copyfile(CPP_DIR / name, out / "include" / name)
    title = f"coexplore design {qnet.net.name or ''}".strip()
    (out / "include" / "cx_design.h").write_text(design_header(qnet, plans, title))
    for plan, (device, clock_mhz) in zip(plans, devices, strict=True):
        i = plan.index
        (out / f"fpga{i}.h").write_text(fpga_header(plan, device, clock_mhz))
        (out / f"fpga{i}.cpp").write_text(fpga_source(plan, qnet))
        plan.params.astype(word_dtype(qnet.bits)).tofile(out / params_file(i))
    (out / "host.cpp").write_text(host_source(plans, outputs_of(plans)))
    (out / "Makefile").write_text(makefile(plans))
    (out / "run_hls.tcl").write_text(run_hls_tcl(plans, devices))
    info = manifest(
        qnet,
        design,
        plans,
        [{"device": d, "clock_mhz": c} for d, c in devices],
        source or {},
    )
    (out / MANIFEST).write_text(json.dumps(info, indent=1) + "\n")
    notes = tuple(
        f"FPGA {p.index}: input buffer {p.in_rows} x {p.in_cols} words per lane for "
        f"{p.enlarged_by}, larger than the (Tr-1)*Smax+Kmax the resource model counts"
        for p in plans
        if p.enlarged_by
    )
    return HlsExport(out, plans, notes)
