"""A strategy is declared in one place, its module in `coexplore.search.strategies`, and the
package's registry finds it; the config's choices, `coexplore compare`'s strategies and its
default are derived from it. Every registered name builds a strategy with rules of that name
(the name its trials are stored under) and has a case in the contract suite."""

import pytest
from baseline_helpers import CASES, make_setup

from coexplore.compare.runs import strategy_names
from coexplore.config import load_config
from coexplore.search.strategies import configurable, registry
from coexplore.wiring import check_config

# contract case -> the registered strategy it runs (exhaustive: the config cannot name it)
CASE_STRATEGY = {c: values["run.strategy"] for c, values in CASES.items()} | {
    "exhaustive": "exhaustive"
}


def test_every_registered_strategy_has_a_contract_case():
    assert set(registry()) == set(CASE_STRATEGY.values())


def test_the_config_accepts_exactly_the_configurable_strategies():
    expected = tuple(name for name, entry in registry().items() if entry.configurable)
    assert configurable() == expected
    assert "exhaustive" in registry() and "exhaustive" not in expected
    for name in expected:
        check_config(load_config(overrides={"run.strategy": name}))
    with pytest.raises(ValueError, match=r"run\.strategy: 'exhaustive' is not one of coexplore"):
        check_config(load_config(overrides={"run.strategy": "exhaustive"}))


def test_compare_offers_every_registered_strategy():
    assert tuple(registry()) == strategy_names()


@pytest.mark.parametrize("case", sorted(CASE_STRATEGY))
def test_a_strategy_is_built_under_its_registered_name(case):
    _, setup = make_setup(case)
    assert setup.rules.name == CASE_STRATEGY[case]
