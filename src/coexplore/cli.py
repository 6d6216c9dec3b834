"""The `coexplore` command line. Every command has --help.

A user error (`coexplore.errors.CoexploreError`: bad input, a bad config, a damaged run folder)
or an operating-system error (a missing file, a full disk) is one line, `error: ...`, exit
status 2; `--debug` adds its traceback. So is a usage error (an unknown option, a missing
argument, a value of the wrong type), which click would print as a boxed block. Anything else
is a bug and shows its traceback. `ExitStatus` lists what each exit status means.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from coexplore.commands.options import devices_override, set_overrides
from coexplore.config import HardwareConfig
from coexplore.errors import CoexploreError, SearchStopped, UserError, os_error_text
from coexplore.hardware.devices import Precision, Spec, load_catalog, parse_pool

# Click's base error class: typer re-exports only BadParameter, and since typer 0.2x the click
# it runs is its own copy (typer._click), so the class is found through BadParameter.
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class _OneLineUsageErrors(TyperGroup):
    """Click's usage errors as one line, `error: ...`, exit status 2 (click's status for them)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            code = super().main(*args, **{**kwargs, "standalone_mode": False})
        except _CLICK_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # its message is the help text
                exc.show()  # type: ignore[attr-defined]
            else:
                print(f"error: {_usage_line(exc)}", file=sys.stderr)
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            print("error: aborted", file=sys.stderr)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _usage_line(exc: Any) -> str:
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    return _one_line(f"{where}{exc.format_message()}{hint}")


app = typer.Typer(
    cls=_OneLineUsageErrors,
    help="Co-explore neural architectures and the multi-FPGA accelerators that run them.",
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
F = TypeVar("F", bound=Callable[..., Any])


class ExitStatus(IntEnum):
    """What a `coexplore` command's exit status means (README, "Exit status")."""

    OK = 0
    PRUNED = 1  # estimate: no design meets the spec (every --pool pruned)
    USER_ERROR = 2  # bad input, a usage error, an OS error: one line `error: ...`
    STOPPED = 3  # search, resume: stopped early, its children kept failing alike (run kept)
    NOTHING_FOUND = 4  # search, resume: ended, but no trained child meets the spec


_debug = {"on": False}  # set by --debug, before any command runs


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="show the traceback of user errors too")
    ] = False,
) -> None:
    _debug["on"] = debug


def friendly(func: F) -> F:
    """Turn a user error into a one-line message on stderr and exit status 2 (3: a search that
    stopped because its children kept failing). Other exceptions are bugs: they propagate."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:  # `coexplore devices | head`: the reader left; nothing to say
            _quiet_stdout()
            raise typer.Exit(1) from None
        except (CoexploreError, OSError) as exc:
            if _debug["on"]:
                traceback.print_exc()
            text = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
            print(f"error: {_one_line(text)}", file=sys.stderr)
            stopped = isinstance(exc, SearchStopped)
            raise typer.Exit(ExitStatus.STOPPED if stopped else ExitStatus.USER_ERROR) from None

    return wrapper  # type: ignore[return-value]


def _one_line(text: str) -> str:
    """The message in one line whatever it quotes (a path or value holding a newline)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second broken pipe."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


DevicesOption = Annotated[
    Path | None,
    typer.Option(
        "--devices",
        "--devices-file",
        help="your device catalog (TOML, docs/device-catalogs.md), merged with the built-in one",
    ),
]


WideOption = Annotated[
    bool, typer.Option("--wide", "--layers", help="the wide view: every column (and each layer)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for machines")]


@app.command()
@friendly
def devices(
    devices_file: DevicesOption = None, wide: WideOption = False, as_json: JsonOption = False
) -> None:
    """List the FPGA device catalog (resources, memory port, clock, power)."""
    from coexplore.devices_view import devices_json, devices_table

    catalog = load_catalog(devices_file)
    if as_json:
        print(json.dumps(devices_json(catalog, devices_file), indent=2))
    else:
        from coexplore.tables import wide_console

        (wide_console(console) if wide else console).print(
            devices_table(catalog, devices_file, wide)
        )


def _shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and int(p) > 0 for p in parts):
        raise UserError(f"--input-shape: expected CxHxW like 3x32x32, got {text!r}")
    return (int(parts[0]), int(parts[1]), int(parts[2]))


