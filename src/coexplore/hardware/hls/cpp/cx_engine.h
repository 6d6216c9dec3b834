/* The loop-tiled engine of Zhang et al. (FPGA'15), one per FPGA, in Vitis-HLS-style C++.
 *
 * An FPGA's top function runs its layers in order from a layer table (cx::Layer): every layer
 * reads its input tensors from the FPGA's feature memory and writes its output there, through
 * on-chip buffers sized by the design's tiling <Tm, Tn, Tr, Tc> (the config struct C):
 *
 *   ib[2][Tn][IN_R][IN_C]      input tile with its halo, per input lane   (double-buffered)
 *   wb[2][Tm][Tn][Kmax Kmax_c] weights of a Tm x Tn tile                  (double-buffered)
 *   ob[2][Tm][Tr][Tc]          wide sums of an output tile, per output lane (double-buffered)
 *
 * The compute loop is the template's: Kh x Kw x Tr' x Tc' trips per tile, pipelined at II=1,
 * with the Tm x Tn multiply-accumulates of a trip unrolled. Tr' = min(Tr, R) and Tc' =
 * min(Tc, C) are fixed per layer: a last, partial tile runs the same trips and its positions
 * outside the map are masked at write-back, which is what coexplore's cycle model charges
 * (hardware/accelerator.py, `compute_cycles`). Depthwise conv and pooling use the diagonal of
 * the array: min(Tm, Tn) channels per tile. An add, an act (a function of each word) and a
 * scale (a map times one gate value per channel) stream Tm x Tn words per trip, a norm
 * (LayerNorm over the channels of each pixel) two passes of them; concat and upsample only
 * move words (no compute trips).
 *
 * The arithmetic is docs/fixed-point.md bit for bit (cx_fixed.h). In C simulation (when
 * __SYNTHESIS__ is not defined) every trip of a compute loop is counted (CX_TRIP), per layer.
 */
#ifndef CX_ENGINE_H
#define CX_ENGINE_H

#include <stdint.h>

#include "cx_design.h"
#include "cx_fixed.h"

