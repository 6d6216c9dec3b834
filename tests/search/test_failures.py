"""Early stop on children failing alike, failure counts in the summary, report and trials.csv."""

import csv
import dataclasses
import json

import pytest
from fake_training import fake_train
from hypothesis import given
from hypothesis import strategies as st

from coexplore import wiring as run
from coexplore.config import load_config, to_dict
from coexplore.errors import SearchStopped
from coexplore.executors import LocalExecutor
from coexplore.report import write_report
from coexplore.results.failures import failure_cause, failure_counts
from coexplore.results.picks import pick
from coexplore.results.writers import nothing_found
from coexplore.search.failures import FailureWatch
from coexplore.search.loop import run_search
from coexplore.search.outputs import write_outputs
from coexplore.storage import RunStorage, TrialRecord, TrialState


def record(number: int, state: TrialState, reason: str = "", attempts: int = 1) -> TrialRecord:
    return TrialRecord(number=number, batch=0, slot=number, strategy="random", state=state,
                       arch_key=f"a{number}", arch={}, hardware=None, metrics={}, reward=None,
                       reason=reason, seed=number, started_at=0.0, finished_at=0.0, timings={},
                       attempts=attempts)  # fmt: skip


# Reasons of two causes; the first cause's reasons differ in the architecture index they name.
REASONS = {"a 1": "a", "a 22": "a", "b": "b"}


def should_stop(trained: list[tuple[bool, str]], limit: int) -> bool:
    """The rule, by brute force over the whole history: (succeeded, reason) per training."""
    failed_causes = {REASONS[reason] for ok, reason in trained if not ok}
    from_start = len(trained) >= 2 and not any(ok for ok, _ in trained) and len(failed_causes) == 1
    tail = trained[-limit:] if limit else []
    in_a_row = (
        len(tail) == limit > 0
        and len({REASONS.get(r, r) for _, r in tail}) == 1
        and not any(ok for ok, _ in tail)
    )
    return from_start or in_a_row


outcome = st.tuples(
    st.sampled_from(["complete", "failed", "pruned", "reused"]), st.sampled_from(sorted(REASONS))
)


@given(
    st.lists(st.lists(outcome, min_size=1, max_size=4), min_size=1, max_size=8), st.integers(0, 4)
)
def test_the_watch_stops_exactly_when_the_rule_says(batches, limit):
    watch, history, number = FailureWatch(limit), [], 0
    for batch, outcomes in enumerate(batches):
        records = []
        for kind, reason in outcomes:
            state = {"complete": TrialState.COMPLETE, "reused": TrialState.COMPLETE}.get(
                kind, TrialState.PRUNED if kind == "pruned" else TrialState.FAILED
            )
            attempts = 0 if kind in ("pruned", "reused") else 1
            records.append(record(number, state, reason if kind == "failed" else "", attempts))
            number += 1
            if attempts:
                history.append((kind == "complete", reason if kind == "failed" else ""))
        expected = should_stop(history, limit)
        if expected:
            with pytest.raises(SearchStopped, match=f"after batch {batch + 1}: "):
                watch.check(records, batch)
            return
        watch.check(records, batch)


def test_failure_counts_are_most_frequent_first():
    trials = [record(0, TrialState.FAILED, "x"), record(1, TrialState.FAILED, "y"),
              record(2, TrialState.FAILED, "y"), record(3, TrialState.COMPLETE),
              record(4, TrialState.PRUNED, "too slow")]  # fmt: skip
    assert failure_counts(trials) == [("y", 2), ("x", 1)]


def test_failure_counts_group_reasons_by_cause_not_by_the_child_they_name():
    index = "InputError: t.csv: no accuracy for architecture index {} (at accuracy.py:55)"
    reasons = [index.format(n) for n in (7, 4495, 7)] + ["worker process died (killed by SIGKILL)"]
    trials = [record(n, TrialState.FAILED, r) for n, r in enumerate(reasons)]
    assert failure_counts(trials) == [
        (f"{index.format(7)} (and 1 like it)", 3),
        ("worker process died (killed by SIGKILL)", 1),
    ]


words = st.text(st.sampled_from("abcdefgh _:/.()"), min_size=1, max_size=12).filter(
    lambda w: not w[-1].isalnum()  # a number glued to a word is part of the word
)
number = st.one_of(st.integers(-(10**9), 10**9).map(str), st.floats(0, 1e6).map("{:.2f}".format),
                   st.floats(1, 1e300).map("{:g}".format))  # fmt: skip
