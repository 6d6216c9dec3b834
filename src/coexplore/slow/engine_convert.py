"""A trained torch model as an engine net (`coexplore.hardware.engine.net`), through torch.fx.

The model is traced symbolically (`torch.fx.symbolic_trace`) and its shapes propagated with one
zero image in eval mode; then every node maps to an op, a step fused into one, or nothing:

- Conv2d (square kernel, stride and padding, no dilation), Linear after a flatten,
  MaxPool2d / AvgPool2d (no ceil mode), AdaptiveAvgPool2d(1), Upsample / interpolate (nearest,
  integer factor), `+` and torch.cat on channels are ops;
- BatchNorm2d right after a conv whose result nothing else reads is folded into its weights
  and bias; anywhere else it is an affine step;
- ReLU and a non-folded batch norm fuse into the op before as post steps when nothing else
  reads that op's result (the chain's Conv-ReLU-BN), otherwise into the ops that read the
  value as pre steps (NAS-Bench-201's ReLU-Conv-BN, the head's BN-ReLU-pool);
- Flatten, Identity and Dropout change nothing; torch.zeros_like is the all-zero tensor of a
  NAS-Bench-201 node nothing feeds (ZEROS), and adding it adds nothing.

Anything else raises one InputError naming the module (or function) and why.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from coexplore.errors import InputError
from coexplore.hardware.engine.net import (
    INPUT,
    ZEROS,
    Affine,
    EngineNet,
    EngineOp,
    OpKind,
    Relu,
    Shape,
    Step,
)

_IDENTITY = (nn.Identity, nn.Dropout, nn.Flatten)


@dataclass(frozen=True)
class _Value:
    """A tensor of the trace: the op (INPUT, ZEROS) that made it and steps not yet applied."""

    producer: int
    shape: Shape
    steps: tuple[Step, ...] = ()
    flat: bool = False

    @property
    def is_zero(self) -> bool:
        return self.producer == ZEROS and all(isinstance(s, Relu) for s in self.steps)


@dataclass
class _Draft:
    """An op being built: fields of EngineOp, still open to folding and post steps."""

    fields: dict[str, Any]
    head: fx.Node  # the node whose value is this op's result with its post steps so far
    post: list[Step] = field(default_factory=list)


def engine_net(model: nn.Module, input_shape: tuple[int, int, int], name: str = "") -> EngineNet:
    """The engine net of `model` (its weights and batch-norm statistics as they are now) for
    images of (channels, rows, cols). The model is left as it was."""
    graph = _traced(model, input_shape)
    converter = _Converter(dict(graph.named_modules()), input_shape)
    for node in graph.graph.nodes:
        converter.visit(node)
    return EngineNet(input_shape, tuple(converter.ops()), name)


def _traced(model: nn.Module, input_shape: tuple[int, int, int]) -> fx.GraphModule:
    try:
        graph = fx.symbolic_trace(model)
    except Exception as error:  # fx raises many kinds for code it cannot trace
        raise InputError(f"cannot trace {type(model).__name__} with torch.fx: {error}") from None
    was_training = model.training
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        graph.eval()  # batch norm: running statistics, left unchanged by the shape pass
        with torch.no_grad():
            ShapeProp(graph).propagate(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return graph


class _Converter:
    def __init__(self, modules: dict[str, nn.Module], input_shape: Shape) -> None:
        self.modules = modules
        self.input_shape = input_shape
        self.values: dict[fx.Node, _Value] = {}
        self.drafts: list[_Draft] = []

    def ops(self) -> list[EngineOp]:
        return [EngineOp(**d.fields, post=tuple(d.post)) for d in self.drafts]

    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            self.values[node] = _Value(INPUT, self.input_shape)
        elif node.op == "call_module":
            self._module(node, self.modules[str(node.target)])
        elif node.op == "call_function":
            self._function(node)
        elif node.op == "output":
            self._output(node)
        else:
            raise _unmappable(node, "no engine op does this")

    # -- modules -------------------------------------------------------------------------

    def _module(self, node: fx.Node, module: nn.Module) -> None:
        value = self._arg(node, 0)
        if isinstance(module, nn.Flatten) and (module.start_dim, module.end_dim) != (1, -1):
            raise _unmappable(node, "a flatten other than of all but the batch", module)
        if isinstance(module, _IDENTITY):
            self.values[node] = replace(value, flat=value.flat or isinstance(module, nn.Flatten))
        elif isinstance(module, nn.ReLU):
            self._step(node, value, Relu())
        elif isinstance(module, nn.BatchNorm2d):
            self._batchnorm(node, value, module)
        elif isinstance(module, nn.Conv2d):
            self._conv(node, value, module)
        elif isinstance(module, nn.Linear):
            self._linear(node, value, module)
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            self._pool(node, value, module)
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            if _pair(module.output_size) != (1, 1):
                raise _unmappable(node, "adaptive pooling to other than 1 x 1", module)
            self._op(node, value, OpKind.GLOBAL_AVG_POOL)
        elif isinstance(module, nn.Upsample):
            self._upsample(node, value, module.mode, module.scale_factor, module)
        else:
            raise _unmappable(node, "no engine op does this", module)

    def _conv(self, node: fx.Node, value: _Value, conv: nn.Conv2d) -> None:
        kernel, stride = _square(node, conv.kernel_size, conv), _square(node, conv.stride, conv)
        padding = _padding(node, conv, kernel)
        if _pair(conv.dilation) != (1, 1) or conv.padding_mode != "zeros":
            raise _unmappable(node, "dilation or non-zero padding", conv)
        weight = conv.weight.detach().double().cpu().numpy()
        bias = None if conv.bias is None else conv.bias.detach().double().cpu().numpy()
        self._op(node, value, OpKind.CONV, kernel=kernel, stride=stride, padding=padding,
                 groups=conv.groups, weight=weight, bias=bias)  # fmt: skip

    def _linear(self, node: fx.Node, value: _Value, linear: nn.Linear) -> None:
        if not value.flat and value.shape[1:] != (1, 1):
            raise _unmappable(node, "a Linear must read a flattened image tensor", linear)
        weight = linear.weight.detach().double().cpu().numpy()
        bias = None if linear.bias is None else linear.bias.detach().double().cpu().numpy()
        self._op(node, value, OpKind.FC, weight=weight, bias=bias)

    def _pool(self, node: fx.Node, value: _Value, pool: nn.MaxPool2d | nn.AvgPool2d) -> None:
        kernel = _square(node, pool.kernel_size, pool)
        stride = _square(node, pool.stride or pool.kernel_size, pool)
        padding = _square(node, pool.padding, pool, allow_zero=True)
        if pool.ceil_mode:
            raise _unmappable(node, "ceil_mode pooling", pool)
        if isinstance(pool, nn.MaxPool2d):
            if _pair(pool.dilation) != (1, 1):
                raise _unmappable(node, "dilated pooling", pool)
            self._op(node, value, OpKind.MAX_POOL, kernel=kernel, stride=stride, padding=padding)
            return
        if pool.divisor_override is not None:
            raise _unmappable(node, "divisor_override", pool)
        self._op(node, value, OpKind.AVG_POOL, kernel=kernel, stride=stride, padding=padding,
                 count_include_pad=bool(pool.count_include_pad))  # fmt: skip

    def _upsample(
        self, node: fx.Node, value: _Value, mode: str, scale: Any, where: nn.Module | None
    ) -> None:
        factor = _square(node, scale, where) if scale is not None else 0
        out = _shape(node)
        if mode != "nearest" or not factor or out[1:] != tuple(factor * x for x in value.shape[1:]):
            raise _unmappable(node, "upsampling other than nearest by an integer factor", where)
        self._op(node, value, OpKind.UPSAMPLE)

    def _batchnorm(self, node: fx.Node, value: _Value, bn: nn.BatchNorm2d) -> None:
        if bn.running_mean is None or bn.running_var is None:
            raise _unmappable(node, "batch norm without running statistics", bn)
        scale = 1.0 / np.sqrt(bn.running_var.detach().double().cpu().numpy() + bn.eps)
        mean = bn.running_mean.detach().double().cpu().numpy()
        if bn.affine:
            scale = scale * bn.weight.detach().double().cpu().numpy()
        shift = -mean * scale
        if bn.affine:
            shift = shift + bn.bias.detach().double().cpu().numpy()
        draft = self._fusible(node, value)
        if draft is not None and draft.fields["kind"] is OpKind.CONV and not draft.post:
            _fold(draft, scale, shift)
            draft.head = node
            self.values[node] = value
            return
        self._step(node, value, Affine(scale, shift), batchnorm=True)

    # -- functions -----------------------------------------------------------------------

    def _function(self, node: fx.Node) -> None:
        target = node.target
        if target in (operator.add, torch.add):
            self._add(node)
        elif target in (F.relu, torch.relu):
            self._step(node, self._arg(node, 0), Relu())
        elif target is torch.flatten:
            start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
            if start != 1 or node.kwargs.get("end_dim", -1) != -1 or len(node.args) > 2:
                raise _unmappable(node, "a flatten other than of all but the batch")
            self.values[node] = replace(self._arg(node, 0), flat=True)
        elif target is torch.cat:
            self._cat(node)
        elif target is F.interpolate:
            kwargs = node.kwargs
            mode, scale = kwargs.get("mode", "nearest"), kwargs.get("scale_factor")
            self._upsample(node, self._arg(node, 0), str(mode), scale, None)
        elif target is torch.zeros_like:
            self.values[node] = _Value(ZEROS, _shape(node))
        else:
            raise _unmappable(node, "no engine op does this")

    def _add(self, node: fx.Node) -> None:
        if len(node.args) != 2 or node.kwargs:
            raise _unmappable(node, "an add of other than two tensors")
        terms = [self._arg(node, 0), self._arg(node, 1)]
        present = [t for t in terms if not t.is_zero]
        if len(present) < 2:  # adding an all-zero tensor adds nothing
            self.values[node] = present[0] if present else terms[0]
            return
        self._multi(node, present, OpKind.ADD, present[0].shape)

    def _cat(self, node: fx.Node) -> None:
        tensors = node.args[0]
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        if dim not in (1, -3) or not isinstance(tensors, list | tuple):
            raise _unmappable(node, "a concatenation other than on channels")
        parts = [self._value_of(t, node) for t in tensors]
        if any(p.producer == ZEROS for p in parts):
            raise _unmappable(node, "a concatenation with an all-zero tensor")
        self._multi(node, parts, OpKind.CONCAT, _shape(node))

    def _multi(self, node: fx.Node, parts: list[_Value], kind: OpKind, in_shape: Shape) -> None:
        if any(p.steps or p.flat for p in parts):
            raise _unmappable(node, f"steps (ReLU, batch norm) on one input of a {kind}")
        producers = tuple(p.producer for p in parts)
        self._new_op(node, kind, producers, in_shape, ())

    # -- ops and steps -------------------------------------------------------------------

    def _op(self, node: fx.Node, value: _Value, kind: OpKind, **fields: Any) -> None:
        self._new_op(node, kind, (value.producer,), value.shape, value.steps, **fields)

    def _new_op(
        self, node: fx.Node, kind: OpKind, inputs: tuple[int, ...], in_shape: Shape,
        pre: tuple[Step, ...], **extra: Any,
    ) -> None:  # fmt: skip
        out_shape = _shape(node)
        fields = dict(
            kind=kind,
            inputs=inputs,
            in_shape=in_shape,
            out_shape=out_shape,
            pre=pre,
            name=_name(node),
            batchnorm=any(isinstance(s, Affine) for s in pre),
        )
        fields.update(extra)  # fmt: skip
        self.drafts.append(_Draft(fields, node))
        self.values[node] = _Value(len(self.drafts) - 1, out_shape)

    def _step(self, node: fx.Node, value: _Value, step: Step, batchnorm: bool = False) -> None:
        """Fuse an element-wise step as a post step of the op before, or leave it pending."""
        draft = self._fusible(node, value)
        if draft is not None:
            draft.post.append(step)
            draft.fields["batchnorm"] |= batchnorm
            draft.head = node
            self.values[node] = value
        elif value.flat:
            raise _unmappable(node, "an element-wise step on a flattened tensor")
        else:
            self.values[node] = replace(value, steps=(*value.steps, step))

    def _fusible(self, node: fx.Node, value: _Value) -> _Draft | None:
        """The op whose result `node` alone reads (so a step can join it), else None."""
        if value.producer < 0 or value.steps or value.flat:
            return None
        draft = self.drafts[value.producer]
        source = node.args[0] if node.args else None
        if source is not draft.head or len(draft.head.users) != 1:
            return None
        return draft

    def _output(self, node: fx.Node) -> None:
        value = self._value_of(node.args[0], node)
        if value.producer != len(self.drafts) - 1 or value.steps:
            raise _unmappable(node, "the network's output is not the result of its last op")

    def _arg(self, node: fx.Node, index: int) -> _Value:
        if len(node.args) <= index:
            raise _unmappable(node, "missing tensor argument")
        return self._value_of(node.args[index], node)

    def _value_of(self, arg: Any, node: fx.Node) -> _Value:
        if not isinstance(arg, fx.Node) or arg not in self.values:
            raise _unmappable(node, f"an argument that is not a tensor of the network: {arg!r}")
        return self.values[arg]


def _fold(draft: _Draft, scale: np.ndarray, shift: np.ndarray) -> None:
    """Batch norm into the conv before it: w' = w * scale, b' = b * scale + shift."""
    weight = draft.fields["weight"]
    bias = draft.fields.get("bias")
    draft.fields["weight"] = weight * scale[:, None, None, None]
    draft.fields["bias"] = shift if bias is None else bias * scale + shift
    draft.fields["batchnorm"] = True


def _shape(node: fx.Node) -> Shape:
    meta = node.meta.get("tensor_meta")
    shape = tuple(getattr(meta, "shape", ()))
    if len(shape) == 2:
        return (int(shape[1]), 1, 1)
    if len(shape) != 4:
        raise _unmappable(node, f"a tensor of shape {shape}: the engine holds images")
    return (int(shape[1]), int(shape[2]), int(shape[3]))


def _pair(value: Any) -> tuple[Any, ...]:
    """A torch size argument as a tuple: 3 -> (3, 3), (3, 1) -> (3, 1)."""
    return tuple(value) if isinstance(value, tuple | list) else (value, value)


def _square(node: fx.Node, value: Any, module: nn.Module | None, allow_zero: bool = False) -> int:
    pair = _pair(value)
    low = 0 if allow_zero else 1
    if len(pair) != 2 or pair[0] != pair[1] or int(pair[0]) != pair[0] or pair[0] < low:
        raise _unmappable(node, f"a non-square or fractional size {value}", module)
    return int(pair[0])


def _padding(node: fx.Node, conv: nn.Conv2d, kernel: int) -> int:
    if conv.padding == "valid":
        return 0
    if conv.padding == "same":
        if kernel % 2 == 0 or _square(node, conv.stride, conv) != 1:
            raise _unmappable(node, "'same' padding of an even kernel", conv)
        return kernel // 2
    return _square(node, conv.padding, conv, allow_zero=True)


def _name(node: fx.Node) -> str:
    return str(node.target) if node.op == "call_module" else node.name


def _unmappable(node: fx.Node, why: str, module: nn.Module | None = None) -> InputError:
    what = type(module).__name__ if module is not None else getattr(node.target, "__name__", "")
    return InputError(f"cannot map {_name(node)!r} ({what or node.op}) to the engine: {why}")
