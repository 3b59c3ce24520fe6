"""Mean squared displacement, tracer diffusion coefficient and hop counting.

Pure numpy/scipy: arrays in, numbers and arrays out. Positions are in Å, times in ps, MSD in Å²
and diffusion coefficients in cm²/s unless a name says otherwise. Arrays of positions have the
shape ``(frames, atoms, 3)``.

The tracer MSD is averaged over every time origin and computed with FFTs in O(T log T) per
coordinate (the algorithm of Kneller et al., Comput. Phys. Commun. 91, 191 (1995), as used by
nMOLDYN and MDANSE), never with the O(T²) double loop.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.fft
import scipy.ndimage

from .constants import A2_PER_PS_TO_CM2_PER_S, DIMENSIONS

#: Columns (atom coordinates) transformed per FFT batch: bounds the memory of ``compute_msd`` to
#: a few arrays of ``frames x MSD_COLUMN_BATCH`` complex numbers whatever the number of atoms.
MSD_COLUMN_BATCH = 96


def unwrap_positions(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Return continuous (unwrapped) Cartesian positions from positions that may be wrapped.

    Between consecutive frames every atom is assumed to move by less than half a cell vector, so
    the displacement is taken as the minimum image in fractional coordinates of the *current*
    frame's cell (variable cells are handled). Positions that are already continuous come back
    unchanged.

    :param positions: Cartesian positions in Å, shape ``(frames, atoms, 3)``.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)`` for a fixed cell.
    :return: unwrapped Cartesian positions in Å, same shape as ``positions``, first frame unchanged.
    """
    positions = np.asarray(positions, dtype=float)
    cells = np.broadcast_to(np.asarray(cells, dtype=float), (positions.shape[0], 3, 3))
    if positions.shape[0] < 2:
        return positions.copy()
    inverse_cells = np.linalg.inv(cells)
    steps = np.diff(positions, axis=0)
    fractional_steps = np.einsum('tnj,tjk->tnk', steps, inverse_cells[1:])
    fractional_steps -= np.rint(fractional_steps)
    steps = np.einsum('tnj,tjk->tnk', fractional_steps, cells[1:])
    unwrapped = np.empty_like(positions)
    unwrapped[0] = positions[0]
    np.cumsum(steps, axis=0, out=unwrapped[1:])
    unwrapped[1:] += positions[0]
    return unwrapped


def remove_drift(positions: np.ndarray, masses: np.ndarray, reference_mask: np.ndarray) -> np.ndarray:
    """Remove the centre-of-mass drift of a group of atoms (the framework) from every atom.

    A thermostat and numerical noise let the whole cell drift; measured against the framework,
    mobile-ion displacements are physical. The framework centre of mass is held at its position
    in the first frame.

    :param positions: unwrapped Cartesian positions in Å, shape ``(frames, atoms, 3)``.
    :param masses: atomic masses in amu, shape ``(atoms,)``.
    :param reference_mask: boolean mask of the atoms whose centre of mass is held fixed.
    :return: positions in Å with the drift removed, same shape.
    """
    reference_mask = np.asarray(reference_mask, dtype=bool)
    if not reference_mask.any():
        return np.array(positions, dtype=float)
    weights = np.asarray(masses, dtype=float)[reference_mask]
    centre = np.einsum('tnk,n->tk', positions[:, reference_mask], weights) / weights.sum()
    return positions - (centre - centre[0])[:, None, :]


