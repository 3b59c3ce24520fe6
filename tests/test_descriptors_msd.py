"""Tests of the pure-numpy MSD / tracer-diffusion numerics (no AiiDA).

Every expectation is derived independently of the code under test: a brute-force O(T²) MSD, a
random walk of known D, closed-form unwrapping results, hand-built hop trajectories, pymatgen's
distance matrix, and (marked ``realdata``) pymatgen-analysis-diffusion and kinisi run on the same
real VASP trajectories.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from aiida_superionic.descriptors.diffusion import analyse_tracer_diffusion, select_mobile_species
from aiida_superionic.descriptors.msd import (
    UNWRAP_FRAME_CHUNK,
    compute_msd,
    count_hops,
    minimum_pair_distance,
    remove_drift,
    unwrap_positions,
)

# -------------------------------------------------------------------------------------------------
# helpers (independent reference implementations)
# -------------------------------------------------------------------------------------------------


def brute_force_msd(positions: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """MSD per direction by the explicit double loop over lags and time origins, O(T²)."""
    frames, atoms, _ = positions.shape
    max_lag = frames - 1 if max_lag is None else max_lag
    msd = np.zeros((max_lag + 1, 3))
    for lag in range(max_lag + 1):
        total = np.zeros(3)
        for origin in range(frames - lag):
            total += ((positions[origin + lag] - positions[origin]) ** 2).sum(axis=0)
        msd[lag] = total / (frames - lag) / atoms
    return msd


def wrap(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Wrap Cartesian positions into each frame's cell (fractional coordinates in [0, 1))."""
    cells = np.broadcast_to(cells, (positions.shape[0], 3, 3))
    fractional = np.einsum('tnj,tjk->tnk', positions, np.linalg.inv(cells))
    return np.einsum('tnj,tjk->tnk', fractional % 1.0, cells)


#: Absolute tolerance in Å² when comparing MSDs of trajectories spread over hundreds of Å: the
#: FFT route has a round-off of order machine epsilon x the variance of the positions (~1e-11 Å²
#: here), visible only where the MSD itself is ~0 (lag 0).
MSD_ATOL = 1e-9


def triclinic_cell() -> np.ndarray:
    """A clearly non-orthogonal cell (rows are the cell vectors, Å); all angles within 60-120°."""
    return np.array([[10.0, 0.0, 0.0], [3.0, 9.0, 0.0], [-2.0, 2.5, 8.5]])


# -------------------------------------------------------------------------------------------------
# 1. compute_msd against the O(T²) definition
# -------------------------------------------------------------------------------------------------


