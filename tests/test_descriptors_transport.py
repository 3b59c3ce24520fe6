"""Tests of the transport numerics beyond the paper's D (no AiiDA).

Expectations come from outside the code under test: brute-force O(T²) tensors, random walks of
known (anisotropic) D, walkers whose collective motion is known exactly, CODATA constants by
hand and pymatgen-analysis-diffusion's conversion factor, calibration over hundreds of seeded
walks, hand-built caged and hopping trajectories, and (marked ``realdata``) a real VASP run.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.constants
import scipy.stats

from aiida_superionic.descriptors.block_averaging import block_analysis, one_sigma_half_width
from aiida_superionic.descriptors.diffusion import analyse_tracer_diffusion
from aiida_superionic.descriptors.msd import MSD_COLUMN_BATCH, compute_msd, fit_diffusion_coefficient, paper_fit_window
from aiida_superionic.descriptors.msd_tensor import (
    compute_collective_msd,
    compute_msd_tensor,
    fit_diffusion_tensor,
    msd_loglog_slope,
)
from aiida_superionic.descriptors.transport import (
    DIFFUSIVE,
    NON_LINEAR,
    TOO_FEW_HOPS,
    analyse_transport,
    assess_diffusivity,
    haven_ratio,
    nernst_einstein_conductivity,
)

#: Probability inside ±1σ of a normal distribution.
ONE_SIGMA = scipy.stats.norm.cdf(1) - scipy.stats.norm.cdf(-1)

# -------------------------------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------------------------------


def brute_force_msd_tensor(positions: np.ndarray) -> np.ndarray:
    """< Δr_a Δr_b > by the explicit loop over lags and time origins, O(T²)."""
    frames = positions.shape[0]
    tensor = np.zeros((frames, 3, 3))
    for lag in range(1, frames):
        displacements = positions[lag:] - positions[:-lag]  # (origins, atoms, 3)
        tensor[lag] = (
            np.einsum('tna,tnb->ab', displacements, displacements) / displacements.shape[0] / len(positions[0])
        )
    return tensor


def walk_trajectory(walkers: np.ndarray, cell_A: float = 15.0, dt_ps: float = 0.01):
    """Wrap unwrapped 'Li' walkers (frames, N, 3) into a cubic cell with 3 fixed 'P' atoms."""
    frames, count, _ = walkers.shape
    framework = np.broadcast_to(np.array([[1.0, 1.0, 1.0], [8.0, 8.0, 8.0], [1.0, 8.0, 4.0]]), (frames, 3, 3))
    positions = np.concatenate([walkers, framework], axis=1) % cell_A
    symbols = ['Li'] * count + ['P'] * 3
    masses = np.array([6.94] * count + [30.97] * 3)
    return positions, np.eye(3) * cell_A, np.arange(frames) * dt_ps, symbols, masses


def random_walkers(seed: int, frames: int, count: int, step_std_A: float, cell_A: float = 15.0) -> np.ndarray:
    """Unwrapped Gaussian walkers starting uniformly in the cell, shape (frames, count, 3)."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0.0, cell_A, (1, count, 3))
    steps = rng.normal(0.0, step_std_A, (frames - 1, count, 3))
    return np.concatenate([start, steps]).cumsum(axis=0)


def paper_fits(positions: np.ndarray, dt_ps: float) -> tuple[float, float]:
    """Tracer D and collective D_σ (cm²/s) of a whole run in the paper's window."""
    first, last = paper_fit_window(len(positions))
    lags = np.arange(last + 1) * dt_ps
    tracer = fit_diffusion_coefficient(lags, compute_msd(positions, last).sum(axis=1), lags[first])
    collective = fit_diffusion_coefficient(lags, compute_collective_msd(positions, last).sum(axis=1), lags[first])
    return tracer.diffusion_coefficient_cm2_s, collective.diffusion_coefficient_cm2_s


def binomial_band(probability: float, trials: int, sigmas: float = 3.0) -> tuple[float, float]:
    """Range of an observed frequency within ``sigmas`` binomial standard deviations."""
    spread = sigmas * np.sqrt(probability * (1 - probability) / trials)
    return probability - spread, probability + spread


# -------------------------------------------------------------------------------------------------
# 1. MSD tensor
# -------------------------------------------------------------------------------------------------