namespace cx {

typedef cx_word_t word_t;
static const int B = CX_WORD_BITS;
static const wide_t WORD_MIN = -(wide_t(1) << (B - 1));

enum Kind {
    CONV = 0, DWCONV = 1, FC = 2, MAXPOOL = 3, AVGPOOL = 4, ADD = 5, CONCAT = 6, UPSAMPLE = 7,
    ACT = 8, SCALE = 9, NORM = 10
};
enum StepKind { STEP_NONE = 0, STEP_RELU = 1, STEP_AFFINE = 2, STEP_HSIGMOID = 3 };
/* What an act computes (sigmoid and tanh: their table; SiLU and GELU: x times their gate's
 * table; hard-swish: exactly), or what a scale applies to its gate values (none, a table). */
enum Function { FN_NONE = 0, FN_SIGMOID = 1, FN_TANH = 2, FN_SILU = 3, FN_GELU = 4, FN_HSWISH = 5 };
static const int TABLE_BITS = CX_TABLE_BITS, TABLE_WORDS = 1 << CX_TABLE_BITS;

/* An element-wise step: max(x, 0), requant(x * scale[c] + align(shift[c]), ...), or
 * relu6(x + 3) / 6 into out_frac. */
struct Step {
    uint8_t kind;
    int8_t in_frac, scale_frac, shift_frac, out_frac;
    uint32_t scale_off, shift_off; /* word offsets in the parameter memory */
};

/* One layer of the table. Offsets are in words; fracs are formats (fraction bits). */
struct Layer {
    uint8_t kind;
    uint32_t n, m;                         /* input channels (fc: features), output channels */
    uint32_t in_rows, in_cols, rows, cols; /* input and output map */
    uint32_t k, s, p;                      /* kernel, stride, zero padding on every side */
    uint8_t include_pad;                   /* average pool: divide by K*K */
    uint32_t chan_div;                     /* fc: words per input channel (its steps' channel) */
    uint8_t n_inputs;
    uint32_t in_off[CX_MAX_INPUTS];
    uint32_t in_ch[CX_MAX_INPUTS]; /* concat: channels of each input */
    int8_t in_frac[CX_MAX_INPUTS]; /* formats as read */
    uint32_t out_off;
    uint32_t w_off, b_off;
    uint8_t has_bias;
    int8_t core_in_frac, weight_frac, bias_frac, core_frac;
    uint8_t n_pre, n_post;
    Step pre[CX_MAX_STEPS], post[CX_MAX_STEPS];
    uint32_t kw, pw;   /* the window's columns (k: its rows) and zero columns on either side */
    uint8_t function;  /* act, scale: cx::Function */
    uint32_t t_off;    /* act, scale: the table's word offset in the parameter memory */
    int8_t t_frac;     /* act, scale: the table words' format; norm: the normalised value's */
    int64_t eps;       /* norm: eps in the units of its variance sums */
};

#ifndef __SYNTHESIS__
inline uint64_t &trip_counter() {
    static uint64_t trips = 0;
    return trips;
}
#define CX_TRIP() (++cx::trip_counter())
#else
#define CX_TRIP() ((void)0)
#endif

inline int min_int(int a, int b) { return a < b ? a : b; }
inline int cdiv(int a, int b) { return (a + b - 1) / b; }

/* The steps in order on one value of channel c (a word in, a word out). */
inline wide_t apply_steps(wide_t v, int count, const Step *steps, int c, const word_t *par) {
    for (int i = 0; i < CX_MAX_STEPS; ++i) {
#pragma HLS UNROLL
        const Step &st = steps[i];
        if (i >= count) {
            /* past the layer's steps: nothing */
        } else if (st.kind == STEP_RELU) {
            v = v > 0 ? v : 0;
        } else if (st.kind == STEP_AFFINE) {
            const int wide = st.in_frac + st.scale_frac;
            const wide_t t = v * wide_t(par[st.scale_off + c]) +
                             align(par[st.shift_off + c], st.shift_frac, wide);
            v = requant<B>(t, wide, st.out_frac);
        } else if (st.kind == STEP_HSIGMOID) {
            v = hard_sigmoid<B>(v, st.in_frac, st.out_frac);
        }
    }
    return v;
}

template <class C>
struct Engine {
    static const int TM = C::TM, TN = C::TN, TR = C::TR, TC = C::TC;
    static const int IN_R = C::IN_R, IN_C = C::IN_C, KK = C::KMAX * C::KMAX_C;
    static const int IP = C::IP, WP = C::WP, OP = C::OP;
    static const int P = TM < TN ? TM : TN; /* lanes of depthwise conv and pooling */

    typedef word_t InBuf[TN][IN_R][IN_C];
    typedef word_t WBuf[TM][TN][KK];
    typedef wide_t OutBuf[TM][TR][TC];

    /* Input tile: `lanes` channels from ch0, the rows and columns the tile's Tr' x Tc'
     * outputs read (halo included), the pre steps applied; positions outside the map (and
     * lanes past the last channel) get `fill`. Ip words per cycle. */
    static void load_input(InBuf ib, const Layer &L, const word_t *fin, const word_t *par,
                           int ch0, int lanes, int r0, int c0, wide_t fill) {
        const int s = L.s;
        const int rows = (min_int(TR, L.rows) - 1) * s + L.k, cols = (min_int(TC, L.cols) - 1) * s + L.kw;
        const int y0 = r0 * s - int(L.p), x0 = c0 * s - int(L.pw);
        const int total = lanes * rows * cols;
    load_in:
        for (int e0 = 0; e0 < total; e0 += IP) {
#pragma HLS PIPELINE II = 1
            for (int u = 0; u < IP; ++u) {
#pragma HLS UNROLL
                const int e = e0 + u;
                if (e < total) {
                    const int lane = e / (rows * cols), rc = e % (rows * cols);
                    const int y = y0 + rc / cols, x = x0 + rc % cols, ch = ch0 + lane;
                    wide_t v = fill;
                    if (ch < int(L.n) && y >= 0 && y < int(L.in_rows) && x >= 0 && x < int(L.in_cols)) {
                        v = fin[L.in_off[0] + (uint32_t(ch) * L.in_rows + y) * L.in_cols + x];
                        v = apply_steps(v, L.n_pre, L.pre, ch / int(L.chan_div), par);
                    }
                    ib[lane][rc / cols][rc % cols] = word_t(v);
                }
            }
        }
    }

