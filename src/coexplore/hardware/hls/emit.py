"""The C++ text of an exported design: the design header, each FPGA's top function and layer
table, and the host program of the C simulation (the engine itself is cpp/cx_engine.h)."""

from __future__ import annotations

from dataclasses import astuple, fields

from coexplore.hardware.engine.functions import table_bits
from coexplore.hardware.engine.net import INPUT, ZEROS
from coexplore.hardware.engine.quantise import QuantNet
from coexplore.hardware.hls.plan import FpgaPlan, LayerRow, StepRow

WORD_TYPES = {8: "int8_t", 16: "int16_t"}


def word_type(bits: int) -> str:
    return WORD_TYPES[bits]


def design_header(qnet: QuantNet, plans: tuple[FpgaPlan, ...], title: str) -> str:
    """cx_design.h: the word type and the table limits every FPGA shares."""
    max_inputs = max(len(op.inputs) for op in qnet.net.ops)
    max_steps = max(max(len(op.pre), len(op.post)) for op in qnet.net.ops)
    channels, rows, cols = qnet.net.input_shape
    return "\n".join(
        [
            f"/* {_comment(title)}: the design's word type and table limits (generated). */",
            "#ifndef CX_DESIGN_H",
            "#define CX_DESIGN_H",
            "#include <stdint.h>",
            "",
            f"#define CX_WORD_BITS {qnet.bits}",
            f"typedef {word_type(qnet.bits)} cx_word_t;",
            f"#define CX_MAX_INPUTS {max_inputs} /* inputs of one layer (add, concat) */",
            f"#define CX_MAX_STEPS {max(max_steps, 1)} /* steps before or after one layer */",
            f"#define CX_NUM_FPGAS {len(plans)}",
            f"#define CX_NUM_LAYERS {len(qnet.net.ops)}",
            f"#define CX_INPUT_WORDS {channels * rows * cols} /* {channels} x {rows} x {cols} */",
            f"#define CX_INPUT_FRAC {qnet.input_frac} /* fraction bits of the input words */",
            f"#define CX_TABLE_BITS {table_bits(qnet.bits)} /* a function table: 2**bits words */",
            "",
            "#endif /* CX_DESIGN_H */",
            "",
        ]
    )


def fpga_header(plan: FpgaPlan, device: str, clock_mhz: float) -> str:
    i, t = plan.index, plan.tiling
    config = {
        "TM": t.tm, "TN": t.tn, "TR": t.tr, "TC": t.tc, "KMAX": plan.kmax,
        "KMAX_C": plan.kmax_cols, "SMAX": plan.smax, "IN_R": plan.in_rows,
        "IN_C": plan.in_cols, "IP": t.ip, "WP": t.wp, "OP": t.op, "GATE_WORDS": plan.gate_words,
        "NORM_PIXELS": plan.norm_pixels,
    }  # fmt: skip
    members = "\n".join(f"    static const int {k} = {v};" for k, v in config.items())
    buffer = (
        f"input buffer enlarged for {plan.enlarged_by}"
        if plan.enlarged_by
        else "input buffer (Tr-1)*SMAX+KMAX by (Tc-1)*SMAX+KMAX_C"
    )
    p = f"CX_FPGA{i}"
    return "\n".join(
        [
            f"/* FPGA {i}: {device} at {clock_mhz:g} MHz, layers {plan.stage.first_layer}.."
            f"{plan.stage.last_layer} (generated). */",
            f"#ifndef {p}_H",
            f"#define {p}_H",
            '#include "cx_engine.h"',
            "",
            "/* tiling <Tm, Tn, Tr, Tc>, buffers for kernels <= KMAX x KMAX_C and strides <= SMAX",
            f" * ({buffer}), memory-port words per cycle <Ip, Wp, Op>, the largest",
            " * scale's gate values and norm's pixels */",
            f"struct CxFpga{i} {{",
            members,
            "};",
            "",
            f"#define {p}_NUM_LAYERS {len(plan.rows)}",
            f"#define {p}_ARENA_WORDS {plan.arena_words} /* feature memory */",
            f"#define {p}_PARAM_WORDS {max(plan.params.size, 1)} /* parameter memory */",
            f"#define {p}_CLOCK_MHZ {clock_mhz:g}",
            "",
            f"extern const cx::Layer cx_fpga{i}_layers[{p}_NUM_LAYERS];",
            "#ifndef __SYNTHESIS__",
            f"extern uint64_t cx_fpga{i}_trips[{p}_NUM_LAYERS]; /* compute-loop trips per layer */",
            "#endif",
            "",
            f"void cx_fpga{i}_top(const cx_word_t *fmap_in, cx_word_t *fmap_out, "
            "const cx_word_t *params);",
            "",
            f"#endif /* {p}_H */",
            "",
        ]
    )


