/* The engine's word arithmetic, exactly docs/fixed-point.md ("Words and formats").
 *
 * A word of B bits with `frac` fraction bits stands for q * 2**-frac. Every wide value is an
 * int64_t below 2**61 (coexplore's quantiser refuses formats that could pass it), so the
 * right shifts are capped at 62 and requant's left shift at B, which only keeps the shifts
 * defined and changes no result. A right shift of a negative int64_t is arithmetic (floor) on
 * every compiler HLS targets (and defined so since C++20); left shifts are written as
 * multiplications so that negative values stay defined before C++20.
 * Standard integer types only: bit-exact by construction, no vendor header needed. */
#ifndef CX_FIXED_H
#define CX_FIXED_H

#include <stdint.h>

namespace cx {

typedef int64_t wide_t;

static const int MAX_SHIFT = 62;
static const int RECIPROCAL_BITS = 24; /* an average pool multiplies by 2**24 / n */

/* min(max(v, -2**(B-1)), 2**(B-1) - 1) */
template <int B>
inline wide_t sat(wide_t v) {
    const wide_t hi = (wide_t(1) << (B - 1)) - 1;
    const wide_t lo = -(wide_t(1) << (B - 1));
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Round half up by s bits: (v + 2**(s-1)) >> s for s > 0; a left shift for s <= 0. */
inline wide_t rnd(wide_t v, int s) {
    if (s > 0) {
        const int shift = s < MAX_SHIFT ? s : MAX_SHIFT;
        return (v + (wide_t(1) << (shift - 1))) >> shift;
    }
    return v * (wide_t(1) << -s);
}

/* A wide value of f fraction bits as a word of g: rounded and saturated; a finer target
 * saturates first, then shifts by at most B bits. */
template <int B>
inline wide_t requant(wide_t v, int f, int g) {
    if (f >= g) return sat<B>(rnd(v, f - g));
    const int shift = g - f < B ? g - f : B;
    return sat<B>(sat<B>(v) * (wide_t(1) << shift));
}

/* A word moved to a finer format, exactly (g >= f wherever it is used). */
inline wide_t align(wide_t v, int f, int g) { return v * (wide_t(1) << (g - f)); }

/* round half up of 2**24 / n: (2**25 + n) / (2 n) */
inline wide_t reciprocal(wide_t n) { return ((wide_t(1) << (RECIPROCAL_BITS + 1)) + n) / (2 * n); }

/* floor(a / b) for b > 0 (C++ division truncates toward zero) */
inline wide_t floor_div(wide_t a, wide_t b) {
    const wide_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* v * 2**(g - f) / 6 rounded half up, saturated: floor((v + 3 * 2**s) / (6 * 2**s)) for
 * s = f - g >= 0, else floor((v * 2**-s + 3) / 6) */
template <int B>
inline wide_t div6(wide_t v, int f, int g) {
    const int s = f - g;
    if (s >= 0) return sat<B>(floor_div(v + 3 * (wide_t(1) << s), 6 * (wide_t(1) << s)));
    return sat<B>(floor_div(v * (wide_t(1) << -s) + 3, 6));
}

/* relu6(x + 3) / 6 and x * relu6(x + 3) / 6 of a word of f fraction bits, as a word of g:
 * x in f' = max(f, 0) fraction bits (exact), the clamp, the product exact, one rounding. */
template <int B>
inline wide_t hard_sigmoid(wide_t x, int f, int g) {
    const int fp = f > 0 ? f : 0;
    const wide_t xs = x * (wide_t(1) << (fp - f)), one = wide_t(1) << fp;
    const wide_t t = xs + 3 * one < 0 ? 0 : (xs + 3 * one > 6 * one ? 6 * one : xs + 3 * one);
    return div6<B>(t, fp, g);
}

template <int B>
inline wide_t hard_swish(wide_t x, int f, int g) {
    const int fp = f > 0 ? f : 0;
    const wide_t xs = x * (wide_t(1) << (fp - f)), one = wide_t(1) << fp;
    const wide_t t = xs + 3 * one < 0 ? 0 : (xs + 3 * one > 6 * one ? 6 * one : xs + 3 * one);
    return div6<B>(xs * t, 2 * fp, g);
}

/* The entry of a word in a table of 2**T words: its top T bits, from the lowest. */
template <int B, int T>
inline int table_index(wide_t x) { return int((x >> (B - T)) + (wide_t(1) << (T - 1))); }

/* Bits of v > 0 (1 for 1). */
inline int bit_length(wide_t v) {
    int n = 0;
    for (int i = 0; i < 63; ++i) {
        if (v >> i) n = i + 1;
    }
    return n;
}

/* floor(sqrt(n)) for 0 <= n < 2**62: digit by digit, exact. */
inline wide_t isqrt(wide_t n) {
    wide_t root = 0;
    for (int i = 31; i >= 0; --i) {
        const wide_t bit = wide_t(1) << (2 * i);
        if (n >= root + bit) {
            n -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
    }
    return root;
}

/* LayerNorm's reciprocal square root of v >= 1: R * 2**-(31 + e) ~ 1 / sqrt(v), with
 * e = ceil((bitlen(v) - 30) / 2), m = v / 4**e (2**28 <= m < 2**30), R = isqrt(2**62 / m). */
static const int RSQRT_BITS = 31, NORMAL_BITS = 30;
inline wide_t rsqrt(wide_t v, int &e) {
    const int a = bit_length(v) - NORMAL_BITS;
    e = a >= 0 ? (a + 1) / 2 : -((-a) / 2);
    const wide_t m = e >= 0 ? v >> (2 * e) : v * (wide_t(1) << (-2 * e));
    return isqrt((wide_t(1) << (2 * RSQRT_BITS)) / m);
}

}  // namespace cx

#endif /* CX_FIXED_H */