    /* Weights of the Tm x Tn tile (m0, n0); lanes past M or N get 0. Wp words per cycle. */
    static void load_weights(WBuf wb, const Layer &L, const word_t *par, int m0, int n0) {
        const int kk = L.k * L.kw, total = TM * TN * kk;
    load_w:
        for (int e0 = 0; e0 < total; e0 += WP) {
#pragma HLS PIPELINE II = 1
            for (int u = 0; u < WP; ++u) {
#pragma HLS UNROLL
                const int e = e0 + u;
                if (e < total) {
                    const int tm = e / (TN * kk), tn = (e / kk) % TN, ij = e % kk;
                    const int m = m0 + tm, n = n0 + tn;
                    const bool inside = m < int(L.m) && n < int(L.n);
                    wb[tm][tn][ij] = inside ? par[L.w_off + (uint32_t(m) * L.n + n) * kk + ij] : word_t(0);
                }
            }
        }
    }

    /* Depthwise weights of P channels from m0 on the diagonal of the array. */
    static void load_dw_weights(WBuf wb, const Layer &L, const word_t *par, int m0) {
        const int kk = L.k * L.kw, total = P * kk;
    load_dw:
        for (int e0 = 0; e0 < total; e0 += WP) {
#pragma HLS PIPELINE II = 1
            for (int u = 0; u < WP; ++u) {
#pragma HLS UNROLL
                const int e = e0 + u;
                if (e < total) {
                    const int lane = e / kk, ij = e % kk, m = m0 + lane;
                    wb[lane][lane][ij] = m < int(L.m) ? par[L.w_off + uint32_t(m) * kk + ij] : word_t(0);
                }
            }
        }
    }

    /* The template's compute loop, one trip a cycle: Kh x Kw x Tr' x Tc' trips a tile. A conv or
     * fc does Tm x Tn multiply-accumulates a trip (`first`: its first input tile, so the sums
     * start from 0); depthwise conv and pooling use the diagonal, one channel a lane. */
    static void compute(OutBuf ob, const InBuf ib, const WBuf wb, const Layer &L, bool first) {
        const int kh = L.k, kw = L.kw, s = L.s, trp = min_int(TR, L.rows), tcp = min_int(TC, L.cols);
        const bool full = L.kind == CONV || L.kind == FC;
    comp_i:
        for (int i = 0; i < kh; ++i) {
        comp_j:
            for (int j = 0; j < kw; ++j) {
            comp_r:
                for (int tr = 0; tr < trp; ++tr) {
                comp_c:
                    for (int tc = 0; tc < tcp; ++tc) {
#pragma HLS PIPELINE II = 1
                        CX_TRIP();
                        const bool init = first && i == 0 && j == 0;
                        if (full) {
                            mac_array(ob, ib, wb, i * kw + j, s * tr + i, s * tc + j, tr, tc, init);
                        } else {
                            diagonal(ob, ib, wb, L.kind, i * kw + j, s * tr + i, s * tc + j, tr, tc, init);
                        }
                    }
                }
            }
        }
    }

    /* One trip of a conv or fc: Tm x Tn products added to Tm sums. */
    static void mac_array(OutBuf ob, const InBuf ib, const WBuf wb, int ij, int y, int x, int tr,
                          int tc, bool init) {
        for (int tm = 0; tm < TM; ++tm) {
#pragma HLS UNROLL
            wide_t sum = init ? wide_t(0) : ob[tm][tr][tc];
            for (int tn = 0; tn < TN; ++tn) {
#pragma HLS UNROLL
                sum += wide_t(wb[tm][tn][ij]) * ib[tn][y][x];
            }
            ob[tm][tr][tc] = sum;
        }
    }