@app.command()
@friendly
def estimate(
    network: Annotated[
        Path,
        typer.Argument(help="architecture JSON (docs/architecture-files.md) or ONNX model (.onnx)"),
    ],
    pool: Annotated[
        list[str] | None,
        typer.Option(
            help="devices, e.g. '2xXC7Z020+1xXC7A50T' (default: the searches'); repeat to "
            "compare pools"
        ),
    ] = None,
    spec_fps: Annotated[float, typer.Option(help="required throughput (frames/s)")] = 0.0,
    latency_ms: Annotated[float | None, typer.Option(help="optional latency bound (ms)")] = None,
    max_fpgas: Annotated[int | None, typer.Option(help="optional limit on FPGAs used")] = None,
    link_gbps: Annotated[float, typer.Option(help="inter-FPGA link bandwidth (Gb/s)")] = 10.0,
    precision: Annotated[Precision, typer.Option(help="arithmetic")] = Precision.FIXED16,
    clock_mhz: Annotated[
        float, typer.Option(help="run every device at this clock (0: catalog clocks)")
    ] = 0.0,
    fill: Annotated[
        bool, typer.Option(help="count pipeline fill/drain (--no-fill: steady state)")
    ] = True,
    input_shape: Annotated[str | None, typer.Option(help="override input CxHxW")] = None,
    classes: Annotated[int | None, typer.Option(min=1, help="override number of classes")] = None,
    devices_file: DevicesOption = None,
    wide: WideOption = False,
    as_json: JsonOption = False,
    hls: Annotated[
        Path | None,
        typer.Option(help="also write the best design's engines as HLS C++ here (ONNX model)"),
    ] = None,
    hls_images: Annotated[
        Path | None,
        typer.Option(help="with --hls: images (.npy, N x C x H x W) to calibrate the formats on"),
    ] = None,
) -> None:
    """Fast exploration of one network: its best multi-FPGA design, or why it is pruned.

    With several --pool options, the pools are ranked side by side (FPS, latency, GOPS/W,
    power, resources, pipeline efficiency). With --hls, the best design's engines are written
    as HLS C++ with the ONNX model's weights (docs/hls.md).
    """
    from coexplore.fast.optimal import OptimalExplorer
    from coexplore.render import compare_json, estimate_json, print_comparison, print_estimate

    if clock_mhz < 0:
        raise UserError(f"--clock-mhz must be >= 0, got {clock_mhz:g}")
    catalog = load_catalog(devices_file)
    pools = [
        parse_pool(text, link_gbps, catalog, fill=fill, clock_mhz=clock_mhz)
        for text in pool or [HardwareConfig.pool]
    ]
    spec = Spec(fps=spec_fps, latency_ms=latency_ms, max_fpgas=max_fpgas)
    engine = None
    if hls is not None:  # the network with its weights: its workload is the reader's
        from coexplore.commands.estimate_hls import engine_of

        engine = engine_of(network, _shape(input_shape), len(pools), precision)
    workload = engine.workload() if engine else _load_network(network, _shape(input_shape), classes)
    results = [OptimalExplorer(p, spec, precision).explore(workload) for p in pools]
    if len(pools) > 1:
        results = [
            _best_anyway(r, p, spec, precision, workload)
            for r, p in zip(results, pools, strict=True)
        ]
        if as_json:
            print(json.dumps(compare_json(workload, pools, results), indent=2))
        else:
            print_comparison(console, workload, pools, results, wide)
    elif as_json:
        print(json.dumps(estimate_json(workload, results[0], pools[0]), indent=2))
    else:
        print_estimate(console, workload, results[0], pools[0], wide, spec)
    if hls is not None and engine is not None:
        from coexplore.commands.estimate_hls import write_estimate_hls

        lines = write_estimate_hls(
            hls, network, engine, results[0], pools[0], precision, hls_images
        )
        print("\n".join(lines), file=sys.stderr if as_json else sys.stdout)
    if all(r.pruned for r in results):
        raise typer.Exit(
            ExitStatus.PRUNED
        )  # scripts can tell "no design meets the spec" from success


def _best_anyway(result: Any, pool: Any, spec: Spec, precision: Precision, workload: Any) -> Any:
    """A pool pruned on its FPS bound alone still gets its best design, to rank it by."""
    from dataclasses import replace

    from coexplore.fast.optimal import OptimalExplorer

    if result.evaluation is not None or not result.pruned:
        return result
    free = OptimalExplorer(pool, Spec(max_fpgas=spec.max_fpgas), precision).explore(workload)
    return replace(free, reason=result.reason) if free.evaluation is not None else result


def _load_network(path: Path, shape: tuple[int, int, int] | None, classes: int | None) -> Any:
    """The workload of an architecture JSON or an ONNX model (chosen by the file suffix)."""
    if path.suffix.lower() != ".onnx":
        from coexplore.archfile import load_arch_file

        return load_arch_file(path, shape, classes).workload
    from coexplore.onnx_import import load_onnx_workload

    if classes is not None:
        raise UserError("--classes: an ONNX model has its classes in its graph")
    return load_onnx_workload(path, shape)


