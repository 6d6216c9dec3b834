"""A strategy name lives in one place, the registry `coexplore.search.methods.STRATEGIES`; the
config's choices, `coexplore compare`'s methods and its help are derived from it. Every
registered name builds a strategy with rules of that name (the name its trials are stored
under) and has a case in the contract suite."""

import pytest
from baseline_helpers import CASES, make_setup

from coexplore.commands.compare import DEFAULT_METHODS
from coexplore.compare.runs import METHODS
from coexplore.config import CHOICES
from coexplore.search.methods import STRATEGIES

# contract case -> the registered strategy it runs (exhaustive: the config cannot name it)
CASE_STRATEGY = {c: values["run.strategy"] for c, values in CASES.items()} | {
    "exhaustive": "exhaustive"
}


def test_every_registered_strategy_has_a_contract_case():
    assert set(STRATEGIES) == set(CASE_STRATEGY.values())


def test_the_config_accepts_exactly_the_configurable_strategies_in_registry_order():
    expected = tuple(name for name, method in STRATEGIES.items() if method.configurable)
    assert CHOICES["run.strategy"] == expected
    assert "exhaustive" in STRATEGIES and "exhaustive" not in expected


def test_compare_offers_every_registered_strategy():
    assert tuple(STRATEGIES) == METHODS
    assert DEFAULT_METHODS.split(",") == list(CHOICES["run.strategy"])


@pytest.mark.parametrize("case", sorted(CASE_STRATEGY))
def test_a_strategy_is_built_under_its_registered_name(case):
    _, setup = make_setup(case)
    assert setup.rules.name == CASE_STRATEGY[case]
