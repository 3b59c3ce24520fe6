"""Tests of the Arrhenius fit and extrapolation (no AiiDA).

Data are generated from a known Ea and D0 with seeded noise of known σ; the fit must recover
them within its stated uncertainty, with calibrated coverage over many seeds, and agree with
pymatgen-analysis-diffusion's ``fit_arrhenius`` / ``get_extrapolated_diffusivity`` /
``get_extrapolated_conductivity`` (unweighted least squares of ln D on 1/T, k_B/e from
scipy.constants) on the same data.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.constants
import scipy.stats

from aiida_superionic.descriptors.arrhenius import fit_arrhenius
from aiida_superionic.descriptors.transport import nernst_einstein_conductivity

#: k_B in eV/K, from CODATA as pymatgen computes it.
KB_EV = scipy.constants.k / scipy.constants.e
ONE_SIGMA = scipy.stats.norm.cdf(1) - scipy.stats.norm.cdf(-1)

TRUE_EA_EV = 0.25
TRUE_D0_CM2_S = 2.0e-3
TEMPERATURES_K = np.array([500.0, 700.0, 900.0, 1100.0, 1300.0])


def arrhenius(temperatures_K, activation_energy_eV=TRUE_EA_EV, prefactor_cm2_s=TRUE_D0_CM2_S):
    """D = D0 exp(−Ea / k_B T) in cm²/s."""
    return prefactor_cm2_s * np.exp(-activation_energy_eV / (KB_EV * np.asarray(temperatures_K)))


def noisy(seed: int, relative_sigma: float, temperatures_K=TEMPERATURES_K) -> np.ndarray:
    """Arrhenius D with log-normal noise: ln D scattered by ``relative_sigma`` (Gaussian)."""
    rng = np.random.default_rng(seed)
    return arrhenius(temperatures_K) * np.exp(rng.normal(0.0, relative_sigma, len(temperatures_K)))


def binomial_band(probability: float, trials: int, sigmas: float = 3.0) -> tuple[float, float]:
    spread = sigmas * np.sqrt(probability * (1 - probability) / trials)
    return probability - spread, probability + spread


# -------------------------------------------------------------------------------------------------
# 1. known answers and pymatgen-analysis-diffusion
# -------------------------------------------------------------------------------------------------


def test_noiseless_data_match_pymatgen_fit_and_extrapolation():
    from pymatgen.analysis.diffusion.analyzer import fit_arrhenius as pymatgen_fit
    from pymatgen.analysis.diffusion.analyzer import get_extrapolated_diffusivity

    diffusion = arrhenius(TEMPERATURES_K)
    pymatgen_Ea, pymatgen_D0, _ = pymatgen_fit(TEMPERATURES_K, diffusion)
    pymatgen_D300 = get_extrapolated_diffusivity(TEMPERATURES_K, diffusion, 300.0)
    for stds in (None, 0.1 * diffusion):
        fit = fit_arrhenius(TEMPERATURES_K, diffusion, stds)
        assert fit.activation_energy_eV == pytest.approx(TRUE_EA_EV, rel=1e-10)
        assert fit.prefactor_cm2_s == pytest.approx(TRUE_D0_CM2_S, rel=1e-10)
        assert fit.activation_energy_eV == pytest.approx(pymatgen_Ea, rel=1e-10)
        assert fit.prefactor_cm2_s == pytest.approx(pymatgen_D0, rel=1e-10)
        extrapolated = fit.diffusion_coefficient_at(300.0)
        assert extrapolated.value == pytest.approx(pymatgen_D300, rel=1e-10)
        assert extrapolated.value == pytest.approx(arrhenius(300.0), rel=1e-10)
    # noiseless and unweighted: the scatter is zero, so is the uncertainty
    assert fit_arrhenius(TEMPERATURES_K, diffusion).activation_energy_std_eV == pytest.approx(0.0, abs=1e-9)


def test_unweighted_standard_error_equals_pymatgen_std_ea():
    from pymatgen.analysis.diffusion.analyzer import fit_arrhenius as pymatgen_fit

    diffusion = noisy(seed=3, relative_sigma=0.2)
    fit = fit_arrhenius(TEMPERATURES_K, diffusion)
    pymatgen_Ea, pymatgen_D0, pymatgen_std = pymatgen_fit(TEMPERATURES_K, diffusion)
    assert fit.activation_energy_eV == pytest.approx(pymatgen_Ea, rel=1e-10)
    assert fit.prefactor_cm2_s == pytest.approx(pymatgen_D0, rel=1e-10)
    assert fit.activation_energy_std_eV == pytest.approx(pymatgen_std, rel=1e-10)
    assert not fit.weighted
    assert 'unweighted' in fit.warning
    # 68 % intervals from the scatter of 5 points use Student's t with 3 degrees of freedom
    assert fit.coverage_factor == pytest.approx(scipy.stats.t.ppf(0.5 + ONE_SIGMA / 2, 3))


def test_extrapolated_conductivity_matches_pymatgen():
    from pymatgen.analysis.diffusion.analyzer import get_extrapolated_conductivity
    from pymatgen.core import Lattice, Species, Structure

    structure = Structure(
        Lattice.cubic(5.0),
        [Species('Li', 1)] * 4 + [Species('S', -2)] * 2,
        [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]],
    )
    diffusion = noisy(seed=1, relative_sigma=0.1)
    expected = get_extrapolated_conductivity(TEMPERATURES_K, diffusion, 300.0, structure, Species('Li', 1))
    conductivity = fit_arrhenius(TEMPERATURES_K, diffusion).conductivity_at(4, 1, structure.volume, 300.0)
    assert conductivity.value == pytest.approx(expected, rel=1e-9)
    assert conductivity.lower < conductivity.value < conductivity.upper


def test_recovers_known_answer_within_stated_uncertainty():
    relative_sigma = 0.15
    diffusion = noisy(seed=7, relative_sigma=relative_sigma)
    fit = fit_arrhenius(TEMPERATURES_K, diffusion, relative_sigma * diffusion)
    assert fit.weighted
    assert fit.warning == ''
    assert fit.coverage_factor == 1.0
    # the stated σ is the textbook one for known σ_lnD: σ_Ea = k_B σ / sqrt(Σ (x − x̄)²), x = 1/T
    x = 1 / TEMPERATURES_K
    assert fit.activation_energy_std_eV == pytest.approx(
        KB_EV * relative_sigma / np.sqrt(np.sum((x - x.mean()) ** 2)), rel=1e-9
    )
    assert abs(fit.activation_energy_eV - TRUE_EA_EV) < 2 * fit.activation_energy_std_eV
    assert abs(np.log(fit.prefactor_cm2_s / TRUE_D0_CM2_S)) < 2 * fit.ln_prefactor_std
    assert fit.prefactor_std_cm2_s == pytest.approx(fit.prefactor_cm2_s * fit.ln_prefactor_std)
    # Ea and ln D0 are strongly positively correlated (a steeper line has a higher intercept)
    correlation = fit.covariance[0, 1] / np.sqrt(fit.covariance[0, 0] * fit.covariance[1, 1])
    assert correlation > 0.9
    assert fit.covariance_activation_energy_prefactor_eV_cm2_s == pytest.approx(
        fit.prefactor_cm2_s * fit.covariance[0, 1]
    )
    room = fit.diffusion_coefficient_at(300.0)
    assert abs(np.log(room.value / arrhenius(300.0))) < 2 * room.ln_std
    assert room.lower < room.value < room.upper
    # the interval is symmetric in ln D: value² = lower × upper
    assert room.value**2 == pytest.approx(room.lower * room.upper, rel=1e-12)


def test_extrapolation_variance_by_propagation_matches_sampling():
    """var ln D(T) from the covariance equals the spread of ln D(T) over parameter samples."""
    diffusion = noisy(seed=11, relative_sigma=0.2)
    fit = fit_arrhenius(TEMPERATURES_K, diffusion, 0.2 * diffusion)
    rng = np.random.default_rng(0)
    samples = rng.multivariate_normal([fit.activation_energy_eV, np.log(fit.prefactor_cm2_s)], fit.covariance, 20000)
    ln_d = samples[:, 1] - samples[:, 0] / (KB_EV * 300.0)
    assert fit.diffusion_coefficient_at(300.0).ln_std == pytest.approx(ln_d.std(), rel=0.03)
    # the interval widens away from the data
    assert fit.diffusion_coefficient_at(300.0).ln_std > 2 * fit.diffusion_coefficient_at(900.0).ln_std


# -------------------------------------------------------------------------------------------------
# 2. calibration over many seeds
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize('weighted', [True, False])
def test_intervals_are_calibrated_over_many_seeds(weighted):
    """Ea ± 1σ and the 300 K interval of D contain the truth 68.3 % of the time."""
    realisations, relative_sigma = 2000, 0.2
    temperatures = TEMPERATURES_K[:4]
    true_room = arrhenius(300.0)
    covered_Ea = covered_D0 = covered_room = 0
    for seed in range(realisations):
        diffusion = noisy(seed, relative_sigma, temperatures)
        fit = fit_arrhenius(temperatures, diffusion, relative_sigma * diffusion if weighted else None)
        half_width = fit.coverage_factor * fit.activation_energy_std_eV
        covered_Ea += abs(fit.activation_energy_eV - TRUE_EA_EV) < half_width
        covered_D0 += abs(np.log(fit.prefactor_cm2_s / TRUE_D0_CM2_S)) < fit.coverage_factor * fit.ln_prefactor_std
        room = fit.diffusion_coefficient_at(300.0)
        covered_room += room.lower < true_room < room.upper
    low, high = binomial_band(ONE_SIGMA, realisations)  # [0.651, 0.714] for 2000
    coverage = np.array([covered_Ea, covered_D0, covered_room]) / realisations
    print(f'weighted={weighted}: coverage Ea {coverage[0]:.3f}, D0 {coverage[1]:.3f}, D(300 K) {coverage[2]:.3f}')
    assert np.all((low <= coverage) & (coverage <= high))


def test_weighted_fit_with_two_temperatures_uses_stated_errors():
    temperatures = np.array([600.0, 1000.0])
    diffusion = arrhenius(temperatures)
    fit = fit_arrhenius(temperatures, diffusion, 0.1 * diffusion)
    assert fit.activation_energy_eV == pytest.approx(TRUE_EA_EV, rel=1e-10)
    assert fit.degrees_of_freedom == 0
    assert np.isnan(fit.reduced_chi_squared)
    # two points with known σ_lnD = 0.1: σ_Ea = k_B √2 · 0.1 / |1/T1 − 1/T2|
    assert fit.activation_energy_std_eV == pytest.approx(KB_EV * np.sqrt(2) * 0.1 / (1 / 600 - 1 / 1000), rel=1e-9)
    assert 'only 2 temperatures' in fit.warning


def test_unweighted_fit_with_two_temperatures_has_no_uncertainty():
    temperatures = np.array([600.0, 1000.0])
    fit = fit_arrhenius(temperatures, arrhenius(temperatures))
    assert fit.activation_energy_eV == pytest.approx(TRUE_EA_EV, rel=1e-10)
    assert np.isnan(fit.activation_energy_std_eV)
    assert np.isnan(fit.prefactor_std_cm2_s)
    room = fit.diffusion_coefficient_at(300.0)
    assert room.value == pytest.approx(arrhenius(300.0), rel=1e-10)
    assert np.isnan(room.lower)
    assert np.isnan(room.upper)
    assert '2 temperatures give no uncertainty estimate from the scatter' in fit.warning
    # undefined numbers are left out of the descriptors (an AiiDA Dict cannot store NaN)
    descriptors = fit.descriptors()
    assert descriptors['activation_energy_eV'] == fit.activation_energy_eV
    for key in ('activation_energy_std_eV', 'diffusion_coefficient_300K_lower_cm2_s', 'arrhenius_reduced_chi_squared'):
        assert key not in descriptors


def test_scatter_beyond_stated_errors_is_reported_and_optionally_scaled():
    diffusion = noisy(seed=5, relative_sigma=0.5)  # 5x the errors we state below
    stated = 0.1 * diffusion
    plain = fit_arrhenius(TEMPERATURES_K, diffusion, stated)
    assert plain.reduced_chi_squared > 3
    assert 'exceeds the stated D errors' in plain.warning
    scaled = fit_arrhenius(TEMPERATURES_K, diffusion, stated, scale_by_scatter=True)
    assert scaled.activation_energy_eV == pytest.approx(plain.activation_energy_eV)
    assert scaled.activation_energy_std_eV == pytest.approx(
        plain.activation_energy_std_eV * np.sqrt(plain.reduced_chi_squared), rel=1e-9
    )
    assert 'scaled' in scaled.warning


# -------------------------------------------------------------------------------------------------
# 3. descriptors and validation
# -------------------------------------------------------------------------------------------------


def test_descriptors_are_flat_scalars_with_units():
    diffusion = noisy(seed=2, relative_sigma=0.1)
    fit = fit_arrhenius(TEMPERATURES_K, diffusion, 0.1 * diffusion)
    descriptors = fit.descriptors(ions=56, charge=1, volume_A3=2181.8)
    room_D = fit.diffusion_coefficient_at(300.0)
    assert descriptors['activation_energy_eV'] == fit.activation_energy_eV
    assert descriptors['activation_energy_std_eV'] == fit.activation_energy_std_eV
    assert descriptors['arrhenius_prefactor_cm2_s'] == fit.prefactor_cm2_s
    assert descriptors['diffusion_coefficient_300K_cm2_s'] == room_D.value
    assert descriptors['diffusion_coefficient_300K_lower_cm2_s'] == room_D.lower
    assert descriptors['conductivity_300K_mS_cm'] == pytest.approx(
        nernst_einstein_conductivity(room_D.value, 56, 1, 2181.8, 300.0)
    )
    assert descriptors['conductivity_300K_lower_mS_cm'] < descriptors['conductivity_300K_mS_cm']
    assert descriptors['conductivity_300K_mS_cm'] < descriptors['conductivity_300K_upper_mS_cm']
    for key, value in descriptors.items():
        assert isinstance(value, (bool, int, float, str)), key
        assert not isinstance(value, np.generic), key
    assert 'conductivity_300K_mS_cm' not in fit.descriptors()
    assert 'diffusion_coefficient_400K_cm2_s' in fit.descriptors(temperature_K=400.0)


@pytest.mark.parametrize(
    ('temperatures', 'diffusion', 'stds', 'message'),
    [
        ([800.0], [1e-6], None, 'at least 2 distinct temperatures'),
        ([800.0, 800.0], [1e-6, 2e-6], None, 'at least 2 distinct temperatures'),
        ([600.0, 800.0], [1e-6], None, '2 temperatures but 1 diffusion'),
        ([600.0, 800.0], [1e-6, 0.0], None, 'finite and positive for ln D'),
        ([600.0, 800.0], [1e-6, -1e-7], None, 'finite and positive for ln D'),
        ([600.0, -800.0], [1e-6, 2e-6], None, 'temperatures must be finite and positive'),
        ([600.0, 800.0], [1e-6, 2e-6], [1e-7, 0.0], 'finite positive numbers'),
        ([600.0, 800.0], [1e-6, 2e-6], [1e-7], 'finite positive numbers'),
    ],
)
def test_fit_rejects_bad_input(temperatures, diffusion, stds, message):
    with pytest.raises(ValueError, match=message):
        fit_arrhenius(temperatures, diffusion, stds)


def test_single_temperature_error_explains_the_two_point_limit():
    with pytest.raises(ValueError, match='2 give no uncertainty estimate from the scatter'):
        fit_arrhenius([800.0], [1e-6])
