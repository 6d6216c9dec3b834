"""Exact integer convolutions from torch's fast kernels, for the engine's fast path.

The words of a fixed-point tensor and its accumulators are integers; `engine_torch` holds them
in float64 tensors (exact below 2**53). A convolution of words must give every sum of products
exactly, and torch has no integer convolution, so:

- `int8_conv` (CPU, full convolutions): the input is unfolded into one row of N*K*K words per
  output pixel and multiplied by the weight matrix with `torch._int_mm`, int8 x int8 with int32
  sums: exact, as at most MAX_TERMS products of at most 2**14 each stay below 2**31. 16-bit
  words go as two int8 digits each (four products). On a CPU with VNNI this is faster than
  float32 convolution; `int8_gemm_exact` checks once per device that `_int_mm` does not
  saturate (CPUs without VNNI pair products in 16-bit adds).
- `exact_conv` (depthwise and grouped convolutions, GPUs, CPUs that fail the check): float32
  convolution, exact while every partial sum stays below 2**24, i.e. while max|x| times the
  largest per-output sum of |w| does; where that bound fails, the operand with the larger words
  is split into two digits (both within +-128) or the input channels into halves, and the
  pieces are recombined in float64.

Meanwhile `exact_backends` switches off what would not add exactly: NNPACK and cuDNN (Winograd
and FFT algorithms), oneDNN's reduced-precision fp32 modes and TF32.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from coexplore.errors import InputError

EXACT_FLOAT32 = float(1 << 24)  # integers below this add exactly in float32
DIGIT = 256.0
ROWS_PER_PRODUCT = 8192  # output pixels per matrix product: bounds the unfolded copy's memory
MAX_TERMS = 1 << 17  # products per output: n * 2**14 must stay below 2**31 (int32 sums)


@contextlib.contextmanager
def exact_backends() -> Iterator[None]:
    """Only backends that multiply and add exactly (no Winograd, FFT, TF32 or bf16 inside)."""
    mkldnn_conv = getattr(torch.backends.mkldnn, "conv", None)
    saved_precision = getattr(mkldnn_conv, "fp32_precision", None)
    saved_tf32 = torch.backends.cuda.matmul.allow_tf32
    try:
        if saved_precision is not None:
            mkldnn_conv.fp32_precision = "ieee"  # type: ignore[union-attr]
        torch.backends.cuda.matmul.allow_tf32 = False
        with torch.backends.nnpack.flags(enabled=False), torch.backends.cudnn.flags(enabled=False):
            yield
    finally:
        if saved_precision is not None:
            mkldnn_conv.fp32_precision = saved_precision  # type: ignore[union-attr]
        torch.backends.cuda.matmul.allow_tf32 = saved_tf32


@functools.cache
def int8_gemm_exact(device: torch.device) -> bool:
    """Whether torch._int_mm gives exact int32 sums of int8 products on `device` (CPU only:
    CUDA's wants sizes in multiples of 8, and the float path serves there)."""
    if device.type != "cpu":
        return False
    for a, b in ((-128, -128), (127, -128), (-128, 127), (127, 127)):
        left = torch.full((17, 4096), a, dtype=torch.int8)
        right = torch.full((4096, 9), b, dtype=torch.int8)
        try:
            product = torch._int_mm(left, right)
        except RuntimeError:
            return False
        if not bool((product.long() == 4096 * a * b).all()):
            return False
    return True


@dataclass(frozen=True)
class WeightDigits:
    """Conv weights (M, N, K, K) as an (K*K*N, M) int8 matrix; 16-bit words as their two
    digits side by side (`int8_digits`), with the column sums of w - 128."""

    matrix: torch.Tensor  # (n, M) or (n, 2M) int8
    offset_sums: torch.Tensor  # (M,) float64: sum of w - 128 per output (16-bit words only)
    wide: bool

    @classmethod
    def of(cls, weight: np.ndarray, bits: int, device: torch.device) -> WeightDigits:
        """The weights of a net of `bits`-bit words (inputs and weights alike)."""
        # rows in (kernel row, kernel col, channel) order, as `_unfold` lays out the windows
        rows = np.ascontiguousarray(weight.transpose(2, 3, 1, 0).reshape(-1, len(weight)))
        words = torch.tensor(rows, dtype=torch.int64, device=device)
        if bits <= 8:
            return cls(dense(words.to(torch.int8)), torch.zeros(0), wide=False)
        high, low = int8_digits(words)
        sums = (words - 128).sum(dim=0).to(torch.float64)
        return cls(dense(torch.cat([high, low], dim=1)), sums, wide=True)


def int8_digits(words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """16-bit integer words as 256 high + low + 128: high = w >> 8 (floor) and low =
    (w & 255) - 128, both int8. (Balanced digits would need high = 128 for the largest.)"""
    return (words >> 8).to(torch.int8), ((words & 255) - 128).to(torch.int8)


def int8_conv(
    x: torch.Tensor, digits: WeightDigits, kernel: int, stride: int, padding: int
) -> torch.Tensor:
    """Sums of products (no bias) of a full convolution of integer words x (float64), exact.

    16-bit words: with x = a + 128 and w = b + 128 (a = 256 xh + xl, b = 256 wh + wl),
    sum x w = sum a b + 128 (sum x + sum (w - 128)): sum a b is four int8 products and sum x
    the window sum of the input (a pooling of its channel sum).
    """
    terms = x.shape[1] * kernel * kernel
    if terms > MAX_TERMS:
        raise InputError(f"a convolution of {terms} products per output overflows int32 sums")
    p = padding
    padded = F.pad(x, (p, p, p, p)).permute(0, 2, 3, 1)  # channels last: windows copy faster
    planes = int8_digits(padded.to(torch.int32)) if digits.wide else (padded.to(torch.int8),)
    images, rows, cols = len(x), *_out_size(x, kernel, stride, padding)
    chunk = max(1, ROWS_PER_PRODUCT // (rows * cols))
    parts = []
    for start in range(0, images, chunk):
        rows_of = [_unfold(plane[start : start + chunk], kernel, stride, terms) for plane in planes]
        products = [torch._int_mm(r, digits.matrix) for r in rows_of]
        parts.append(_combine(products, digits))
    acc = torch.cat(parts).reshape(images, rows, cols, -1).permute(0, 3, 1, 2)
    if not digits.wide:
        return acc
    window_sums = F.avg_pool2d(x.sum(dim=1, keepdim=True), kernel, stride, p, False, True, 1)
    return acc + 128.0 * (window_sums + digits.offset_sums[None, :, None, None])


def _out_size(x: torch.Tensor, kernel: int, stride: int, padding: int) -> tuple[int, int]:
    rows, cols = x.shape[2:]
    return (
        (rows + 2 * padding - kernel) // stride + 1,
        (cols + 2 * padding - kernel) // stride + 1,
    )


def _unfold(plane: torch.Tensor, kernel: int, stride: int, terms: int) -> torch.Tensor:
    """(images * R * C, K * K * N) from a channels-last plane: each output pixel's window in
    (kernel row, kernel col, channel) order, so the copy moves runs of K * N bytes."""
    windows = plane.unfold(1, kernel, stride).unfold(2, kernel, stride)  # (B, R, C, N, K, K)
    return dense(windows.permute(0, 1, 2, 4, 5, 3).reshape(-1, terms))


def dense(matrix: torch.Tensor) -> torch.Tensor:
    """The matrix with row-major strides. `_int_mm` reads strides as they are, and torch calls
    a matrix of one column contiguous whatever its column stride (a 1 x 1 kernel's unfolded
    view has (1, 20) for (40, 1)): such a view gives wrong products."""
    standard = torch.empty(matrix.shape, dtype=matrix.dtype, device=matrix.device)
    return matrix if matrix.stride() == standard.stride() else standard.copy_(matrix)


def _combine(products: list[torch.Tensor], digits: WeightDigits) -> torch.Tensor:
    """(pixels, M) float64 sums of products from the int32 digit products."""
    if not digits.wide:
        return products[0].to(torch.float64)
    outputs = digits.matrix.shape[1] // 2
    high, low = (p.to(torch.float64) for p in products)
    hh, hl, lh, ll = high[:, :outputs], high[:, outputs:], low[:, :outputs], low[:, outputs:]
    return 65536.0 * hh + 256.0 * (hl + lh) + ll


def exact_conv(
    x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, groups: int
) -> torch.Tensor:
    """conv2d of integer-valued float64 tensors, exact, through float32 where that is exact
    (module docstring); no bias."""
    x_max = x.abs().max().item() if x.numel() else 0.0
    w_sums = w.abs().flatten(1).sum(1).max().item()
    if x_max * w_sums < EXACT_FLOAT32:
        y = F.conv2d(x.float(), w.float(), None, stride, padding, 1, groups)
        return y.double()
    w_max = w.abs().max().item()
    if w_max > DIGIT / 2 and w_max >= x_max:
        high, low = _balanced_digits(w)
        both = torch.stack([high, low], dim=1).flatten(0, 1)  # keeps each group's outputs together
        y = exact_conv(x, both, stride, padding, groups).unflatten(1, (len(w), 2))
        return y[:, :, 0] * DIGIT + y[:, :, 1]
    if x_max > DIGIT / 2:
        high, low = _balanced_digits(x)
        y = exact_conv(torch.cat([high, low]), w, stride, padding, groups)
        return y[: len(x)] * DIGIT + y[len(x) :]
    if groups == 1 and w.shape[1] > 1:
        half = w.shape[1] // 2
        first = exact_conv(x[:, :half], w[:, :half], stride, padding, 1)
        return first + exact_conv(x[:, half:], w[:, half:], stride, padding, 1)
    return F.conv2d(x, w, None, stride, padding, 1, groups)  # float64: exact, slower


def _balanced_digits(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """t = 256 high + low with low in [-128, 127] and high within +-128 (float64 values)."""
    low = t - DIGIT * torch.floor((t + DIGIT / 2) / DIGIT)
    return (t - low) / DIGIT, low
