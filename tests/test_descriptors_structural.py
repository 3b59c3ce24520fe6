"""Tests of the structural–compositional descriptors (no AiiDA)."""

from __future__ import annotations

import numpy as np
import pytest
import spglib
from pymatgen.core import Lattice, Structure

from aiida_superionic.descriptors.keys import STRUCTURAL_COMPOSITIONAL_KEYS
from aiida_superionic.descriptors.structural import (
    POLARIZABILITY_NOT_AVAILABLE,
    lowest_optical_frequency_meV,
    mobile_family,
    structural_descriptors,
)

#: The table's 18 structural–compositional keys (``STRUCTURAL_COMPOSITIONAL_KEYS``) and the Γ-phonon one this
#: module also gives.
DESCRIPTOR_KEYS = {*STRUCTURAL_COMPOSITIONAL_KEYS, 'lowest_optical_frequency_meV'}
METADATA_KEYS = {
    'mobile_species',
    'mobile_family',
    'nominal_charge_source',
    'symprec_A',
    'angle_tolerance_deg',
    'formula_units_cell',
    'polarizability_source',
}
NACL_A = 5.64
LI3N_A, LI3N_C = 3.648, 3.875


def rock_salt(a: float = NACL_A, cation: str = 'Na', anion: str = 'Cl') -> Structure:
    """The conventional (8-atom) cubic rock-salt cell."""
    return Structure.from_spacegroup('Fm-3m', Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def li3n() -> Structure:
    """α-Li3N, P6/mmm: N 1a, Li 1b (between the layers) and Li 2c (in the Li2N layer)."""
    return Structure(
        Lattice.hexagonal(LI3N_A, LI3N_C),
        ['N', 'Li', 'Li', 'Li'],
        [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0]],
    )


def test_keys_and_missing_inputs_are_none():
    """Exactly the table's keys; what the inputs cannot give is None, never zero."""
    result = structural_descriptors(rock_salt())
    assert set(result) == DESCRIPTOR_KEYS | METADATA_KEYS
    for key in (
        'born_charge',
        'dielectric_constant',
        'crystal_polarizability_A3',
        'band_gap_eV',
        'vacancy_formation_energy_eV',
        'lowest_optical_frequency_meV',
        'mobile_ion_polarizability_A3',
    ):
        assert result[key] is None, key
    assert result['polarizability_source'] == POLARIZABILITY_NOT_AVAILABLE
    assert result['formula_units_cell'] == 'conventional'
    assert result['symprec_A'] == 0.01
    assert result['angle_tolerance_deg'] == 5.0


def test_rock_salt_by_hand():
    """NaCl, conventional cell: Na has 6 Cl at a/2; Fm-3m; 4 formula units; cubic lattice."""
    result = structural_descriptors(rock_salt())
    assert result['mobile_species'] == 'Na'
    assert result['mobile_family'] == 'Na'
    assert result['nominal_charge'] == 1
    assert result['mobile_ion_mass_amu'] == pytest.approx(22.98976928)
    assert result['space_group'] == 225
    assert result['nearest_neighbours'] == 6.0
    assert result['nearest_neighbour_distance_A'] == pytest.approx(NACL_A / 2)
    assert result['formula_units'] == 4
    assert result['volume_per_formula_unit_A3'] == pytest.approx(NACL_A**3 / 4)
    assert result['min_lattice_constant_A'] == pytest.approx(NACL_A)
    assert result['lattice_constants_std_A'] == pytest.approx(0.0, abs=1e-10)
    assert result['lattice_angles_std_deg'] == pytest.approx(0.0, abs=1e-10)
    # In the conventional cell spglib lists the 48 point operations times the 4 F-centrings.
    assert result['symmetry_operations'] == 192
    assert result['stoichiometric'] is True


def test_symmetry_operations_conventional_versus_primitive():
    """spglib gives 48 operations in the primitive fcc cell and 192 in the conventional one; the
    descriptor is the conventional count whatever cell (primitive, conventional, supercell) is given."""
    structure = rock_salt()
    primitive = structure.get_primitive_structure()
    assert len(primitive) == 2
    cell = (primitive.lattice.matrix, primitive.frac_coords, primitive.atomic_numbers)
    assert len(spglib.get_symmetry_dataset(cell, symprec=0.01).rotations) == 48
    supercell = structure.copy()
    supercell.make_supercell(2)
    for cell in (structure, primitive, supercell):
        result = structural_descriptors(cell)
        assert result['symmetry_operations'] == 192
        assert result['formula_units'] == 4
        assert result['min_lattice_constant_A'] == pytest.approx(NACL_A)
        assert result['nearest_neighbours'] == 6.0
        assert result['nearest_neighbour_distance_A'] == pytest.approx(NACL_A / 2)


