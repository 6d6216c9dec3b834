"""Exact integer convolutions from torch's fast kernels, for the engine's fast path.

The words of a fixed-point tensor and its accumulators are integers; `engine_torch` holds them
in float64 tensors (exact below 2**53). A convolution of words must give every sum of products
exactly, and torch has no integer convolution, so:

- `int8_conv` (CPU, full convolutions): the input is unfolded into one row of N*K*K words per
  output pixel and multiplied by the weight matrix with `torch._int_mm`, int8 x int8 with int32
  sums: exact, as fewer than MAX_TERMS products of at most 2**14 each, twice over, stay below
  2**31. 16-bit words go as two int8 digits each (four products). With VNNI this is faster than
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from coexplore.errors import InputError

EXACT_FLOAT32 = float(1 << 24)  # integers below this add exactly in float32
DIGIT = 256.0
# Output pixels per matrix product: bounds the unfolded copy's memory, and keeps a chunk's
# float64 sums (2,048 x 64 outputs: 1 MB) in cache through the epilogue's passes (10 to 25 %
# faster integer passes than 8,192 on default-preset chain children).
ROWS_PER_PRODUCT = 2048
# Products per output, fewer than this: twice n * 2**14 stays below 2**31 (the int32 sums, and
# the two middle digit products of 16-bit words added in int32).
MAX_TERMS = 1 << 16


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
    """Conv weights (M, N, K, K) as a (K*K*N, M) int8 matrix. For 16-bit words: their two
    digits side by side and a column of ones (`int8_digits`; the ones give each window's sum
    of input digits), with the column sums of w - 128."""

    matrix: torch.Tensor  # (n, M) or (n, 2M + 1) int8
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
        ones = torch.ones(len(words), 1, dtype=torch.int8, device=device)
        sums = (words - 128).sum(dim=0).to(torch.float64)
        return cls(dense(torch.cat([high, low, ones], dim=1)), sums, wide=True)


def int8_digits(words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """16-bit integer words as 256 high + low + 128: high = w >> 8 (floor) and low =
    (w & 255) - 128, both int8. (Balanced digits would need high = 128 for the largest.)"""
    return (words >> 8).to(torch.int8), ((words & 255) - 128).to(torch.int8)


Pair = int | tuple[int, int]  # a size for rows and columns alike, or (rows, columns)


def _pair(value: Pair) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def int8_conv(
    x: torch.Tensor,
    digits: WeightDigits,
    kernel: Pair,
    stride: int,
    padding: Pair,
    epilogue: Callable[[torch.Tensor], torch.Tensor] = lambda acc: acc,
) -> torch.Tensor:
    """Sums of products (no bias) of a full convolution of integer words x (float64), exact,
    each chunk of (pixels, outputs) passed through `epilogue` while it is small (the caller's
    bias, rounding and steps: on a whole layer's float64 tensor they cost more than the
    products).

    16-bit words: with x = a + 128 and w = b + 128 (a = 256 xh + xl, b = 256 wh + wl),
    sum x w = sum a b + 128 (sum a + 128 n + sum (w - 128)), n the products per output: sum a b
    is four int8 products, sum a two more (the matrix's column of ones).
    """
    kernel, padding = _pair(kernel), _pair(padding)
    if kernel == (1, 1) and stride > 1:  # only every stride-th pixel is read: drop the rest
        x, stride = x[:, :, ::stride, ::stride], 1
    terms = x.shape[1] * kernel[0] * kernel[1]
    if terms >= MAX_TERMS:
        raise InputError(f"a convolution of {terms} products per output overflows int32 sums")
    # channels last (a conv's own output already is: no copy), 16-bit, then padded
    words = x.permute(0, 2, 3, 1).to(torch.int16).contiguous()
    padded = F.pad(words, (0, 0, padding[1], padding[1], padding[0], padding[0]))
    planes = int8_digits(padded) if digits.wide else (padded.to(torch.int8),)
    images, rows, cols = len(x), *_out_size(x, kernel, stride, padding)
    outputs = digits.offset_sums.shape[0] if digits.wide else digits.matrix.shape[1]
    out = torch.empty(images * rows * cols, outputs, dtype=torch.float64, device=x.device)
    chunk = max(1, ROWS_PER_PRODUCT // (rows * cols))
    for start in range(0, images, chunk):
        rows_of = [_unfold(plane[start : start + chunk], kernel, stride, terms) for plane in planes]
        part = out[start * rows * cols : (start + len(rows_of[0]) // (rows * cols)) * rows * cols]
        _combine([torch._int_mm(r, digits.matrix) for r in rows_of], digits, terms, part)
        finished = epilogue(part)
        if finished is not part:  # an epilogue that did not work in place
            part.copy_(finished)
    return out.reshape(images, rows, cols, outputs).permute(0, 3, 1, 2)


def _out_size(
    x: torch.Tensor, kernel: tuple[int, int], stride: int, padding: tuple[int, int]
) -> tuple[int, int]:
    rows, cols = x.shape[2:]
    return (
        (rows + 2 * padding[0] - kernel[0]) // stride + 1,
        (cols + 2 * padding[1] - kernel[1]) // stride + 1,
    )


def _unfold(plane: torch.Tensor, kernel: tuple[int, int], stride: int, terms: int) -> torch.Tensor:
    """(images * R * C, Kh * Kw * N) from a channels-last plane: each output pixel's window in
    (kernel row, kernel col, channel) order, so the copy moves runs of Kw * N bytes."""
    windows = plane.unfold(1, kernel[0], stride).unfold(2, kernel[1], stride)  # (B,R,C,N,Kh,Kw)
    return dense(windows.permute(0, 1, 2, 4, 5, 3).reshape(-1, terms))


def dense(matrix: torch.Tensor) -> torch.Tensor:
    """The matrix with row-major strides. `_int_mm` reads strides as they are, and torch calls
    a matrix of one column contiguous whatever its column stride (a 1 x 1 kernel's unfolded
    view has (1, 20) for (40, 1)): such a view gives wrong products."""
    standard = torch.empty(matrix.shape, dtype=matrix.dtype, device=matrix.device)
    return matrix if matrix.stride() == standard.stride() else standard.copy_(matrix)


def _combine(
    products: list[torch.Tensor], digits: WeightDigits, terms: int, out: torch.Tensor
) -> None:
    """The (pixels, M) float64 sums of products, written into `out`, from the int32 digit
    products (16-bit words: sum a b + 128 (sum a + sum b + 128 n), `int8_conv`)."""
    if not digits.wide:
        out.copy_(products[0])
        return
    m = digits.offset_sums.shape[0]
    high, low = products
    middle = high[:, m : 2 * m] + low[:, :m]  # int32: below 2 MAX_TERMS 2**14 = 2**31
    # low digits and their window sums: below 2 MAX_TERMS 2**14 too
    low_part = low[:, m : 2 * m] + 128 * low[:, 2 * m :]
    torch.mul(high[:, :m], 65536.0, out=out)
    out.add_(middle, alpha=256.0).add_(low_part).add_(high[:, 2 * m :], alpha=32768.0)
    out.add_(digits.offset_sums[None, :] + 128.0 * terms, alpha=128.0)


def exact_conv(
    x: torch.Tensor, w: torch.Tensor, stride: int, padding: Pair, groups: int
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
