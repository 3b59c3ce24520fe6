"""Mean squared displacement, tracer diffusion coefficient and hop counting.

Pure numpy/scipy: arrays in, numbers and arrays out. Positions are in Å, times in ps, MSD in Å²
and diffusion coefficients in cm²/s unless a name says otherwise. Arrays of positions have the
shape ``(frames, atoms, 3)``.

The tracer MSD is averaged over every time origin and computed with FFTs in O(T log T) per
coordinate (the algorithm of Kneller et al., Comput. Phys. Commun. 91, 191 (1995), as used by
nMOLDYN and MDANSE), never with the O(T²) double loop.

Trajectories are large (10^5 frames of a few hundred atoms are ~1 GB), so nothing here holds more
than a small multiple of one copy: unwrapping runs over chunks of ``UNWRAP_FRAME_CHUNK`` frames,
and the FFTs along time run over batches of atoms copied into time-contiguous rows (a tiled
transpose). ``benchmarks/trajectory_descriptors.py`` measures time and memory against one FFT
pass over the positions.
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

#: Columns per FFT batch in ``compute_msd`` when the positions are already stored time-contiguous
#: (e.g. ``TracerDiffusion.mobile_positions``): no transposition to amortise, so small batches whose
#: transforms stay in cache are fastest.
TIME_CONTIGUOUS_COLUMN_BATCH = 12

#: Frames per chunk of the frame-by-frame passes (unwrapping, drift, Lindemann sums): bounds their
#: temporaries to a few arrays of ``UNWRAP_FRAME_CHUNK x atoms x 3`` numbers, small enough to stay
#: in the processor's cache for a few hundred atoms.
UNWRAP_FRAME_CHUNK = 512

#: Frames per tile when a batch of ``(frames, atoms, 3)`` positions is copied into time-contiguous
#: rows for the FFTs (a tiled transpose: each tile is read once and stays in cache).
TRANSPOSE_FRAME_TILE = 256

# Pairs (a, b) of Cartesian directions of the off-diagonal MSD-tensor elements, in column order.
_PAIRS = ((0, 1), (1, 2), (0, 2))


def _fft_length(minimum: int) -> int:
    """A fast FFT length ``n >= minimum`` for zero padding: the 2-3-5-smooth n up to 15 % longer
    than ``minimum`` with the lowest modelled cost ``n × (1 + 0.5 a + 1.3 b + 1.7 c)`` for
    ``n = 2^a 3^b 5^c`` (pocketfft's radix-4 passes make factors of 2 the cheapest; measured, e.g.
    51200 = 2^11 5^2 transforms 30 % faster than ``scipy.fft.next_fast_len(50500) = 50625 = 3^4 5^4``).
    Any ``n >= minimum`` gives the same correlations (to round-off): only the speed differs."""
    best, best_cost = None, np.inf
    n = scipy.fft.next_fast_len(int(minimum), real=True)
    while n <= max(1.15 * minimum, minimum + 16):
        exponents, rest = [], n
        for factor in (2, 3, 5):
            count = 0
            while rest % factor == 0:
                rest //= factor
                count += 1
            exponents.append(count)
        cost = n * (1.0 + 0.5 * exponents[0] + 1.3 * exponents[1] + 1.7 * exponents[2])
        if cost < best_cost:
            best, best_cost = n, cost
        n = scipy.fft.next_fast_len(n + 1, real=True)
    return int(best)


def _all_finite(array: np.ndarray) -> bool:
    """Whether every element is finite: one sum (NaN or ±inf make it non-finite), the exact
    element test only when the sum is not finite (which an overflow alone could also cause)."""
    with np.errstate(all='ignore'):
        if np.isfinite(np.sum(array)):
            return True
    return bool(np.all(np.isfinite(array)))


def _fixed_cell(cells: np.ndarray) -> np.ndarray | None:
    """The cell if every frame has the same one, else None (``cells`` of shape ``(frames, 3, 3)``)."""
    if cells.strides[0] == 0 or bool(np.all(cells == cells[0])):
        return cells[0]
    return None


def _multiply_vectors(vectors: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``vectors @ matrix`` for a new array of vectors of shape ``(frames, atoms, 3)``, in place when it can.

    Elementwise, without BLAS (whose threads only get in the way of a 3 x 3 product). A diagonal
    matrix (a cubic or orthorhombic cell) is one multiplication, in place, giving exactly the
    numbers of the full product (the products with the zeros add nothing); its diagonal is tiled
    along the atoms so that numpy's inner loop runs over a whole frame, not over 3 numbers.
    """
    diagonal = np.diag(matrix)
    if not np.any(matrix - np.diag(diagonal)):
        if np.all(diagonal == diagonal[0]):
            vectors *= diagonal[0]
        else:
            flat = vectors.reshape(len(vectors), -1)
            flat *= np.tile(diagonal, vectors.shape[1])
        return vectors
    product = np.empty_like(vectors)
    for column in range(3):
        np.multiply(vectors[..., 0], matrix[0, column], out=product[..., column])
        product[..., column] += vectors[..., 1] * matrix[1, column]
        product[..., column] += vectors[..., 2] * matrix[2, column]
    return product