def test_li3n_hexagonal():
    """Li3N: Li 1b has 2 N at c/2; each Li 2c has 3 N and 3 Li at a/√3 (within 10 %)."""
    result = structural_descriptors(li3n())
    assert result['space_group'] == 191
    assert result['symmetry_operations'] == 24
    assert result['formula_units'] == 1
    assert result['mobile_species'] == 'Li'
    assert result['nominal_charge'] == 1
    assert result['min_lattice_constant_A'] == pytest.approx(LI3N_A)
    assert result['lattice_constants_std_A'] == pytest.approx(np.std([LI3N_A, LI3N_A, LI3N_C]))
    assert result['lattice_angles_std_deg'] == pytest.approx(np.std([90.0, 90.0, 120.0]))
    assert result['volume_per_formula_unit_A3'] == pytest.approx(np.sqrt(3) / 2 * LI3N_A**2 * LI3N_C)
    in_plane = LI3N_A / np.sqrt(3)
    assert result['nearest_neighbour_distance_A'] == pytest.approx((LI3N_C / 2 + 2 * in_plane) / 3)
    assert result['nearest_neighbours'] == pytest.approx((2 + 6 + 6) / 3)


@pytest.mark.parametrize(
    ('lattice', 'symbols', 'coordinates', 'number'),
    [
        (  # monoclinic, P2/m
            Lattice.from_parameters(4.1, 5.3, 6.2, 90.0, 103.0, 90.0),
            ['Li', 'Li', 'O', 'O', 'P'],
            [[0, 0, 0], [0.5, 0, 0.5], [0.3, 0.5, 0.2], [0.7, 0.5, 0.8], [0, 0.5, 0.5]],
            10,
        ),
        (  # triclinic, P-1
            Lattice.from_parameters(4.1, 5.3, 6.2, 81.0, 97.0, 109.0),
            ['Li', 'Li', 'O', 'O'],
            [[0.1, 0.2, 0.3], [0.9, 0.8, 0.7], [0.3, 0.6, 0.2], [0.7, 0.4, 0.8]],
            2,
        ),
        (  # triclinic, P1
            Lattice.from_parameters(4.1, 5.3, 6.2, 81.0, 97.0, 109.0),
            ['Li', 'Li', 'O', 'P'],
            [[0.0, 0.0, 0.0], [0.31, 0.5, 0.27], [0.62, 0.13, 0.71], [0.5, 0.5, 0.5]],
            1,
        ),
    ],
)
def test_low_symmetry_against_spglib(lattice, symbols, coordinates, number):
    """A distorted cell: space group, operations and lattice statistics as spglib gives them."""
    structure = Structure(lattice, symbols, coordinates)
    result = structural_descriptors(structure, stoichiometric=False)
    cell = (lattice.matrix, np.array(coordinates), structure.atomic_numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=0.01, angle_tolerance=5)
    assert result['space_group'] == dataset.number == number
    std_cell = (dataset.std_lattice, dataset.std_positions, dataset.std_types)
    assert result['symmetry_operations'] == len(spglib.get_symmetry_dataset(std_cell, symprec=0.01).rotations)
    abc = np.linalg.norm(dataset.std_lattice, axis=1)
    assert result['min_lattice_constant_A'] == pytest.approx(abc.min())
    assert result['lattice_constants_std_A'] == pytest.approx(np.std(abc))
    assert result['lattice_angles_std_deg'] == pytest.approx(np.std(Lattice(dataset.std_lattice).angles))
    assert result['stoichiometric'] is False
    # Nearest neighbour of each Li by brute force over the 5×5×5 images.
    shifts = np.array(np.meshgrid(*[range(-2, 3)] * 3, indexing='ij')).reshape(3, -1).T
    distances = []
    for li in [index for index, symbol in enumerate(symbols) if symbol == 'Li']:
        vectors = (np.array(coordinates)[None, :, :] + shifts[:, None, :] - coordinates[li]) @ lattice.matrix
        lengths = np.linalg.norm(vectors, axis=-1).ravel()
        distances.append(np.min(lengths[lengths > 1e-8]))
    assert result['nearest_neighbour_distance_A'] == pytest.approx(np.mean(distances))


