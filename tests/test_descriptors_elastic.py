"""Mechanical–elastic descriptors: against pymatgen's ``ElasticTensor`` and hand computations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from aiida_superionic.descriptors.elastic import (
    MECHANICAL_DESCRIPTOR_KEYS,
    MechanicallyUnstableError,
    check_mechanical_stability,
    detect_crystal_system,
    mechanical_descriptors,
    validate_elastic_tensor,
    vrh_moduli,
)


def voigt(c11, c22, c33, c12, c13, c23, c44, c55, c66, **others) -> np.ndarray:
    """A symmetric 6×6 Voigt matrix from its elements; ``others`` like ``c15=7.9`` (1-based)."""
    C = np.zeros((6, 6))
    C[0, 0], C[1, 1], C[2, 2] = c11, c22, c33
    C[0, 1], C[0, 2], C[1, 2] = c12, c13, c23
    C[3, 3], C[4, 4], C[5, 5] = c44, c55, c66
    for name, value in others.items():
        C[int(name[1]) - 1, int(name[2]) - 1] = value
    return np.triu(C) + np.triu(C, 1).T


def cubic(c11, c12, c44) -> np.ndarray:
    return voigt(c11, c11, c11, c12, c12, c12, c44, c44, c44)


# Realistic room-temperature tensors (GPa) and densities (g/cm³) of five crystal systems.
TENSORS = {
    # NaCl (rock salt)
    'cubic': (cubic(49.1, 12.8, 12.7), 'NaCl', 2.165),
    # ZnO (wurtzite); C66 = (C11 − C12)/2
    'hexagonal': (voigt(209.7, 209.7, 210.9, 121.1, 105.1, 105.1, 42.5, 42.5, (209.7 - 121.1) / 2), 'ZnO', 5.61),
    # TiO2 (rutile)
    'tetragonal': (voigt(268.0, 268.0, 484.2, 175.0, 147.4, 147.4, 123.8, 123.8, 190.2), 'TiO2', 4.25),
    # Mg2SiO4 (forsterite)
    'orthorhombic': (voigt(328.0, 200.0, 235.0, 69.0, 69.0, 73.0, 66.7, 81.3, 80.9), 'Mg2SiO4', 3.22),
    # CaMgSi2O6 (diopside, monoclinic, b unique)
    'monoclinic': (
        voigt(228.1, 181.1, 245.4, 78.8, 70.2, 61.1, 78.9, 68.2, 78.1, c15=7.9, c25=5.9, c35=39.7, c46=6.4),
        'CaMgSi2O6',
        3.27,
    ),
}


def structure_with_density(formula: str, density_g_cm3: float):
    """A pymatgen ``Structure`` of ``formula`` (atoms on a simple grid) scaled to the given density."""
    from pymatgen.core import Composition, Lattice, Structure

    species = [str(element) for element, amount in Composition(formula).items() for _ in range(int(amount))]
    coords = [[(i + 0.5) / len(species), (i % 2) / 2, 0.0] for i in range(len(species))]
    structure = Structure(Lattice.cubic(5.0), species, coords)
    structure.scale_lattice(float(structure.composition.weight) * 1.66053906660 / density_g_cm3)
    return structure


@pytest.mark.parametrize('system', list(TENSORS))
def test_agrees_with_pymatgen(system):
    """B, G, E, ν and the sound velocities equal pymatgen's (its E is in Pa, its velocities in m/s)."""
    from pymatgen.analysis.elasticity.elastic import ElasticTensor

    C, formula, density = TENSORS[system]
    structure = structure_with_density(formula, density)
    assert structure.density == pytest.approx(density, rel=1e-6)
    result = mechanical_descriptors(C, structure.density)
    reference = ElasticTensor.from_voigt(C)

    assert set(result) == set(MECHANICAL_DESCRIPTOR_KEYS)
    assert result['bulk_modulus_GPa'] == pytest.approx(reference.k_vrh, rel=1e-10)
    assert result['shear_modulus_GPa'] == pytest.approx(reference.g_vrh, rel=1e-10)
    assert result['youngs_modulus_GPa'] == pytest.approx(reference.y_mod / 1e9, rel=1e-10)
    assert result['poisson_ratio'] == pytest.approx(reference.homogeneous_poisson, rel=1e-10)
    assert result['v_longitudinal_km_s'] == pytest.approx(reference.long_v(structure) / 1e3, rel=1e-8)
    assert result['v_transverse_km_s'] == pytest.approx(reference.trans_v(structure) / 1e3, rel=1e-8)


