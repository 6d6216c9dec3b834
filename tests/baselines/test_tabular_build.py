"""The hardware table build: it continues where it stopped, and its workers die with it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from coexplore.hardware.devices import Precision, load_catalog, parse_pool
from coexplore.spaces import Nb201Space
from coexplore.tabular import hardware

POOL = parse_pool("2xXC7Z020+1xXC7A50T", 10.0, load_catalog(None))
PROBLEM = hardware.HardwareProblem(Nb201Space(), POOL, Precision.FIXED16, (3, 32, 32), 10)
SOME = np.array([3, 40, 41, 777, 4242, 9000, 15624])


class Stop(Exception):
    pass


def test_a_stopped_build_continues_where_it_stopped(tmp_path, monkeypatch):
    whole = hardware.build_table(PROBLEM, SOME, workers=1)

    def stop_after_first_chunk(message):
        if "/7 designs" in message:
            raise Stop

    monkeypatch.setattr(hardware, "CHUNK_ROWS", 2)
    with pytest.raises(Stop):
        hardware.build_table(PROBLEM, SOME, 1, stop_after_first_chunk, tmp_path)
    assert len(list(tmp_path.glob("rows-*.npz"))) == 1

    computed = []
    real_rows = hardware.table_rows

    def counting_rows(problem, indices):
        computed.extend(int(i) for i in indices)
        return real_rows(problem, indices)

    monkeypatch.setattr(hardware, "table_rows", counting_rows)
    again = hardware.build_table(PROBLEM, SOME, 1, None, tmp_path)
    assert sorted(computed) == sorted(SOME[2:])  # the first chunk (2 rows) was kept
    assert np.array_equal(again.indices, whole.indices)
    assert np.array_equal(again.stages, whole.stages)
    assert all(np.array_equal(again.metrics[m], whole.metrics[m]) for m in hardware.METRICS)


def test_load_or_build_removes_its_progress_once_saved(tmp_path):
    table = hardware.load_or_build(PROBLEM, SOME[:2], tmp_path, workers=1)
    assert [p.suffix for p in tmp_path.iterdir()] == [".npz"]
    assert list(table.indices) == sorted(SOME[:2])


_BUILD = """
import sys
from pathlib import Path
import numpy as np
from coexplore.hardware.devices import Precision, load_catalog, parse_pool
from coexplore.spaces import Nb201Space
from coexplore.tabular import hardware
pool = parse_pool("2xXC7Z020+1xXC7A50T", 10.0, load_catalog(None))
problem = hardware.HardwareProblem(Nb201Space(), pool, Precision.FIXED16, (3, 32, 32), 10)
hardware.CHUNK_ROWS = 5  # the first chunks finish soon; the whole table takes minutes
hardware.load_or_build(problem, None, Path(sys.argv[1]), workers=2, say=print)
"""


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:  # the field after the state is the parent's pid
            out.add(int(stat.parent.name))
    return out


def _default_sigint() -> None:
    """A job started in the background by a shell without job control (`cmd &` in a script,
    nohup) inherits SIGINT ignored, and so would the build: Ctrl-C as a user sends it must
    reach it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_stopping_a_build_leaves_no_worker_behind(tmp_path, sig):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen(
        [sys.executable, "-c", _BUILD, str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    try:
        assert parent.stdout is not None
        for line in parent.stdout:  # workers exist once the first chunk is done
            if "/15,625 designs" in line:
                break
        workers = _children(parent.pid)
        assert len(workers) >= 2
        os.kill(parent.pid, sig)
        parent.wait(timeout=60)
        deadline = time.monotonic() + 60.0  # a safety net for a loaded machine
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in workers if _alive(p)], "worker processes outlived their parent"
    finally:
        parent.kill()
        parent.wait()
    kept = list(tmp_path.glob("*.parts/rows-*.npz"))
    assert kept, "finished chunks must be kept for the next build"