def test_msd_tensor_equals_brute_force_double_loop():
    rng = np.random.default_rng(11)
    # correlated directions (a sheared walk), more atoms than one projection batch, a 50 Å offset
    mixing = np.array([[1.0, 0.4, -0.2], [0.0, 0.5, 0.3], [0.0, 0.0, 1.5]])
    atoms = MSD_COLUMN_BATCH // 3 + 7  # more atoms than one FFT batch of compute_msd
    positions = 50.0 + np.cumsum(rng.normal(size=(30, atoms, 3)) @ mixing, axis=0)
    tensor = compute_msd_tensor(positions)
    expected = brute_force_msd_tensor(positions)
    assert tensor.shape == (30, 3, 3)
    np.testing.assert_allclose(tensor, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(tensor, tensor.transpose(0, 2, 1), atol=0)
    np.testing.assert_allclose(np.einsum('taa->ta', tensor), compute_msd(positions), rtol=1e-12, atol=1e-12)
    assert np.abs(tensor[10, 0, 1]) > 0.1 * tensor[10, 0, 0]  # off-diagonal terms are really tested
    np.testing.assert_allclose(compute_msd_tensor(positions, max_lag=6), expected[:7], rtol=1e-9, atol=1e-9)


def test_anisotropic_random_walk_recovers_rotated_diffusion_tensor():
    # D = R diag(1.0, 0.3, 0.05) Rᵀ Å²/ps with R a rotation about a skew axis: every element is non-zero.
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    angle = 0.7
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew
    true_A2_ps = rotation @ np.diag([1.0, 0.3, 0.05]) @ rotation.T
    dt_ps, frames, walkers, groups = 0.02, 800, 2000, 50
    rng = np.random.default_rng(5)
    steps = rng.normal(size=(frames - 1, walkers, 3)) @ np.linalg.cholesky(2 * true_A2_ps * dt_ps).T
    positions = np.concatenate([np.zeros((1, walkers, 3)), steps]).cumsum(axis=0)

    first, last = paper_fit_window(frames)
    lags = np.arange(last + 1) * dt_ps
    tensor = fit_diffusion_tensor(lags, compute_msd_tensor(positions, last), lags[first])
    np.testing.assert_allclose(tensor, tensor.T, atol=0)
    # trace / 3 is the paper's scalar D of the same MSD, exactly (both fits are linear in the MSD)
    scalar = fit_diffusion_coefficient(lags, compute_msd(positions, last).sum(axis=1), lags[first])
    assert np.trace(tensor) / 3 == pytest.approx(scalar.diffusion_coefficient_cm2_s, rel=1e-12)

    # tensors of 50 independent groups of 40 walkers: their mean is the all-walker tensor
    # (linearity), their spread its standard error
    per_group = np.array(
        [
            fit_diffusion_tensor(lags, compute_msd_tensor(group, last), lags[first])
            for group in np.split(positions, groups, axis=1)
        ]
    )
    np.testing.assert_allclose(per_group.mean(axis=0), tensor, rtol=1e-9, atol=1e-15)
    standard_error = per_group.std(axis=0, ddof=1) / np.sqrt(groups)
    true_cm2_s = true_A2_ps * 1e-4
    assert np.all(standard_error < 0.05 * true_cm2_s.max())
    assert np.all(np.abs(tensor - true_cm2_s) < 4 * standard_error)
    assert np.all(np.abs(true_cm2_s) > 4 * standard_error)  # every element is resolved, signs included
    # principal axes: the fast direction is found
    values, vectors = np.linalg.eigh(tensor)
    assert values[-1] == pytest.approx(1.0e-4, rel=0.15)
    assert abs(vectors[:, -1] @ rotation[:, 0]) > 0.98


# -------------------------------------------------------------------------------------------------
# 2. collective MSD, Haven ratio
# -------------------------------------------------------------------------------------------------


def test_collective_msd_of_perfectly_correlated_walkers_is_n_times_tracer():
    count = 6
    rng = np.random.default_rng(8)
    common = np.cumsum(rng.normal(0.0, 0.1, (400, 1, 3)), axis=0)
    positions = common + rng.uniform(0.0, 15.0, (1, count, 3))  # same steps, different sites
    collective = compute_collective_msd(positions)
    np.testing.assert_allclose(collective, count * compute_msd(positions), rtol=1e-9, atol=1e-12)

    walkers = positions + 7.0  # inside the cell of walk_trajectory, wrapped there
    result = analyse_transport(*walk_trajectory(walkers, dt_ps=0.01), 'Li', temperature_K=600, nominal_charge=1)
    D, D_sigma = result.diffusion_coefficient_cm2_s, result.collective_diffusion_coefficient_cm2_s
    assert D_sigma == pytest.approx(count * D, rel=1e-9)
    assert result.haven_ratio == pytest.approx(1 / count, rel=1e-9)
    assert result.collective_conductivity_mS_cm == pytest.approx(count * result.nernst_einstein_conductivity_mS_cm)


def test_collective_msd_definition_by_brute_force():
    rng = np.random.default_rng(2)
    positions = np.cumsum(rng.normal(size=(25, 4, 3)), axis=0)
    total = positions.sum(axis=1)
    expected = np.array([((total[lag:] - total[: len(total) - lag]) ** 2).mean(axis=0) for lag in range(1, 25)]) / 4
    np.testing.assert_allclose(compute_collective_msd(positions)[1:], expected, rtol=1e-10)


def test_independent_walkers_have_haven_ratio_one_within_uncertainty():
    walkers = random_walkers(seed=21, frames=2000, count=32, step_std_A=np.sqrt(2 * 0.1 * 0.01))
    result = analyse_transport(*walk_trajectory(walkers), 'Li', temperature_K=800, nominal_charge=1)
    D, D_sigma = result.diffusion_coefficient_cm2_s, result.collective_diffusion_coefficient_cm2_s
    combined = np.hypot(result.diffusion_coefficient_std_cm2_s, result.collective_diffusion_coefficient_std_cm2_s)
    assert abs(D_sigma - D) < 2 * combined
    assert abs(result.haven_ratio - 1.0) < 2 * result.haven_ratio_std
    # One run pins H_R down poorly: in the paper's window D_σ (one collective coordinate) has the
    # relative error of a single ion's D, whatever the run length. The calibration test checks
    # over 400 runs that D_σ and D* agree on average.
    # D_σ is the noisy one: its block error is several times that of the tracer D
    assert result.collective_diffusion_coefficient_std_cm2_s > 2 * result.diffusion_coefficient_std_cm2_s


def test_haven_ratio_propagation_and_undefined_cases():
    ratio, std = haven_ratio(1.0e-6, 1.0e-7, 2.0e-6, 4.0e-7)
    assert ratio == pytest.approx(0.5)
    assert std == pytest.approx(0.5 * np.hypot(0.1, 0.2))
    assert all(np.isnan(haven_ratio(1.0e-6, 1.0e-7, -1.0e-7, 4.0e-7)))
    assert all(np.isnan(haven_ratio(1.0e-6, 1.0e-7, 0.0, 4.0e-7)))


# -------------------------------------------------------------------------------------------------
# 3. uncertainty calibration by block averaging
# -------------------------------------------------------------------------------------------------


def test_block_uncertainty_is_calibrated_over_many_random_walks():
    """The true D lies inside D ± 1σ in 68.3 % of seeded walks, for D* and for D_σ alike."""
    realisations, walkers, frames, dt_ps = 400, 8, 1000, 0.01
    step_std = np.sqrt(2 * 0.1 * dt_ps)  # D = 0.1 Å²/ps per walker
    true_D = 0.1 * 1e-4
    tracer, collective, tracer_std, collective_std = (np.empty(realisations) for _ in range(4))
    for seed in range(realisations):
        positions = random_walkers(seed, frames, walkers, step_std)
        tracer[seed], collective[seed] = paper_fits(positions, dt_ps)
        blocks = block_analysis(positions, dt_ps, blocks=5)
        tracer_std[seed] = blocks.diffusion_coefficient_std_cm2_s
        collective_std[seed] = blocks.collective_diffusion_coefficient_std_cm2_s

    low, high = binomial_band(ONE_SIGMA, realisations)  # 3 binomial σ: [0.615, 0.750] for 400
    tracer_coverage = np.mean(np.abs(tracer - true_D) < tracer_std)
    collective_coverage = np.mean(np.abs(collective - true_D) < collective_std)  # independent: D_σ = D
    print(f'coverage of D ± 1σ: tracer {tracer_coverage:.3f}, collective {collective_coverage:.3f}')
    assert low <= tracer_coverage <= high
    assert low <= collective_coverage <= high
    # the 95 % Student-t interval (t_0.975 of 4 degrees of freedom instead of t_0.841) covers 95 %
    ratio = scipy.stats.t.ppf(0.975, 4) / blocks.coverage_factor
    low95, high95 = binomial_band(0.95, realisations)
    assert low95 <= np.mean(np.abs(tracer - true_D) < ratio * tracer_std) <= high95

    # The block spread estimates the spread of the full-run D itself (self-similarity), not that of
    # a mean of blocks: it is not smaller by √5. The mean of s (without the t factor) is
    # c4(4) = 0.94 of the true σ.
    empirical = tracer.std(ddof=1)
    raw = tracer_std / blocks.coverage_factor
    assert raw.mean() == pytest.approx(0.94 * empirical, rel=0.1)
    # the estimators are unbiased: the mean D* and D_σ agree with the truth (and with each other)
    assert tracer.mean() == pytest.approx(true_D, abs=3 * empirical / np.sqrt(realisations))
    assert collective.mean() == pytest.approx(true_D, abs=3 * collective.std(ddof=1) / np.sqrt(realisations))


def test_one_sigma_half_width_uses_student_t():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    t = scipy.stats.t.ppf(0.5 + ONE_SIGMA / 2, 4)
    assert t == pytest.approx(1.1417, abs=1e-4)
    assert one_sigma_half_width(values) == pytest.approx(t * np.std(values, ddof=1))
    with pytest.raises(ValueError, match='at least 2 values'):
        one_sigma_half_width([1.0])


def test_block_analysis_uses_the_paper_window_per_block():
    positions = random_walkers(seed=4, frames=1003, count=4, step_std_A=0.1)
    blocks = block_analysis(positions, 0.01, blocks=5)
    assert blocks.frames_per_block == 200
    first, last = paper_fit_window(200)
    assert (blocks.fit_start_ps, blocks.fit_end_ps) == pytest.approx((first * 0.01, last * 0.01))
    expected = [paper_fits(positions[200 * b : 200 * (b + 1)], 0.01)[0] for b in range(5)]
    np.testing.assert_allclose(blocks.diffusion_coefficients_cm2_s, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ('frames', 'blocks', 'message'),
    [(100, 1, 'at least 2 blocks'), (24, 5, 'too few for 5 blocks'), (100, 3, 'frame_interval_ps must be positive')],
)
def test_block_analysis_rejects_bad_input(frames, blocks, message):
    interval = -1.0 if 'interval' in message else 0.01
    with pytest.raises(ValueError, match=message):
        block_analysis(np.zeros((frames, 2, 3)), interval, blocks=blocks)


# -------------------------------------------------------------------------------------------------
# 4. Nernst–Einstein conductivity
# -------------------------------------------------------------------------------------------------


def test_nernst_einstein_by_hand_for_cubic_llzo():
    # Cubic Li7La3Zr2O12: a = 12.97 Å, 8 formula units = 56 Li per cell; D = 1e-8 cm²/s at 300 K.
    ions, volume_A3, temperature_K, D_cm2_s = 56, 12.97**3, 300.0, 1.0e-8
    number_density_m3 = ions / (volume_A3 * 1e-30)  # Å³ → m³
    D_m2_s = D_cm2_s * 1e-4  # cm²/s → m²/s
    sigma_S_m = number_density_m3 * scipy.constants.e**2 * D_m2_s / (scipy.constants.k * temperature_K)
    sigma_mS_cm = sigma_S_m * 1e3 / 1e2  # S/m → mS/cm
    result = nernst_einstein_conductivity(D_cm2_s, ions, 1, volume_A3, temperature_K)
    assert result == pytest.approx(sigma_mS_cm, rel=1e-12)
    assert result == pytest.approx(1.5907, rel=1e-4)  # the number itself, worked out once by hand
    # z² and the sign of z; linear in D and N, 1/V, 1/T; arrays convert element-wise
    assert nernst_einstein_conductivity(D_cm2_s, ions, 2, volume_A3, temperature_K) == pytest.approx(4 * result)
    assert nernst_einstein_conductivity(D_cm2_s, ions, -1, volume_A3, temperature_K) == pytest.approx(result)
    assert nernst_einstein_conductivity(D_cm2_s, ions, 1, volume_A3, 600.0) == pytest.approx(result / 2)
    np.testing.assert_allclose(
        nernst_einstein_conductivity(np.array([D_cm2_s, 2 * D_cm2_s]), ions, 1, volume_A3, temperature_K),
        [result, 2 * result],
    )


def test_nernst_einstein_matches_pymatgen_conversion_factor():
    from pymatgen.analysis.diffusion.analyzer import get_conversion_factor
    from pymatgen.core import Lattice, Species, Structure

    structure = Structure(
        Lattice.cubic(4.2),
        [Species('Li', 1), Species('Li', 1), Species('O', -2)],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]],
    )
    factor = get_conversion_factor(structure, Species('Li', 1), 900.0)  # mS/cm per cm²/s
    assert nernst_einstein_conductivity(3.0e-6, 2, 1, structure.volume, 900.0) == pytest.approx(
        3.0e-6 * factor, rel=1e-9
    )
    oxide = get_conversion_factor(structure, Species('O', -2), 900.0)
    assert nernst_einstein_conductivity(3.0e-6, 1, -2, structure.volume, 900.0) == pytest.approx(
        3.0e-6 * oxide, rel=1e-9
    )


