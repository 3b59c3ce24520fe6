"""The ``compute_elastic_descriptors`` calcfunction: provenance wrapper over the elastic numerics."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm

from aiida_superionic.calculations.functions.compute_elastic_descriptors import compute_elastic_descriptors
from aiida_superionic.descriptors.elastic import MECHANICAL_DESCRIPTOR_KEYS, mechanical_descriptors

pytestmark = pytest.mark.usefixtures('aiida_profile')


def _cubic(c11: float, c12: float, c44: float) -> np.ndarray:
    C = np.zeros((6, 6))
    C[:3, :3] = c12
    C[np.arange(3), np.arange(3)] = c11
    C[np.arange(3, 6), np.arange(3, 6)] = c44
    return C


def _tensor(array: np.ndarray, name: str = 'elastic_tensor_GPa') -> orm.ArrayData:
    node = orm.ArrayData()
    node.set_array(name, np.asarray(array, dtype=float))
    return node


@pytest.fixture
def nacl() -> orm.StructureData:
    """Rock-salt NaCl, a = 5.64 Å (ρ ≈ 2.16 g/cm³)."""
    from pymatgen.core import Lattice, Structure

    structure = Structure.from_spacegroup('Fm-3m', Lattice.cubic(5.64), ['Na', 'Cl'], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return orm.StructureData(pymatgen=structure)


def test_stable_tensor(nacl):
    C = _cubic(49.1, 12.8, 12.7)
    result, node = compute_elastic_descriptors.run_get_node(_tensor(C), nacl)
    assert node.is_finished_ok
    values = result.get_dict()
    density = nacl.get_pymatgen_structure().density
    assert values['density_g_cm3'] == pytest.approx(density, rel=1e-12)
    assert values['density_g_cm3'] == pytest.approx(2.17, abs=0.01)
    assert values['mechanically_stable'] is True
    assert set(values) == {*MECHANICAL_DESCRIPTOR_KEYS, 'density_g_cm3', 'mechanically_stable'}
    expected = mechanical_descriptors(C, density)
    for key in MECHANICAL_DESCRIPTOR_KEYS:
        assert values[key] == pytest.approx(expected[key], rel=1e-12), key


def test_unstable_tensor_exits_310(nacl):
    _, node = compute_elastic_descriptors.run_get_node(_tensor(_cubic(40.0, 60.0, 20.0)), nacl)
    assert node.exit_status == 310
    assert node.exit_message.startswith('ERROR_MECHANICALLY_UNSTABLE: ')
    assert 'C11 − C12 > 0' in node.exit_message
    assert 'eigenvalues' in node.exit_message


@pytest.mark.parametrize(
    ('array', 'name', 'message'),
    [
        (np.eye(3) * 50.0, 'elastic_tensor_GPa', '6×6'),
        (_cubic(49.1, 12.8, 12.7), 'C', 'no array'),
    ],
    ids=['shape', 'array_name'],
)
def test_bad_input_exits_300(nacl, array, name, message):
    _, node = compute_elastic_descriptors.run_get_node(_tensor(array, name), nacl)
    assert node.exit_status == 300
    assert node.exit_message.startswith('ERROR_INVALID_INPUT: ')
    assert message in node.exit_message