    /* One trip of a depthwise conv or a pool: each of P lanes its own channel. */
    static void diagonal(OutBuf ob, const InBuf ib, const WBuf wb, int kind, int ij, int y, int x,
                         int tr, int tc, bool init) {
        for (int lane = 0; lane < P; ++lane) {
#pragma HLS UNROLL
            const wide_t in = ib[lane][y][x], old = ob[lane][tr][tc];
            wide_t v;
            if (kind == MAXPOOL) {
                v = init || in > old ? in : old;
            } else if (kind == AVGPOOL) {
                v = (init ? wide_t(0) : old) + in;
            } else {
                v = (init ? wide_t(0) : old) + wide_t(wb[lane][lane][ij]) * in;
            }
            ob[lane][tr][tc] = v;
        }
    }

    /* One output word from its wide value: the bias or the divisor, requant, post steps. */
    static word_t finish(const Layer &L, const word_t *par, wide_t acc, int m, int r, int c) {
        wide_t v;
        if (L.kind == MAXPOOL) {
            v = acc; /* a word already, in the input's format */
        } else if (L.kind == AVGPOOL) {
            const int n = L.include_pad ? int(L.k * L.kw) : inside(r, L.s, L.p, L.k, L.in_rows) *
                                                                 inside(c, L.s, L.pw, L.kw, L.in_cols);
            v = requant<B>(acc * reciprocal(n), L.core_in_frac + RECIPROCAL_BITS, L.core_frac);
        } else {
            const int wide = L.core_in_frac + L.weight_frac;
            if (L.has_bias) acc += align(par[L.b_off + m], L.bias_frac, wide);
            v = requant<B>(acc, wide, L.core_frac);
        }
        return word_t(apply_steps(v, L.n_post, L.post, m, par));
    }

    /* Window positions inside the input along one axis, for output position `o`. */
    static int inside(int o, int s, int p, int k, int size) {
        const int lo = o * s - p, hi = lo + k;
        return min_int(hi, size) - (lo > 0 ? lo : 0);
    }

    /* Write back `lanes` channels of an output tile from m0; positions past the map (a last,
     * partial tile) and lanes past M are masked. Op words per cycle. */
    static void store(OutBuf ob, const Layer &L, word_t *fout, const word_t *par, int lanes,
                      int m0, int r0, int c0) {
        const int trp = min_int(TR, L.rows), tcp = min_int(TC, L.cols);
        const int total = lanes * trp * tcp;
    store_out:
        for (int e0 = 0; e0 < total; e0 += OP) {
#pragma HLS PIPELINE II = 1
            for (int u = 0; u < OP; ++u) {
#pragma HLS UNROLL
                const int e = e0 + u;
                const int lane = e / (trp * tcp), tr = (e / tcp) % trp, tc = e % tcp;
                const int m = m0 + lane, r = r0 + tr, c = c0 + tc;
                if (e < total && m < int(L.m) && r < int(L.rows) && c < int(L.cols)) {
                    fout[L.out_off + (uint32_t(m) * L.rows + r) * L.cols + c] =
                        finish(L, par, ob[lane][tr][tc], m, r, c);
                }
            }
        }
    }

    /* One Tm-output tile of a conv or fc: all Tn-input tiles, loading the next while
     * computing this one (ping-pong over ib/wb). */
    static void conv_tile(OutBuf ob, InBuf ib[2], WBuf wb[2], const Layer &L, const word_t *fin,
                          const word_t *par, int m0, int r0, int c0) {
        const int tiles = cdiv(L.n, TN);
        load_input(ib[0], L, fin, par, 0, TN, r0, c0, 0);
        load_weights(wb[0], L, par, m0, 0);
    conv_n:
        for (int t = 0; t < tiles; ++t) {
            const bool more = t + 1 < tiles;
            if (t % 2 == 0) {
                if (more) {
                    load_input(ib[1], L, fin, par, (t + 1) * TN, TN, r0, c0, 0);
                    load_weights(wb[1], L, par, m0, (t + 1) * TN);
                }
                compute(ob, ib[0], wb[0], L, t == 0);
            } else {
                if (more) {
                    load_input(ib[0], L, fin, par, (t + 1) * TN, TN, r0, c0, 0);
                    load_weights(wb[0], L, par, m0, (t + 1) * TN);
                }
                compute(ob, ib[1], wb[1], L, t == 0);
            }
        }
    }

