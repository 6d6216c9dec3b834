"""The engine's arithmetic: a network as the engine runs it and its fixed-point evaluation.

- `net`: `EngineNet`, the ops in execution order with their weights (numpy), and its workload;
- `fixed`: dynamic fixed point (formats, the rounding rule, saturation, calibration);
- `quantise`: an engine net in words (`QuantNet`);
- `reference`: the net evaluated in float64 and in words, the contract of docs/fixed-point.md.

Numpy only (no torch): `coexplore.slow.engine_convert` makes an engine net from a torch model,
and `coexplore.slow.engine_torch` is the fast path tested equal to `reference.run_integer`.
"""