def test_compute_msd_equals_brute_force_double_loop():
    rng = np.random.default_rng(12345)
    # 40 atoms x 3 = 120 columns, more than one FFT batch (96) and not a multiple of it; anisotropic
    # scales so that mixing up directions would show; an offset of 100 Å tests the cancellation.
    steps = rng.normal(size=(60, 40, 3)) * np.array([0.1, 0.5, 2.0])
    positions = 100.0 + np.cumsum(steps, axis=0)
    expected = brute_force_msd(positions)
    msd = compute_msd(positions)
    assert msd.shape == (60, 3)
    np.testing.assert_allclose(msd, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(msd[0], 0.0, atol=1e-12)
    # directions really differ (guards against a test that could not see a direction mix-up)
    assert msd[10, 2] > 50 * msd[10, 0]


def test_compute_msd_max_lag_truncation():
    rng = np.random.default_rng(7)
    positions = rng.normal(size=(25, 3, 3)).cumsum(axis=0)
    expected = brute_force_msd(positions, max_lag=6)
    msd = compute_msd(positions, max_lag=6)
    assert msd.shape == (7, 3)
    np.testing.assert_allclose(msd, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(compute_msd(positions, max_lag=0), np.zeros((1, 3)), atol=1e-12)
    np.testing.assert_allclose(compute_msd(positions, max_lag=24), brute_force_msd(positions), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('max_lag', [-1, 25, 100])
def test_compute_msd_rejects_bad_max_lag(max_lag):
    positions = np.zeros((25, 2, 3))
    with pytest.raises(ValueError, match=r'max_lag must lie in \[0, 24\]'):
        compute_msd(positions, max_lag=max_lag)


@pytest.mark.parametrize('shape', [(1, 4, 3), (0, 4, 3), (10, 0, 3)])
def test_compute_msd_rejects_too_few_frames_or_atoms(shape):
    with pytest.raises(ValueError, match='at least 2 frames and 1 atom'):
        compute_msd(np.zeros(shape))


# -------------------------------------------------------------------------------------------------
# 2. a random walk of known D
# -------------------------------------------------------------------------------------------------

#: Known diffusion coefficient of the synthetic walk: 0.1 Å²/ps = 1e-5 cm²/s.
WALK_D_A2_PS = 0.1
WALK_DT_PS = 0.05
WALK_WALKERS = 256
WALK_FRAMES = 1000
WALK_CELL_A = 15.0


def random_walk_trajectory(seed: int):
    """Gaussian walkers ('Li', step variance 2 D dt per direction) plus 3 fixed 'P' atoms, wrapped."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, np.sqrt(2 * WALK_D_A2_PS * WALK_DT_PS), (WALK_FRAMES - 1, WALK_WALKERS, 3))
    start = rng.uniform(0.0, WALK_CELL_A, (1, WALK_WALKERS, 3))
    walkers = np.concatenate([start, steps]).cumsum(axis=0)
    framework = np.broadcast_to(np.array([[1.0, 1.0, 1.0], [8.0, 8.0, 8.0], [1.0, 8.0, 4.0]]), (WALK_FRAMES, 3, 3))
    positions = np.concatenate([walkers, framework], axis=1) % WALK_CELL_A  # wrapped into the cell
    symbols = ['Li'] * WALK_WALKERS + ['P'] * 3
    masses = np.array([6.94] * WALK_WALKERS + [30.97] * 3)
    times = np.arange(WALK_FRAMES) * WALK_DT_PS
    return walkers, positions, symbols, masses, times


def test_random_walk_recovers_known_diffusion_coefficient():
    walkers, positions, symbols, masses, times = random_walk_trajectory(seed=2024)
    result = analyse_tracer_diffusion(positions, np.eye(3) * WALK_CELL_A, times, symbols, masses, 'Li')

    # The paper's window: τmax = half the analysed run (in whole frames), fit over τmax/2 ≤ τ ≤ τmax.
    max_lag = (WALK_FRAMES - 1) // 2  # 499 frames
    first_lag = int(np.ceil(max_lag / 2))  # 250 frames
    assert result.analysed_frames == WALK_FRAMES
    assert result.mobile_ions == WALK_WALKERS
    assert result.analysed_time_ps == pytest.approx((WALK_FRAMES - 1) * WALK_DT_PS)
    assert result.lag_times_ps.shape == (max_lag + 1,)
    assert result.fit.fit_end_ps == pytest.approx(max_lag * WALK_DT_PS)
    assert result.fit.fit_end_ps <= result.analysed_time_ps / 2 < result.fit.fit_end_ps + WALK_DT_PS
    assert result.fit.fit_start_ps == pytest.approx(first_lag * WALK_DT_PS)
    assert result.fit.fit_end_ps / 2 <= result.fit.fit_start_ps < result.fit.fit_end_ps / 2 + WALK_DT_PS

    # Independent estimator: per-walker MSD by brute force over the fit window (all origins), then
    # an ordinary least-squares slope per walker. The fit is linear in the MSD and the MSD is the
    # walker average, so D must equal the mean of the per-walker D exactly; and because the walkers
    # are independent, their spread gives the standard error of D from this one run.
    lags = np.arange(first_lag, max_lag + 1)
    per_walker_msd = np.array([((walkers[n:] - walkers[:-n]) ** 2).sum(axis=-1).mean(axis=0) for n in lags])
    per_walker_D = np.polyfit(lags * WALK_DT_PS, per_walker_msd, 1)[0] / 6 * 1e-4  # cm²/s
    D = result.fit.diffusion_coefficient_cm2_s
    assert per_walker_D.mean() == pytest.approx(D, rel=1e-9)

    # Statistical check against the known D = 1e-5 cm²/s. The standard error (~5 % here: the
    # window spans lags up to half the run, so each walker gives only a couple of independent
    # samples) is measured from the 256 independent walkers; the mean of 256 iid estimates is
    # close to normal, so a 4σ bound fails by chance with probability ~6e-5. It still catches
    # any factor error (slope/3 instead of /6, Å²/ps vs cm²/s, dt mix-ups), all ≥ 2x.
    true_D = WALK_D_A2_PS * 1e-4
    standard_error = per_walker_D.std(ddof=1) / np.sqrt(WALK_WALKERS)
    assert standard_error < 0.1 * true_D  # the test is sharp enough to be meaningful
    assert abs(D - true_D) < 4 * standard_error
    # the MSD of an ideal walk is linear: MSD(τ) = 6 D τ, per direction 2 D τ
    tau_max = result.lag_times_ps[-1]
    assert result.msd_A2[-1] == pytest.approx(6 * WALK_D_A2_PS * tau_max, rel=8 * standard_error / true_D)
    assert result.fit.r_squared > 0.9


# -------------------------------------------------------------------------------------------------
# 3. a static lattice
# -------------------------------------------------------------------------------------------------


def static_lattice(noise_A: float, frames: int = 400, seed: int = 3):
    """8 'Li' and 8 'S' on a rock-salt-like lattice (a = 6 Å cube), vibrating with Gaussian noise."""
    rng = np.random.default_rng(seed)
    grid = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)], dtype=float) * 3.0
    sites = np.concatenate([grid, grid + 1.5])
    positions = sites + rng.normal(0.0, noise_A, (frames, len(sites), 3))
    symbols = ['Li'] * 8 + ['S'] * 8
    masses = np.array([6.94] * 8 + [32.06] * 8)
    times = np.arange(frames) * 0.01
    return positions, np.eye(3) * 6.0, times, symbols, masses


def test_exactly_static_lattice_has_zero_msd_and_no_hops():
    positions, cell, times, symbols, masses = static_lattice(noise_A=0.0)
    result = analyse_tracer_diffusion(positions, cell, times, symbols, masses, 'Li')
    assert np.all(result.msd_xyz_A2 == 0.0)
    assert result.fit.diffusion_coefficient_cm2_s == 0.0
    assert result.hops.hops == 0
    assert result.hops.ions_that_hopped == 0


def test_vibrating_static_lattice_has_no_diffusion():
    noise = 1e-3
    positions, cell, times, symbols, masses = static_lattice(noise_A=noise)
    result = analyse_tracer_diffusion(positions, cell, times, symbols, masses, 'Li')
    # For independent vibrations of std σ, <(x(t+τ) - x(t))²> = 2σ² per direction at every τ > 0
    # (the framework-drift correction shifts this by O(σ²/8), within the 25 % allowed).
    np.testing.assert_allclose(result.msd_xyz_A2[1:], 2 * noise**2, rtol=0.25)
    # A hard bound on D: every displacement component is at most 2·max|noise| (plus the drift
    # correction, at most max|noise|), so MSD ≤ 3 (3 max|noise|)². A least-squares slope over a
    # window of width w of data within [0, M] is at most ~3M/w; D = slope/6, 1 Å²/ps = 1e-4 cm²/s.
    msd_bound = 3 * (3 * np.abs(positions - positions.mean(axis=0)).max()) ** 2
    window = result.fit.fit_end_ps - result.fit.fit_start_ps
    D_bound = 4 * msd_bound / window / 6 * 1e-4
    assert abs(result.fit.diffusion_coefficient_cm2_s) < D_bound
    assert D_bound < 1e-7  # far below any superionic D (≥ 1e-6 cm²/s), so the check has teeth
    assert result.hops.hops == 0


# -------------------------------------------------------------------------------------------------
# 4. unwrapping across periodic boundaries
# -------------------------------------------------------------------------------------------------


def drifting_walk(frames: int, atoms: int, seed: int) -> np.ndarray:
    """Continuous trajectory with a large drift (~0.25 Å/frame) and noise: many boundary crossings."""
    rng = np.random.default_rng(seed)
    steps = np.array([0.25, -0.15, 0.2]) + rng.normal(0.0, 0.1, (frames - 1, atoms, 3))
    start = rng.uniform(0.0, 5.0, (1, atoms, 3))
    return np.concatenate([start, steps]).cumsum(axis=0)


def test_unwrap_cubic_cell_recovers_continuous_trajectory():
    continuous = drifting_walk(frames=2000, atoms=5, seed=11)
    cell = np.eye(3) * 7.0
    wrapped = continuous % 7.0
    assert np.abs(continuous - wrapped).max() > 50  # dozens of crossings really happened
    unwrapped = unwrap_positions(wrapped, cell)
    # The first frame is kept, so the recovered trajectory is the continuous one shifted by the
    # (lattice-vector) wrap of the first frame.
    np.testing.assert_allclose(unwrapped - unwrapped[0], continuous - continuous[0], atol=1e-8)
    np.testing.assert_array_equal(unwrapped[0], wrapped[0])
    np.testing.assert_allclose(
        compute_msd(unwrapped[:100]), brute_force_msd(continuous[:100]), rtol=1e-9, atol=MSD_ATOL
    )
    # already-continuous input comes back unchanged
    np.testing.assert_allclose(unwrap_positions(continuous, cell), continuous, atol=1e-9)


def test_unwrap_triclinic_cell_recovers_continuous_trajectory():
    continuous = drifting_walk(frames=1500, atoms=4, seed=12)
    cell = triclinic_cell()
    wrapped = wrap(continuous, cell)
    assert np.abs(continuous - wrapped).max() > 50
    unwrapped = unwrap_positions(wrapped, cell)
    np.testing.assert_allclose(unwrapped - unwrapped[0], continuous - continuous[0], atol=1e-8)
    np.testing.assert_allclose(compute_msd(unwrapped), compute_msd(continuous), rtol=1e-9, atol=MSD_ATOL)
    # and the MSD of the short start against the brute-force definition
    np.testing.assert_allclose(compute_msd(unwrapped[:80]), brute_force_msd(continuous[:80]), rtol=1e-9, atol=MSD_ATOL)


def variable_cells(frames: int) -> np.ndarray:
    """A triclinic cell breathing by ±3 % and shearing slowly over the run (NPT-like)."""
    t = np.arange(frames)[:, None, None]
    shear = np.zeros((1, 3, 3))
    shear[0, 2, 0] = 0.5
    return triclinic_cell()[None] * (1.0 + 0.03 * np.sin(2 * np.pi * t / frames)) + shear * t / frames


def test_unwrap_variable_cell_with_displacements_wrapped_frame_by_frame():
    # The physical input of a variable-cell MD: each frame's position is the previous wrapped
    # position plus a small displacement, wrapped into the *current* cell. Summing minimum-image
    # steps in the current cell (the "TOR" scheme of Bullerjahn, von Bülow & Hummer, JCTC 2023,
    # also used by kinisi) must give back exactly the sum of the displacements.
    frames, atoms = 1200, 4
    rng = np.random.default_rng(13)
    cells = variable_cells(frames)
    displacements = np.array([0.25, -0.15, 0.2]) + rng.normal(0.0, 0.1, (frames - 1, atoms, 3))
    wrapped = np.empty((frames, atoms, 3))
    wrapped[0] = wrap(rng.uniform(0.0, 5.0, (1, atoms, 3)), cells[0])[0]
    for t in range(1, frames):
        wrapped[t] = wrap((wrapped[t - 1] + displacements[t - 1])[None], cells[t])[0]
    continuous = np.concatenate([wrapped[:1], displacements]).cumsum(axis=0)
    assert np.abs(continuous - wrapped).max() > 50
    unwrapped = unwrap_positions(wrapped, cells)
    np.testing.assert_allclose(unwrapped, continuous, atol=1e-8)
    np.testing.assert_allclose(compute_msd(unwrapped), compute_msd(continuous), rtol=1e-9, atol=MSD_ATOL)


def test_unwrap_variable_cell_of_a_wrapped_continuous_trajectory_follows_tor_formula():
    # A continuous Cartesian trajectory r_t wrapped into each frame's cell h_t: r_w,t = r_t - n_t h_t
    # with integer images n_t = floor(r_t h_t⁻¹). Minimum-image steps in the current cell are then
    # (r_t - r_{t-1}) - n_{t-1}(h_t - h_{t-1}): the unwrapped trajectory is
    #     u_t = r_w,0 + (r_t - r_0) - Σ_{τ=1..t} n_{τ-1} (h_τ - h_{τ-1}),
    # not r_t itself: for a changing cell, "unwrapped Cartesian" depends on the convention, and the
    # step-summing one does not see the cell change carry image atoms along.
    frames, atoms = 1200, 4
    continuous = drifting_walk(frames, atoms, seed=14)
    cells = variable_cells(frames)
    images = np.floor(np.einsum('tnj,tjk->tnk', continuous, np.linalg.inv(cells)))
    wrapped = continuous - np.einsum('tnj,tjk->tnk', images, cells)
    correction = np.einsum('tnj,tjk->tnk', images[:-1], np.diff(cells, axis=0)).cumsum(axis=0)
    expected = wrapped[0] + continuous - continuous[0]
    expected[1:] -= correction
    unwrapped = unwrap_positions(wrapped, cells)
    np.testing.assert_allclose(unwrapped, expected, atol=1e-8)
    # the convention matters here (≫ round-off), so the test could tell the two apart
    assert np.abs(correction).max() > 0.5


# -------------------------------------------------------------------------------------------------
# 5. framework drift removal
# -------------------------------------------------------------------------------------------------


def test_remove_drift_cancels_a_common_translation():
    rng = np.random.default_rng(21)
    frames, mobile, framework = 300, 6, 10
    positions = np.concatenate(
        [
            rng.normal(0.0, 0.3, (frames, mobile, 3)).cumsum(axis=0),  # mobile ions diffuse
            rng.uniform(0, 10, (framework, 3)) + rng.normal(0.0, 0.05, (frames, framework, 3)),  # framework
        ],
        axis=1,
    )
    masses = np.concatenate([np.full(mobile, 6.94), rng.choice([30.97, 32.06, 72.63], framework)])
    framework_mask = np.arange(mobile + framework) >= mobile
    translation = rng.normal(0.0, 0.5, (frames, 1, 3)).cumsum(axis=0)  # a large random drift

    corrected = remove_drift(positions, masses, framework_mask)
    corrected_translated = remove_drift(positions + translation, masses, framework_mask)
    # Removing the framework COM motion takes away any common translation, up to its first frame.
    np.testing.assert_allclose(corrected_translated, corrected + translation[0], atol=1e-10)
    np.testing.assert_allclose(
        compute_msd(corrected_translated[:, ~framework_mask]),
        compute_msd(corrected[:, ~framework_mask]),
        rtol=1e-9,
        atol=MSD_ATOL,
    )
    # The mass-weighted framework centre of mass is held at its first-frame position.
    weights = masses[framework_mask] / masses[framework_mask].sum()
    centre = np.einsum('tnk,n->tk', corrected_translated[:, framework_mask], weights)
    np.testing.assert_allclose(centre, np.broadcast_to(centre[0], centre.shape), atol=1e-10)
    # no reference atoms: nothing is removed
    np.testing.assert_array_equal(remove_drift(positions, masses, np.zeros(mobile + framework, bool)), positions)


def test_analysis_is_blind_to_a_drift_of_the_whole_cell():
    # 17 walkers and 3 fixed framework atoms; then the same with everything translated by a large
    # common drift (crossing several cells) and wrapped again.
    rng = np.random.default_rng(22)
    frames = 200
    walkers = rng.uniform(0, WALK_CELL_A, (1, 17, 3)) + rng.normal(0.0, 0.2, (frames, 17, 3)).cumsum(axis=0)
    framework = np.broadcast_to(rng.uniform(0, WALK_CELL_A, (3, 3)), (frames, 3, 3))
    unwrapped = np.concatenate([walkers, framework], axis=1)
    symbols, masses = ['Li'] * 17 + ['P'] * 3, np.r_[np.full(17, 6.94), np.full(3, 30.97)]
    times, cell = np.arange(frames) * 0.01, np.eye(3) * WALK_CELL_A
    drift = np.linspace(0.0, 40.0, frames)[:, None, None] * np.array([1.0, -0.5, 0.3])

    reference = analyse_tracer_diffusion(wrap(unwrapped, cell), cell, times, symbols, masses, 'Li')
    drifted = analyse_tracer_diffusion(wrap(unwrapped + drift, cell), cell, times, symbols, masses, 'Li')
    # with a fixed framework the corrected MSD is the plain MSD of the walkers, drift or not
    expected = brute_force_msd(walkers, max_lag=99)
    np.testing.assert_allclose(reference.msd_xyz_A2, expected, rtol=1e-9, atol=MSD_ATOL)
    np.testing.assert_allclose(drifted.msd_xyz_A2, expected, rtol=1e-8, atol=MSD_ATOL)
    assert drifted.fit.diffusion_coefficient_cm2_s == pytest.approx(reference.fit.diffusion_coefficient_cm2_s)


# -------------------------------------------------------------------------------------------------
# 6. hop counting and the minimum pair distance
# -------------------------------------------------------------------------------------------------

HOP_SITE_SPACING_A = 3.0


def hopping_ions(hop_frames: list[list[int]], frames: int, noise_A: float, seed: int) -> np.ndarray:
    """Ions on a simple-cubic lattice (spacing 3 Å) with Gaussian vibration, hopping at given frames.

    Each hop goes to a neighbouring site, alternately along +x and +y (return hops are tested
    separately).
    """
    rng = np.random.default_rng(seed)
    sites = np.zeros((frames, len(hop_frames), 3))
    for ion, times in enumerate(hop_frames):
        sites[:, ion] = [ion * 4 * HOP_SITE_SPACING_A, 0.0, 0.0]
        for number, frame in enumerate(sorted(times)):
            sites[frame:, ion, number % 2] += HOP_SITE_SPACING_A
    return sites + rng.normal(0.0, noise_A, sites.shape)


HOP_SCHEDULE = [[], [150], [100, 300], [], [80, 200, 320, 440], [500], [], [60, 400, 520]]


@pytest.mark.parametrize('smoothing_frames', [1, 10])
def test_count_hops_counts_known_jumps(smoothing_frames):
    positions = hopping_ions(HOP_SCHEDULE, frames=600, noise_A=0.1, seed=31)
    result = count_hops(positions, hop_distance_A=0.75 * HOP_SITE_SPACING_A, smoothing_frames=smoothing_frames)
    assert result.hops == sum(len(times) for times in HOP_SCHEDULE)  # 11
    assert result.ions_that_hopped == sum(1 for times in HOP_SCHEDULE if times)  # 5
    assert result.smoothing_frames == smoothing_frames
    assert result.hop_distance_A == 0.75 * HOP_SITE_SPACING_A


@pytest.mark.parametrize('smoothing_frames', [1, 10])
def test_count_hops_vibration_alone_gives_no_hops(smoothing_frames):
    positions = hopping_ions([[]] * 8, frames=2000, noise_A=0.2, seed=32)
    result = count_hops(positions, hop_distance_A=0.75 * HOP_SITE_SPACING_A, smoothing_frames=smoothing_frames)
    assert (result.hops, result.ions_that_hopped) == (0, 0)


@pytest.mark.parametrize('smoothing_frames', [1, 10])
def test_count_hops_counts_immediate_return_hops(smoothing_frames):
    """A→B→A→B…: each return is a hop, even when it follows the previous one after a few smoothing widths."""
    rng = np.random.default_rng(35)
    frames, ions, dwell = 4000, 4, 40  # a hop every 40 frames, alternately +x and -x
    hop_times = np.arange(dwell, frames, dwell)
    sites = np.zeros((frames, ions, 3))
    sites[:, :, 1] = np.arange(ions) * 4 * HOP_SITE_SPACING_A
    for number, frame in enumerate(hop_times):
        sites[frame:, :, 0] += HOP_SITE_SPACING_A if number % 2 == 0 else -HOP_SITE_SPACING_A
    positions = sites + rng.normal(0.0, 0.2, sites.shape)
    result = count_hops(positions, hop_distance_A=0.75 * HOP_SITE_SPACING_A, smoothing_frames=smoothing_frames)
    assert result.hops == ions * len(hop_times)
    assert result.ions_that_hopped == ions


def test_count_hops_rejects_non_positive_distance():
    with pytest.raises(ValueError, match='hop_distance_A must be positive'):
        count_hops(np.zeros((5, 2, 3)), hop_distance_A=0.0)


def test_analysis_counts_hops_into_vacancies():
    # 10 Li on a simple-cubic lattice of 3 Å in a 12 Å cell (54 vacant sites; the shortest Li-Li
    # distance, hence the hop distance 0.75 x ~3 Å, is set by the lattice), 1 fixed framework atom,
    # thermal noise 0.1 Å. Known hops to vacant neighbouring sites: Li 0 (0,0,0) -> (3,0,0) at
    # frame 300; Li 1 (0,0,3) -> (0,0,0), the site Li 0 left, at frame 600; Li 4 (0,3,0) -> (-3,3,0)
    # across the cell boundary (wrapped to x = 9 Å) at frame 450.
    frames, spacing, length = 1000, 3.0, 12.0
    rng = np.random.default_rng(33)
    lattice_sites = np.array([[i, j, k] for i in range(4) for j in range(4) for k in range(4)], float) * spacing
    sites = np.broadcast_to(np.concatenate([lattice_sites[:10], [[1.5, 1.5, 1.5]]]), (frames, 11, 3)).copy()
    sites[300:, 0] = [3.0, 0.0, 0.0]
    sites[600:, 1] = [0.0, 0.0, 0.0]
    sites[450:, 4] = [-3.0, 3.0, 0.0]
    positions = sites + rng.normal(0.0, 0.1, sites.shape)
    symbols = ['Li'] * 10 + ['Ge']
    cell, times = np.eye(3) * length, np.arange(frames) * 0.01
    result = analyse_tracer_diffusion(positions % length, cell, times, symbols, np.ones(11), 'Li')
    assert result.hops.smoothing_frames == 10  # 0.1 ps at 0.01 ps per frame
    assert result.hops.hop_distance_A == pytest.approx(0.75 * spacing, abs=0.75 * 0.6)
    assert (result.hops.hops, result.hops.ions_that_hopped) == (3, 3)


def test_minimum_pair_distance_matches_pymatgen_distance_matrix():
    from pymatgen.core import Lattice, Structure

    rng = np.random.default_rng(41)
    lattice = Lattice.from_parameters(7.3, 8.1, 9.4, 71.0, 104.0, 113.0)
    fractional = rng.uniform(0.0, 1.0, (14, 3))
    structure = Structure(lattice, ['Li'] * 14, fractional)
    distances = structure.distance_matrix
    expected = distances[~np.eye(14, dtype=bool)].min()
    # positions given unwrapped (shifted by lattice vectors) must not matter
    cartesian = (fractional + rng.integers(-2, 3, (14, 3))) @ lattice.matrix
    assert minimum_pair_distance(cartesian, lattice.matrix) == pytest.approx(expected, rel=1e-12)

    # an independent brute force over ±2 images
    def brute_force(positions, cell):
        shifts = np.array([[i, j, k] for i in range(-2, 3) for j in range(-2, 3) for k in range(-2, 3)]) @ cell
        pairs = [(a, b) for a in range(len(positions)) for b in range(len(positions)) if a != b]
        return min(np.linalg.norm(positions[a] - positions[b] + shifts, axis=1).min() for a, b in pairs)

    # the closest pair is a periodic image across the a boundary
    cell = triclinic_cell()
    positions = np.array([[0.2, 0.3, 0.1], [9.9, 0.35, 0.1], [5.0, 4.0, 4.0]])
    assert minimum_pair_distance(positions, cell) == pytest.approx(brute_force(positions, cell), rel=1e-12)
    assert brute_force(positions, cell) < 1.0
    # a 45° cell where rounding the fractional separation (0.45, 0.45, 0) to the nearest integers
    # does not give the closest image (that is (0.45, -0.55, 0), 3.90 Å instead of 8.27 Å)
    cell = np.array([[10.0, 0.0, 0.0], [7.0, 7.0, 0.0], [0.0, 0.0, 10.0]])
    positions = np.array([[0.0, 0.0, 0.0], [0.45, 0.45, 0.0]]) @ cell
    assert np.linalg.norm(positions[1] - positions[0]) == pytest.approx(8.27, abs=0.01)
    expected = np.hypot(4.5 - 3.85, -3.85)
    assert brute_force(positions, cell) == pytest.approx(expected, rel=1e-12)
    assert minimum_pair_distance(positions, cell) == pytest.approx(expected, rel=1e-12)
    skewed = Structure(Lattice(cell), ['Li'] * 14, rng.uniform(0.0, 1.0, (14, 3)))
    expected = skewed.distance_matrix[~np.eye(14, dtype=bool)].min()
    assert minimum_pair_distance(skewed.cart_coords, cell) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match='at least two atoms'):
        minimum_pair_distance(positions[:1], cell)


# -------------------------------------------------------------------------------------------------
# 7. mobile species and input validation
# -------------------------------------------------------------------------------------------------

#: The precedence rule (``MOBILE_SPECIES_PRECEDENCE``, the mobile ions of López et al. 2023): the first of these
#: present is the mobile ion.
EXPECTED_PRECEDENCE = ('Li', 'Na', 'Ag', 'Cu', 'F', 'Cl', 'Br', 'I', 'O')


@pytest.mark.parametrize(
    ('symbols', 'expected'),
    [
        (['Ge', 'P', 'S', 'Li', 'Li'], 'Li'),  # LGPS
        (['O', 'Na', 'Li'], 'Li'),
        (['Na', 'P', 'S'], 'Na'),
        (['Ag', 'Na', 'I'], 'Na'),
        (['Cu', 'Ag', 'S'], 'Ag'),
        (['F', 'Cu', 'O'], 'Cu'),
        (['Ca', 'F', 'Cl'], 'F'),  # fluorite: the halide anion is mobile
        (['Cs', 'Pb', 'Br', 'Cl'], 'Cl'),
        (['Cs', 'Pb', 'I', 'Br'], 'Br'),
        (['Cs', 'Pb', 'I'], 'I'),  # halide perovskite
        (['Zr', 'Y', 'O'], 'O'),  # YSZ: oxide-ion conductor
        (('O', 'I'), 'I'),
    ],
)
def test_select_mobile_species_precedence(symbols, expected):
    assert select_mobile_species(symbols) == expected


def test_select_mobile_species_pairwise_order():
    for earlier, later in itertools.pairwise(EXPECTED_PRECEDENCE):
        assert select_mobile_species([later, 'Si', earlier]) == earlier


def test_select_mobile_species_error_names_the_elements():
    with pytest.raises(ValueError, match=r"no candidate mobile species in \['Mg', 'Si'\]") as error:
        select_mobile_species(['Si', 'Mg', 'Si'])
    assert all(element in str(error.value) for element in EXPECTED_PRECEDENCE)


def valid_inputs(frames: int = 20):
    positions, cell, times, symbols, masses = static_lattice(noise_A=0.01, frames=frames)
    return {
        'positions': positions,
        'cells': cell,
        'times_ps': times,
        'symbols': symbols,
        'masses': masses,
        'mobile_species': 'Li',
    }


def test_valid_inputs_are_accepted():
    assert analyse_tracer_diffusion(**valid_inputs()).mobile_ions == 8


def test_analysis_rejects_missing_mobile_species():
    with pytest.raises(ValueError, match=r"no atom of the mobile species Na in the trajectory \(\['Li', 'S'\]\)"):
        analyse_tracer_diffusion(**{**valid_inputs(), 'mobile_species': 'Na'})


@pytest.mark.parametrize('frame', [0, 5, 19, 700, 1199])
@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_analysis_rejects_non_finite_positions(bad, frame):
    """Found in the unwrapping pass wherever they are: the first frame, a dropped equilibration frame (5 and 19 of
    the first 0.3 ps), the second chunk of frames, the last frame."""
    inputs = valid_inputs(frames=1200)
    inputs['positions'] = inputs['positions'].copy()
    inputs['positions'][frame, 3, 1] = bad
    with pytest.raises(ValueError, match='NaN or infinite positions'):
        analyse_tracer_diffusion(**inputs, equilibration_ps=0.3)


@pytest.mark.parametrize(
    ('jumps', 'equilibration_ps', 'message'),
    [
        ({700: 3}, 0.0, 'atom 3 \\(Li\\) moves 0.45 of a cell vector between frames 699 and 700'),  # second chunk
        ({700: 3}, 2.0, 'between frames 699 and 700'),  # counted in the run, not from the first frame kept
        ({10: 12}, 2.0, 'atom 12 \\(S\\) moves 0.45 .* between frames 9 and 10'),  # in the dropped frames
        ({900: 3, 100: 12}, 0.0, 'atom 12 \\(S\\) .* between frames 99 and 100'),  # the first of two
    ],
)
def test_analysis_rejects_a_jump_unwrapping_cannot_follow(jumps, equilibration_ps, message):
    inputs = valid_inputs(frames=1200)
    inputs['positions'] = inputs['positions'].copy()
    for frame, atom in jumps.items():
        inputs['positions'][frame:, atom, 0] += 0.55 * 6.0  # seen as 0.45 of the cell the other way
    with pytest.raises(ValueError, match=message):
        analyse_tracer_diffusion(**inputs, equilibration_ps=equilibration_ps)
    for frame, atom in jumps.items():  # the same jumps at 0.35 of the cell can be followed
        inputs['positions'][frame:, atom, 0] -= 0.2 * 6.0
    assert analyse_tracer_diffusion(**inputs, equilibration_ps=equilibration_ps).mobile_ions == 8


@pytest.mark.parametrize(
    'times',
    [
        np.r_[np.arange(10) * 0.01, 0.1 + np.arange(10) * 0.02],  # the step changes half-way
        np.arange(20)[::-1] * 0.01,  # decreasing
        np.zeros(20),  # all equal
    ],
)
def test_analysis_rejects_unequal_time_steps(times):
    with pytest.raises(ValueError, match='equally spaced in time and increasing'):
        analyse_tracer_diffusion(**{**valid_inputs(), 'times_ps': times})


def test_analysis_rejects_too_few_frames():
    with pytest.raises(ValueError, match='4 frames are too few'):
        analyse_tracer_diffusion(**valid_inputs(frames=4))
    # also when equilibration leaves too few: 20 frames at 0.01 ps, discard the first 0.16 ps
    with pytest.raises(ValueError, match='4 frames are too few'):
        analyse_tracer_diffusion(**valid_inputs(), equilibration_ps=0.16)
    assert analyse_tracer_diffusion(**valid_inputs(frames=5)).lag_times_ps.shape == (3,)


@pytest.mark.parametrize(
    ('field', 'value'),
    [
        ('symbols', ['Li'] * 8 + ['S'] * 7),
        ('masses', np.ones(17)),
        ('times_ps', np.arange(19) * 0.01),
    ],
)
def test_analysis_rejects_inconsistent_shapes(field, value):
    with pytest.raises(ValueError, match='inconsistent trajectory: 20 frames x 16 atoms'):
        analyse_tracer_diffusion(**{**valid_inputs(), field: value})


# -------------------------------------------------------------------------------------------------
# 8. peer comparison on real trajectories (pymatgen-analysis-diffusion, kinisi)
# -------------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_lgps_msd_matches_pymatgen_diffusion_analyzer(lgps):
    from pymatgen.analysis.diffusion.analyzer import get_diffusivity_from_msd

    analyzer, positions, lattice, times, symbols = lgps
    assert analyzer.smoothed == 'max'  # all-time-origins MSD at lags analyzer.dt
    # Conventions: pymatgen removes the *unweighted* mean displacement of the framework atoms (we
    # weight by mass), so give every atom the same mass to compare like with like. Its
    # msd_components are Cartesian (x, y, z) and averaged over all origins, as ours.
    result = analyse_tracer_diffusion(positions, lattice, times, symbols, np.ones(len(symbols)), 'Li')
    assert result.mobile_ions == 20
    lags = np.rint(analyzer.dt / (analyzer.time_step * analyzer.step_skip)).astype(int)  # dt in fs
    within = lags <= len(result.lag_times_ps) - 1  # pymatgen goes to lag 665, we stop at τmax = 499
    assert within.sum() > 100
    np.testing.assert_allclose(result.lag_times_ps[lags[within]] * 1000.0, analyzer.dt[within], rtol=1e-12)
    np.testing.assert_allclose(result.msd_xyz_A2[lags[within]], analyzer.msd_components[within], rtol=1e-9)
    np.testing.assert_allclose(result.msd_A2[lags[within]], analyzer.msd[within], rtol=1e-9)

    # beyond τmax, with our primitives directly (same unweighted drift correction)
    mobile = np.array(symbols) == 'Li'
    corrected = remove_drift(unwrap_positions(positions, lattice), np.ones(len(symbols)), ~mobile)
    full = compute_msd(corrected[:, mobile], max_lag=lags.max())
    np.testing.assert_allclose(full[lags], analyzer.msd_components, rtol=1e-9)

    # D over the paper's window with pymatgen's own unweighted least-squares fit (smoothed=False):
    # an independent fit and unit conversion (Å²/fs → cm²/s) on the same MSD.
    first = int(np.ceil((len(result.lag_times_ps) - 1) / 2))
    pymatgen_D, _ = get_diffusivity_from_msd(
        result.msd_A2[first:], result.lag_times_ps[first:] * 1000.0, smoothed=False
    )
    assert result.fit.diffusion_coefficient_cm2_s == pytest.approx(pymatgen_D, rel=1e-9)

    # With true masses the framework drift correction is mass weighted; the MSD then differs
    # from pymatgen's only by the small difference between the two framework-drift estimates
    # (0.23 % at most on this run).
    masses = np.array([site.specie.atomic_mass for site in analyzer.structure], dtype=float)
    weighted = analyse_tracer_diffusion(positions, lattice, times, symbols, masses, 'Li')
    np.testing.assert_allclose(weighted.msd_A2[lags[within]], analyzer.msd[within], rtol=0.01)


@pytest.mark.realdata
def test_lgps_msd_matches_kinisi(lgps):
    import scipp as sc
    from kinisi.displacement import calculate_msd
    from kinisi.parser import Parser

    analyzer, positions, lattice, times, symbols = lgps
    result = analyse_tracer_diffusion(positions, lattice, times, symbols, np.ones(len(symbols)), 'Li')
    max_lag = len(result.lag_times_ps) - 1
    mobile = np.array(symbols) == 'Li'
    # kinisi's base Parser takes wrapped fractional coordinates; it unwraps them itself (here by its
    # 8-image minimum search, the cell being slightly non-orthogonal), removes the *unweighted*
    # mean framework displacement and averages squared displacements over every origin.
    fractional = np.einsum('tnj,jk->tnk', positions, np.linalg.inv(lattice)) % 1.0
    parser = Parser(
        coords=sc.array(dims=['time', 'particle', 'dimension'], values=fractional),
        latt=sc.array(
            dims=['time', 'dimension1', 'dimension2'],
            values=np.broadcast_to(lattice, (len(times), 3, 3)).copy(),
            unit=sc.units.angstrom,
        ),
        time_step=sc.scalar(float(analyzer.time_step), unit='fs'),
        step_skip=sc.scalar(float(analyzer.step_skip)),
        dt=sc.arange('time interval', 1, max_lag + 1) * sc.scalar(20.0, unit='fs'),
        specie_indices=sc.array(dims=['particle'], values=np.flatnonzero(mobile)),
        drift_indices=sc.array(dims=['particle'], values=np.flatnonzero(~mobile)),
    )
    kinisi_msd = calculate_msd(parser, progress=False)['da']
    np.testing.assert_allclose(kinisi_msd.coords['time interval'].values / 1000.0, result.lag_times_ps[1:])
    np.testing.assert_allclose(kinisi_msd.values, result.msd_A2[1:], rtol=1e-9)


@pytest.mark.realdata
def test_argyrodite_xdatcar_msd_matches_kinisi(realdata):
    path = realdata / 'kinisi_XDATCAR' / 'example_XDATCAR.gz'
    if not path.is_file():
        pytest.skip(f'{path} not found')
    import scipp as sc
    from kinisi.analyze import DiffusionAnalyzer
    from pymatgen.io.vasp.outputs import Xdatcar

    xdatcar = Xdatcar(str(path))
    structures = xdatcar.structures
    positions = np.array([structure.cart_coords for structure in structures])
    cells = np.array([structure.lattice.matrix for structure in structures])
    symbols = [site.specie.symbol for site in structures[0]]
    times = np.arange(len(structures)) * 0.1  # 2 fs x 50 per frame
    ones = np.ones(len(symbols))
    result = analyse_tracer_diffusion(positions, cells, times, symbols, ones, 'Li')
    assert (result.analysed_frames, result.mobile_ions) == (140, 192)

    kinisi = DiffusionAnalyzer.from_xdatcar(
        xdatcar, specie='Li', time_step=sc.scalar(2.0, unit='fs'), step_skip=sc.scalar(50), progress=False
    )
    # kinisi 2.1's PymatgenParser prepends a copy of the first frame before taking displacements,
    # so its MSD is the all-origins MSD of the trajectory (x0, x0, x1, ..., x139) at lags
    # 1..140 frames: for lag n the extra origin contributes x_{n-1} - x0, a lag-(n-1) sample, so it
    # differs from the plain all-origins MSD (ours, pymatgen's) by ~0.7 % up to τmax, 1.6 % overall.
    # Reproduce exactly that with our primitives (unweighted drift, as kinisi):
    mobile = np.array(symbols) == 'Li'
    corrected = remove_drift(unwrap_positions(positions, cells), ones, ~mobile)
    padded = np.concatenate([corrected[:1], corrected])[:, mobile]
    np.testing.assert_allclose(kinisi.dt.values / 1000.0, np.arange(1, 141) * 0.1)
    np.testing.assert_allclose(kinisi.da.values, compute_msd(padded).sum(axis=1)[1:], rtol=1e-9)

    # kinisi's base Parser, fed the 140 frames without padding, gives exactly our analysis' MSD.
    from kinisi.displacement import calculate_msd
    from kinisi.parser import Parser

    fractional = np.array([structure.frac_coords for structure in structures])
    parser = Parser(
        coords=sc.array(dims=['time', 'particle', 'dimension'], values=fractional),
        latt=sc.array(dims=['time', 'dimension1', 'dimension2'], values=cells, unit=sc.units.angstrom),
        time_step=sc.scalar(2.0, unit='fs'),
        step_skip=sc.scalar(50.0),
        dt=sc.arange('time interval', 1, 70) * sc.scalar(100.0, unit='fs'),
        specie_indices=sc.array(dims=['particle'], values=np.flatnonzero(mobile)),
        drift_indices=sc.array(dims=['particle'], values=np.flatnonzero(~mobile)),
    )
    unpadded = calculate_msd(parser, progress=False)['da']
    np.testing.assert_allclose(unpadded.values, result.msd_A2[1:], rtol=1e-9)
    # the padding is a real difference (several %), not round-off
    assert np.abs(kinisi.da.values[:69] / result.msd_A2[1:] - 1).max() > 1e-3


# -------------------------------------------------------------------------------------------------
# 9. the chunked, time-contiguous internals against the straightforward algorithms
# -------------------------------------------------------------------------------------------------


def straightforward_unwrap(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """The unwrapping rule on whole arrays: minimum-image fractional steps, summed over frames."""
    cells = np.broadcast_to(cells, (positions.shape[0], 3, 3))
    fractional = np.einsum('tnj,tjk->tnk', np.diff(positions, axis=0), np.linalg.inv(cells[1:]))
    steps = np.einsum('tnj,tjk->tnk', fractional - np.rint(fractional), cells[1:])
    return np.concatenate([positions[:1], positions[0] + np.cumsum(steps, axis=0)])


def frame_by_frame_hops(positions: np.ndarray, hop_distance_A: float, smoothing_frames: int) -> tuple[int, int]:
    """The hop rule of ``count_hops`` evaluated literally, one frame at a time for all ions."""
    import scipy.ndimage

    smoothed = scipy.ndimage.uniform_filter1d(positions, size=smoothing_frames, axis=0, mode='nearest')
    reference = smoothed[0].copy()
    hops = np.zeros(positions.shape[1], dtype=int)
    settling_until = np.zeros(positions.shape[1], dtype=int)
    for index, frame in enumerate(smoothed[1:], start=1):
        settling = settling_until > index
        reference[settling] = frame[settling]
        moved = ~settling & (np.einsum('nk,nk->n', frame - reference, frame - reference) > hop_distance_A**2)
        hops += moved
        reference[moved] = frame[moved]
        settling_until[moved] = index + smoothing_frames
    return int(hops.sum()), int(np.count_nonzero(hops))


@pytest.mark.parametrize(
    'cell',
    [
        np.eye(3) * 9.0,  # cubic: one scalar
        np.diag([7.0, 9.0, 11.0]),  # orthorhombic: a diagonal tiled along the atoms
        triclinic_cell(),  # the full 3 x 3 product
        'variable',  # a cell per frame
    ],
    ids=['cubic', 'orthorhombic', 'triclinic', 'variable'],
)
def test_unwrap_matches_the_straightforward_algorithm_across_chunks(cell):
    frames = 2 * UNWRAP_FRAME_CHUNK + 3  # three chunks, the last of 3 frames
    continuous = drifting_walk(frames, 7, seed=8)
    cells = variable_cells(frames) if isinstance(cell, str) else cell
    wrapped = wrap(continuous, cells)
    expected = straightforward_unwrap(wrapped, cells)
    np.testing.assert_allclose(unwrap_positions(wrapped, cells), expected, rtol=0, atol=1e-12)
    assert np.abs(expected - wrapped).max() > 50  # many boundary crossings were undone


@pytest.mark.parametrize('mobile', ['consecutive', 'scattered', 'all'])
def test_drift_corrected_rows_equal_unwrap_then_remove_drift(mobile):
    from aiida_superionic.descriptors.diffusion import _drift_corrected_time_rows

    frames, atoms = UNWRAP_FRAME_CHUNK + 40, 9
    rng = np.random.default_rng(21)
    continuous = drifting_walk(frames, atoms, seed=4) + np.linspace(0, 3, frames)[:, None, None]
    cells = variable_cells(frames)
    wrapped = wrap(continuous, cells)
    masses = rng.uniform(1.0, 100.0, atoms)
    mask = {
        'consecutive': np.arange(atoms) >= 5,
        'scattered': np.isin(np.arange(atoms), [0, 3, 4, 8]),
        'all': np.ones(atoms, dtype=bool),
    }[mobile]
    expected = remove_drift(straightforward_unwrap(wrapped, cells), masses, ~mask)[:, mask]
    rows = _drift_corrected_time_rows(wrapped, cells, masses, mask)
    assert rows.shape == (mask.sum(), 3, frames)
    np.testing.assert_allclose(rows.transpose(2, 0, 1), expected, rtol=0, atol=1e-11)


def test_compute_msd_of_time_contiguous_positions_equals_the_c_ordered_array():
    rng = np.random.default_rng(17)
    rows = 30.0 + np.cumsum(rng.normal(size=(7, 3, 80)), axis=-1)  # (atoms, 3, frames)
    view = rows.transpose(2, 0, 1)  # (frames, atoms, 3) with time contiguous, as mobile_positions
    expected = brute_force_msd(np.ascontiguousarray(view), max_lag=39)
    np.testing.assert_allclose(compute_msd(view, max_lag=39), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(compute_msd(view[10:50], max_lag=19), compute_msd(view[10:50].copy(), max_lag=19))
    np.testing.assert_allclose(compute_msd(view), brute_force_msd(np.ascontiguousarray(view)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('smoothing_frames', [1, 4, 25])
def test_count_hops_equals_the_frame_by_frame_rule(smoothing_frames):
    rng = np.random.default_rng(smoothing_frames)
    frames, ions = 5000, 12
    # rare jumps of 0-3 Å (long gaps exceed the search window), return jumps and vibration
    jumps = (rng.random((frames, ions)) < 0.002)[..., None] * rng.normal(0.0, 1.8, (frames, ions, 3))
    positions = np.cumsum(jumps, axis=0) + rng.normal(0.0, 0.15, (frames, ions, 3))
    positions[:, 0] = 0.0  # an ion that never moves
    positions[frames - 3 :, 1] += 5.0  # a hop in the last frames
    for distance in (0.8, 1.5, 2.5):
        expected = frame_by_frame_hops(positions, distance, smoothing_frames)
        result = count_hops(positions, distance, smoothing_frames)
        assert (result.hops, result.ions_that_hopped) == expected
        assert expected[0] > 0
    view = np.ascontiguousarray(positions.transpose(1, 2, 0)).transpose(2, 0, 1)  # time-contiguous
    assert count_hops(view, 1.5, smoothing_frames) == count_hops(positions, 1.5, smoothing_frames)


def test_fft_length_is_long_enough_and_smooth():
    from aiida_superionic.descriptors.msd import _fft_length

    for minimum in [1, 2, 7, 97, 1000, 14999, 50500, 75000, 99999]:
        length = _fft_length(minimum)
        assert minimum <= length <= max(1.15 * minimum, minimum + 16)
        rest = length
        for factor in (2, 3, 5):
            while rest % factor == 0:
                rest //= factor
        assert rest == 1
