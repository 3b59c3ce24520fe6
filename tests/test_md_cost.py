"""The cost of an MD plan, said before anything runs: the estimate and the budget's refusal."""

from __future__ import annotations

import pytest

from aiida_superionic.workflows.md_cost import (
    CPU_ATOM_STEPS_PER_SECOND,
    check_md_cost,
    estimate_md_cost,
    plan_md_cost,
)


def test_the_estimate_is_atom_steps_over_the_throughput_per_core():
    # The demo: 4 runs of 32 atoms, 800 steps each, CHGNet on the CPU.
    cost = estimate_md_cost(32, 4, 800, 800, 'ase', 'chgnet', 'cpu')
    assert cost.core_hours == pytest.approx(4 * 800 * 32 / CPU_ATOM_STEPS_PER_SECOND['chgnet'] / 3600)
    assert cost.max_core_hours == cost.core_hours
    longer = estimate_md_cost(108, 6, 26000, 101000, 'ase', 'chgnet', 'cpu')
    assert longer.max_core_hours / longer.core_hours == pytest.approx(101000 / 26000)
    assert 'up to 101000 until D converges' in longer.describe()
    assert 'about 33.4 core-hours (up to 129.9) with chgnet on the CPU' in longer.describe()


@pytest.mark.parametrize(
    ('engine', 'potential', 'device'),
    [('vasp', None, None), ('ase', 'chgnet', 'cuda'), ('ase', 'chgnet', 'auto'), ('ase', 'factory', 'cpu')],
)
def test_no_time_is_claimed_where_no_throughput_is_known(engine, potential, device):
    cost = estimate_md_cost(200, 6, 26000, 26000, engine, potential, device)
    assert cost.core_hours is None
    assert 'core-hours' not in cost.describe()
    with pytest.raises(ValueError, match='200 atoms is more than max_md_atoms = 100'):
        check_md_cost(cost, max_atoms=100, max_core_hours=1.0)  # the atom budget still holds
    check_md_cost(cost, max_atoms=1000, max_core_hours=1.0)  # no time known: no refusal by time


def test_a_plan_beyond_the_budget_is_refused_in_one_line_with_the_ways_out():
    cost = estimate_md_cost(1500, 8, 103333, 303333, 'ase', 'chgnet', 'cpu')
    with pytest.raises(ValueError, match='the MD would be 8 MD runs') as refused:
        check_md_cost(cost, max_atoms=1000, max_core_hours=500)
    message = str(refused.value)
    assert '\n' not in message
    assert '1500 atoms is more than max_md_atoms = 1000' in message
    assert 'core-hours is more than max_md_core_hours = 500' in message
    assert 'accept_cost=True' in message
    assert '--accept-cost' in message
    check_md_cost(cost, max_atoms=1000, max_core_hours=500, accept=True)


def test_a_plan_within_the_budget_passes():
    check_md_cost(estimate_md_cost(108, 6, 26000, 101000, 'ase', 'chgnet', 'cpu'), max_atoms=1000, max_core_hours=500)


def test_the_plan_of_an_sse_workchain_counts_both_compositions_at_every_temperature():
    md = {'steps': 600, 'equilibration_steps': 200, 'max_steps': None}
    cost = plan_md_cost(4, [2, 2, 2], [700.0, 900.0], md, 'ase', {'name': 'chgnet', 'device': 'cpu'})
    assert (cost.atoms, cost.runs, cost.steps, cost.max_steps) == (32, 4, 800, 800)
    matrix = plan_md_cost(4, [[2, 0, 0], [0, 2, 0], [0, 0, 3]], [700.0], md, 'vasp', None)
    assert (matrix.atoms, matrix.runs, matrix.core_hours) == (48, 2, None)