@pytest.mark.parametrize(
    ('ions', 'charge', 'volume', 'temperature', 'message'),
    [
        (0, 1, 100.0, 300.0, 'ions must be a positive integer'),
        (2.5, 1, 100.0, 300.0, 'ions must be a positive integer'),
        (2, 0, 100.0, 300.0, 'non-zero integer'),
        (2, 1.5, 100.0, 300.0, 'non-zero integer'),
        (2, 1, 0.0, 300.0, 'must be positive'),
        (2, 1, 100.0, -1.0, 'must be positive'),
    ],
)
def test_nernst_einstein_rejects_bad_input(ions, charge, volume, temperature, message):
    with pytest.raises(ValueError, match=message):
        nernst_einstein_conductivity(1e-6, ions, charge, volume, temperature)


# -------------------------------------------------------------------------------------------------
# 5. diffusivity verdict
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('exponent', 'offset_A2', 'expected'),
    [
        (1.0, 0.0, DIFFUSIVE),
        (1.0, 0.05, DIFFUSIVE),  # a small vibrational offset (~5 % of the MSD) is still linear
        (1.0, 1.0, NON_LINEAR),  # a plateau comparable to the diffusive part: caged
        (0.5, 0.0, NON_LINEAR),  # MSD ~ τ^0.5, sub-diffusive
        (2.0, 0.0, NON_LINEAR),  # ballistic
    ],
)
def test_verdict_on_synthetic_msd(exponent, offset_A2, expected):
    lags = np.arange(201) * 0.01
    msd = offset_A2 + lags**exponent
    alpha = msd_loglog_slope(lags, msd, lags[100])
    if offset_A2 == 0:
        assert alpha == pytest.approx(exponent, rel=1e-12)
    verdict = assess_diffusivity(hops=500, loglog_slope=alpha, mobile_ions=100)
    assert verdict.verdict == expected
    assert f'{alpha:.2f}' in verdict.reason
    assert verdict.is_diffusive == (expected == DIFFUSIVE)