    /* A conv or fc: output tiles in the template's order (rows, columns, Tm outputs), each
     * written back while the next one computes (ping-pong over ob). */
    static void run_conv(const Layer &L, const word_t *fin, word_t *fout, const word_t *par,
                         InBuf ib[2], WBuf wb[2], OutBuf ob[2]) {
        int prev_m = 0, prev_r = 0, prev_c = 0, side = 0;
        bool have_prev = false;
    conv_rows:
        for (int r0 = 0; r0 < int(L.rows); r0 += TR) {
        conv_cols:
            for (int c0 = 0; c0 < int(L.cols); c0 += TC) {
            conv_m:
                for (int m0 = 0; m0 < int(L.m); m0 += TM) {
                    if (side == 0) {
                        conv_tile(ob[0], ib, wb, L, fin, par, m0, r0, c0);
                        if (have_prev) store(ob[1], L, fout, par, TM, prev_m, prev_r, prev_c);
                    } else {
                        conv_tile(ob[1], ib, wb, L, fin, par, m0, r0, c0);
                        if (have_prev) store(ob[0], L, fout, par, TM, prev_m, prev_r, prev_c);
                    }
                    prev_m = m0, prev_r = r0, prev_c = c0, have_prev = true, side ^= 1;
                }
            }
        }
        if (have_prev) store(ob[side ^ 1], L, fout, par, TM, prev_m, prev_r, prev_c);
    }

    /* Depthwise conv and pooling: tiles of P channels; the next tile's input loads while this
     * one computes, and this one's output is written back while the next computes. */
    static void run_window(const Layer &L, const word_t *fin, word_t *fout, const word_t *par,
                           InBuf ib[2], WBuf wb[2], OutBuf ob[2]) {
        const int tiles_m = cdiv(L.m, P), tiles_c = cdiv(L.cols, TC);
        const int tiles = cdiv(L.rows, TR) * tiles_c * tiles_m;
        const wide_t fill = L.kind == MAXPOOL ? WORD_MIN : wide_t(0); /* padding takes no part */
        load_window(ib[0], wb[0], L, fin, par, 0, tiles_c, tiles_m, fill);
    win_tiles:
        for (int t = 0; t < tiles; ++t) {
            const int side = t % 2;
            if (t + 1 < tiles) load_window(ib[1 - side], wb[1 - side], L, fin, par, t + 1, tiles_c, tiles_m, fill);
            compute(ob[side], ib[side], wb[side], L, true);
            if (t > 0) store_window(ob[1 - side], L, fout, par, t - 1, tiles_c, tiles_m);
        }
        store_window(ob[(tiles - 1) % 2], L, fout, par, tiles - 1, tiles_c, tiles_m);
    }

    static void load_window(InBuf ib, WBuf wb, const Layer &L, const word_t *fin, const word_t *par,
                            int t, int tiles_c, int tiles_m, wide_t fill) {
        const int m0 = (t % tiles_m) * P, c0 = (t / tiles_m % tiles_c) * TC, r0 = t / tiles_m / tiles_c * TR;
        load_input(ib, L, fin, par, m0, P, r0, c0, fill);
        if (L.kind == DWCONV) load_dw_weights(wb, L, par, m0);
    }

    static void store_window(OutBuf ob, const Layer &L, word_t *fout, const word_t *par, int t,
                             int tiles_c, int tiles_m) {
        const int m0 = (t % tiles_m) * P, c0 = (t / tiles_m % tiles_c) * TC, r0 = t / tiles_m / tiles_c * TR;
        store(ob, L, fout, par, P, m0, r0, c0);
    }

