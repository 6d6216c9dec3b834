"""Run databases may come from someone else: a checkpoint in one is never unpickled. An old
(or crafted) pickle is refused with a clear error, and the code it carries never runs."""

import pickle

import pytest
from baseline_helpers import make_setup, told

from coexplore.config import to_dict
from coexplore.executors import LocalExecutor
from coexplore.search.loop import run_search
from coexplore.storage import RunStorage, StorageError

CASES = ("random", "exhaustive", "nsga2", "motpe", "random_feasible", "rl-optimal", "coexplore")


class _Payload:
    """What an attacker would store: unpickling it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _resume(case, path):
    _, setup = make_setup(case)
    with RunStorage.open(path) as storage:
        run_search(setup, storage, LocalExecutor())


def _crafted_run(case, tmp_path, blob):
    config, _ = make_setup(case)
    path = tmp_path / "run.db"
    with RunStorage.create(path, to_dict(config)) as storage:
        storage.save_checkpoint(0, blob)
    return path


@pytest.mark.parametrize("case", CASES)
def test_a_pickled_checkpoint_is_refused_and_never_run(case, tmp_path):
    marker = tmp_path / "marker"
    path = _crafted_run(case, tmp_path, pickle.dumps(_Payload(marker)))
    with pytest.raises(StorageError, match=r"checkpoint of batch 0 is a Python pickle.*refused"):
        _resume(case, path)
    assert not marker.exists()


@pytest.mark.parametrize("case", CASES)
def test_a_protocol_0_pickle_is_refused_as_damaged_and_never_run(case, tmp_path):
    marker = tmp_path / "marker"
    blob = pickle.dumps(_Payload(marker), protocol=0)  # text: no b"\x80" header to spot
    path = _crafted_run(case, tmp_path, blob)
    with pytest.raises(StorageError, match="checkpoint of batch 0 does not load"):
        _resume(case, path)
    assert not marker.exists()


def test_the_payload_does_create_the_marker_when_unpickled(tmp_path):
    """The test's own check: the payload would run if anyone unpickled it."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_Payload(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("case", CASES)
def test_every_strategy_state_is_json_or_weights_only(case):
    _, setup = make_setup(case)
    candidates = setup.strategy.ask(4)
    setup.strategy.tell(candidates, [told(r) for r in (0.5, -1.0, 0.25, 1.0)])
    blob = setup.strategy.state_bytes()
    assert not blob.startswith(b"\x80")
    assert blob[:1] in (b"{", b"[") or blob.startswith(b"PK")  # JSON or torch's zip