def test_verdict_rules_and_thresholds():
    assert assess_diffusivity(9, 1.0, 64).verdict == TOO_FEW_HOPS
    assert assess_diffusivity(10, 1.0, 64).verdict == DIFFUSIVE
    assert assess_diffusivity(3, 1.0, 64, min_hops=3).verdict == DIFFUSIVE
    # with many ions the band is exactly [0.8, 1.2]
    assert assess_diffusivity(100, 0.79, 100).verdict == NON_LINEAR
    assert assess_diffusivity(100, 0.81, 100).verdict == DIFFUSIVE
    assert assess_diffusivity(100, 1.21, 100).verdict == NON_LINEAR
    # with few ions the band widens to 3 σ of the random-walk spread of α, 0.52/√N
    few = assess_diffusivity(100, 0.70, 16)
    assert few.loglog_slope_noise == pytest.approx(0.13)
    assert few.loglog_slope_tolerance == pytest.approx(0.39)
    assert few.verdict == DIFFUSIVE
    assert assess_diffusivity(100, 0.55, 16).verdict == NON_LINEAR
    # a vanishing MSD cannot be diffusive
    vanishing = assess_diffusivity(100, msd_loglog_slope(np.arange(5.0), np.zeros(5), 2.0), 16)
    assert vanishing.verdict == NON_LINEAR
    assert 'not positive' in vanishing.reason
    too_few = assess_diffusivity(0, float('nan'), 8)
    assert too_few.verdict == TOO_FEW_HOPS
    assert 'only 0' in too_few.reason


