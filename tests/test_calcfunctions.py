"""The calcfunctions over the numerics: provenance wrappers that turn bad input into exit status 300."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm

from aiida_superionic.calculations.functions.compute_trajectory_descriptors import compute_trajectory_descriptors
from aiida_superionic.calculations.functions.fit_arrhenius import fit_arrhenius
from aiida_superionic.common.trajectory import build_trajectory, trajectory_arrays
from aiida_superionic.descriptors.constants import BOLTZMANN_eV_K
from aiida_superionic.descriptors.lindemann import trajectory_lindemann_ratio
from aiida_superionic.descriptors.transport import nernst_einstein_conductivity

ACTIVATION_ENERGY_eV = 0.25
PREFACTOR_cm2_s = 1.0e-3
CELL = {'mobile_ions': 23, 'nominal_charge': 1, 'cell_volume_A3': 380.0}


def _run(temperature: float, relative_std: float = 0.05, verdict: str = 'diffusive', **changes) -> orm.Dict:
    value = PREFACTOR_cm2_s * np.exp(-ACTIVATION_ENERGY_eV / (BOLTZMANN_eV_K * temperature))
    return orm.Dict(
        {
            'temperature_K': temperature,
            'diffusion_coefficient_cm2_s': value,
            'diffusion_coefficient_std_cm2_s': relative_std * value,
            'diffusivity_verdict': verdict,
            **CELL,
            **changes,
        }
    )


def test_fit_arrhenius_recovers_a_known_law(aiida_profile):
    runs = {f'T_{t}': _run(t) for t in (500, 700, 900, 1100)}
    result, node = fit_arrhenius.run_get_node(**runs)
    assert node.is_finished_ok, node.exit_message
    values = result.get_dict()
    assert values['activation_energy_eV'] == pytest.approx(ACTIVATION_ENERGY_eV, rel=1e-9)
    assert values['arrhenius_weighted'] is True
    at_300 = PREFACTOR_cm2_s * np.exp(-ACTIVATION_ENERGY_eV / (BOLTZMANN_eV_K * 300.0))
    assert values['diffusion_coefficient_300K_cm2_s'] == pytest.approx(at_300, rel=1e-9)
    sigma = nernst_einstein_conductivity(at_300, CELL['mobile_ions'], 1, CELL['cell_volume_A3'], 300.0)
    conductivity_keys = [key for key in values if key.startswith('conductivity_300K') or 'conductivity' in key]
    assert any(values[key] == pytest.approx(sigma, rel=1e-9) for key in conductivity_keys), conductivity_keys
    assert sorted(node.base.links.get_incoming().all_link_labels()) == sorted(runs)


def test_fit_arrhenius_leaves_out_flagged_runs(aiida_profile):
    runs = {f'T_{t}': _run(t) for t in (600, 800, 1000)}
    runs['T_400'] = _run(400, verdict='too_few_hops', diffusion_coefficient_cm2_s=1e-12)
    result, node = fit_arrhenius.run_get_node(**runs)
    assert node.is_finished_ok, node.exit_message
    assert result['runs_flagged'] == ['T_400']
    assert result['activation_energy_eV'] == pytest.approx(ACTIVATION_ENERGY_eV, rel=1e-9)


@pytest.mark.parametrize(
    ('second_run', 'message'),
    [
        ({'temperature': 700, 'verdict': 'non_linear'}, 'needs 2'),
        ({'temperature': 700, 'cell_volume_A3': 400.0}, 'differ in mobile ions'),
        (None, 'diffusion_coefficient_cm2_s'),
    ],
)
def test_fit_arrhenius_refuses_bad_input(aiida_profile, second_run, message):
    second = _run(**second_run) if second_run else orm.Dict({'temperature_K': 700.0})
    _, node = fit_arrhenius.run_get_node(T_500=_run(500), T_700=second)
    assert node.exit_status == 300
    assert message in node.exit_message


def _random_walk_trajectory(frames=400, walkers=16, seed=3, nan=False):
    rng = np.random.default_rng(seed)
    positions = np.zeros((frames, walkers + 4, 3))
    positions[:, :walkers] = np.cumsum(rng.normal(0.0, 0.1, (frames, walkers, 3)), axis=0)
    positions[:, walkers:] = rng.uniform(0, 10, (4, 3)) + rng.normal(0.0, 0.05, (frames, 4, 3))  # a vibrating frame
    if nan:
        positions[frames // 2, 0, 0] = np.nan
    return build_trajectory(
        symbols=['Li'] * walkers + ['Ge'] * 4,
        positions=positions % 10.0,
        cells=np.broadcast_to(np.eye(3) * 10.0, (frames, 3, 3)),
        times_ps=np.arange(frames) * 0.05,
        steps=np.arange(frames),
        wrapped=True,
    )


def test_trajectory_descriptors_without_velocities_keep_the_diffusive_ones(aiida_profile):
    """Frames 50 fs apart cannot resolve a VDOS: D and the Lindemann ratio are still computed, the reason stated."""
    results, node = compute_trajectory_descriptors.run_get_node(
        trajectory=_random_walk_trajectory(), mobile_species=orm.Str('Li'), temperature=orm.Float(600.0)
    )
    assert node.is_finished_ok, node.exit_message
    values = results['descriptors'].get_dict()
    assert values['diffusion_coefficient_cm2_s'] > 0
    assert 'mean_frequency_meV_all' not in values
    assert 'Nyquist' in values['vibrational_analysis_error']
    assert 'vdos' not in results
    # γ from positions alone, d_nn between the 4 Ge (the framework), none of the 16 Li
    arrays = trajectory_arrays(_random_walk_trajectory())
    masses = np.array([6.94] * 16 + [72.63] * 4)
    expected = trajectory_lindemann_ratio(arrays.positions, arrays.cells, arrays.times_ps, arrays.symbols, masses, 'Li')
    assert 0 < values['lindemann_ratio'] == pytest.approx(expected.lindemann_ratio, rel=1e-3)
    fixed_framework = trajectory_lindemann_ratio(
        arrays.positions[:, 16:], arrays.cells, arrays.times_ps, ['Ge'] * 4, masses[16:], 'Li'
    )
    assert expected.nearest_neighbour_distance_A == pytest.approx(
        fixed_framework.nearest_neighbour_distance_A, rel=1e-6
    )


@pytest.mark.parametrize(
    ('inputs', 'message'),
    [
        ({'nan': True}, 'NaN'),
        ({'mobile_species': 'Na'}, 'no atom of the mobile species Na'),
        ({'settings': {'hop_fractoin': 0.5}}, 'unknown settings'),
    ],
)
def test_trajectory_descriptors_refuse_bad_input(aiida_profile, inputs, message):
    trajectory = _random_walk_trajectory(nan=inputs.get('nan', False))
    arguments = {
        'trajectory': trajectory,
        'mobile_species': orm.Str(inputs.get('mobile_species', 'Li')),
        'temperature': orm.Float(600.0),
    }
    if 'settings' in inputs:
        arguments['settings'] = orm.Dict(inputs['settings'])
    _, node = compute_trajectory_descriptors.run_get_node(**arguments)
    assert node.exit_status == 300
    assert message in node.exit_message
