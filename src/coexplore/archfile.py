"""Architecture files: JSON that names an architecture of a search space, or lists layers.

Two forms (docs/architecture-files.md):

    {"space": "chain", "layers": [{"kernel": 3, "filters": 24, "stride": 1}, ...],
     "input_shape": [3, 32, 32], "num_classes": 10}
    {"space": "nb201", "arch": "|nor_conv_3x3~0|+|...|", "input_shape": [3, 32, 32]}
    {"input_shape": [3, 32, 32], "layers": [{"kind": "conv", "in_channels": 3, ...}, ...]}

The first two go through the search space (so the file is checked against it); the last is a
raw workload for any network the spaces do not describe. input_shape and num_classes are
optional (defaults 3x32x32 and 10) and can be overridden by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from coexplore.errors import InputError, os_error_reason
from coexplore.spaces import SPACES, SearchSpace
from coexplore.workload import Layer, LayerKind, Workload

DEFAULT_INPUT = (3, 32, 32)
DEFAULT_CLASSES = 10


@dataclass(frozen=True)
class ArchFile:
    workload: Workload
    space: SearchSpace[Any] | None
    arch: Any  # the space's architecture value, None for a raw workload


def load_arch_file(
    path: Path, input_shape: tuple[int, int, int] | None = None, num_classes: int | None = None
) -> ArchFile:
    """Read and check an architecture file; ValueError naming the file and the bad field."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:  # a folder, no permission
        raise InputError(f"{path}: cannot read ({os_error_reason(exc)})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    try:
        return parse_arch(data, input_shape, num_classes)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: {_message(exc)}") from None


def parse_arch(
    data: object, input_shape: tuple[int, int, int] | None = None, num_classes: int | None = None
) -> ArchFile:
    if not isinstance(data, Mapping):
        raise InputError("expected a JSON object at the top level")
    shape = input_shape or _shape(data.get("input_shape", DEFAULT_INPUT))
    given = data.get("num_classes", DEFAULT_CLASSES) if num_classes is None else num_classes
    classes = _positive(given, "num_classes")
    if "space" not in data:
        return ArchFile(_raw_workload(data, shape), None, None)
    space = space_for(data)
    arch = space.from_json(data)
    return ArchFile(space.workload(arch, shape, classes), space, arch)


def space_for(data: Mapping[str, Any]) -> SearchSpace[Any]:
    """The space instance an architecture JSON belongs to (chain depth and strides from it)."""
    name = data.get("space")
    if not isinstance(name, str):
        raise InputError(f"space: expected a name, got {name!r}")
    return SPACES[name].for_json(data)  # settings (depth, levels) from the JSON itself


_LAYER_FIELDS = {f.name for f in fields(Layer)}


def _raw_workload(data: Mapping[str, Any], shape: tuple[int, int, int]) -> Workload:
    items = data.get("layers")
    if not isinstance(items, list) or not items:
        raise InputError("layers: expected a non-empty list (or name a search space with 'space')")
    layers = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InputError(f"layers[{i}]: expected an object")
        unknown = set(item) - _LAYER_FIELDS
        if unknown:
            raise InputError(
                f"layers[{i}]: unknown field(s) {sorted(unknown)}; "
                f"allowed: {', '.join(sorted(_LAYER_FIELDS))}"
            )
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in {k.value for k in LayerKind}:  # [] unhashable
            raise InputError(
                f"layers[{i}].kind: {kind!r} is not one of {', '.join(k.value for k in LayerKind)}"
            )
        for key, value in item.items():
            # Typed, not just present: "false" as a bias would count as true.
            expected, wanted = _FIELD_TYPES.get(key, (int, "an integer"))
            if key != "kind" and (
                not isinstance(value, expected) or (expected is int and isinstance(value, bool))
            ):
                raise InputError(f"layers[{i}].{key}: expected {wanted}, got {value!r}")
        try:
            layers.append(Layer(**{**item, "kind": LayerKind(kind)}))
        except (TypeError, ValueError) as exc:
            raise InputError(f"layers[{i}]: {_message(exc)}") from None
    skips = _skips(data.get("skips", []))
    return Workload(tuple(layers), shape, skips=skips, name=str(data.get("name", "")))


_FIELD_TYPES = {
    "name": (str, "a string"),
    "function": (str, "a string"),
    "bias": (bool, "true or false"),
    "batchnorm": (bool, "true or false"),
}


def _skips(value: object) -> tuple[tuple[int, int], ...]:
    pairs = value if isinstance(value, list) else None
    if pairs is None or not all(
        isinstance(p, list) and len(p) == 2 and all(type(i) is int for i in p) for p in pairs
    ):
        raise InputError(
            f"skips: expected [[producer, consumer], ...] layer indices, got {value!r}"
        )
    return tuple((p[0], p[1]) for p in pairs)


def _shape(value: object) -> tuple[int, int, int]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise InputError(
            f"input_shape: expected [channels, rows, cols] of positive integers, got {value!r}"
        )
    return (int(value[0]), int(value[1]), int(value[2]))


def _positive(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"{name}: expected a positive integer, got {value!r}")
    return value


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