def vibrating_lattice(frames: int, noise_A: float, seed: int, hop: tuple[int, int] | None = None):
    """8 'Li' + 8 'S' on a 6 Å cube (as test_descriptors_msd), optionally one Li hopping 3 Å from a frame on, over
    10 frames (a jump in one frame would be half the cell: no unwrapping can tell its direction)."""
    rng = np.random.default_rng(seed)
    grid = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)], dtype=float) * 3.0
    sites = np.concatenate([grid, grid + 1.5])
    positions = sites + rng.normal(0.0, noise_A, (frames, len(sites), 3))
    if hop is not None:
        ion, frame = hop
        positions[frame:, ion, 0] += np.minimum(np.arange(1, frames - frame + 1), 10) * 0.3
    symbols = ['Li'] * 8 + ['S'] * 8
    masses = np.array([6.94] * 8 + [32.06] * 8)
    return positions, np.eye(3) * 6.0, np.arange(frames) * 0.01, symbols, masses


@pytest.mark.parametrize('hop', [None, (3, 500)])
def test_static_lattice_and_single_hop_have_too_few_hops(hop):
    result = analyse_transport(
        *vibrating_lattice(1000, 0.1, seed=3, hop=hop), 'Li', temperature_K=300, nominal_charge=1
    )
    assert result.tracer.hops.hops == (0 if hop is None else 1)
    assert result.verdict.verdict == TOO_FEW_HOPS
    assert result.descriptors()['diffusivity_verdict'] == 'too_few_hops'