def compute_msd(positions: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Return the mean squared displacement per Cartesian direction, averaged over time origins.

    ``msd[m, k] = < (x_k(t0 + m) - x_k(t0))² >`` averaged over every origin ``t0`` with
    ``t0 + m`` inside the run and over all atoms given. The total MSD is ``msd.sum(axis=1)``.

    :param positions: unwrapped Cartesian positions in Å, shape ``(frames, atoms, 3)``.
    :param max_lag: largest lag in frames (default: ``frames - 1``).
    :return: MSD in Å², shape ``(max_lag + 1, 3)``.
    """
    positions = np.asarray(positions, dtype=float)
    frames, atoms, dimensions = positions.shape
    if frames < 2 or atoms == 0:
        raise ValueError(f'the MSD needs at least 2 frames and 1 atom, got {frames} frames, {atoms} atoms')
    max_lag = frames - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < frames:
        raise ValueError(f'max_lag must lie in [0, {frames - 1}], got {max_lag}')

    lags = np.arange(max_lag + 1)
    origins = (frames - lags).astype(float)  # number of time origins per lag
    fft_length = scipy.fft.next_fast_len(2 * frames, real=True)
    columns = positions.reshape(frames, atoms * dimensions)  # column j is atom j // 3, direction j % 3
    # Sums over atoms, per direction, of x² (per frame) and of |FFT x|² (per frequency): the MSD
    # needs only these, so one inverse FFT per direction serves every atom.
    squares = np.zeros((frames, dimensions))
    power = np.zeros((fft_length // 2 + 1, dimensions))
    batch_columns = MSD_COLUMN_BATCH - MSD_COLUMN_BATCH % dimensions  # whole atoms per batch
    for start in range(0, columns.shape[1], batch_columns):
        batch = columns[:, start : start + batch_columns]
        batch = batch - batch.mean(axis=0)  # the MSD is shift invariant; centring avoids cancellation
        squares += (batch * batch).reshape(frames, -1, dimensions).sum(axis=1)
        spectrum = scipy.fft.rfft(batch, n=fft_length, axis=0)
        power += (spectrum.real**2 + spectrum.imag**2).reshape(len(power), -1, dimensions).sum(axis=1)
        del spectrum

    autocorrelation = scipy.fft.irfft(power, n=fft_length, axis=0)[: max_lag + 1]
    cumulative = np.concatenate([np.zeros((1, dimensions)), np.cumsum(squares, axis=0)])
    # Sum over origins t0 in [0, frames - m) of x(t0)² + x(t0 + m)², for every lag m.
    square_terms = cumulative[frames - lags] + (cumulative[frames] - cumulative[lags])
    msd_sum = square_terms - 2.0 * autocorrelation

    msd = msd_sum / origins[:, None] / atoms
    return np.clip(msd, 0.0, None)  # round-off can leave -1e-15 at lag 0


@dataclasses.dataclass(frozen=True)
class DiffusionFit:
    """A linear fit ``MSD(τ) = 6 D τ + c`` over a window of lag times.

    :ivar diffusion_coefficient_cm2_s: D in cm²/s.
    :ivar intercept_A2: the fitted intercept c in Å².
    :ivar fit_start_ps: first lag time of the window in ps.
    :ivar fit_end_ps: last lag time of the window in ps (τmax).
    :ivar msd_at_fit_end_A2: the MSD at τmax in Å².
    :ivar r_squared: coefficient of determination of the fit in the window.
    """

    diffusion_coefficient_cm2_s: float
    intercept_A2: float
    fit_start_ps: float
    fit_end_ps: float
    msd_at_fit_end_A2: float
    r_squared: float


def fit_diffusion_coefficient(lag_times_ps: np.ndarray, msd_A2: np.ndarray, fit_start_ps: float) -> DiffusionFit:
    """Fit ``MSD = 2 d D τ + c`` (d = 3) by least squares over ``fit_start_ps ≤ τ ≤ τ_last``.

    :param lag_times_ps: lag times in ps, increasing, shape ``(lags,)``.
    :param msd_A2: total MSD in Å² at those lags, shape ``(lags,)``.
    :param fit_start_ps: start of the fit window in ps; the window ends at the last lag given.
    :return: the fit, with D in cm²/s.
    """
    lag_times_ps = np.asarray(lag_times_ps, dtype=float)
    msd_A2 = np.asarray(msd_A2, dtype=float)
    window = lag_times_ps >= fit_start_ps - 1e-12 * max(abs(fit_start_ps), 1.0)
    if window.sum() < 2:
        raise ValueError(f'the fit window from {fit_start_ps} ps holds fewer than 2 lags')
    x, y = lag_times_ps[window], msd_A2[window]
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = np.sum((y - y.mean()) ** 2)
    r_squared = 1.0 - np.sum(residual**2) / total if total > 0 else 1.0
    return DiffusionFit(
        diffusion_coefficient_cm2_s=float(slope / (2 * DIMENSIONS) * A2_PER_PS_TO_CM2_PER_S),
        intercept_A2=float(intercept),
        fit_start_ps=float(x[0]),
        fit_end_ps=float(x[-1]),
        msd_at_fit_end_A2=float(y[-1]),
        r_squared=float(r_squared),
    )


def paper_fit_window(frames: int) -> tuple[int, int]:
    """Return the lag window ``(first, last)`` in frames of López et al. (2023), eq. 4.

    The largest lag τmax is half the analysed run and D is fitted over τmax/2 ≤ τ ≤ τmax.

    :param frames: number of analysed frames (equally spaced).
    """
    max_lag = (frames - 1) // 2
    if max_lag < 2:
        raise ValueError(f'{frames} frames are too few for the fit window (at least 5 are needed)')
    return int(np.ceil(max_lag / 2)), max_lag


def minimum_pair_distance(positions: np.ndarray, cell: np.ndarray) -> float:
    """Return the shortest minimum-image distance in Å between any two of the given positions.

    Images up to one cell away in each direction are searched, which is exact for cells whose
    shortest distance is shorter than any cell height (every MD supercell).

    :param positions: Cartesian positions in Å, shape ``(atoms, 3)``, at least two atoms.
    :param cell: cell vectors as rows in Å, shape ``(3, 3)``.
    """
    positions = np.asarray(positions, dtype=float)
    if len(positions) < 2:
        raise ValueError('a pair distance needs at least two atoms')
    shifts = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing='ij')).reshape(3, -1).T @ np.asarray(cell)
    separations = positions[:, None, :] - positions[None, :, :]
    fractional = separations @ np.linalg.inv(cell)
    separations = (fractional - np.rint(fractional)) @ np.asarray(cell)
    # One image shift at a time: memory of N² distances, not 27 N² vectors.
    shortest = np.inf
    for shift in shifts:
        squared = np.einsum('ijk,ijk->ij', separations + shift, separations + shift)
        squared[np.diag_indices(len(positions))] = np.inf
        shortest = min(shortest, float(squared.min()))
    return float(np.sqrt(shortest))


@dataclasses.dataclass(frozen=True)
class HopCount:
    """Mobile-ion hops found in a trajectory.

    :ivar hops: total number of hops of all ions.
    :ivar ions_that_hopped: number of distinct ions that hopped at least once.
    :ivar hop_distance_A: displacement in Å from the last site that counts as a hop.
    :ivar smoothing_frames: frames of the moving average that removes thermal vibration.
    """

    hops: int
    ions_that_hopped: int
    hop_distance_A: float
    smoothing_frames: int


def count_hops(positions: np.ndarray, hop_distance_A: float, smoothing_frames: int = 1) -> HopCount:
    """Count hops: moves of an ion's time-averaged position by more than ``hop_distance_A``.

    Each ion's unwrapped position is smoothed by a moving average over ``smoothing_frames``
    frames (about 0.1 ps removes vibration but keeps a hop). A hop is counted when the smoothed
    position is farther than ``hop_distance_A`` from where the ion was at its last hop (or at the
    start). The reference then follows the ion for ``smoothing_frames`` more frames, the time the
    smoothed position needs to settle on the new site, so that an immediate return hop is measured
    from the new site rather than from the point where the hop was detected (about 0.75 of the way).
    A site-to-site distance of the mobile
    sublattice scaled below 1 (e.g. 0.75 × the shortest mobile–mobile distance) is the natural
    hop distance.

    :param positions: unwrapped Cartesian positions in Å of the ions, shape ``(frames, ions, 3)``.
    :param hop_distance_A: displacement in Å that counts as a hop, > 0.
    :param smoothing_frames: width of the moving average in frames, ≥ 1.
    """
    if hop_distance_A <= 0:
        raise ValueError(f'hop_distance_A must be positive, got {hop_distance_A}')
    smoothing_frames = max(1, int(smoothing_frames))
    positions = np.asarray(positions, dtype=float)
    smoothed = scipy.ndimage.uniform_filter1d(positions, size=smoothing_frames, axis=0, mode='nearest')
    reference = smoothed[0].copy()
    hops_per_ion = np.zeros(positions.shape[1], dtype=int)
    settling_until = np.zeros(positions.shape[1], dtype=int)
    threshold = hop_distance_A**2
    for index, frame in enumerate(smoothed[1:], start=1):
        settling = settling_until > index
        reference[settling] = frame[settling]
        moved = ~settling & (np.einsum('nk,nk->n', frame - reference, frame - reference) > threshold)
        if moved.any():
            hops_per_ion += moved
            reference[moved] = frame[moved]
            settling_until[moved] = index + smoothing_frames
    return HopCount(
        hops=int(hops_per_ion.sum()),
        ions_that_hopped=int(np.count_nonzero(hops_per_ion)),
        hop_distance_A=float(hop_distance_A),
        smoothing_frames=smoothing_frames,
    )
