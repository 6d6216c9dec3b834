"""Export one trained trial of a run for deployment (docs/report-and-export.md).

Files written to the output folder:

- ``architecture.json``: the architecture with its input shape and classes (``coexplore estimate``
  reads it);
- ``design.json``: the hardware design as the run stored it (``HardwareDesign.from_json``);
- ``design.h``: a C header for an HLS implementation of the template (tilings, layer tables);
- ``weights.pt``: the trained child's state_dict (trained again: runs keep no weights);
- ``model.onnx``: the same child as ONNX, batch axis dynamic;
- ``export.json``: what was exported, how, and the checks made.

>>> from coexplore.export import export_trial
>>> export_trial(Path("runs/quick"), 8).out_dir  # doctest: +SKIP
PosixPath('runs/quick/export/trial-8')
"""

from __future__ import annotations

from coexplore.export.bundle import ExportResult, export_trial, exportable_trial
from coexplore.export.header import c_header, guard_name
from coexplore.export.model import ExportError

__all__ = [
    "ExportError",
    "ExportResult",
    "c_header",
    "export_trial",
    "exportable_trial",
    "guard_name",
]
