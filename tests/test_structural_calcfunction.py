"""Tests of the ``compute_structural_descriptors`` calcfunction."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm

from aiida_superionic.calculations.functions.compute_structural_descriptors import compute_structural_descriptors


def _array(**arrays) -> orm.ArrayData:
    node = orm.ArrayData()
    for name, value in arrays.items():
        node.set_array(name, np.asarray(value, dtype=float))
    return node


def test_li3n_without_dft_inputs(aiida_profile, generate_structure):
    """A force-field cell: the geometric descriptors, and None for everything DFT would give."""
    structure = generate_structure('li3n', repeat=1, vacancy=False)
    result, node = compute_structural_descriptors.run_get_node(structure=structure)
    assert node.is_finished_ok, node.exit_message
    values = result.get_dict()
    assert values['space_group'] == 191
    assert values['symmetry_operations'] == 24
    assert values['formula_units'] == 1
    assert values['mobile_species'] == 'Li'
    assert values['stoichiometric'] is True
    assert values['min_lattice_constant_A'] == pytest.approx(3.648)
    for key in ('born_charge', 'dielectric_constant', 'crystal_polarizability_A3', 'band_gap_eV'):
        assert values[key] is None
    assert values['mobile_ion_polarizability_A3'] is None
    assert values['polarizability_source'].startswith('not available')


def test_with_dft_inputs(aiida_profile, generate_structure):
    structure = generate_structure('li3n', repeat=1, vacancy=False)
    born = np.array([-2.0 * np.eye(3), 0.5 * np.eye(3), np.diag([0.7, 0.8, 0.9]), np.diag([0.7, 0.8, 0.9])])
    epsilon = np.diag([4.0, 4.0, 5.5])
    frequencies = [0.0, 0.001, -0.001, 2.0, -0.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    result, node = compute_structural_descriptors.run_get_node(
        structure=structure,
        mobile_species=orm.Str('Li'),
        stoichiometric=orm.Bool(False),
        dielectric=_array(born_charges=born, dielectric=epsilon),
        band_gap=orm.Float(1.2),
        vacancy_formation_energy=orm.Float(0.8),
        gamma_frequencies=_array(frequencies_THz=frequencies),
    )
    assert node.is_finished_ok, node.exit_message
    values = result.get_dict()
    assert values['born_charge'] == pytest.approx((0.5 + 0.8 + 0.8) / 3)
    assert values['dielectric_constant'] == pytest.approx(4.5)
    omega = values['volume_per_formula_unit_A3']
    assert values['crystal_polarizability_A3'] == pytest.approx(3 * omega / (4 * np.pi) * 3.5 / 6.5)
    assert values['band_gap_eV'] == 1.2
    assert values['vacancy_formation_energy_eV'] == 0.8
    assert values['stoichiometric'] is False
    assert values['lowest_optical_frequency_meV'] == pytest.approx(-0.5 * 4.135667696)


@pytest.mark.parametrize(
    ('inputs', 'message'),
    [
        ({'mobile_species': 'Na'}, 'Na in Li3N'),
        ({'dielectric': {'born_charges': np.zeros((2, 3, 3))}}, 'Born charges'),
        ({'dielectric': {'epsilom': np.eye(3)}}, 'dielectric must hold'),
        ({'gamma_frequencies': {'frequencies': np.zeros(6)}}, 'frequencies_THz'),
        ({'gamma_frequencies': {'frequencies_THz': np.zeros(7)}}, 'multiple of 3'),
    ],
)
def test_bad_input(aiida_profile, generate_structure, inputs, message):
    arguments = {'structure': generate_structure('li3n', repeat=1, vacancy=False)}
    for key, value in inputs.items():
        arguments[key] = _array(**value) if isinstance(value, dict) else orm.Str(value)
    _, node = compute_structural_descriptors.run_get_node(**arguments)
    assert node.exit_status == 300
    assert node.exit_message.startswith('ERROR_INVALID_INPUT')
    assert message in node.exit_message


def test_no_mobile_species(aiida_profile, generate_structure):
    _, node = compute_structural_descriptors.run_get_node(structure=generate_structure('au', repeat=1))
    assert node.exit_status == 300
    assert 'no candidate mobile species' in node.exit_message
