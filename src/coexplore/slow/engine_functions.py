"""The engine's act, scale and norm ops and its hard-sigmoid step in torch, exact: int64
tensors (element-wise and cheap next to a convolution, so no float64 tricks are needed), each
the definition of `coexplore.hardware.engine.functions` (tests/slow/test_engine_torch.py
checks them against `reference.run_integer` bit for bit).
"""

from __future__ import annotations

import torch

from coexplore.hardware.engine.functions import (
    GATED,
    NORMAL_BITS,
    RSQRT_BITS,
    norm_frac,
    table_bits,
)
from coexplore.hardware.engine.net import EngineOp, OpKind
from coexplore.hardware.engine.quantise import QOp

I64 = torch.int64


def saturate(x: torch.Tensor, bits: int) -> torch.Tensor:
    return x.clamp_(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def rnd(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Round half up by `shift` bits (an arithmetic right shift), a left shift for <= 0."""
    if shift > 0:
        shift = min(shift, 62)
        return (x + (1 << (shift - 1))) >> shift
    return x << -shift


def requant(x: torch.Tensor, from_frac: int, to_frac: int, bits: int) -> torch.Tensor:
    shift = from_frac - to_frac
    if shift < 0:
        return saturate(saturate(x, bits) << min(-shift, bits), bits)
    return saturate(rnd(x, shift), bits)


def div6(x: torch.Tensor, from_frac: int, to_frac: int, bits: int) -> torch.Tensor:
    """x * 2**(to - from) / 6 rounded half up (floor division), saturated."""
    s = from_frac - to_frac
    if s >= 0:
        return saturate(torch.div(x + 3 * (1 << s), 6 << s, rounding_mode="floor"), bits)
    return saturate(torch.div((x << -s) + 3, 6, rounding_mode="floor"), bits)


def _hard_gate(x: torch.Tensor, frac: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    f = max(frac, 0)
    x = x << (f - frac)
    return x, (x + 3 * (1 << f)).clamp(0, 6 * (1 << f)), f


def hard_sigmoid(x: torch.Tensor, frac: int, out_frac: int, bits: int) -> torch.Tensor:
    _, gate, f = _hard_gate(x, frac)
    return div6(gate, f, out_frac, bits)


def hard_swish(x: torch.Tensor, frac: int, out_frac: int, bits: int) -> torch.Tensor:
    x, gate, f = _hard_gate(x, frac)
    return div6(x * gate, 2 * f, out_frac, bits)


def lookup(table: torch.Tensor, x: torch.Tensor, bits: int) -> torch.Tensor:
    t = table_bits(bits)
    return table[(x >> (bits - t)) + (1 << (t - 1))]


def streaming(
    op: EngineOp, q: QOp, inputs: list[torch.Tensor], table: torch.Tensor | None, bits: int
) -> torch.Tensor:
    """An act, scale or norm op on int64 words: its result before the post steps."""
    x, fx = inputs[0], q.in_frac
    if op.kind is OpKind.NORM:
        return layer_norm(x, fx, q, bits)
    if op.function == "hswish":
        return hard_swish(x, fx, q.core_frac, bits)
    if op.kind is OpKind.SCALE:
        gate, gate_frac = inputs[1], q.read_fracs[1]
        if table is not None:
            gate, gate_frac = lookup(table, gate, bits), q.table_frac
        return requant(x * gate, fx + gate_frac, q.core_frac, bits)
    assert table is not None
    if op.function in GATED:
        return requant(x * lookup(table, x, bits), fx + q.table_frac, q.core_frac, bits)
    return requant(lookup(table, x, bits), q.table_frac, q.core_frac, bits)


def bit_length(v: torch.Tensor) -> torch.Tensor:
    length = torch.ones_like(v)
    for shift in (32, 16, 8, 4, 2, 1):
        high = v >= (1 << shift)
        v = torch.where(high, v >> shift, v)
        length = length + high.to(I64) * shift
    return length


def isqrt(n: torch.Tensor) -> torch.Tensor:
    root = torch.floor(torch.sqrt(n.to(torch.float64))).to(I64)
    root = torch.where(root * root > n, root - 1, root)
    return torch.where((root + 1) * (root + 1) <= n, root + 1, root)


def layer_norm(x: torch.Tensor, fx: int, q: QOp, bits: int) -> torch.Tensor:
    """`functions.layer_norm` on (images, C, rows, cols) int64 words."""
    assert q.weight is not None
    channels = x.shape[1]
    s1 = x.sum(dim=1, keepdim=True)
    v = channels * (x * x).sum(dim=1, keepdim=True) - s1 * s1 + q.eps
    e = -torch.div(NORMAL_BITS - bit_length(v), 2, rounding_mode="floor")
    m = torch.where(e >= 0, v >> (2 * e).clamp(min=0), v << (-2 * e).clamp(min=0))
    r = isqrt(torch.div(1 << (2 * RSQRT_BITS), m, rounding_mode="floor"))
    z_frac = norm_frac(channels, bits)
    z = (channels * x - s1) * r
    shift = RSQRT_BITS + e - z_frac
    half = torch.bitwise_left_shift(torch.ones_like(shift), (shift - 1).clamp(min=0))
    half = torch.where(shift > 0, half, torch.zeros_like(shift))
    z = torch.where(shift > 0, (z + half) >> shift.clamp(min=0), z << (-shift).clamp(min=0))
    wide = z_frac + q.weight_frac
    gain = torch.tensor(q.weight, dtype=I64, device=x.device)
    t = z * gain[:, None, None]
    if q.bias is not None:
        shift_words = torch.tensor(q.bias, dtype=I64, device=x.device)
        t = t + (shift_words << (wide - q.bias_frac))[:, None, None]
    return requant(t, wide, q.core_frac, bits)