#: Largest step between consecutive frames, as a fraction of a cell vector, that the analysis accepts. Unwrapping
#: takes the periodic image nearest to the previous frame, which is the true one only for steps under half a cell;
#: a step seen near that bound means the frames are written too rarely to follow the atoms (and a true step beyond
#: half a cell shows up as one near it, from the other side).
MAX_FRAME_STEP_FRACTION = 0.4


class FrameStepError(ValueError):
    """A minimum-image step between consecutive frames beyond ``MAX_FRAME_STEP_FRACTION`` of a cell vector.

    :ivar fraction: the step along the cell vector, as a fraction of it (up to 0.5).
    :ivar frame: the later of the two frames, counted in the positions given.
    :ivar atom: the atom that makes the step.
    """

    def __init__(self, fraction: float, frame: int, atom: int):
        self.fraction, self.frame, self.atom = fraction, frame, atom
        super().__init__(
            f'atom {atom} moves {fraction:.2f} of a cell vector between frames {frame - 1} and {frame}: beyond '
            f'{MAX_FRAME_STEP_FRACTION} the nearest periodic image may not be the true one'
        )


def _check_fractional_steps(fractional: np.ndarray, start: int) -> None:
    """Raise :class:`FrameStepError` for the first frame of a chunk of minimum-image fractional steps
    ``(chunk, atoms, 3)`` (frames ``start``, ``start + 1``, ...) with a step beyond ``MAX_FRAME_STEP_FRACTION``,
    naming the largest step of that frame, or a ValueError for non-finite steps (positions that are NaN or
    infinite in either frame). Two reductions of a chunk that is in cache: the check costs little in the
    unwrapping pass, where it runs (a separate pass over the trajectory cost as much as the whole unwrapping)."""
    bound = MAX_FRAME_STEP_FRACTION
    if fractional.max() <= bound and fractional.min() >= -bound:  # False for NaN
        return
    magnitude = np.abs(fractional).max(axis=2)
    if not np.all(np.isfinite(magnitude)):
        raise ValueError('the trajectory contains NaN or infinite positions')
    frame = int(np.flatnonzero((magnitude > bound).any(axis=1))[0])
    atom = int(np.argmax(magnitude[frame]))
    raise FrameStepError(float(magnitude[frame, atom]), start + frame, atom)


def _minimum_image_step_chunks(
    positions: np.ndarray, cells: np.ndarray, chunk: int = UNWRAP_FRAME_CHUNK, check_steps: bool = False
):
    """Yield ``(start, stop, steps)`` for the frames ``1..frames-1`` in chunks: the Cartesian
    minimum-image steps from frame ``t - 1`` to ``t`` for ``start <= t < stop``, a new array of
    shape ``(stop - start, atoms, 3)`` (the fractional step in the cell of frame ``t`` minus its
    rounding, as :func:`unwrap_positions` takes them). With ``check_steps``, each chunk's steps are
    checked before it is yielded (:func:`_check_fractional_steps`): :class:`FrameStepError` for a step
    that unwrapping cannot follow, ValueError for non-finite positions."""
    frames = positions.shape[0]
    cells = np.broadcast_to(np.asarray(cells, dtype=float), (frames, 3, 3))
    fixed = _fixed_cell(cells)
    inverse_cells = np.linalg.inv(fixed) if fixed is not None else np.linalg.inv(cells)
    rounded = None
    for start in range(1, frames, chunk):
        stop = min(start + chunk, frames)
        with np.errstate(invalid='ignore'):  # inf - inf of non-finite positions: NaN, which the check reports
            steps = positions[start:stop] - positions[start - 1 : stop - 1]
            if fixed is not None:
                fractional = _multiply_vectors(steps, inverse_cells)
                if rounded is None or rounded.shape != fractional.shape:
                    rounded = np.empty_like(fractional)
                np.rint(fractional, out=rounded)
                fractional -= rounded
            else:
                fractional = np.einsum('tnj,tjk->tnk', steps, inverse_cells[start:stop])
                fractional -= np.rint(fractional)
        if check_steps:
            _check_fractional_steps(fractional, start)
        if fixed is not None:
            yield start, stop, _multiply_vectors(fractional, fixed)
        else:
            yield start, stop, np.einsum('tnj,tjk->tnk', fractional, cells[start:stop])


