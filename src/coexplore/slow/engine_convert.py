"""A trained torch model as an engine net (`coexplore.hardware.engine.net`), through torch.fx.

The model is traced symbolically (`torch.fx.symbolic_trace`) and its shapes propagated with one
zero image in eval mode; then every node maps to an op, a step fused into one, or nothing:

- Conv2d (any Kh x Kw kernel and padding, one stride, no dilation), Linear after a flatten,
  MaxPool2d / AvgPool2d (no ceil mode), AdaptiveAvgPool2d(1), Upsample / interpolate (nearest,
  integer factor), `+` and torch.cat on channels are ops;
- SiLU, Hardswish and GELU are `act` ops; Sigmoid and Tanh too, unless what they make is the
  gate of a channel-wise product: `map * gate` with a gate of one value per channel is a
  `scale` op applying them (squeeze-and-excitation), and `x * sigmoid(x)` is a SiLU; Hardsigmoid
  is a step;
- channels-last (ConvNeXt): `permute(0, 2, 3, 1)` and back are free, and in between LayerNorm
  over the channels is a `norm` op, Linear a 1 x 1 conv, and a product with a per-channel
  parameter (layer scale) an affine step; LayerNorm of a vector (after `mean((-2, -1))`, a
  global average pool) is a `norm` op too;
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
    HardSigmoid,
    OpKind,
    Relu,
    Shape,
    Step,
)
from coexplore.slow import engine_convert_parts as parts
from coexplore.slow.engine_convert_parts import (
    fold,
    name_of,
    node_shape,
    padding_of,
    pair,
    size_of,
    unmappable,
)

_IDENTITY = (nn.Identity, nn.Dropout, nn.Flatten)
_ACTS = {nn.SiLU: "silu", nn.Hardswish: "hswish", nn.GELU: "gelu"}  # act ops
_GATES = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}  # act ops, or a scale's gate function


@dataclass(frozen=True)
class _Value:
    """A tensor of the trace: the op (INPUT, ZEROS) that made it and steps not yet applied."""

    producer: int
    shape: Shape
    steps: tuple[Step, ...] = ()
    flat: bool = False
    function: str = ""  # sigmoid or tanh not applied yet: an act op, or a scale's gate
    last: bool = False  # channels-last (between permute(0, 2, 3, 1) and its inverse)

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
    converter = _Converter(graph, input_shape)
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


def _numpy(tensor: torch.Tensor | None) -> np.ndarray | None:
    return None if tensor is None else tensor.detach().double().cpu().numpy()


class _Converter:
    def __init__(self, graph: fx.GraphModule, input_shape: Shape) -> None:
        self.graph = graph
        self.modules = dict(graph.named_modules())
        self.input_shape = input_shape
        self.values: dict[fx.Node, _Value] = {}
        self.constants: dict[fx.Node, np.ndarray] = {}  # parameters read by get_attr
        self.drafts: list[_Draft] = []

    def ops(self) -> list[EngineOp]:
        return [EngineOp(**d.fields, post=tuple(d.post)) for d in self.drafts]

    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            self.values[node] = _Value(INPUT, self.input_shape)
        elif node.op == "get_attr":
            module_path, _, attribute = str(node.target).rpartition(".")
            tensor = getattr(self.graph.get_submodule(module_path), attribute)
            self.constants[node] = np.asarray(_numpy(tensor))
        elif node.op == "call_module":
            self._module(node, self.modules[str(node.target)])
        elif node.op == "call_function":
            self._function(node)
        elif node.op == "call_method":
            self._method(node)
        elif node.op == "output":
            self._output(node)
        else:
            raise unmappable(node, "no engine op does this")

    # -- modules -------------------------------------------------------------------------

    def _module(self, node: fx.Node, module: nn.Module) -> None:
        value = self._arg(node, 0)
        if isinstance(module, nn.Flatten) and (module.start_dim, module.end_dim) != (1, -1):
            raise unmappable(node, "a flatten other than of all but the batch", module)
        if value.last and isinstance(module, _LAYOUT_BOUND):
            raise unmappable(node, "it reads a channels-last map (permute it back first)", module)
        if isinstance(module, _IDENTITY):
            self.values[node] = replace(value, flat=value.flat or isinstance(module, nn.Flatten))
        elif isinstance(module, nn.ReLU):
            self._step(node, value, Relu())
        elif isinstance(module, nn.Hardsigmoid):
            self._step(node, value, HardSigmoid())
        elif type(module) in _ACTS:
            self._op(node, value, OpKind.ACT, function=_ACTS[type(module)])
        elif type(module) in _GATES:
            self.values[node] = replace(value, function=_GATES[type(module)])
        elif isinstance(module, nn.BatchNorm2d):
            self._batchnorm(node, value, module)
        elif isinstance(module, nn.Conv2d):
            self._conv(node, value, module)
        elif isinstance(module, nn.Linear):
            self._linear(node, value, module)
        elif isinstance(module, nn.LayerNorm):
            self._layer_norm(node, value, module)
        else:
            self._pooling(node, value, module)

    def _pooling(self, node: fx.Node, value: _Value, module: nn.Module) -> None:
        if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            self._pool(node, value, module)
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            if pair(module.output_size) != (1, 1):
                raise unmappable(node, "adaptive pooling to other than 1 x 1", module)
            self._op(node, value, OpKind.GLOBAL_AVG_POOL)
        elif isinstance(module, nn.Upsample):
            self._upsample(node, value, module.mode, module.scale_factor, module)
        else:
            raise unmappable(node, "no engine op does this", module)

    def _conv(self, node: fx.Node, value: _Value, conv: nn.Conv2d) -> None:
        kernel = size_of(node, conv.kernel_size, conv, square=False)
        stride = size_of(node, conv.stride, conv)[0]
        padding = padding_of(node, conv, kernel)
        if pair(conv.dilation) != (1, 1) or conv.padding_mode != "zeros":
            raise unmappable(node, "dilation or non-zero padding", conv)
        self._op(node, value, OpKind.CONV, kernel=kernel[0], kernel_cols=kernel[1],
                 stride=stride, padding=padding[0], padding_cols=padding[1],
                 groups=conv.groups, weight=_numpy(conv.weight),
                 bias=_numpy(conv.bias))  # fmt: skip

    def _linear(self, node: fx.Node, value: _Value, linear: nn.Linear) -> None:
        weight, bias = _numpy(linear.weight), _numpy(linear.bias)
        assert weight is not None
        if value.last:  # nn.Linear on every pixel of a channels-last map: a 1 x 1 conv
            self._op(node, value, OpKind.CONV, weight=weight[:, :, None, None], bias=bias)
            return
        if not value.flat and value.shape[1:] != (1, 1):
            raise unmappable(node, "a Linear must read a flattened image tensor", linear)
        self._op(node, value, OpKind.FC, weight=weight, bias=bias)

    def _layer_norm(self, node: fx.Node, value: _Value, norm: nn.LayerNorm) -> None:
        channels = value.shape[0]
        over_channels = value.last or value.shape[1:] == (1, 1)
        if not over_channels or tuple(norm.normalized_shape) != (channels,):
            raise unmappable(node, "a LayerNorm other than over the channels of a channels-"
                             "last map or of a vector", norm)  # fmt: skip
        gain = _numpy(norm.weight) if norm.weight is not None else np.ones(channels)
        self._op(node, value, OpKind.NORM, weight=gain, bias=_numpy(norm.bias), eps=norm.eps)

    def _pool(self, node: fx.Node, value: _Value, pool: nn.MaxPool2d | nn.AvgPool2d) -> None:
        kernel = size_of(node, pool.kernel_size, pool, square=False)
        stride = size_of(node, pool.stride or pool.kernel_size, pool, square=False)
        if stride[0] != stride[1]:
            raise unmappable(node, f"unequal strides {stride}", pool)
        padding = size_of(node, pool.padding, pool, low=0, square=False)
        if pool.ceil_mode:
            raise unmappable(node, "ceil_mode pooling", pool)
        window = dict(kernel=kernel[0], kernel_cols=kernel[1], stride=stride[0],
                      padding=padding[0], padding_cols=padding[1])  # fmt: skip
        if isinstance(pool, nn.MaxPool2d):
            if pair(pool.dilation) != (1, 1):
                raise unmappable(node, "dilated pooling", pool)
            self._op(node, value, OpKind.MAX_POOL, **window)
            return
        if pool.divisor_override is not None:
            raise unmappable(node, "divisor_override", pool)
        self._op(node, value, OpKind.AVG_POOL, count_include_pad=bool(pool.count_include_pad),
                 **window)  # fmt: skip

    def _upsample(
        self, node: fx.Node, value: _Value, mode: str, scale: Any, where: nn.Module | None
    ) -> None:
        factor = size_of(node, scale, where)[0] if scale is not None else 0
        out = node_shape(node)
        if mode != "nearest" or not factor or out[1:] != tuple(factor * x for x in value.shape[1:]):
            raise unmappable(node, "upsampling other than nearest by an integer factor", where)
        self._op(node, value, OpKind.UPSAMPLE)

    def _batchnorm(self, node: fx.Node, value: _Value, bn: nn.BatchNorm2d) -> None:
        if bn.running_mean is None or bn.running_var is None:
            raise unmappable(node, "batch norm without running statistics", bn)
        scale = 1.0 / np.sqrt(bn.running_var.detach().double().cpu().numpy() + bn.eps)
        mean = bn.running_mean.detach().double().cpu().numpy()
        if bn.affine:
            scale = scale * bn.weight.detach().double().cpu().numpy()
        shift = -mean * scale
        if bn.affine:
            shift = shift + bn.bias.detach().double().cpu().numpy()
        draft = self._fusible(node, value)
        if draft is not None and draft.fields["kind"] is OpKind.CONV and not draft.post:
            fold(draft.fields, scale, shift)
            draft.head = node
            self.values[node] = value
            return
        self._step(node, value, Affine(scale, shift), batchnorm=True)

    # -- functions and methods -----------------------------------------------------------

    def _function(self, node: fx.Node) -> None:
        target = node.target
        if target in (operator.add, torch.add):
            self._add(node)
        elif target in (operator.mul, torch.mul):
            self._mul(node)
        elif target in (F.relu, torch.relu):
            self._step(node, self._arg(node, 0), Relu())
        elif target is F.hardsigmoid:
            self._step(node, self._arg(node, 0), HardSigmoid())
        elif target in _ACT_FUNCTIONS:
            self._op(node, self._arg(node, 0), OpKind.ACT, function=_ACT_FUNCTIONS[target])
        elif target in _GATE_FUNCTIONS:
            self.values[node] = replace(self._arg(node, 0), function=_GATE_FUNCTIONS[target])
        elif target is torch.flatten:
            self._flatten(node)
        elif target is torch.mean:
            self._mean(node)
        elif target is torch.cat:
            self._cat(node)
        elif target is F.interpolate:
            kwargs = node.kwargs
            mode, scale = kwargs.get("mode", "nearest"), kwargs.get("scale_factor")
            self._upsample(node, self._arg(node, 0), str(mode), scale, None)
        elif target is torch.zeros_like:
            self.values[node] = _Value(ZEROS, node_shape(node))
        else:
            raise unmappable(node, "no engine op does this")

    def _method(self, node: fx.Node) -> None:
        """Tensor methods: the layout's permutes, the mean over rows and columns, and the
        methods that are also functions."""
        method = str(node.target)
        if method == "permute":
            self._permute(node)
        elif method in ("contiguous", "flatten", "mean", "sigmoid", "tanh", "relu"):
            value = self._arg(node, 0)
            if method == "contiguous":
                self.values[node] = value
            elif method == "flatten":
                self._flatten(node)
            elif method == "mean":
                self._mean(node)
            elif method == "relu":
                self._step(node, value, Relu())
            else:
                self.values[node] = replace(value, function=method)
        else:
            raise unmappable(node, "no engine op does this")

    def _permute(self, node: fx.Node) -> None:
        value, axes = self._arg(node, 0), parts.permutation(node)
        if axes == parts.CHANNELS_LAST and not value.last:
            self.values[node] = replace(value, last=True)
        elif axes == parts.CHANNELS_FIRST and value.last:
            self.values[node] = replace(value, last=False)
        else:
            raise unmappable(node, f"a permute {axes}: only to channels-last and back")

    def _flatten(self, node: fx.Node) -> None:
        start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
        if start != 1 or node.kwargs.get("end_dim", -1) != -1 or len(node.args) > 2:
            raise unmappable(node, "a flatten other than of all but the batch")
        value = self._arg(node, 0)
        if value.last:
            raise unmappable(node, "a flatten of a channels-last map")
        self.values[node] = replace(value, flat=True)

    def _mean(self, node: fx.Node) -> None:
        """The mean over rows and columns (how ConvNeXt writes global pooling)."""
        dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        value = self._arg(node, 0)
        axes = {int(d) % 4 for d in pair(dims)} if dims is not None else set()
        if axes != {2, 3} or value.last:
            raise unmappable(node, f"a mean over axes {dims}: only over rows and columns")
        self._op(node, value, OpKind.GLOBAL_AVG_POOL)

    def _add(self, node: fx.Node) -> None:
        if len(node.args) != 2 or node.kwargs:
            raise unmappable(node, "an add of other than two tensors")
        terms = [self._arg(node, 0), self._arg(node, 1)]
        present = [t for t in terms if not t.is_zero]
        if len(present) < 2:  # adding an all-zero tensor adds nothing
            self.values[node] = present[0] if present else terms[0]
            return
        self._multi(node, present, OpKind.ADD, present[0].shape)

    def _mul(self, node: fx.Node) -> None:
        """A product: with a constant, an affine step; x * sigmoid(x), a SiLU; a map by one
        value per channel, a scale (squeeze-and-excitation)."""
        if len(node.args) != 2 or node.kwargs:
            raise unmappable(node, "a product of other than two factors")
        constant = [self._constant(a, node) for a in node.args]
        if constant[0] is not None or constant[1] is not None:
            tensor = 1 if constant[0] is not None else 0
            value = self._arg(node, tensor)
            factor = parts.per_channel(node, constant[1 - tensor], tensor, value.last)
            self._step(node, value, Affine(factor, np.zeros_like(factor)), arg=tensor)
            return
        left, right = (self._value_of(a, node, place=False) for a in node.args)
        if (left.producer, left.steps) == (right.producer, right.steps) and {
            left.function, right.function} == {"", "sigmoid"}:  # fmt: skip
            self._op(node, replace(left, function=""), OpKind.ACT, function="silu")
            return
        self._scale(node, left, right)

    def _scale(self, node: fx.Node, left: _Value, right: _Value) -> None:
        gates = [v.shape[1:] == (1, 1) and not v.last for v in (left, right)]
        if not any(gates) or left.shape[0] != right.shape[0] or left.last or right.last:
            raise unmappable(node, f"a product of {left.shape} and {right.shape}: only a map "
                             "by one value per channel, or x * sigmoid(x)")  # fmt: skip
        later = right.producer > left.producer if all(gates) else gates[1]
        gate, position = (right, 1) if later else (left, 0)
        tensor = self._value_of(node.args[1 - position], node)
        self._multi(node, [tensor, replace(gate, function="")], OpKind.SCALE, tensor.shape,
                    function=gate.function)  # fmt: skip

    def _cat(self, node: fx.Node) -> None:
        tensors = node.args[0]
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        if dim not in (1, -3) or not isinstance(tensors, list | tuple):
            raise unmappable(node, "a concatenation other than on channels")
        values = [self._value_of(t, node) for t in tensors]
        if any(p.producer == ZEROS for p in values):
            raise unmappable(node, "a concatenation with an all-zero tensor")
        self._multi(node, values, OpKind.CONCAT, node_shape(node))

    def _multi(
        self, node: fx.Node, values: list[_Value], kind: OpKind, in_shape: Shape, **extra: Any
    ) -> None:
        if any(p.steps or p.flat for p in values):
            raise unmappable(node, f"steps (ReLU, batch norm) on one input of a {kind}")
        if len({p.last for p in values}) > 1:
            raise unmappable(node, f"a {kind} of a channels-last and a channels-first tensor")
        producers = tuple(p.producer for p in values)
        self._new_op(node, kind, producers, in_shape, (), values[0].last, **extra)

    # -- ops and steps -------------------------------------------------------------------

    def _op(self, node: fx.Node, value: _Value, kind: OpKind, **fields: Any) -> None:
        self._new_op(node, kind, (value.producer,), value.shape, value.steps, value.last,
                     **fields)  # fmt: skip

    def _new_op(
        self, node: fx.Node, kind: OpKind, inputs: tuple[int, ...], in_shape: Shape,
        pre: tuple[Step, ...], last: bool = False, **extra: Any,
    ) -> None:  # fmt: skip
        out_shape = node_shape(node, last)
        fields = dict(
            kind=kind,
            inputs=inputs,
            in_shape=in_shape,
            out_shape=out_shape,
            pre=pre,
            name=name_of(node),
            batchnorm=any(isinstance(s, Affine) for s in pre),
        )
        fields.update(extra)  # fmt: skip
        self.drafts.append(_Draft(fields, node))
        self.values[node] = _Value(len(self.drafts) - 1, out_shape, last=last)

    def _step(
        self, node: fx.Node, value: _Value, step: Step, batchnorm: bool = False, arg: int = 0
    ) -> None:
        """Fuse an element-wise step as a post step of the op before, or leave it pending."""
        draft = self._fusible(node, value, arg)
        if draft is not None:
            draft.post.append(step)
            draft.fields["batchnorm"] |= batchnorm
            draft.head = node
            self.values[node] = value
        elif value.flat:
            raise unmappable(node, "an element-wise step on a flattened tensor")
        else:
            self.values[node] = replace(value, steps=(*value.steps, step))

    def _fusible(self, node: fx.Node, value: _Value, arg: int = 0) -> _Draft | None:
        """The op whose result `node` alone reads (so a step can join it), else None."""
        if value.producer < 0 or value.steps or value.flat:
            return None
        draft = self.drafts[value.producer]
        source = node.args[arg] if len(node.args) > arg else None
        if source is not draft.head or len(draft.head.users) != 1:
            return None
        return draft

    def _output(self, node: fx.Node) -> None:
        value = self._value_of(node.args[0], node)
        if value.producer != len(self.drafts) - 1 or value.steps or value.last:
            raise unmappable(node, "the network's output is not the result of its last op")

    def _arg(self, node: fx.Node, index: int) -> _Value:
        if len(node.args) <= index:
            raise unmappable(node, "missing tensor argument")
        return self._value_of(node.args[index], node)

    def _value_of(self, arg: Any, node: fx.Node, place: bool = True) -> _Value:
        """The value of a tensor argument; a sigmoid or tanh not yet applied becomes its act
        op first (once: every later reader reads that op), unless `place` is off (a gate)."""
        if not isinstance(arg, fx.Node) or arg not in self.values:
            raise unmappable(node, f"an argument that is not a tensor of the network: {arg!r}")
        value = self.values[arg]
        if value.function and place:
            self._op(arg, replace(value, function=""), OpKind.ACT, function=value.function)
            value = self.values[arg]
        return value

    def _constant(self, arg: Any, node: fx.Node) -> np.ndarray | None:
        """A parameter or a number the product multiplies by; None for a network tensor."""
        if isinstance(arg, int | float) and not isinstance(arg, bool):
            return np.asarray(float(arg))
        if isinstance(arg, fx.Node) and arg in self.constants:
            return self.constants[arg]
        return None


_LAYOUT_BOUND = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Upsample,
                 nn.BatchNorm2d, nn.Flatten)  # fmt: skip
_ACT_FUNCTIONS = {F.silu: "silu", F.hardswish: "hswish", F.gelu: "gelu"}
_GATE_FUNCTIONS = {torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", torch.tanh: "tanh",
                   F.tanh: "tanh"}  # fmt: skip