    /* Element-wise sum of the inputs, aligned to the finest format: Tm x Tn words a trip. */
    static void run_add(const Layer &L, const word_t *fin, word_t *fout, const word_t *par) {
        const int words = L.m * L.rows * L.cols, plane = L.rows * L.cols;
        int wide = L.in_frac[0];
        for (int j = 1; j < L.n_inputs; ++j) wide = L.in_frac[j] > wide ? L.in_frac[j] : wide;
    add:
        for (int e0 = 0; e0 < words; e0 += TM * TN) {
#pragma HLS PIPELINE II = 1
            CX_TRIP();
            for (int u = 0; u < TM * TN; ++u) {
#pragma HLS UNROLL
                const int e = e0 + u;
                if (e < words) {
                    wide_t acc = 0;
                    for (int j = 0; j < CX_MAX_INPUTS; ++j) {
#pragma HLS UNROLL
                        if (j < L.n_inputs) acc += align(fin[L.in_off[j] + e], L.in_frac[j], wide);
                    }
                    const wide_t v = requant<B>(acc, wide, L.core_frac);
                    fout[L.out_off + e] = word_t(apply_steps(v, L.n_post, L.post, e / plane, par));
                }
            }
        }
    }

    /* Channels of the inputs in order, each requantised to the coarsest format: a move
     * through the ports (the cycle model counts no compute for it). */
    static void run_concat(const Layer &L, const word_t *fin, word_t *fout, const word_t *par) {
        const int plane = L.rows * L.cols;
        uint32_t at = L.out_off;
        int channel = 0;
    concat_inputs:
        for (int j = 0; j < L.n_inputs; ++j) {
            const int words = L.in_ch[j] * plane;
        concat_words:
            for (int e = 0; e < words; ++e) {
#pragma HLS PIPELINE II = 1
                const wide_t v = requant<B>(fin[L.in_off[j] + e], L.in_frac[j], L.core_frac);
                fout[at + e] = word_t(apply_steps(v, L.n_post, L.post, channel + e / plane, par));
            }
            at += words;
            channel += L.in_ch[j];
        }
    }

    /* Nearest-neighbour upsampling by the integer factor rows / in_rows: a move. */
    static void run_upsample(const Layer &L, const word_t *fin, word_t *fout, const word_t *par) {
        const int f = L.rows / L.in_rows, words = L.m * L.rows * L.cols;
    upsample:
        for (int e = 0; e < words; ++e) {
#pragma HLS PIPELINE II = 1
            const int c = e / (L.rows * L.cols), r = e / L.cols % L.rows, col = e % L.cols;
            wide_t v = fin[L.in_off[0] + (uint32_t(c) * L.in_rows + r / f) * L.in_cols + col / f];
            v = apply_steps(v, L.n_pre, L.pre, c, par);
            fout[L.out_off + e] = word_t(apply_steps(v, L.n_post, L.post, c, par));
        }
    }

    /* A layer's function table of 2**T words from the parameter memory, Wp words a cycle (a
     * memory transfer before the layer's stream, as weights are: no compute trips). */
    static void load_table(word_t *table, const Layer &L, const word_t *par) {
    load_table:
        for (int e0 = 0; e0 < TABLE_WORDS; e0 += WP) {
#pragma HLS PIPELINE II = 1
            for (int u = 0; u < WP; ++u) {
#pragma HLS UNROLL
                if (e0 + u < TABLE_WORDS) table[e0 + u] = par[L.t_off + e0 + u];
            }
        }
    }

    static wide_t entry(const word_t *table, wide_t x) { return table[table_index<B, TABLE_BITS>(x)]; }