def check_frame_steps(positions: np.ndarray, cells: np.ndarray) -> None:
    """Raise :class:`FrameStepError` if an atom moves more than ``MAX_FRAME_STEP_FRACTION`` of a cell vector
    between consecutive frames (at the first such frame), ValueError for non-finite positions.

    :param positions: Cartesian positions in Å, shape ``(frames, atoms, 3)``, wrapped or not.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)``.
    """
    positions = np.asarray(positions, dtype=float)
    if not _all_finite(positions[:1]):
        raise ValueError('the trajectory contains NaN or infinite positions')
    for _ in _minimum_image_step_chunks(positions, cells, check_steps=True):
        pass


def _displacement_chunks(positions: np.ndarray, cells: np.ndarray, chunk: int = UNWRAP_FRAME_CHUNK):
    """Yield ``(start, stop, displacements)`` for the frames ``1..frames-1`` in chunks: the unwrapped
    displacements from frame 0, ``unwrap_positions(...)[start:stop] - positions[0]`` but as the
    running sum of the steps (the unwrapped positions are these plus ``positions[0]``, exactly as
    :func:`unwrap_positions` adds them)."""
    running = None
    for start, stop, steps in _minimum_image_step_chunks(positions, cells, chunk):
        if running is not None:
            steps[0] += running
        # the running sum frame by frame: along the frames of a C-ordered chunk this is an order of
        # magnitude faster than np.cumsum(axis=0), with the same additions in the same order
        for index in range(1, len(steps)):
            steps[index] += steps[index - 1]
        running = steps[-1].copy()
        yield start, stop, steps


def _unwrapped_chunks(positions: np.ndarray, cells: np.ndarray, chunk: int = UNWRAP_FRAME_CHUNK):
    """Yield ``(start, stop, unwrapped)``: the unwrapped positions of frames ``start..stop-1``, chunk by
    chunk, from frame 0: the numbers of :func:`unwrap_positions` without ever holding more than a chunk."""
    first = positions[0]
    yield 0, 1, positions[:1].copy()
    for start, stop, displacements in _displacement_chunks(positions, cells, chunk):
        np.add(displacements, first, out=displacements)  # in place: the unwrapped positions
        yield start, stop, displacements


def unwrap_positions(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Return continuous (unwrapped) Cartesian positions from positions that may be wrapped.

    Between consecutive frames every atom is assumed to move by less than half a cell vector, so
    the displacement is taken as the minimum image in fractional coordinates of the *current*
    frame's cell (variable cells are handled). Positions that are already continuous come back
    unchanged.

    Memory: the result plus temporaries of ``UNWRAP_FRAME_CHUNK`` frames.

    :param positions: Cartesian positions in Å, shape ``(frames, atoms, 3)``.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)`` for a fixed cell.
    :return: unwrapped Cartesian positions in Å, same shape as ``positions``, first frame unchanged.
    """
    positions = np.asarray(positions, dtype=float)
    if positions.shape[0] < 2:
        return positions.copy()
    unwrapped = np.empty(positions.shape)
    for start, stop, chunk in _unwrapped_chunks(positions, cells):
        unwrapped[start:stop] = chunk
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
    positions = np.asarray(positions, dtype=float)
    drift = _centre_of_mass(positions, masses, reference_mask)
    drift -= drift[0].copy()
    return positions - drift[:, None, :]


def _centre_of_mass(positions: np.ndarray, masses: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Centre of mass per frame of the atoms in ``mask`` (a non-empty boolean mask), shape ``(frames, 3)``."""
    weights = np.asarray(masses, dtype=float)[mask]
    return np.einsum('tnk,n->tk', positions[:, _as_index(mask)], weights) / weights.sum()


def _as_index(mask: np.ndarray) -> slice | np.ndarray:
    """A slice for a mask of consecutive atoms (indexing with it gives a view, not a copy), else the mask."""
    indices = np.flatnonzero(mask)
    if indices.size and indices[-1] - indices[0] + 1 == indices.size:
        return slice(int(indices[0]), int(indices[-1]) + 1)
    return mask