quoted = st.text(st.sampled_from("abc_~|+01 "), max_size=10).map(lambda s: f"'{s}'")


@given(st.lists(st.tuples(words, st.sampled_from([number, quoted])), min_size=1, max_size=4),
       st.data())  # fmt: skip
def test_reasons_that_differ_in_numbers_and_quoted_names_share_a_cause(template, data):
    """A reason is words with a number or a quoted name after each; any two fillings of one
    template are one cause, and the cause of a cause is itself."""

    def filled() -> str:
        return "".join(f"{word} {data.draw(hole)} " for word, hole in template)

    first, second = filled(), filled()
    assert failure_cause(first) == failure_cause(second)
    assert failure_cause(failure_cause(first)) == failure_cause(first)


def test_reasons_of_different_causes_stay_apart():
    causes = {failure_cause(r) for r in ("loss became NaN in epoch 3", "timed out after 3 s",
              "worker process died (killed by SIGKILL)", "out of memory: Tried to allocate 2 MiB",
              "ValueError: op 'x' (at a.py:3)", "ValueError: op 'x' (at b.py:3)",
              "ValueError: op 'x' (at a.py:4)", "conv3x3 failed", "conv5x5 failed")}  # fmt: skip
    assert len(causes) == 9


def test_a_run_without_a_pick_says_what_became_of_its_children():
    def trained(number, accuracy, meets):
        metrics = {"fps": 10.0, "gops_per_w": 1.0}
        child = record(number, TrialState.COMPLETE)
        return dataclasses.replace(child, accuracy=accuracy, meets_spec=meets, metrics=metrics)

    pruned = [record(n, TrialState.PRUNED, f"{n}00.0 FPS < spec 1e+12 FPS", 0) for n in range(3)]
    failed = [record(3, TrialState.FAILED, "timed out after 9 s")]
    text = nothing_found(pruned + failed, pick(pruned + failed, "fps", 0.01))
    assert text.startswith(
        "no trained child meets the spec: of 4 children, 3 pruned before training: 000.0 FPS "
        "< spec 1e+12 FPS (and 2 like it); 1 failed in training: timed out after 9 s. To find "
        "one: relax the spec"
    )
    assert text.endswith("or mend what failed the trainings, then `coexplore resume` the run.")
    missed = [*pruned, trained(4, 0.9, False)]
    assert "1 trained but miss the spec" in nothing_found(missed, pick(missed, "fps", 0.01))
    found = [*missed, trained(5, 0.8, True)]
    assert nothing_found(found, pick(found, "fps", 0.01)) == ""


def always_fails(job):
    raise RuntimeError("dataset file is damaged")


def test_a_search_whose_children_all_fail_alike_stops_after_the_first_batch(tmp_path):
    config = load_config("quick", overrides={"spec.fps": 0.0, "reward.hw_bounds": [0, 20000]})
    with RunStorage.create(tmp_path / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=always_fails)
        with pytest.raises(SearchStopped, match="after batch 1: the last 4 trained children all "
                           "failed with: RuntimeError: dataset file is damaged"):  # fmt: skip
            run_search(setup, storage, LocalExecutor())
        assert storage.latest_checkpoint()[0] == 0  # the failed batch is kept: resume goes on
        assert len(storage.trials()) == 4
        write_outputs(tmp_path, storage, config, setup, LocalExecutor(), None)
    summary = json.loads((tmp_path / "picks.json").read_text())
    [failure] = summary["failures"]
    assert failure["count"] == 4 and failure["reason"].startswith("RuntimeError: dataset file")
    html = write_report(tmp_path).read_text()
    assert "Failed children" in html and "dataset file is damaged" in html
    assert "4 children failed, for 1 reason." in html


def test_a_search_that_succeeds_keeps_going_and_writes_whole_numbers(tmp_path):
    config = load_config("quick", overrides={"run.trials": 8})
    with RunStorage.create(tmp_path / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=fake_train)
        run_search(setup, storage, LocalExecutor())
        summary = write_outputs(tmp_path, storage, config, setup, LocalExecutor(), None)
    assert summary["failures"] == []
    assert "No child failed." in write_report(tmp_path).read_text()
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    for row in rows:
        for key in ("fpgas", "meets_spec", "hw_tries", "epochs"):
            assert row[key] == "" or row[key].isdigit(), (key, row[key])
    picked = json.loads((tmp_path / "picks.json").read_text())["opt_sw"]["metrics"]
    assert isinstance(picked["fpgas"], int) and isinstance(picked["fps"], float)
