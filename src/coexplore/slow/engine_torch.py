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
from coexplore.hardware.engine.net import INPUT, Affine, EngineNet, EngineOp, OpKind, Relu, Step
from coexplore.hardware.engine.quantise import QAffine, QOp, QStep, QuantNet
from coexplore.hardware.engine.reference import float_op, pool_divisors, traverse
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
        self.weight = _tensor(op.weight, torch.float32, device)
        self.bias = _tensor(op.bias, torch.float32, device)
        self.affines = {
            id(s): (_tensor(s.scale, F32, device), _tensor(s.shift, F32, device))
            for s in (*op.pre, *op.post)
            if isinstance(s, Affine)
        }

    def step(self, step: Step, x: torch.Tensor) -> torch.Tensor:
        if isinstance(step, Relu):
            return torch.relu(x)
        scale, shift = self.affines[id(step)]
        return x * scale[:, None, None] + shift[:, None, None]

    def core(self, op: EngineOp, inputs: list[torch.Tensor]) -> torch.Tensor:
        x = inputs[0]
        if op.kind is OpKind.CONV:
            return F.conv2d(x, self.weight, self.bias, op.stride, op.padding, 1, op.groups)
        if op.kind is OpKind.FC:
            assert self.weight is not None
            return F.linear(x.flatten(1), self.weight, self.bias)[:, :, None, None]
        if op.kind is OpKind.MAX_POOL:
            return F.max_pool2d(x, op.kernel, op.stride, op.padding)
        if op.kind is OpKind.AVG_POOL:
            return F.avg_pool2d(x, op.kernel, op.stride, op.padding, False, op.count_include_pad)
        if op.kind is OpKind.GLOBAL_AVG_POOL:
            return x.mean(dim=(2, 3), keepdim=True)
        if op.kind is OpKind.ADD:
            return torch.stack(inputs).sum(0)
        return _move(op, inputs)


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
    holding integers), bit for bit `reference.run_integer`."""

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
        return self._saturate(torch.floor(scaled.clamp(-limit, limit) + 0.5))

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
        for step in q.pre:
            value, frac = self._step(step, params, value, frac)
        value = self._core(op, q, params, [value] if op.pre else inputs)
        frac = q.core_frac
        for step in q.post:
            value, frac = self._step(step, params, value, frac)
        return value

    def _step(
        self, step: QStep, params: _IntParams, x: torch.Tensor, frac: int
    ) -> tuple[torch.Tensor, int]:
        if isinstance(step, Relu):
            return x.clamp_min(0.0), frac
        assert isinstance(step, QAffine)
        scale, shift = params.affines[id(step)]
        wide = frac + step.scale_frac
        total = x * scale[:, None, None] + _align(shift, step.shift_frac, wide)[:, None, None]
        return self._requant(total, wide, step.out_frac), step.out_frac

    def _core(
        self, op: EngineOp, q: QOp, params: _IntParams, inputs: list[torch.Tensor]
    ) -> torch.Tensor:
        x = inputs[0]
        if op.kind in (OpKind.CONV, OpKind.FC):
            wide = q.in_frac + q.weight_frac
            acc = params.products(op, x)
            if params.bias is not None:
                acc = acc + _align(params.bias, q.bias_frac, wide)[:, None, None]
            return self._requant(acc, wide, q.core_frac)
        if op.kind is OpKind.MAX_POOL:
            return F.max_pool2d(x, op.kernel, op.stride, op.padding)
        if op.kind in (OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL):
            if op.kind is OpKind.AVG_POOL:  # window sums: zero padding, divisor 1
                sums = F.avg_pool2d(x, op.kernel, op.stride, op.padding, False, True, 1)
            else:
                sums = x.sum(dim=(2, 3), keepdim=True)
            return self._requant(sums * params.reciprocal, q.in_frac + RECIPROCAL_BITS, q.core_frac)
        if op.kind is OpKind.ADD:
            wide = max(q.read_fracs)
            terms = [_align(t, f, wide) for t, f in zip(inputs, q.read_fracs, strict=True)]
            return self._requant(torch.stack(terms).sum(0), wide, q.core_frac)
        if op.kind is OpKind.CONCAT:
            pairs = zip(inputs, q.read_fracs, strict=True)
            parts = [self._requant(t, f, q.core_frac) for t, f in pairs]
            return _move(op, parts)
        return _move(op, inputs)

    def _saturate(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(-self.top, self.top - 1)

    def _requant(self, x: torch.Tensor, from_frac: int, to_frac: int) -> torch.Tensor:
        """`fixed.requant`: round half up by the shift, or saturate and shift left."""
        shift = from_frac - to_frac
        if shift < 0:
            return self._saturate(self._saturate(x) * 2.0**-shift)
        if shift == 0:
            return self._saturate(x)
        return self._saturate(torch.floor((x + 2.0 ** (shift - 1)) * 2.0**-shift))


def _align(x: torch.Tensor, from_frac: int, to_frac: int) -> torch.Tensor:
    return x * 2.0 ** (to_frac - from_frac)


class _IntParams:
    """One op's words as float64 tensors (int8 digit matrices for convs on the int8 path)."""

    def __init__(self, op: EngineOp, q: QOp, bits: int, device: torch.device) -> None:
        self.weight = _tensor(q.weight, torch.float64, device)
        self.bias = _tensor(q.bias, torch.float64, device)
        self.affines = {
            id(s): (_tensor(s.scale, F64, device), _tensor(s.shift, F64, device))
            for s in (*q.pre, *q.post)
            if isinstance(s, QAffine)
        }
        self.digits = None
        if op.kind is OpKind.CONV and op.groups == 1 and int8_gemm_exact(device):
            assert q.weight is not None
            self.digits = WeightDigits.of(q.weight, bits, device)
        self.reciprocal = None
        if op.kind in (OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL):
            self.reciprocal = _tensor(reciprocal(pool_divisors(op)), torch.float64, device)
        if op.kind in (OpKind.CONV, OpKind.FC):
            _check_exact(op, q, bits)

    def products(self, op: EngineOp, x: torch.Tensor) -> torch.Tensor:
        """The sums of products of a conv or fc, exact, as float64 (no bias)."""
        if op.kind is OpKind.FC:
            return (x.flatten(1) @ self.weight.T)[:, :, None, None]
        if self.digits is not None:
            return int8_conv(x, self.digits, op.kernel, op.stride, op.padding)
        return exact_conv(x, self.weight, op.stride, op.padding, op.groups)


def _check_exact(op: EngineOp, q: QOp, bits: int) -> None:
    """Accumulators stay below 2**52 in float64: the products (each below 2**(2 bits - 2))
    and the aligned bias. (int8 products have their own bound, `exact_conv.MAX_TERMS`.)"""
    terms = op.in_features if op.kind is OpKind.FC else op.in_shape[0] // op.groups * op.kernel**2
    bias = 0.0
    if q.bias is not None:
        shift = q.in_frac + q.weight_frac - q.bias_frac
        bias = float(np.abs(q.bias).max(initial=0)) * 2.0**shift
    if terms * 2.0 ** (2 * bits - 2) + bias >= EXACT_FLOAT64 / 2:
        raise InputError(f"op {op.name}: its accumulator may pass 2**52; the fast path stops")