def test_random_walk_is_diffusive():
    walkers = random_walkers(seed=9, frames=2000, count=32, step_std_A=np.sqrt(2 * 0.1 * 0.01))
    result = analyse_transport(*walk_trajectory(walkers), 'Li', temperature_K=800, nominal_charge=1)
    assert result.tracer.hops.hops > 100
    assert result.verdict.verdict == DIFFUSIVE, result.verdict.reason
    assert abs(result.verdict.loglog_slope - 1) < 0.15


def caged_hoppers(seed: int, frames: int = 4000, hops: float = 13, vibration_A: float = 0.3):
    """64 'Li' in harmonic wells (Ornstein–Uhlenbeck, 0.02 ps) on a 3 Å cubic grid, rare 3 Å hops.

    The vibration gives an MSD plateau of 6 × 0.3² = 0.54 Å²; about ``hops`` Poisson hops in the
    whole run (none in the first 0.2 ps, where the sites are measured) add a linear part of only
    ~0.9 Å² at τmax: caged, not yet diffusive, yet with enough hops to pass that test.
    """
    rng = np.random.default_rng(seed)
    count, spacing, dt_ps = 64, 3.0, 0.01
    grid = np.array([[i, j, k] for i in range(4) for j in range(4) for k in range(4)], dtype=float) * spacing
    jumps = rng.random((frames, count)) < hops / (frames * count)
    jumps[:20] = False
    directions = np.eye(3)[rng.integers(0, 3, (frames, count))] * rng.choice([-1.0, 1.0], (frames, count, 1))
    sites = grid + np.cumsum(jumps[..., None] * directions * spacing, axis=0)
    decay = np.exp(-dt_ps / 0.02)
    vibration = np.empty((frames, count, 3))
    vibration[0] = rng.normal(0.0, vibration_A, (count, 3))
    kicks = rng.normal(0.0, vibration_A * np.sqrt(1 - decay**2), (frames, count, 3))
    for frame in range(1, frames):
        vibration[frame] = decay * vibration[frame - 1] + kicks[frame]
    framework = np.broadcast_to(np.array([[1.5, 1.5, 1.5], [7.5, 7.5, 4.5]]), (frames, 2, 3))
    positions = np.concatenate([sites + vibration, framework], axis=1) % 12.0
    symbols = ['Li'] * count + ['S'] * 2
    masses = np.array([6.94] * count + [32.06] * 2)
    return positions, np.eye(3) * 12.0, np.arange(frames) * dt_ps, symbols, masses, int(jumps.sum())


def test_caged_ions_with_rare_hops_are_non_linear():
    *trajectory, true_hops = caged_hoppers(seed=0)
    result = analyse_transport(*trajectory, 'Li', temperature_K=500, nominal_charge=1)
    assert result.tracer.hops.hops == true_hops >= 10  # enough hops: not rejected for that
    assert result.verdict.verdict == NON_LINEAR, result.verdict.reason
    assert result.verdict.loglog_slope < 0.75
    assert 'caged' in result.verdict.reason


# -------------------------------------------------------------------------------------------------
# 6. analyse_transport end to end
# -------------------------------------------------------------------------------------------------


