"""Fuzzing the command line: random arguments to search, estimate and resume end in a result,
a usage message, or one line on stderr; never a traceback.

No real search starts: every `search` gets `--set run.trials=0` (invalid) first, and no fuzzed
argument can override it; `resume` only gets folders that hold no usable run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from coexplore.cli import app

runner = CliRunner()
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ARCHS = {
    "chain.json": {"space": "chain", "layers": [{"kernel": 3, "filters": 24, "stride": 1}] * 3},
    "nb201.json": {
        "space": "nb201",
        "arch": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|"
        "+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
    },
    "raw.json": {
        "input_shape": [1, 8, 8],
        "layers": [
            {
                "kind": "conv",
                "in_channels": 1,
                "out_channels": 8,
                "out_rows": 8,
                "out_cols": 8,
                "kernel": 3,
            }
        ],
    },
    "wrong.json": {"space": "chain", "layers": [{"kernel": 2}]},
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    for name, data in ARCHS.items():
        (folder / name).write_text(json.dumps(data))
    (folder / "binary.json").write_bytes(b"\xff\xfe\x00{")
    (folder / "config.toml").write_text("[run]\nseed = 3\n[spec]\nfps = 900.0\n")
    (folder / "bad.toml").write_text("[run\n")
    (folder / "devices.toml").write_text("[nope]\nx = 1\n")
    (folder / "garbage-run").mkdir()
    (folder / "garbage-run" / "run.db").write_bytes(b"not a database" * 100)
    (folder / "empty-run").mkdir()
    (folder / "dir-run").mkdir()
    (folder / "dir-run" / "run.db").mkdir()
    return folder


def paths(folder: Path) -> st.SearchStrategy[str]:
    names = [
        *ARCHS,
        "binary.json",
        "config.toml",
        "bad.toml",
        "devices.toml",
        "missing.json",
        "garbage-run",
        "empty-run",
        "dir-run",
        "",
        ".",
    ]
    return st.sampled_from([str(folder / name) for name in names]) | st.text(max_size=8)


numbers = st.sampled_from(["0", "-1", "1", "1e9", "nan", "inf", "-inf", "2.5", "1e400", "x", ""])
words = numbers | st.text(max_size=10)
POOLS = ["2xXC7Z020", "1xXC7A50T+1xXC7Z020", "0xXC7Z020", "3xNOPE", "x", "2x", "+", "-1xXC7Z020"]
SET_KEYS = [
    "train.epochs",
    "train.lr",
    "spec.fps",
    "reward.alpha",
    "executor.kind",
    "executor.workers",
    "data.dataset",
    "run.seed",
    "bogus.key",
    "nodot",
    "space.depth",
]


def option(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.tuples(st.just(name), values).map(list)


def search_args(folder: Path) -> st.SearchStrategy[list[str]]:
    sets = st.builds("{}={}".format, st.sampled_from(SET_KEYS) | st.text(max_size=6), words)
    flags = st.sampled_from([["--progress"], ["--no-progress"], ["--bogus"], ["extra"]])
    return st.lists(
        option("--preset", st.sampled_from(["quick", "default", "nope"]) | words)
        | option("--config", paths(folder))
        | option("--out", paths(folder))
        | option("--set", sets)
        | flags,
        max_size=5,
    ).map(lambda groups: [a for g in groups for a in g if "trials" not in a])


def estimate_args(folder: Path) -> st.SearchStrategy[list[str]]:
    options = (
        option("--pool", st.sampled_from(POOLS) | words)
        | option("--spec-fps", numbers)
        | option("--latency-ms", numbers)
        | option("--max-fpgas", numbers)
        | option("--link-gbps", numbers)
        | option("--precision", st.sampled_from(["fp32", "x"]))
        | option(
            "--input-shape", st.sampled_from(["3x32x32", "1x8x8", "0x8x8", "3x32", "²x2x2"]) | words
        )
        | option("--classes", numbers)
        | option("--devices-file", paths(folder))
        | st.sampled_from([["--layers"], ["--json"], ["--nope"]])
    )
    return st.tuples(paths(folder), st.lists(options, max_size=4)).map(
        lambda t: [t[0], *(a for g in t[1] for a in g)]
    )


def resume_args(folder: Path) -> st.SearchStrategy[list[str]]:
    runs = st.sampled_from(["garbage-run", "empty-run", "dir-run", "missing", "chain.json"])
    flags = st.lists(st.sampled_from(["--progress", "--no-progress", "--nope", "x"]), max_size=2)
    return st.tuples(runs.map(lambda name: str(folder / name)), flags).map(lambda t: [t[0], *t[1]])


def assert_clean(result: Result, allowed: tuple[int, ...] = (2,)) -> None:
    """A result, a click usage message, or one `error:` line; no traceback, no crash."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in allowed, (result.exit_code, result.output)
    if result.exit_code == 2 and "Usage:" not in result.stderr:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def invoke(args: list[str]) -> Result:
    return runner.invoke(app, args, catch_exceptions=True)


@FUZZ
@given(data=st.data())
def test_search_with_any_arguments_fails_cleanly(files: Path, data: st.DataObject):
    args = data.draw(search_args(files))
    assert_clean(invoke(["search", "--set", "run.trials=0", *args]))


@FUZZ
@given(data=st.data())
def test_estimate_with_any_arguments_answers_or_fails_cleanly(files: Path, data: st.DataObject):
    assert_clean(invoke(["estimate", *data.draw(estimate_args(files))]), allowed=(0, 1, 2))


@FUZZ
@given(data=st.data())
def test_resume_of_anything_but_a_run_fails_cleanly(files: Path, data: st.DataObject):
    assert_clean(invoke(["resume", *data.draw(resume_args(files))]))


@pytest.mark.parametrize(
    "command", ["search", "estimate", "resume", "devices", "compare", "report", "export"]
)
def test_every_command_has_help(command: str):
    result = invoke([command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
