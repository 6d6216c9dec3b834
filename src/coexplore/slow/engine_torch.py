"""The engine net in torch: in float32 for calibration, and in words, fast and exact.

`IntegerEngine` computes exactly what `coexplore.hardware.engine.reference.run_integer`
defines (tests/slow/test_engine_torch.py checks it bit for bit). Words and accumulators are
integers held in float64 tensors: products, sums, shifts (a multiplication by a power of two
and a floor) and clips of integers below 2**53 are exact there. Convolutions come from
`coexplore.slow.exact_conv`; everything else is torch's own element-wise ops and pooling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from coexplore.errors import InputError
from coexplore.hardware.engine.fixed import RECIPROCAL_BITS, reciprocal
from coexplore.hardware.engine.net import (
    INPUT,
    Affine,
    EngineNet,
    EngineOp,
    HardSigmoid,
    OpKind,
    Relu,
    Step,
)
from coexplore.hardware.engine.quantise import (
    QAffine,
    QHardSigmoid,
    QOp,
    QStep,
    QuantNet,
    core_bound,
    steps_bound,
)
from coexplore.hardware.engine.reference import float_op, pool_divisors, traverse
from coexplore.slow import engine_functions
from coexplore.slow.exact_conv import (
    WeightDigits,
    exact_backends,
    exact_conv,
    int8_conv,
    int8_gemm_exact,
)

EXACT_FLOAT64 = float(1 << 53)
F32, F64 = torch.float32, torch.float64
Observe = Callable[[object, np.ndarray], None]


class FloatEngine:
    """The engine net in float32 on `device`: what calibration observes."""

    def __init__(self, net: EngineNet, device: torch.device) -> None:
        self.net = net
        self.device = device
        self.params = [_FloatParams(op, device) for op in net.ops]

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, observe: Observe | None = None) -> torch.Tensor:
        """The net's output; `observe(site, values)` as `reference.run_float` calls it."""
        x = images.to(self.device, torch.float32)
        show = None if observe is None else (lambda site, v: observe(site, v.cpu().numpy()))
        if show is not None:
            show(INPUT, x)

        def evaluate(index: int, op: EngineOp, inputs: list[torch.Tensor]) -> torch.Tensor:
            params = self.params[index]
            return float_op(index, op, inputs, params.step, params.core, show)

        return traverse(self.net, x, evaluate, self._zeros)

    def _zeros(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.zeros(shape, device=self.device)


class _FloatParams:
    """One op's weights and step parameters as float32 tensors, and its float arithmetic."""

    def __init__(self, op: EngineOp, device: torch.device) -> None:
        self.weight = _tensor(op.weight, F32, device)
        self.bias = _tensor(op.bias, F32, device)
        self.affines = _affines((*op.pre, *op.post), F32, device)

    def step(self, step: Step, x: torch.Tensor) -> torch.Tensor:
        if isinstance(step, Relu):
            return torch.relu(x)
        if isinstance(step, HardSigmoid):
            return F.hardsigmoid(x)
        scale, shift = self.affines[id(step)]
        return x * scale[:, None, None] + shift[:, None, None]

    def core(self, op: EngineOp, inputs: list[torch.Tensor]) -> torch.Tensor:
        x = inputs[0]
        kernel, padding = (op.kernel, op.kw), (op.padding, op.pw)
        if op.kind is OpKind.CONV:
            return F.conv2d(x, self.weight, self.bias, op.stride, padding, 1, op.groups)
        if op.kind is OpKind.FC:
            assert self.weight is not None
            return F.linear(x.flatten(1), self.weight, self.bias)[:, :, None, None]
        if op.kind is OpKind.MAX_POOL:
            return F.max_pool2d(x, kernel, op.stride, padding)
        if op.kind is OpKind.AVG_POOL:
            return F.avg_pool2d(x, kernel, op.stride, padding, False, op.count_include_pad)
        if op.kind is OpKind.GLOBAL_AVG_POOL:
            return x.mean(dim=(2, 3), keepdim=True)
        if op.kind is OpKind.ADD:
            return torch.stack(inputs).sum(0)
        if op.kind in (OpKind.ACT, OpKind.SCALE):
            value = _float_function(op.function, inputs[-1])
            return value if op.kind is OpKind.ACT else x * value
        if op.kind is OpKind.NORM:
            mean = x.mean(dim=1, keepdim=True)
            variance = (x - mean).square().mean(dim=1, keepdim=True)
            y = (x - mean) / torch.sqrt(variance + op.eps) * self.weight[:, None, None]
            return y if self.bias is None else y + self.bias[:, None, None]
        return _move(op, inputs)


def _float_function(function: str, x: torch.Tensor) -> torch.Tensor:
    """An act function, or a scale's gate function ('' the identity), in torch."""
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "silu": F.silu,
                 "gelu": F.gelu, "hswish": F.hardswish}  # fmt: skip
    return functions[function](x) if function else x