    /* f(x) of one word of the act's input format, as a word of its core format. */
    static wide_t act(const Layer &L, const word_t *table, wide_t x) {
        if (L.function == FN_HSWISH) return hard_swish<B>(x, L.core_in_frac, L.core_frac);
        if (L.function == FN_SILU || L.function == FN_GELU) {
            return requant<B>(x * entry(table, x), L.core_in_frac + L.t_frac, L.core_frac);
        }
        return requant<B>(entry(table, x), L.t_frac, L.core_frac);
    }

    /* An element-wise function: Tm x Tn words a trip through a function unit per lane. */
    static void run_act(const Layer &L, const word_t *fin, word_t *fout, const word_t *par,
                        word_t *table) {
        if (L.function != FN_HSWISH) load_table(table, L, par);
        const int words = L.m * L.rows * L.cols, plane = L.rows * L.cols;
    act_words:
        for (int e0 = 0; e0 < words; e0 += TM * TN) {
#pragma HLS PIPELINE II = 1
            CX_TRIP();
            for (int u = 0; u < TM * TN; ++u) {
#pragma HLS UNROLL
                const int e = e0 + u;
                if (e < words) {
                    const int c = e / plane;
                    const wide_t x = apply_steps(fin[L.in_off[0] + e], L.n_pre, L.pre, c, par);
                    fout[L.out_off + e] = word_t(apply_steps(act(L, table, x), L.n_post, L.post, c, par));
                }
            }
        }
    }

    /* Squeeze-and-excitation's product: the M gate values (through the gate's table, if any)
     * read first, Ip a cycle; then the map times its channel's gate, Tm x Tn words a trip. */
    static void run_scale(const Layer &L, const word_t *fin, word_t *fout, const word_t *par,
                          word_t *table, wide_t *gate) {
        if (L.function != FN_NONE) load_table(table, L, par);
        const int gate_frac = L.function != FN_NONE ? int(L.t_frac) : int(L.in_frac[1]);
    load_gate:
        for (int c0 = 0; c0 < int(L.m); c0 += IP) {
#pragma HLS PIPELINE II = 1
            for (int u = 0; u < IP; ++u) {
#pragma HLS UNROLL
                const int c = c0 + u;
                if (c < int(L.m)) {
                    const wide_t g = fin[L.in_off[1] + c];
                    gate[c] = L.function != FN_NONE ? entry(table, g) : g;
                }
            }
        }
        const int words = L.m * L.rows * L.cols, plane = L.rows * L.cols;
    scale_words:
        for (int e0 = 0; e0 < words; e0 += TM * TN) {
#pragma HLS PIPELINE II = 1
            CX_TRIP();
            for (int u = 0; u < TM * TN; ++u) {
#pragma HLS UNROLL
                const int e = e0 + u;
                if (e < words) {
                    const int c = e / plane;
                    const wide_t x = fin[L.in_off[0] + e];
                    const wide_t v = requant<B>(x * gate[c], L.in_frac[0] + gate_frac, L.core_frac);
                    fout[L.out_off + e] = word_t(apply_steps(v, L.n_post, L.post, c, par));
                }
            }
        }
    }