def test_born_dielectric_clausius_mossotti_by_hand():
    """Born charge = mean trace/3 over mobile ions; ε = trace/3; α = (3Ω/4π)(ε−1)/(ε+2) per formula unit."""
    structure = rock_salt()
    born = np.zeros((len(structure), 3, 3))
    for index, site in enumerate(structure):
        if site.specie.symbol == 'Na':
            born[index] = np.diag([1.0, 1.1, 1.2]) + 0.05 * (index + 1) + 0.01 * index
        else:
            born[index] = -np.eye(3) * 1.1
    epsilon = np.array([[2.3, 0.1, 0.0], [0.1, 2.4, 0.0], [0.0, 0.0, 2.5]])
    result = structural_descriptors(structure, born_charges=born, dielectric_tensor=epsilon)
    sodium = [index for index, site in enumerate(structure) if site.specie.symbol == 'Na']
    expected_born = np.mean([np.trace(born[index]) / 3 for index in sodium])
    assert result['born_charge'] == pytest.approx(expected_born)
    assert result['dielectric_constant'] == pytest.approx(2.4)
    omega = NACL_A**3 / 4
    assert result['crystal_polarizability_A3'] == pytest.approx(3 * omega / (4 * np.pi) * 1.4 / 4.4)
    # The ion polarizability needs a verified table, which is not installed: None, with the reason.
    assert result['mobile_ion_polarizability_A3'] is None
    with pytest.raises(ValueError, match='Born charges'):
        structural_descriptors(structure, born_charges=born[:3])
    with pytest.raises(ValueError, match='dielectric'):
        structural_descriptors(structure, dielectric_tensor=np.eye(2))


def test_band_gap_and_vacancy_energy_pass_through():
    result = structural_descriptors(rock_salt(), band_gap_eV=5.0, vacancy_formation_energy_eV=2.1)
    assert result['band_gap_eV'] == 5.0
    assert result['vacancy_formation_energy_eV'] == 2.1
    with pytest.raises(ValueError, match='finite'):
        structural_descriptors(rock_salt(), band_gap_eV=float('nan'))


def test_lowest_optical_frequency():
    """The 3 modes of smallest |ω| are acoustic; the lowest remaining, imaginary negative, in meV."""
    frequencies = [0.002, -0.001, 3.0, -1.5, 0.0005, 5.0]
    assert lowest_optical_frequency_meV(frequencies) == pytest.approx(-1.5 * 4.135667696)
    assert lowest_optical_frequency_meV([0.0, 0.01, -0.01, 4.0, 2.0, 6.0]) == pytest.approx(2.0 * 4.135667696)
    assert lowest_optical_frequency_meV([0.0, 0.0, 0.0]) is None
    with pytest.raises(ValueError, match='multiple of 3'):
        lowest_optical_frequency_meV([0.0, 0.0, 0.0, 1.0])
    structure = li3n()
    modes = np.concatenate([[1e-3, -2e-3, 0.0], np.linspace(-0.7, 12.0, 9)])
    result = structural_descriptors(structure, gamma_frequencies_THz=modes)
    assert result['lowest_optical_frequency_meV'] == pytest.approx(-0.7 * 4.135667696)


def test_mobile_species_rule_and_family():
    """Li before Na before Ag/Cu, halides, O; the family of each; an error when none."""
    assert structural_descriptors(rock_salt(cation='Li', anion='F'))['mobile_species'] == 'Li'
    assert structural_descriptors(rock_salt(cation='Ag', anion='Cl'))['mobile_family'] == 'Ag/Cu'
    magnesia = structural_descriptors(rock_salt(a=4.21, cation='Mg', anion='O'))
    assert (magnesia['mobile_species'], magnesia['mobile_family'], magnesia['nominal_charge']) == ('O', 'O', -2)
    fluoride = structural_descriptors(rock_salt(cation='K', anion='F'))
    assert (fluoride['mobile_species'], fluoride['mobile_family'], fluoride['nominal_charge']) == ('F', 'halide', -1)
    assert structural_descriptors(rock_salt(cation='Na', anion='Cl'), mobile_species='Cl')['nominal_charge'] == -1
    assert [mobile_family(s) for s in ('Li', 'Na', 'Ag', 'Cu', 'F', 'Cl', 'Br', 'I', 'O')] == [
        'Li',
        'Na',
        'Ag/Cu',
        'Ag/Cu',
        'halide',
        'halide',
        'halide',
        'halide',
        'O',
    ]
    with pytest.raises(ValueError, match='not a candidate mobile species'):
        mobile_family('K')
    with pytest.raises(ValueError, match='no candidate mobile species'):
        structural_descriptors(rock_salt(cation='Mg', anion='S'))


def test_nominal_charge_failure_names_the_composition():
    with pytest.raises(ValueError, match='Na in Li3N'):
        structural_descriptors(li3n(), mobile_species='Na')
