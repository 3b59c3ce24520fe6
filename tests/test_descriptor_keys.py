"""The table's 54 descriptor keys and the merge of one row."""

from __future__ import annotations

import re

import pytest
from aiida import orm

from aiida_superionic.calculations.functions.merge_descriptors import merge_descriptors
from aiida_superionic.common.trust import TRUST_COLUMNS, overrides_text, protocol_label
from aiida_superionic.descriptors.keys import (
    DESCRIPTOR_CATEGORIES,
    DESCRIPTOR_KEYS,
    DIFFUSIVE_VIBRATIONAL_KEYS,
    IDENTIFIER_KEYS,
    MECHANICAL_ELASTIC_KEYS,
    STRUCTURAL_COMPOSITIONAL_KEYS,
)
from aiida_superionic.descriptors.vibrations import VIBRATIONAL_DESCRIPTOR_KEYS

IDENTIFIERS = {
    'formula': 'Li23N8',
    'mobile_species': 'Li',
    'mobile_family': 'Li',
    'temperature_K': 700.0,
    'stoichiometric': False,
    'engine': 'ase',
    'model': 'chgnet 0.3.0',
    'protocol': 'fast',
}


def test_the_design_has_54_distinct_keys_in_three_categories():
    assert (len(MECHANICAL_ELASTIC_KEYS), len(DIFFUSIVE_VIBRATIONAL_KEYS), len(STRUCTURAL_COMPOSITIONAL_KEYS)) == (
        13,
        23,
        18,
    )
    assert len(set(DESCRIPTOR_KEYS)) == 54
    assert set(DESCRIPTOR_CATEGORIES) == set(DESCRIPTOR_KEYS)
    # Units in the names where the quantity has one (docs/source/topics/architecture.md#descriptor-keys).
    for key in ('bulk_modulus_GPa', 'v_mean_km_s', 'diffusion_coefficient_cm2_s', 'msd_A2', 'entropy_kB_mobile'):
        assert key in DESCRIPTOR_KEYS
    # The trajectory numerics give every diffusive–vibrational key of the table but the Γ-phonon one.
    assert set(DIFFUSIVE_VIBRATIONAL_KEYS) - set(VIBRATIONAL_DESCRIPTOR_KEYS) == {
        'lowest_optical_frequency_meV',
        'diffusion_coefficient_cm2_s',
        'msd_A2',
    }


def test_a_row_has_exactly_the_54_keys_the_identifiers_and_the_trust_columns(aiida_profile):
    trajectory = orm.Dict(
        {
            'diffusion_coefficient_cm2_s': 3.6e-5,
            'msd_A2': 5.1,
            'haven_ratio': 0.8,
            'diffusivity_verdict': 'too_few_hops',
            'diffusivity_reason': '3 hops < 10',
            'diffusion_coefficient_std_cm2_s': 2.0e-5,
            'mobile_ion_hops': 3,
            'analysed_time_ps': 1.5,
            'mobile_ions': 23,
            'kinetic_temperature_K': 688.0,
        }
    )
    structural = orm.Dict({'space_group': 191, 'band_gap_eV': None, 'nominal_charge': 1})
    identifiers = {**IDENTIFIERS, 'protocol': 'fast+overrides', 'protocol_overrides': {'md': {'steps': 20}}}
    row, node = merge_descriptors.run_get_node(
        identifiers=orm.Dict(identifiers), trajectory=trajectory, structural=structural
    )
    assert node.is_finished_ok, node.exit_message
    values = row.get_dict()
    assert set(values) == set(DESCRIPTOR_KEYS) | set(IDENTIFIER_KEYS) | set(TRUST_COLUMNS)
    trust = {column: values[column] for column in TRUST_COLUMNS}
    assert trust == {
        'diffusivity_verdict': 'too_few_hops',
        'diffusivity_reason': '3 hops < 10',
        'diffusion_coefficient_std_cm2_s': 2.0e-5,
        'mobile_ion_hops': 3,
        'md_analysed_ps': 1.5,
        'mobile_ions': 23,
        'kinetic_temperature_K': 688.0,
        'protocol_overrides': '{"md": {"steps": 20}}',
    }
    assert values['protocol'] == 'fast+overrides'
    assert values['diffusion_coefficient_cm2_s'] == 3.6e-5
    assert values['space_group'] == 191
    assert values['band_gap_eV'] is None  # absent (NaN in the table), never zero
    assert values['bulk_modulus_GPa'] is None  # no elastic calculation
    assert values['stoichiometric'] is False
    assert 'haven_ratio' not in values  # beyond the 54: stays in its source node
    # Without a trajectory (or an old one without these keys) the trust columns are absent, not invented.
    row = merge_descriptors(identifiers=orm.Dict(IDENTIFIERS), structural=structural)
    assert {column: row[column] for column in TRUST_COLUMNS} == {
        **dict.fromkeys(TRUST_COLUMNS),
        'protocol_overrides': '{}',
    }


def test_the_protocol_label_shows_overrides():
    assert protocol_label('fast', None) == 'fast'
    assert protocol_label('fast', {'md': {}}) == 'fast'  # an empty namespace overrides nothing
    assert protocol_label('fast', {'md': {'steps': 20}}) == 'fast+overrides'
    assert protocol_label('fast', {'md': {'steps': 20}}, test_size=True) == 'fast+overrides+test-size'
    assert overrides_text({'temperatures': [500.0], 'md': {}}) == '{"temperatures": [500.0]}'


@pytest.mark.parametrize(
    ('inputs', 'message'),
    [
        ({'identifiers': {k: v for k, v in IDENTIFIERS.items() if k != 'engine'}}, "identifiers \\['engine'\\]"),
        (
            {'trajectory': {'nominal_charge': 1}, 'structural': {'nominal_charge': 2}},
            '`nominal_charge` is 1 in the trajectory descriptors and 2 in the structural ones',
        ),
        ({'structural': {'stoichiometric': True}}, 'contradicts'),
    ],
)
def test_a_row_refuses_missing_identifiers_and_conflicts(aiida_profile, inputs, message):
    arguments = {'identifiers': orm.Dict(inputs.get('identifiers', IDENTIFIERS))}
    for name in ('trajectory', 'structural', 'elastic'):
        if name in inputs:
            arguments[name] = orm.Dict(inputs[name])
    _, node = merge_descriptors.run_get_node(**arguments)
    assert node.exit_status == 300
    assert re.search(message, node.exit_message), node.exit_message


def test_the_descriptor_modules_give_the_keys_of_the_table():
    """Every key of the row comes from exactly one of the descriptor modules (no orphans, no typos)."""
    from pymatgen.core import Lattice, Structure

    from aiida_superionic.descriptors.elastic import MECHANICAL_DESCRIPTOR_KEYS
    from aiida_superionic.descriptors.structural import structural_descriptors

    li3n = Structure(
        Lattice.hexagonal(3.648, 3.875),
        ['N', 'Li', 'Li', 'Li'],
        [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0]],
    )
    structural = set(structural_descriptors(li3n)) & set(DESCRIPTOR_KEYS)
    assert structural == set(STRUCTURAL_COMPOSITIONAL_KEYS) | {'lowest_optical_frequency_meV'}
    assert tuple(MECHANICAL_DESCRIPTOR_KEYS) == MECHANICAL_ELASTIC_KEYS
    trajectory = set(VIBRATIONAL_DESCRIPTOR_KEYS) | {'diffusion_coefficient_cm2_s', 'msd_A2'}
    assert set(MECHANICAL_ELASTIC_KEYS) | structural | trajectory == set(DESCRIPTOR_KEYS)