def test_analyse_transport_reuses_the_tracer_analysis_and_reports_descriptors():
    walkers = random_walkers(seed=33, frames=1500, count=24, step_std_A=np.sqrt(2 * 0.1 * 0.01))
    positions, cell, times, symbols, masses = walk_trajectory(walkers)
    # a drifting framework and an equilibration period: the preparation must match the tracer's
    positions = positions + (0.002 * np.arange(len(times)))[:, None, None]
    result = analyse_transport(
        positions, cell, times, symbols, masses, 'Li', temperature_K=700, nominal_charge=1, equilibration_ps=1.0
    )
    tracer = analyse_tracer_diffusion(positions, cell, times, symbols, masses, 'Li', equilibration_ps=1.0)
    assert result.tracer.fit == tracer.fit
    np.testing.assert_allclose(result.tracer.msd_xyz_A2, tracer.msd_xyz_A2)
    assert result.tracer.analysed_frames == 1400
    np.testing.assert_allclose(np.einsum('taa->ta', result.msd_tensor_A2), tracer.msd_xyz_A2, rtol=1e-9, atol=1e-12)
    assert np.trace(result.diffusion_tensor_cm2_s) / 3 == pytest.approx(tracer.fit.diffusion_coefficient_cm2_s)
    assert result.volume_A3 == pytest.approx(15.0**3)

    descriptors = result.descriptors()
    expected_keys = {
        'diffusion_coefficient_cm2_s',
        'msd_A2',
        'diffusion_coefficient_std_cm2_s',
        'diffusion_tensor_cm2_s',
        'collective_diffusion_coefficient_cm2_s',
        'collective_diffusion_coefficient_std_cm2_s',
        'haven_ratio',
        'haven_ratio_std',
        'nernst_einstein_conductivity_mS_cm',
        'nernst_einstein_conductivity_std_mS_cm',
        'collective_conductivity_mS_cm',
        'collective_conductivity_std_mS_cm',
        'diffusivity_verdict',
        'diffusivity_reason',
    }
    assert expected_keys <= set(descriptors)
    assert descriptors['diffusion_coefficient_cm2_s'] == tracer.fit.diffusion_coefficient_cm2_s
    assert descriptors['msd_A2'] == tracer.fit.msd_at_fit_end_A2
    tensor = descriptors['diffusion_tensor_cm2_s']
    assert isinstance(tensor, list)
    assert len(tensor) == 3
    assert all(len(row) == 3 and all(isinstance(value, float) for value in row) for row in tensor)
    for key, value in descriptors.items():
        assert isinstance(value, (bool, int, float, str, list)), key
        assert not isinstance(value, np.generic), key
    expected_sigma = nernst_einstein_conductivity(tracer.fit.diffusion_coefficient_cm2_s, 24, 1, 15.0**3, 700.0)
    assert descriptors['nernst_einstein_conductivity_mS_cm'] == pytest.approx(expected_sigma)
    assert descriptors['nernst_einstein_conductivity_std_mS_cm'] == pytest.approx(
        expected_sigma * descriptors['diffusion_coefficient_std_cm2_s'] / descriptors['diffusion_coefficient_cm2_s']
    )


def test_undefined_descriptors_are_left_out():
    walkers = random_walkers(seed=2, frames=500, count=8, step_std_A=0.05)
    result = analyse_transport(*walk_trajectory(walkers), 'Li', temperature_K=600, nominal_charge=1)
    without = dataclasses.replace(result, haven_ratio=float('nan'), haven_ratio_std=float('nan'))
    descriptors = without.descriptors()
    assert 'haven_ratio' not in descriptors
    assert 'haven_ratio_std' not in descriptors
    assert set(result.descriptors()) - set(descriptors) == {'haven_ratio', 'haven_ratio_std'}


@pytest.mark.parametrize(
    ('overrides', 'message'),
    [
        ({'nominal_charge': 0}, 'non-zero integer'),
        ({'nominal_charge': 1.5}, 'non-zero integer'),
        ({'temperature_K': 0.0}, 'temperature must be positive'),
        ({'blocks': 1}, 'at least 2 blocks'),
        ({'mobile_species': 'Na'}, 'no atom of the mobile species'),
    ],
)
def test_analyse_transport_rejects_bad_input(overrides, message):
    walkers = random_walkers(seed=1, frames=100, count=4, step_std_A=0.1)
    positions, cell, times, symbols, masses = walk_trajectory(walkers)
    arguments = {'mobile_species': 'Li', 'temperature_K': 600.0, 'nominal_charge': 1, **overrides}
    with pytest.raises(ValueError, match=message):
        analyse_transport(positions, cell, times, symbols, masses, **arguments)


# -------------------------------------------------------------------------------------------------
# 7. a real VASP run (pymatgen-analysis-diffusion's LGPS test data)
# -------------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_lgps_transport_matches_pymatgen_conductivity_conversion(lgps):
    from pymatgen.analysis.diffusion.analyzer import get_conversion_factor

    analyzer, positions, lattice, times, symbols = lgps
    masses = np.array([site.specie.atomic_mass for site in analyzer.structure], dtype=float)
    result = analyse_transport(positions, lattice, times, symbols, masses, 'Li', temperature_K=600, nominal_charge=1)
    factor = get_conversion_factor(analyzer.structure, 'Li', 600)  # z = 1 from Li's valence shell
    assert result.nernst_einstein_conductivity_mS_cm == pytest.approx(
        factor * result.diffusion_coefficient_cm2_s, rel=1e-9
    )
    # 20 ps of LGPS at 600 K with 20 Li: 8 hops and an MSD of 1.2 Å² at τmax, rising as τ^0.55 —
    # this short test run is not yet diffusive, and the verdict says so (pymatgen's fit error of
    # 1.5e-10 cm²/s on D = 1.2e-6 hides it). The spread over the 20 ions, a few of which hopped,
    # gives σ = 0.44 D: no smaller than the 1/√8 = 35 % of counting 8 hops.
    assert result.tracer.hops.hops == 8
    assert result.verdict.verdict == TOO_FEW_HOPS
    assert result.verdict.loglog_slope < 0.8
    assert result.uncertainty_method == 'ion_spread'
    assert result.diffusion_coefficient_std_cm2_s > result.diffusion_coefficient_cm2_s / np.sqrt(8)
    assert np.trace(result.diffusion_tensor_cm2_s) / 3 == pytest.approx(result.diffusion_coefficient_cm2_s)


