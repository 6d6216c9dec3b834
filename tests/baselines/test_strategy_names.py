"""A strategy name lives in the config's choices and in the builders; these stay in step: every
name the config accepts builds a strategy of that name and has a case in the contract suite."""

import pytest
from baseline_helpers import CASES, make_setup

from coexplore.config import CHOICES

CONFIGURED = {c: values["run.strategy"] for c, values in CASES.items() if c != "exhaustive"}


def test_every_configurable_strategy_has_a_contract_case():
    assert set(CHOICES["run.strategy"]) == set(CONFIGURED.values())


@pytest.mark.parametrize("case", sorted(CONFIGURED))
def test_a_strategy_is_built_under_the_name_the_config_gives(case):
    _, setup = make_setup(case)
    assert setup.strategy.name == CONFIGURED[case]
