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

}  // namespace cx

#endif /* CX_FIXED_H */