# -------------------------------------------------------------------------------------------------
# 7. the shared FFT pass: tensor and tracer MSD from the same transforms
# -------------------------------------------------------------------------------------------------


def test_analyse_transport_tensor_equals_compute_msd_tensor_of_its_positions():
    # analyse_transport takes the off-diagonal tensor elements from the tracer's FFTs of the
    # time-contiguous mobile positions; compute_msd_tensor of a C-ordered copy must agree.
    rng = np.random.default_rng(8)
    mixing = np.array([[1.0, 0.5, 0.0], [0.0, 0.7, -0.4], [0.2, 0.0, 1.2]])
    walkers = np.cumsum(rng.normal(0.0, 0.05, (900, 40, 3)) @ mixing, axis=0) + rng.uniform(0, 15, (1, 40, 3))
    positions, cell, times, symbols, masses = walk_trajectory(walkers)
    result = analyse_transport(positions, cell, times, symbols, masses, 'Li', temperature_K=600, nominal_charge=1)
    mobile = result.tracer.mobile_positions
    max_lag = len(result.tracer.lag_times_ps) - 1
    expected = compute_msd_tensor(np.ascontiguousarray(mobile), max_lag=max_lag)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(result.msd_tensor_A2, expected, rtol=0, atol=1e-12 * scale)
    assert np.abs(expected[max_lag, 0, 1]) > 0.05 * expected[max_lag, 0, 0]  # off-diagonals are tested
    np.testing.assert_allclose(compute_msd_tensor(mobile, max_lag=max_lag), expected, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(
        compute_collective_msd(mobile, max_lag), compute_collective_msd(np.ascontiguousarray(mobile), max_lag)
    )


def test_a_short_run_gets_fewer_blocks_or_no_uncertainty_but_keeps_d():
    """Runs too short for the blocks asked: as many blocks as fit (≥ 2), else D_σ without σ; the
    tracer σ (the spread over the ions, on the full run's window) needs no blocks."""
    rng = np.random.default_rng(77)
    cell = np.eye(3) * 30.0
    for frames, expected_blocks in ((23, 4), (12, 2), (9, None)):
        walkers = np.cumsum(rng.normal(0.0, 0.2, (frames, 8, 3)), axis=0)
        times = np.arange(frames) * 0.01
        result = analyse_transport(walkers, cell, times, ['Li'] * 8, np.ones(8), 'Li', 600.0, 1, blocks=5)
        reference = analyse_tracer_diffusion(walkers, cell, times, ['Li'] * 8, np.ones(8), 'Li')
        assert result.diffusion_coefficient_cm2_s == reference.fit.diffusion_coefficient_cm2_s
        assert result.descriptors()['diffusion_uncertainty_method'] == 'ion_spread'
        assert result.descriptors()['uncertainty_ions'] == 8
        assert result.diffusion_coefficient_std_cm2_s > 0
        if expected_blocks is None:
            assert result.blocks is None
            assert np.isnan(result.collective_diffusion_coefficient_std_cm2_s)
            assert 'collective_diffusion_coefficient_std_cm2_s' not in result.descriptors()
            assert 'uncertainty_blocks' not in result.descriptors()
        else:
            assert result.blocks.blocks == expected_blocks
            assert result.descriptors()['uncertainty_blocks'] == expected_blocks


def test_nominal_charge_guesses_on_the_reduced_formula(monkeypatch):
    """pymatgen's search grows with the atoms it is given: a 416-atom Li6PS5Cl cell must be asked as 13 atoms."""
    from pymatgen.core import Composition

    from aiida_superionic.descriptors.composition import nominal_charge

    asked = []
    original = Composition.oxi_state_guesses

    def recording(self, *args, **kwargs):
        asked.append(self.num_atoms)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Composition, 'oxi_state_guesses', recording)
    symbols = ['Li'] * 192 + ['Cl'] * 32 + ['S'] * 160 + ['P'] * 32
    assert nominal_charge(symbols, 'Li') == (1, 'pymatgen oxi_state_guesses of Li6PS5Cl')
    assert nominal_charge(symbols, 'Cl') == (-1, 'pymatgen oxi_state_guesses of Li6PS5Cl')
    assert asked == [13, 13]
    # Li23N8 (a cell with a vacancy) is not neutral: the family table answers.
    assert nominal_charge(['Li'] * 23 + ['N'] * 8, 'Li')[1].startswith('family table')
