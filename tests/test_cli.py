"""Every bad input to the CLI gives one line on stderr and exit status 2, never a traceback."""

import json

import pytest
from typer.testing import CliRunner

from coexplore.cli import app

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    (tmp_path / "bad.toml").write_text("[run\n")
    (tmp_path / "unknown.toml").write_text("[run]\ntrails = 3\n")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "wrong.json").write_text(json.dumps({"space": "chain", "layers": [{"kernel": 2}]}))
    (tmp_path / "good.json").write_text(
        json.dumps({"space": "chain", "layers": [{"kernel": 3, "filters": 24, "stride": 1}]})
    )
    return tmp_path


BAD = [
    (["search", "--preset", "nope"], "unknown preset 'nope'"),
    (["search", "--set", "train.epochs=ten"], "train.epochs: expected an integer"),
    (["search", "--set", "train.epoch=3"], "unknown key 'train.epoch'; allowed: epochs"),
    (["search", "--set", "reward.metric=x"], "reward.metric: 'x' is not one of fps"),
    (["search", "--set", "bogus.key=1"], "unknown section [bogus]"),
    (["search", "--set", "spec.fps=-5"], "spec.fps: must be >= 0"),
    (["search", "--set", "data.dataset=imagenet"], "data.dataset: 'imagenet' is not one of"),
    (["search", "--set", "nodot"], "--set: expected section.key=value"),
    (["search", "--config", "{d}/missing.toml"], "no such config file"),
    (["search", "--config", "{d}/bad.toml"], "not valid TOML"),
    (["search", "--config", "{d}/unknown.toml"], "unknown key 'run.trails'"),
    (["search", "--preset", "quick", "--config", "{d}/bad.toml"], "not both"),
    (["estimate", "{d}/missing.json"], "no such file"),
    (["estimate", "{d}/bad.json"], "not valid JSON"),
    (["estimate", "{d}/wrong.json"], "layers[0]"),
    (["estimate", "{d}/good.json", "--pool", "3xFOO"], "unknown device 'FOO'"),
    (["estimate", "{d}/good.json", "--input-shape", "3x32"], "--input-shape"),
    # "²".isdigit() is True but int("²") fails: found by the CLI fuzz test
    (["estimate", "{d}/good.json", "--input-shape", "\u00b2x2x2"], "--input-shape"),
    (["estimate", "{d}/good.json", "--spec-fps", "-1"], "fps"),
    (["estimate", "{d}/good.json", "--clock-mhz", "-5"], "--clock-mhz must be >= 0"),
    (["resume", "{d}/nowhere"], "no run database"),
    (["estimate", "{d}"], "{d}: cannot read (is a folder, not a file)"),
    (["devices", "--devices", "{d}"], "cannot read the device catalog (is a folder, not a file)"),
    (["estimate", "{d}/good.json", "--pool", "XC7Z020++XC7A50T"], "an empty entry"),
    (["estimate", "{d}/good.json", "--pool", "100000xXC7Z020"], "too large"),
    (["estimate", "{d}/good.json", "--classes", "0"], "Invalid value for '--classes'"),
    # usage errors (click's): one line too, not a boxed block
    (["estimate", "{d}/good.json", "--frobnicate"], "No such option: --frobnicate"),
    (["estimate"], "Missing argument"),
    (["estimate", "{d}/good.json", "--spec-fps", "fast"], "Invalid value for '--spec-fps'"),
    (["estimate", "{d}/good.json", "--precision", "int4"], "Invalid value for '--precision'"),
    (["nosuchcommand"], "No such command 'nosuchcommand'"),
    ([], "Missing command"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_gives_one_line_error(files, args, message):
    result = runner.invoke(app, [a.format(d=files) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message.format(d=files) in lines[0]
    assert "Traceback" not in result.output + result.stderr


def test_a_usage_error_names_the_command_and_its_help():
    result = runner.invoke(app, ["estimate", "x.json", "--frobnicate"])
    assert result.stderr.startswith("error: ") and "estimate --help" in result.stderr
    assert "─" not in result.stderr and "╭" not in result.stderr  # no box
    assert runner.invoke(app, ["estimate", "--help"]).exit_code == 0


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (PermissionError(13, "Permission denied", "runs/x"), "error: runs/x: permission denied"),
        (FileNotFoundError(2, "No such file", "a.json"), "error: a.json: no such file or folder"),
        (IsADirectoryError(21, "Is a directory", "docs"), "error: docs: is a folder, not a file"),
        (OSError(28, "No space left on device"), "error: no space left on the disk"),
        (OSError(5, "Input/output error", "run.db"), "error: run.db: input/output error"),
    ],
)
def test_an_os_error_is_a_sentence_not_errno_text(files, monkeypatch, error, message):
    import coexplore.cli

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(coexplore.cli, "_load_network", failing)
    result = runner.invoke(app, ["estimate", str(files / "good.json")])
    assert result.exit_code == 2 and result.stderr.strip() == message
    assert "Errno" not in result.stderr


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`coexplore devices --json | head -c 1`: the reader leaves; no error about a broken pipe.
    (300 devices: more JSON than a pipe buffers, so the writer meets the closed pipe.)"""
    import os
    import subprocess
    import sys
    from pathlib import Path

    device = 'family="Zynq-7000"\ndsp=1\nbram18k=1\nluts=1\nffs=1\nport_bits=64\n'
    device += "clock_mhz=100.0\nstatic_w=0.1\nboard_w=1.0\n"
    catalog = tmp_path / "many.toml"
    catalog.write_text("".join(f"[D{n}]\n{device}" for n in range(300)))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    code = (
        f"from coexplore.cli import app; app(['devices', '--json', '--devices', {str(catalog)!r}])"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        bufsize=0,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(1) == b"["
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
    assert proc.returncode == 1 and stderr == "", stderr


def test_estimate_json_and_prune_exit_status(files):
    ok = runner.invoke(app, ["estimate", str(files / "good.json"), "--json"])
    assert ok.exit_code == 0
    data = json.loads(ok.stdout)
    assert not data["pruned"] and data["metrics"]["fps"] > 0 and data["stages"]
    pruned = runner.invoke(app, ["estimate", str(files / "good.json"), "--spec-fps", "1e9"])
    assert pruned.exit_code == 1 and "PRUNED" in pruned.stdout


def test_estimate_states_precision_clock_fill_and_power_scope(files):
    args = ["estimate", str(files / "good.json"), "--pool", "1xXC7Z020"]
    eight = json.loads(runner.invoke(app, [*args, "--precision", "fixed8", "--json"]).stdout)
    sixteen = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert eight["precision"] == "fixed8" and sixteen["precision"] == "fixed16"
    assert eight["design"]["precision"] == "fixed8" and eight["fill"] is True
    assert eight["power_covers"].startswith("board")
    assert eight["metrics"]["fps"] >= sixteen["metrics"]["fps"]  # twice the lanes per DSP
    slow = runner.invoke(app, [*args, "--clock-mhz", "50", "--no-fill", "--json"])
    data = json.loads(slow.stdout)
    assert data["clock_mhz"] == {"XC7Z020": 50.0} and data["fill"] is False
    text = runner.invoke(app, [*args, "--precision", "fixed8"], env={"COLUMNS": "200"}).stdout
    assert "precision fixed8" in text and "XC7Z020 2 MAC/DSP" in text and "power: board" in text


def test_devices_lists_the_catalog():
    result = runner.invoke(app, ["devices"])
    assert result.exit_code == 0 and "XC7Z020" in result.stdout


def test_a_bug_shows_its_traceback_not_a_user_error(files, monkeypatch):
    """Only coexplore's user errors become `error: ...`; a KeyError inside is a bug."""
    import coexplore.cli

    def broken(*args, **kwargs):
        raise KeyError("fps")

    monkeypatch.setattr(coexplore.cli, "_load_network", broken)
    result = runner.invoke(app, ["estimate", str(files / "good.json")])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)
    assert "error: 'fps'" not in result.stderr and "error: fps" not in result.stderr


def test_debug_adds_the_traceback_of_a_user_error(files):
    args = ["estimate", str(files / "bad.json")]
    plain = runner.invoke(app, args)
    debug = runner.invoke(app, ["--debug", *args])
    assert plain.exit_code == debug.exit_code == 2
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr and "not valid JSON" in debug.stderr.splitlines()[-1]


def test_every_user_error_class_derives_from_one_base():
    from coexplore.config import ConfigError
    from coexplore.errors import CoexploreError, InputError, SearchStopped, UnknownName, UserError
    from coexplore.export.model import ExportError
    from coexplore.onnx_import.ops import OnnxImportError
    from coexplore.storage import StorageError

    for kind in (ConfigError, ExportError, OnnxImportError, StorageError, SearchStopped,
                 InputError, UnknownName, UserError):  # fmt: skip
        assert issubclass(kind, CoexploreError), kind
    assert str(UnknownName("unknown space 'x'")) == "unknown space 'x'"  # no KeyError quotes


def test_zero_classes_is_refused_by_the_api_too():
    """`--classes 0` is a usage error; parse_arch(num_classes=0) was taken as "not given"."""
    from coexplore.archfile import parse_arch
    from coexplore.errors import InputError

    data = {"space": "chain", "layers": [{"kernel": 3, "filters": 24, "stride": 1}]}
    assert parse_arch(data, num_classes=7).workload.layers[-1].out_channels == 7
    with pytest.raises(InputError, match="num_classes: expected a positive integer, got 0"):
        parse_arch(data, num_classes=0)