@pytest.mark.parametrize('system', list(TENSORS))
def test_crystal_system_is_recognised(system):
    expected = None if system == 'monoclinic' else system
    assert detect_crystal_system(TENSORS[system][0]) == expected
    stability = check_mechanical_stability(TENSORS[system][0])
    assert stability.stable
    assert stability.reasons == []
    assert stability.crystal_system == expected
    assert np.all(stability.eigenvalues > 0)


def test_cubic_against_hand_computation():
    """Closed-form cubic VRH, Chen's hardness, Cauchy pressure and the Debye mean velocity."""
    c11, c12, c44, density = 49.1, 12.8, 12.7, 2.165
    result = mechanical_descriptors(cubic(c11, c12, c44), density)

    B = (c11 + 2 * c12) / 3
    G_V = (c11 - c12 + 3 * c44) / 5
    G_R = 5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12))
    G = (G_V + G_R) / 2
    assert result['bulk_modulus_GPa'] == pytest.approx(B, rel=1e-12)
    assert result['shear_modulus_GPa'] == pytest.approx(G, rel=1e-12)
    assert result['lame_lambda_GPa'] == pytest.approx(B - 2 * G / 3, rel=1e-12)
    assert result['p_wave_modulus_GPa'] == pytest.approx(B + 4 * G / 3, rel=1e-12)
    assert result['pugh_ratio'] == pytest.approx(G / B, rel=1e-12)
    assert result['vickers_hardness_GPa'] == pytest.approx(2 * ((G / B) ** 2 * G) ** 0.585 - 3, rel=1e-12)
    assert result['cauchy_pressure_GPa'] == pytest.approx(c12 - c44, rel=1e-12)
    # 1 GPa / (1 g/cm³) = 1 (km/s)²
    v_l, v_t = np.sqrt((B + 4 * G / 3) / density), np.sqrt(G / density)
    assert result['v_longitudinal_km_s'] == pytest.approx(v_l, rel=1e-12)
    assert result['v_transverse_km_s'] == pytest.approx(v_t, rel=1e-12)
    assert result['velocity_ratio'] == pytest.approx(v_l / v_t, rel=1e-12)
    assert result['v_mean_km_s'] == pytest.approx((3 / (1 / v_l**3 + 2 / v_t**3)) ** (1 / 3), rel=1e-12)
    # NaCl: v_l ≈ 4.4 km/s, v_t ≈ 2.6 km/s (measured 4.6 / 2.6)
    assert 4.0 < result['v_longitudinal_km_s'] < 5.0
    assert 2.2 < result['v_transverse_km_s'] < 3.0


def test_isotropic_tensor_gives_lame_constants():
    """For an isotropic C (λ, μ) Voigt = Reuss: λ, G = μ, E and ν are the textbook values."""
    lam, mu = 50.0, 30.0
    C = voigt(lam + 2 * mu, lam + 2 * mu, lam + 2 * mu, lam, lam, lam, mu, mu, mu)
    result = mechanical_descriptors(C, 3.0)
    assert result['lame_lambda_GPa'] == pytest.approx(lam, rel=1e-12)
    assert result['shear_modulus_GPa'] == pytest.approx(mu, rel=1e-12)
    assert result['youngs_modulus_GPa'] == pytest.approx(mu * (3 * lam + 2 * mu) / (lam + mu), rel=1e-12)
    assert result['poisson_ratio'] == pytest.approx(lam / (2 * (lam + mu)), rel=1e-12)
    assert result['p_wave_modulus_GPa'] == pytest.approx(lam + 2 * mu, rel=1e-12)
    assert result['cauchy_pressure_GPa'] == pytest.approx(lam - mu, rel=1e-12)


def test_orthorhombic_cauchy_pressure_is_the_mean():
    C = TENSORS['orthorhombic'][0]
    expected = ((69.0 - 66.7) + (69.0 - 81.3) + (73.0 - 80.9)) / 3
    assert mechanical_descriptors(C, 3.22)['cauchy_pressure_GPa'] == pytest.approx(expected, rel=1e-12)


