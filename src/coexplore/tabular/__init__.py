"""Tabular benchmarking: every architecture of a small space known in advance.

Accuracy comes from a table (the NATS-Bench / NAS-Bench-201 CSV, read from a path the user
gives, never copied into the project), hardware from our own exact model, computed once for the
whole space and cached on disk. With both, a search strategy runs through the normal loop and
storage with a training-free `train_fn`, and its trials can be scored against the true Pareto
fronts (hypervolume ratio).

Submodules: `indexing` (index <-> architecture), `accuracy` (the CSV and the train_fn),
`hardware` (the cached hardware table), `explorer` (a fast-exploration front end that reads it),
`fronts` (true fronts and 2-D hypervolume). The package itself imports nothing heavy, so worker
processes that build the hardware table never import torch.
"""