def fpga_source(plan: FpgaPlan, qnet: QuantNet) -> str:
    """The FPGA's layer table and top function (three AXI masters: input, output, weights)."""
    i, p = plan.index, f"CX_FPGA{plan.index}"
    return "\n".join(
        [
            f"/* FPGA {i}: its layer table and top function (generated). The feature memory is",
            " * read through gmem_in (Ip words a cycle) and written through gmem_out (Op words);",
            " * fmap_in and fmap_out are the same memory. Parameters come through gmem_w (Wp). */",
            f'#include "fpga{i}.h"',
            "",
            f"const cx::Layer cx_fpga{i}_layers[{p}_NUM_LAYERS] = {{",
            *_table(plan, qnet),
            "};",
            "",
            "#ifndef __SYNTHESIS__",
            f"uint64_t cx_fpga{i}_trips[{p}_NUM_LAYERS];",
            f"#define CX_TRIPS cx_fpga{i}_trips",
            "#else",
            "#define CX_TRIPS 0",
            "#endif",
            "",
            f"void cx_fpga{i}_top(const cx_word_t *fmap_in, cx_word_t *fmap_out, "
            "const cx_word_t *params) {",
            *_interfaces(plan, qnet.bits),
            "#pragma HLS INTERFACE mode = s_axilite port = return",
            f"    cx::Engine<CxFpga{i}>::run(fmap_in, fmap_out, params, cx_fpga{i}_layers, "
            f"{p}_NUM_LAYERS, CX_TRIPS);",
            "}",
            "",
        ]
    )


def _table(plan: FpgaPlan, qnet: QuantNet) -> list[str]:
    """One initialiser per layer, after a comment naming it and its modelled compute cycles."""
    lines = []
    for offset, row in enumerate(plan.rows):
        index = plan.stage.first_layer + offset
        op, kind = qnet.net.ops[index], plan.engine_kinds[offset]
        shapes = f"{_shape(op.in_shape)} -> {_shape(op.out_shape)}"
        lines.append(
            f"    /* {index}: {_comment(op.name or kind)} ({kind} {shapes}), "
            f"modelled compute cycles {plan.modelled[offset]} */"
        )
        lines.append(f"    {_row(row)},")
    return lines


def _interfaces(plan: FpgaPlan, bits: int) -> list[str]:
    """The three AXI masters; depths as literals (not every tool expands macros in pragmas)."""
    t, arena = plan.tiling, plan.arena_words
    ports = [
        ("fmap_in", "gmem_in", arena, t.ip),
        ("fmap_out", "gmem_out", arena, t.op),
        ("params", "gmem_w", max(plan.params.size, 1), t.wp),
    ]
    return [
        f"#pragma HLS INTERFACE mode = m_axi port = {name} bundle = {bundle} offset = slave "
        f"depth = {depth} max_widen_bitwidth = {_widen(words, bits)}"
        for name, bundle, depth, words in ports
    ]


def _widen(words: int, bits: int) -> int:
    """The AXI width for `words` words a cycle: a power of two from 8 to 1024 bits."""
    width = 8
    while width < min(words * bits, 1024):
        width *= 2
    return width


def _row(row: LayerRow) -> str:
    values = []
    for f in fields(row):
        value = getattr(row, f.name)
        if f.name in ("pre", "post"):  # C++ zero-fills the steps past these
            values.append("{" + ", ".join(_step(s) for s in value) + "}")
        elif isinstance(value, tuple):
            values.append("{" + ", ".join(str(int(v)) for v in value) + "}")
        else:
            values.append(str(int(value)))
    return "{" + ", ".join(values) + "}"


def _step(step: StepRow) -> str:
    return "{" + ", ".join(str(int(v)) for v in astuple(step)) + "}"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _comment(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text).replace("*/", "* /")