@app.command()
@friendly
def search(
    preset: Annotated[
        str | None, typer.Option(help="a shipped preset (default: 'default')")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="a TOML config file")] = None,
    out: Annotated[
        str | None,
        typer.Option(help="run folder, new or empty (default: runs/<preset>-<time>)"),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override: section.key=value")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show the progress bar")] = True,
    devices_file: DevicesOption = None,
) -> None:
    """Run a co-exploration search: controller -> fast exploration -> training -> reward."""
    import time

    from coexplore.config import load_config

    overrides = {**set_overrides(set_ or []), **devices_override(devices_file)}
    cfg = load_config(preset, config, overrides)
    name = preset or (config.stem if config else "default")
    if out is not None and not out.strip():
        raise UserError("--out: empty path; give the run's folder (a new or empty one)")
    run_dir = (
        Path(out) if out is not None else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    from coexplore import wiring as run

    with _resume_hint(run_dir):
        result = run.start(
            cfg, run_dir, progress=progress, announce=lambda: _starting(cfg, run_dir)
        )
    _print_summary(result)


def _starting(cfg: Any, run_dir: Path) -> None:
    """What runs where, once the checks passed, before the run folder is made."""
    print(
        _folded(
            f"search: {cfg.run.trials} children ({cfg.run.strategy}, seed {cfg.run.seed}) on "
            f"{cfg.data.dataset}, pool {cfg.hardware.pool}, spec {cfg.spec.fps:g} FPS, "
            f"{cfg.executor.kind} executor -> {run_dir}"
        ),
        flush=True,
    )


def _folded(line: str) -> str:
    """`line` folded at the terminal's width (80 columns in a pipe), later lines indented."""
    import shutil
    import textwrap

    width = max(40, shutil.get_terminal_size().columns)
    return textwrap.fill(line, width, subsequent_indent="  ", break_long_words=False,
                         break_on_hyphens=False)  # fmt: skip


@contextmanager
def _resume_hint(run_dir: Path) -> Iterator[None]:
    """A search that stops with its run kept (its children kept failing, Ctrl-C, SIGTERM) says
    in its one line how to go on."""
    from coexplore.storage import DB_NAME

    go_on = f"the run is kept: mend the cause, then `coexplore resume {run_dir}`"
    try:
        yield
    except SearchStopped as stop:
        raise SearchStopped(f"{stop}; {go_on}") from None
    except (KeyboardInterrupt, SystemExit) as stop:
        if not (run_dir / DB_NAME).is_file():
            raise
        signal = "interrupted" if isinstance(stop, KeyboardInterrupt) else "terminated"
        print(
            f"error: {signal}; the run is kept: `coexplore resume {run_dir}` goes on",
            file=sys.stderr,
        )
        code = 130 if isinstance(stop, KeyboardInterrupt) else stop.code
        raise typer.Exit(code if isinstance(code, int) else 1) from None


@app.command()
@friendly
def resume(
    run_dir: Annotated[Path, typer.Argument(help="the run folder of an interrupted search")],
    progress: Annotated[bool, typer.Option(help="show the progress bar")] = True,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="mend the run's config first: data.root, hardware.devices_file, "
            "train.device, train.threads or executor.* (section.key=value)",
        ),
    ] = None,
) -> None:
    """Continue a search after a crash, kill or early stop: no finished trial lost or run twice."""
    from coexplore import wiring as run

    if not (run_dir / run.DB_NAME).exists():
        raise UserError(f"{run_dir}: no run database ({run.DB_NAME}) here")
    print(f"resume: {run_dir}", flush=True)
    with _resume_hint(run_dir):
        result = run.resume(run_dir, progress=progress, overrides=set_overrides(set_ or []))
    if result.finished_before:
        print(f"resume: {run_dir} had finished: nothing to train (missing outputs written again)")
    _print_summary(result)


def _print_summary(result: Any) -> None:
    """The summary of a run, then its folder; exit status 4 when it found nothing (no trained
    child meets the spec), saying why on stderr."""
    from coexplore.render import summary_table

    console.print(summary_table(result.summary))
    files = "run.db, config.toml, picks.json, pareto.png, trials.csv"
    print(_folded(f"run folder: {result.run_dir} ({files})"), flush=True)
    if why := result.summary.get("nothing_found"):
        print(f"error: {_one_line(why)}", file=sys.stderr)
        raise typer.Exit(ExitStatus.NOTHING_FOUND)


def _register_commands() -> None:
    from coexplore.commands import compare, csim, export, nb201, report

    for module in (compare, report, export, nb201, csim):
        module.register(app, friendly, UserError)


_register_commands()