def _fill_time_rows(rows: np.ndarray, positions: np.ndarray, start: int, stop: int) -> None:
    """Write atoms ``start..stop-1`` of ``positions`` (frames, atoms, dims) into ``rows`` (atoms, dims,
    frames): a tiled transpose (each tile of frames is read once and stays in cache), after which
    the FFTs along time read contiguous rows."""
    frames = positions.shape[0]
    for first in range(0, frames, TRANSPOSE_FRAME_TILE):
        last = min(first + TRANSPOSE_FRAME_TILE, frames)
        rows[:, :, first:last] = positions[first:last, start:stop].transpose(1, 2, 0)


def _msd_sums(positions: np.ndarray, max_lag: int, cross: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The FFT MSD per direction and, with ``cross``, the off-diagonal MSD-tensor elements, in one pass.

    For the atom coordinates x_a (a = x, y, z) and each lag m, summed over atoms and time origins:
    ``Σ (x_a(t0+m) - x_a(t0)) (x_b(t0+m) - x_b(t0)) = S_ab(m) - C_ab(m) - C_ba(m)`` with
    ``S_ab(m) = Σ_t0 [x_a x_b (t0) + x_a x_b (t0+m)]`` from cumulative sums and
    ``C_ab(m) + C_ba(m) = irfft(2 Re(conj(X_a) X_b))`` from the zero-padded transforms X (Kneller et
    al.): the power spectra (and cross spectra) of all atoms are summed before one inverse FFT per
    element. The transforms are padded to ``frames + max_lag`` points (exact linear correlations
    up to ``max_lag``). Each batch of atoms is copied once, transposed to time-contiguous rows and
    centred (the MSD is shift invariant; centring avoids cancellation), into a zero-padded buffer
    that the FFT reads as it is; positions whose time axis is already contiguous (e.g.
    ``TracerDiffusion.mobile_positions``) are not transposed.

    :return: ``(msd, off_diagonal)``: MSD per direction, shape ``(max_lag + 1, 3)``, clipped at 0;
        the elements (xy, yz, xz) of the MSD tensor, shape ``(max_lag + 1, 3)``, or None.
    """
    frames, atoms, dimensions = positions.shape
    lags = np.arange(max_lag + 1)
    origins = (frames - lags).astype(float)  # number of time origins per lag
    fft_length = _fft_length(frames + max_lag)
    pairs = _PAIRS if cross and dimensions == DIMENSIONS else ()
    elements = dimensions + len(pairs)
    # Per element (the directions, then the pairs): the sum over atoms of x_a x_b per frame and of
    # Re(conj(X_a) X_b) per frequency.
    squares = np.zeros((elements, frames))
    power = np.zeros((elements, fft_length // 2 + 1))
    time_contiguous = positions.strides[0] == positions.itemsize
    # rows already time-contiguous need no transposition, whose cost favours wide batches: in small
    # batches their transforms stay in the processor's cache (measured: 1.5x faster)
    columns = min(MSD_COLUMN_BATCH, TIME_CONTIGUOUS_COLUMN_BATCH) if time_contiguous else MSD_COLUMN_BATCH
    batch_atoms = max(1, columns // dimensions)
    padded = np.zeros((min(batch_atoms, atoms), dimensions, fft_length))
    for start in range(0, atoms, batch_atoms):
        stop = min(start + batch_atoms, atoms)
        rows = padded[: stop - start, :, :frames]
        if time_contiguous:
            view = positions[:, start:stop].transpose(1, 2, 0)
            np.subtract(view, view.mean(axis=-1, keepdims=True), out=rows)
        else:
            _fill_time_rows(rows, positions, start, stop)
            rows -= rows.mean(axis=-1, keepdims=True)
        squares[:dimensions] += np.einsum('akt,akt->kt', rows, rows)
        for column, (a, b) in enumerate(pairs, start=dimensions):
            squares[column] += np.einsum('at,at->t', rows[:, a], rows[:, b])
        spectrum = scipy.fft.rfft(padded[: stop - start], axis=-1)
        # |X|² as re² + im², summed over the atoms of the batch
        batch_power = spectrum.real**2
        batch_power += spectrum.imag**2
        power[:dimensions] += batch_power.sum(axis=0)
        del batch_power
        for column, (a, b) in enumerate(pairs, start=dimensions):
            cross_power = spectrum[:, a].real * spectrum[:, b].real
            cross_power += spectrum[:, a].imag * spectrum[:, b].imag
            power[column] += cross_power.sum(axis=0)
        del spectrum

    correlation = scipy.fft.irfft(power, n=fft_length, axis=-1)[:, : max_lag + 1]
    cumulative = np.zeros((elements, frames + 1))
    np.cumsum(squares, axis=1, out=cumulative[:, 1:])
    # Sum over origins t0 in [0, frames - m) of x(t0)² + x(t0 + m)², for every lag m.
    square_terms = cumulative[:, frames - lags] + (cumulative[:, frames : frames + 1] - cumulative[:, lags])
    sums = (square_terms - 2.0 * correlation) / origins / atoms
    msd = np.clip(sums[:dimensions].T, 0.0, None)  # round-off can leave -1e-15 at lag 0
    return np.ascontiguousarray(msd), (np.ascontiguousarray(sums[dimensions:].T) if pairs else None)


def compute_msd(positions: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Return the mean squared displacement per Cartesian direction, averaged over time origins.

    ``msd[m, k] = < (x_k(t0 + m) - x_k(t0))² >`` averaged over every origin ``t0`` with
    ``t0 + m`` inside the run and over all atoms given. The total MSD is ``msd.sum(axis=1)``.

    Memory: a few arrays of ``(frames + max_lag) x MSD_COLUMN_BATCH`` numbers besides the input.

    :param positions: unwrapped Cartesian positions in Å, shape ``(frames, atoms, 3)``.
    :param max_lag: largest lag in frames (default: ``frames - 1``).
    :return: MSD in Å², shape ``(max_lag + 1, 3)``.
    """
    positions = np.asarray(positions, dtype=float)
    return _msd_sums(positions, _checked_max_lag(positions, max_lag))[0]


def _checked_max_lag(positions: np.ndarray, max_lag: int | None) -> int:
    """The largest lag of an MSD of ``positions`` (default ``frames - 1``), or the ValueError of a bad request."""
    frames, atoms, _ = positions.shape
    if frames < 2 or atoms == 0:
        raise ValueError(f'the MSD needs at least 2 frames and 1 atom, got {frames} frames, {atoms} atoms')
    max_lag = frames - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < frames:
        raise ValueError(f'max_lag must lie in [0, {frames - 1}], got {max_lag}')
    return max_lag


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


#: First number of frames searched at once for an ion's next hop (doubled while none is found).
_HOP_SEARCH_FRAMES = 1024


def _hops_of_one_ion(smoothed: np.ndarray, threshold: float, smoothing_frames: int) -> int:
    """The hops of one ion from its smoothed positions as time-contiguous rows, shape ``(3, frames)``.

    The rule of :func:`count_hops` frame by frame, evaluated by searching whole windows of frames
    for the next one farther than ``sqrt(threshold)`` from the reference: after a hop at frame h
    the reference follows the ion up to frame ``h + smoothing_frames - 1`` and the search resumes
    at ``h + smoothing_frames``.
    """
    frames = smoothed.shape[1]
    reference = smoothed[:, 0].copy()
    index, hops, window = 1, 0, _HOP_SEARCH_FRAMES
    while index < frames:
        stop = min(index + window, frames)
        difference = smoothed[:, index:stop] - reference[:, None]
        beyond = np.einsum('kt,kt->t', difference, difference) > threshold
        first = int(beyond.argmax())
        if not beyond[first]:
            index, window = stop, 2 * window
            continue
        hop = index + first
        hops += 1
        settled = min(hop + smoothing_frames - 1, frames - 1)
        reference = smoothed[:, settled].copy()
        index, window = hop + smoothing_frames, _HOP_SEARCH_FRAMES
    return hops


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
    frames, ions = positions.shape[:2]
    # the moving average along time, written as time-contiguous rows (ions, 3, frames) for the scan
    smoothed = np.empty((ions, positions.shape[2], frames))
    if ions:
        scipy.ndimage.uniform_filter1d(
            positions, size=smoothing_frames, axis=0, mode='nearest', output=smoothed.transpose(2, 0, 1)
        )
    threshold = hop_distance_A**2
    hops_per_ion = np.array([_hops_of_one_ion(row, threshold, smoothing_frames) for row in smoothed], dtype=int)
    return HopCount(
        hops=int(hops_per_ion.sum()),
        ions_that_hopped=int(np.count_nonzero(hops_per_ion)),
        hop_distance_A=float(hop_distance_A),
        smoothing_frames=smoothing_frames,
    )