def test_monoclinic_reuss_bound_uses_the_full_compliance():
    C = TENSORS['monoclinic'][0]
    moduli = vrh_moduli(C)
    S = np.linalg.inv(C)
    assert moduli.bulk_reuss_GPa == pytest.approx(1 / S[:3, :3].sum(), rel=1e-12)
    assert moduli.bulk_reuss_GPa <= moduli.bulk_voigt_GPa
    assert moduli.shear_reuss_GPa <= moduli.shear_voigt_GPa


def test_unstable_cubic_is_refused_with_the_criterion():
    C = cubic(40.0, 60.0, 20.0)  # C12 > C11
    with pytest.raises(MechanicallyUnstableError, match=r'C11 − C12 > 0') as info:
        mechanical_descriptors(C, 3.0)
    assert isinstance(info.value, ValueError)
    assert 'eigenvalues' in str(info.value)
    assert not info.value.stability.stable
    assert info.value.stability.crystal_system == 'cubic'
    assert np.min(info.value.stability.eigenvalues) == pytest.approx(-20.0)


def test_non_positive_definite_tensor_is_refused():
    """A monoclinic tensor (no Born system) with a negative eigenvalue: the general test names it."""
    C = TENSORS['monoclinic'][0].copy()
    C[0, 2] = C[2, 0] = 240.0  # C13 > sqrt(C11 C33): the xx–zz block is indefinite
    stability = check_mechanical_stability(C)
    assert not stability.stable
    assert stability.crystal_system is None
    assert stability.eigenvalues[0] < 0
    with pytest.raises(MechanicallyUnstableError, match='positive definiteness'):
        mechanical_descriptors(C, 3.27)


def test_orthorhombic_born_criterion_is_named():
    C = voigt(100.0, 110.0, 120.0, 105.0, 50.0, 50.0, 30.0, 40.0, 50.0)  # C11 C22 < C12²
    with pytest.raises(MechanicallyUnstableError, match=r'C11 C22 > C12²'):
        mechanical_descriptors(C, 3.0)


def test_allow_unstable_returns_values():
    c11, c12, c44 = 40.0, 60.0, 20.0
    result = mechanical_descriptors(cubic(c11, c12, c44), 3.0, allow_unstable=True)
    assert result['mechanically_stable'] is False
    assert set(result) == {*MECHANICAL_DESCRIPTOR_KEYS, 'mechanically_stable'}
    assert result['bulk_modulus_GPa'] == pytest.approx((c11 + 2 * c12) / 3)
    assert result['cauchy_pressure_GPa'] == pytest.approx(c12 - c44)
    assert result['shear_modulus_GPa'] < 0
    assert np.isnan(result['v_transverse_km_s'])
    stable = mechanical_descriptors(TENSORS['cubic'][0], 2.165, allow_unstable=True)
    assert stable['mechanically_stable'] is True


def test_named_crystal_system():
    C = TENSORS['tetragonal'][0]
    assert check_mechanical_stability(C, 'Tetragonal').crystal_system == 'tetragonal'
    assert check_mechanical_stability(C, 'monoclinic').crystal_system is None
    with pytest.raises(ValueError, match='cubic pattern'):
        check_mechanical_stability(C, 'cubic')
    with pytest.raises(ValueError, match='unknown crystal system'):
        check_mechanical_stability(C, 'rhombic')


def test_validation():
    C = TENSORS['cubic'][0]
    with pytest.raises(ValueError, match='6×6'):
        mechanical_descriptors(np.eye(3), 2.0)
    bad = C.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match='non-finite'):
        mechanical_descriptors(bad, 2.0)
    for density in (0.0, -1.0, np.inf):
        with pytest.raises(ValueError, match='density'):
            mechanical_descriptors(C, density)
    asymmetric = C.copy()
    asymmetric[0, 1] += 5.0
    with pytest.raises(ValueError, match='not symmetric'):
        mechanical_descriptors(asymmetric, 2.0)
    slightly = C.copy()
    slightly[0, 1] += 0.1
    with pytest.warns(UserWarning, match='symmetrised'):
        symmetric = validate_elastic_tensor(slightly)
    assert np.allclose(symmetric, symmetric.T)
    assert symmetric[0, 1] == pytest.approx(C[0, 1] + 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        validate_elastic_tensor(C)  # exactly symmetric: no warning