def _affines(steps: tuple[Any, ...], dtype: torch.dtype, device: torch.device) -> dict:
    """(scale, shift) tensors of each affine step (float or in words), by the step's id."""
    return {
        id(s): (_tensor(s.scale, dtype, device), _tensor(s.shift, dtype, device))
        for s in steps
        if isinstance(s, Affine | QAffine)
    }


def _tensor(array: Any, dtype: torch.dtype, device: torch.device) -> Any:
    return None if array is None else torch.tensor(np.asarray(array), dtype=dtype, device=device)


def _move(op: EngineOp, inputs: list[torch.Tensor]) -> torch.Tensor:
    """Concat and upsample: words moved, not computed."""
    if op.kind is OpKind.CONCAT:
        return torch.cat(inputs, dim=1)
    factor = op.upsample_factor
    return inputs[0].repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


class IntegerEngine:
    """A QuantNet in words on `device`: `engine(words)` gives the output words (float64 tensors
    holding integers), bit for bit `reference.run_integer`.

    Each op's result is a fresh tensor, so its bias, rounding and post steps work in place (a
    conv's on each chunk of its products, while small): on a layer's whole float64 tensor,
    new temporaries cost more than the products themselves.
    """

    def __init__(self, qnet: QuantNet, device: torch.device) -> None:
        self.qnet = qnet
        self.device = device
        self.top = float(1 << (qnet.bits - 1))
        ops = zip(qnet.net.ops, qnet.ops, strict=True)
        self.params = [_IntParams(op, q, qnet.bits, device) for op, q in ops]

    def input_words(self, images: torch.Tensor) -> torch.Tensor:
        """Float images as words: round half up of x * 2**frac, saturated (as `to_words`)."""
        scaled = images.to(self.device, torch.float64) * 2.0**self.qnet.input_frac
        limit = float(1 << self.qnet.bits)
        return self._saturate(torch.floor(scaled.clamp_(-limit, limit).add_(0.5)))

    @torch.no_grad()
    def __call__(self, words: torch.Tensor) -> torch.Tensor:
        x = words.to(self.device, torch.float64)
        with exact_backends():
            return traverse(self.qnet.net, x, self._op, self._zeros)

    def _zeros(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.zeros(shape, dtype=torch.float64, device=self.device)

    def _op(self, index: int, op: EngineOp, inputs: list[torch.Tensor]) -> torch.Tensor:
        q, params = self.qnet.ops[index], self.params[index]
        value, frac = inputs[0], q.read_fracs[0]
        for position, step in enumerate(q.pre):  # the first step must not write its input
            value, frac = self._step(step, params, value if position else value.clone(), frac)
        inputs = [value] if op.pre else inputs
        if op.kind in (OpKind.CONV, OpKind.FC):
            return params.products(op, inputs[0], lambda acc: self._write_back(acc, q, params))
        if op.kind in (OpKind.ACT, OpKind.SCALE, OpKind.NORM):  # exact in int64
            words = [t.to(torch.int64) for t in inputs]
            core = engine_functions.streaming(op, q, words, params.table, self.qnet.bits)
            return self._post(core.to(torch.float64), q, params)
        return self._post(self._core(op, q, params, inputs), q, params)

    def _write_back(self, acc: torch.Tensor, q: QOp, params: _IntParams) -> torch.Tensor:
        """A conv's or fc's sums of products (fresh, (pixels, M) or (images, M, R, C)) to
        words: bias, rounding, post steps, in place."""
        wide = q.in_frac + q.weight_frac
        if params.bias is not None:
            acc.add_(_per_channel(params.bias, acc), alpha=2.0 ** (wide - q.bias_frac))
        return self._post(self._requant(acc, wide, q.core_frac), q, params)

    def _post(self, value: torch.Tensor, q: QOp, params: _IntParams) -> torch.Tensor:
        frac = q.core_frac
        for step in q.post:
            value, frac = self._step(step, params, value, frac)
        return value

    def _step(
        self, step: QStep, params: _IntParams, x: torch.Tensor, frac: int
    ) -> tuple[torch.Tensor, int]:
        """One step, in place on x."""
        if isinstance(step, Relu):
            return x.clamp_min_(0.0), frac
        if isinstance(step, QHardSigmoid):
            words = x.to(torch.int64)
            out = engine_functions.hard_sigmoid(words, frac, step.out_frac, self.qnet.bits)
            return x.copy_(out), step.out_frac
        assert isinstance(step, QAffine)
        scale, shift = params.affines[id(step)]
        wide = frac + step.scale_frac
        x.mul_(_per_channel(scale, x)).add_(
            _per_channel(shift, x), alpha=2.0 ** (wide - step.shift_frac)
        )
        return self._requant(x, wide, step.out_frac), step.out_frac

    def _core(
        self, op: EngineOp, q: QOp, params: _IntParams, inputs: list[torch.Tensor]
    ) -> torch.Tensor:
        """The result of an op other than conv and fc, as a fresh tensor."""
        x = inputs[0]
        kernel, padding = (op.kernel, op.kw), (op.padding, op.pw)
        if op.kind is OpKind.MAX_POOL:
            return F.max_pool2d(x, kernel, op.stride, padding)
        if op.kind in (OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL):
            if op.kind is OpKind.AVG_POOL:  # window sums: zero padding, divisor 1
                sums = F.avg_pool2d(x, kernel, op.stride, padding, False, True, 1)
            else:
                sums = x.sum(dim=(2, 3), keepdim=True)
            assert params.reciprocal is not None
            sums.mul_(params.reciprocal)
            return self._requant(sums, q.in_frac + RECIPROCAL_BITS, q.core_frac)
        if op.kind is OpKind.ADD:
            wide = max(q.read_fracs)
            total = torch.zeros_like(x)
            for term, frac in zip(inputs, q.read_fracs, strict=True):
                total.add_(term, alpha=2.0 ** (wide - frac))
            return self._requant(total, wide, q.core_frac)
        if op.kind is OpKind.CONCAT:
            pairs = zip(inputs, q.read_fracs, strict=True)
            return _move(op, [self._requant(t.clone(), f, q.core_frac) for t, f in pairs])
        return _move(op, inputs)

    def _saturate(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp_(-self.top, self.top - 1)

    def _requant(self, x: torch.Tensor, from_frac: int, to_frac: int) -> torch.Tensor:
        """`fixed.requant` in place: round half up by the shift (x / 2**s + 1/2 is exact for
        integers x below 2**53), or saturate and shift left."""
        shift = from_frac - to_frac
        if shift < 0:
            return self._saturate(self._saturate(x).mul_(2.0 ** min(-shift, self.qnet.bits)))
        if shift == 0:
            return self._saturate(x)
        return self._saturate(x.mul_(2.0**-shift).add_(0.5).floor_())


def _per_channel(vector: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-channel vector shaped to broadcast over x: (images, M, R, C) or (pixels, M)."""
    return vector[:, None, None] if x.dim() == 4 else vector


class _IntParams:
    """One op's words as float64 tensors (int8 digit matrices for convs on the int8 path)."""

    def __init__(self, op: EngineOp, q: QOp, bits: int, device: torch.device) -> None:
        self.weight = _tensor(q.weight, F64, device)
        self.bias = _tensor(q.bias, F64, device)
        self.affines = _affines((*q.pre, *q.post), F64, device)
        self.digits = None
        if op.kind is OpKind.CONV and op.groups == 1 and int8_gemm_exact(device):
            assert q.weight is not None
            self.digits = WeightDigits.of(q.weight, bits, device)
        self.reciprocal = None
        if op.kind in (OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL):
            self.reciprocal = _tensor(reciprocal(pool_divisors(op)), torch.float64, device)
        self.table = _tensor(q.table, torch.int64, device)
        _check_exact(op, q, bits)

    def products(
        self, op: EngineOp, x: torch.Tensor, finish: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """A conv's or fc's output: its sums of products, exact in float64, through `finish`."""
        if op.kind is OpKind.FC:
            return finish(x.flatten(1) @ self.weight.T)[:, :, None, None]
        kernel, padding = (op.kernel, op.kw), (op.padding, op.pw)
        if self.digits is not None:
            return int8_conv(x, self.digits, kernel, op.stride, padding, finish)
        return finish(exact_conv(x, self.weight, op.stride, padding, op.groups))


def _check_exact(op: EngineOp, q: QOp, bits: int) -> None:
    """Every wide value held in float64 stays an exact integer there (`quantise.wide_bound`;
    act, scale, norm and hard-sigmoid steps compute in int64)."""
    streaming = op.kind in (OpKind.ACT, OpKind.SCALE, OpKind.NORM)
    bound = max(0.0 if streaming else core_bound(op, q, bits), steps_bound(q, bits))
    if bound >= EXACT_FLOAT64 / 2:
        raise InputError(f"op {op.name}: a sum may pass 2**52; the fast path cannot hold it")
