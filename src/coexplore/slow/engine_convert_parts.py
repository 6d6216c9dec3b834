"""Pieces of the torch.fx converter (`coexplore.slow.engine_convert`): sizes, shapes, names and
errors of the traced nodes, and the batch-norm fold."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import fx, nn

from coexplore.errors import InputError
from coexplore.hardware.engine.net import Shape

CHANNELS_LAST = (0, 2, 3, 1)  # N C H W -> N H W C
CHANNELS_FIRST = (0, 3, 1, 2)


def fold(fields: dict[str, Any], scale: np.ndarray, shift: np.ndarray) -> None:
    """Batch norm into the conv before it: w' = w * scale, b' = b * scale + shift."""
    weight = fields["weight"]
    bias = fields.get("bias")
    fields["weight"] = weight * scale[:, None, None, None]
    fields["bias"] = shift if bias is None else bias * scale + shift
    fields["batchnorm"] = True


def node_shape(node: fx.Node, last: bool = False) -> Shape:
    """(channels, rows, cols) of a traced tensor: an image (N, C, H, W), a channels-last map
    (N, H, W, C) when `last`, or a vector (N, C) as (C, 1, 1)."""
    meta = node.meta.get("tensor_meta")
    shape = tuple(getattr(meta, "shape", ()))
    if len(shape) == 2:
        return (int(shape[1]), 1, 1)
    if len(shape) != 4:
        raise unmappable(node, f"a tensor of shape {shape}: the engine holds images")
    if last:
        return (int(shape[3]), int(shape[1]), int(shape[2]))
    return (int(shape[1]), int(shape[2]), int(shape[3]))


def pair(value: Any) -> tuple[Any, ...]:
    """A torch size argument as a tuple: 3 -> (3, 3), (3, 1) -> (3, 1)."""
    return tuple(value) if isinstance(value, tuple | list) else (value, value)


def size_of(
    node: fx.Node, value: Any, module: nn.Module | None, low: int = 1, square: bool = True
) -> tuple[int, int]:
    """(rows, cols) of a whole-number size argument; with `square` they must be equal."""
    both = pair(value)
    whole = len(both) == 2 and all(int(v) == v and v >= low for v in both)
    if not whole or (square and both[0] != both[1]):
        what = "non-square or fractional" if square else "fractional"
        raise unmappable(node, f"a {what} size {value}", module)
    return int(both[0]), int(both[1])


def padding_of(node: fx.Node, conv: nn.Conv2d, kernel: tuple[int, int]) -> tuple[int, int]:
    """Zero rows (above and below) and columns (left and right) of a conv."""
    if conv.padding == "valid":
        return 0, 0
    if conv.padding == "same":
        if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise unmappable(node, "'same' padding of an even kernel", conv)
        return kernel[0] // 2, kernel[1] // 2
    return size_of(node, conv.padding, conv, low=0, square=False)


def permutation(node: fx.Node) -> tuple[int, ...]:
    """The axes of a `permute` call, written as varargs or as one tuple."""
    axes = node.args[1:] if len(node.args) > 2 else node.args[1] if len(node.args) > 1 else ()
    axes = node.kwargs.get("dims", axes)
    return tuple(int(a) % 4 for a in (axes if isinstance(axes, tuple | list) else (axes,)))


def per_channel(node: fx.Node, constant: Any, position: int, last: bool) -> np.ndarray:
    """A constant factor of the tensor at argument `position` as one value per channel: a
    number, or an array along the channel axis (the last one of a vector or a channels-last
    map, axis 1 of an image)."""
    dims = node_shape(node.args[position], last)  # type: ignore[arg-type]
    channels = dims[0]
    rank = len(getattr(node.args[position].meta.get("tensor_meta"), "shape", ()))  # type: ignore[union-attr]
    values = np.asarray(constant, dtype=np.float64)
    if values.size == 1:
        return np.full(channels, float(values.reshape(-1)[0]))
    axis = -1 if rank == 2 or last else -3
    along = values.ndim >= -axis and values.shape[axis] == channels == values.size
    if not along:
        raise unmappable(node, f"a factor of shape {values.shape}: one value per channel needed")
    return values.reshape(-1).copy()


def name_of(node: fx.Node) -> str:
    return str(node.target) if node.op == "call_module" else node.name


def unmappable(node: fx.Node, why: str, module: nn.Module | None = None) -> InputError:
    what = type(module).__name__ if module is not None else getattr(node.target, "__name__", "")
    if node.op == "call_method":
        what = f".{node.target}()"
    return InputError(f"cannot map {name_of(node)!r} ({what or node.op}) to the engine: {why}")