    /* LayerNorm over the channels of each pixel, in two passes of Tm x Tn words a trip: the
     * sums of x and x^2 per pixel, then (the reciprocal square root once per pixel, on its
     * first channel) z = (M x - S1) R rounded to t_frac, times the gain, plus the shift. */
    static void run_norm(const Layer &L, const word_t *fin, word_t *fout, const word_t *par,
                         wide_t *s1, wide_t *s2, wide_t *rs, int *ex) {
        const int words = L.m * L.rows * L.cols, plane = L.rows * L.cols;
        const wide_t count = L.m;
    norm_sums:
        for (int e0 = 0; e0 < words; e0 += TM * TN) {
#pragma HLS PIPELINE II = 1
            CX_TRIP();
            for (int u = 0; u < TM * TN; ++u) {
#pragma HLS UNROLL
                const int e = e0 + u;
                if (e < words) {
                    const int c = e / plane, p = e % plane;
                    const wide_t x = apply_steps(fin[L.in_off[0] + e], L.n_pre, L.pre, c, par);
                    s1[p] = (c == 0 ? 0 : s1[p]) + x;
                    s2[p] = (c == 0 ? 0 : s2[p]) + x * x;
                }
            }
        }
        const int wide = L.t_frac + L.weight_frac;
    norm_words:
        for (int e0 = 0; e0 < words; e0 += TM * TN) {
#pragma HLS PIPELINE II = 1
            CX_TRIP();
            for (int u = 0; u < TM * TN; ++u) {
#pragma HLS UNROLL
                const int e = e0 + u;
                if (e < words) {
                    const int c = e / plane, p = e % plane;
                    if (c == 0) rs[p] = rsqrt(count * s2[p] - s1[p] * s1[p] + L.eps, ex[p]);
                    const wide_t x = apply_steps(fin[L.in_off[0] + e], L.n_pre, L.pre, c, par);
                    const wide_t z = rnd((count * x - s1[p]) * rs[p], RSQRT_BITS + ex[p] - L.t_frac);
                    wide_t t = z * par[L.w_off + c];
                    if (L.has_bias) t += align(par[L.b_off + c], L.bias_frac, wide);
                    const wide_t v = requant<B>(t, wide, L.core_frac);
                    fout[L.out_off + e] = word_t(apply_steps(v, L.n_post, L.post, c, par));
                }
            }
        }
    }

    /* The FPGA's layers in order; trips[l]: compute-loop trips of layer l (C simulation). */
    static void run(const word_t *fin, word_t *fout, const word_t *par, const Layer *layers,
                    int count, uint64_t *trips) {
        static word_t ib[2][TN][IN_R][IN_C];
        static word_t wb[2][TM][TN][KK];
        static wide_t ob[2][TM][TR][TC];
        static word_t table[TABLE_WORDS];                   /* act, scale: a function table */
        static wide_t gate[C::GATE_WORDS];                  /* scale: the gate values */
        static wide_t s1[C::NORM_PIXELS], s2[C::NORM_PIXELS], rs[C::NORM_PIXELS]; /* norm */
        static int ex[C::NORM_PIXELS];
/* ping-pong halves apart (dim 1); one bank per lane: Tn input banks, Tm x Tn weight banks,
 * Tm output banks, so a trip reads and writes every lane at once */
#pragma HLS ARRAY_PARTITION variable = ib complete dim = 1
#pragma HLS ARRAY_PARTITION variable = ib complete dim = 2
#pragma HLS ARRAY_PARTITION variable = wb complete dim = 1
#pragma HLS ARRAY_PARTITION variable = wb complete dim = 2
#pragma HLS ARRAY_PARTITION variable = wb complete dim = 3
#pragma HLS ARRAY_PARTITION variable = ob complete dim = 1
#pragma HLS ARRAY_PARTITION variable = ob complete dim = 2
    layers_loop:
        for (int l = 0; l < count; ++l) {
            const Layer &L = layers[l];
#ifndef __SYNTHESIS__
            const uint64_t before = trip_counter();
#endif
            switch (L.kind) {
                case CONV:
                case FC:
                    run_conv(L, fin, fout, par, ib, wb, ob);
                    break;
                case DWCONV:
                case MAXPOOL:
                case AVGPOOL:
                    run_window(L, fin, fout, par, ib, wb, ob);
                    break;
                case ADD:
                    run_add(L, fin, fout, par);
                    break;
                case CONCAT:
                    run_concat(L, fin, fout, par);
                    break;
                case ACT:
                    run_act(L, fin, fout, par, table);
                    break;
                case SCALE:
                    run_scale(L, fin, fout, par, table, gate);
                    break;
                case NORM:
                    run_norm(L, fin, fout, par, s1, s2, rs, ex);
                    break;
                default:
                    run_upsample(L, fin, fout, par);
                    break;
            }
#ifndef __SYNTHESIS__
            if (trips) trips[l] = trip_counter() - before;
#else
            (void)trips;
#endif
        }
    }
};

}  // namespace cx

#endif /* CX_ENGINE_H */