def host_source(plans: tuple[FpgaPlan, ...], outputs: list[tuple[int, int]]) -> str:
    """host.cpp: reads input images (words), runs the FPGAs in pipeline order on each, passes
    every tensor an FPGA receives (skips included) from the FPGA that made it, and writes each
    FPGA's output tensors and per-layer compute-loop trips."""
    decls, runs = [], []
    for plan in plans:
        i = plan.index
        decls += [
            f"    std::vector<cx_word_t> arena{i}(CX_FPGA{i}_ARENA_WORDS, 0), "
            f"params{i}(CX_FPGA{i}_PARAM_WORDS, 0);",
            f'    if (!read_words("fpga{i}_params.bin", params{i}.data(), '
            f"{plan.params.size})) return 1;",
        ]
        runs.append(f"        /* FPGA {i} */")
        for tensor, source in plan.receives:
            words = next(r.words for r in plan.regions if r.tensor == tensor)
            src = "image.data()" if tensor == INPUT else (
                f"arena{source}.data() + {plans[source].offset(tensor)}")  # fmt: skip
            runs.append(
                f"        std::memcpy(arena{i}.data() + {plan.offset(tensor)}, {src}, "
                f"{words} * sizeof(cx_word_t));"
            )
        runs += [
            f"        cx_fpga{i}_top(arena{i}.data(), arena{i}.data(), params{i}.data());",
            f"        std::fwrite(cx_fpga{i}_trips, sizeof(uint64_t), CX_FPGA{i}_NUM_LAYERS, "
            "trips);",
        ]
    for fpga, tensor in outputs:
        words = next(r.words for r in plans[fpga].regions if r.tensor == tensor)
        runs.append(
            f"        std::fwrite(arena{fpga}.data() + {plans[fpga].offset(tensor)}, "
            f"sizeof(cx_word_t), {words}, out); /* FPGA {fpga}: layer {tensor} */"
        )
    includes = [f'#include "fpga{p.index}.h"' for p in plans]
    zero = [
        f"    /* FPGA {p.index} reads an all-zero tensor at {p.offset(ZEROS)}: never written */"
        for p in plans
        if any(r.tensor == ZEROS for r in p.regions)
    ]
    return _HOST.format(
        includes="\n".join(includes), decls="\n".join(decls + zero), runs="\n".join(runs)
    )


_HOST = """\
/* Host of the C simulation (generated): the FPGAs of the pipeline in order over input images.
 *
 *   ./csim INPUTS.bin OUTPUTS.bin TRIPS.bin IMAGES      (run in this folder: it reads the
 *                                                          fpgaN_params.bin files here)
 *
 * INPUTS.bin: IMAGES x CX_INPUT_WORDS input words (cx_word_t, little-endian), format
 * CX_INPUT_FRAC. Per image, OUTPUTS.bin gets every FPGA's output tensors (those a later FPGA
 * reads, skip tensors included, and the network's output) in engine.json's "outputs" order,
 * and TRIPS.bin the compute-loop trips of every layer (uint64_t, FPGA by FPGA).
 * A tensor crossing several FPGAs is relayed by the ones between on the board; here it is
 * copied from the FPGA that made it, which gives the same words. */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

{includes}

static bool read_words(const char *path, cx_word_t *data, size_t count) {{
    FILE *file = std::fopen(path, "rb");
    if (!file) {{
        std::fprintf(stderr, "csim: cannot open %s\\n", path);
        return false;
    }}
    const size_t got = std::fread(data, sizeof(cx_word_t), count, file);
    std::fclose(file);
    if (got != count) {{
        std::fprintf(stderr, "csim: %s holds %zu words, expected %zu\\n", path, got, count);
        return false;
    }}
    return true;
}}

int main(int argc, char **argv) {{
    if (argc != 5) {{
        std::fprintf(stderr, "usage: %s INPUTS.bin OUTPUTS.bin TRIPS.bin IMAGES\\n", argv[0]);
        return 2;
    }}
    const long images = std::atol(argv[4]);
{decls}
    FILE *in = std::fopen(argv[1], "rb");
    FILE *out = std::fopen(argv[2], "wb");
    FILE *trips = std::fopen(argv[3], "wb");
    if (!in || !out || !trips) {{
        std::fprintf(stderr, "csim: cannot open the input or output files\\n");
        return 1;
    }}
    std::vector<cx_word_t> image(CX_INPUT_WORDS);
    for (long n = 0; n < images; ++n) {{
        if (std::fread(image.data(), sizeof(cx_word_t), CX_INPUT_WORDS, in) != CX_INPUT_WORDS) {{
            std::fprintf(stderr, "csim: %s ends before image %ld\\n", argv[1], n);
            return 1;
        }}
{runs}
    }}
    std::fclose(in);
    std::fclose(out);
    std::fclose(trips);
    return 0;
}}
"""
