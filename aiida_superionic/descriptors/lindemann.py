"""The framework Lindemann ratio of an MD trajectory: nearest-neighbour distances and the RMS displacement
of the framework atoms, accumulated in one pass over the unwrapped positions.

Positions alone define it, so it is computed for every trajectory (:func:`trajectory_lindemann_ratio`),
not only when the frames resolve a vibrational spectrum. Both of its lengths are the framework's: the RMS
displacement of the framework atoms and their distance to the nearest *framework* atom. A mobile ion that
diffused has a mean position that is no site (often between sites, close to a framework atom), and one that
sits still is not part of the lattice whose melting the ratio measures, so mobile ions are left out of d_nn.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .constants import DIMENSIONS
from .msd import UNWRAP_FRAME_CHUNK, _as_index, _displacement_chunks

# -------------------------------------------------------------------------------------------------
# Lindemann ratio
# -------------------------------------------------------------------------------------------------


def nearest_neighbour_distances(
    positions: np.ndarray, cell: np.ndarray, centres: np.ndarray | None = None
) -> np.ndarray:
    """Return, for each centre atom, the minimum-image distance in Å to its nearest other atom.

    Separations are reduced to fractional coordinates in [-½, ½) and the 27 neighbouring images
    searched, exact whenever the nearest-neighbour distance is shorter than every cell height.

    :param positions: Cartesian positions in Å, shape ``(atoms, 3)``, at least two atoms.
    :param cell: cell vectors as rows in Å, shape ``(3, 3)``.
    :param centres: boolean mask of the atoms whose distance is wanted (default: all).
    :return: distances in Å, shape ``(centres,)``.
    """
    positions = np.asarray(positions, dtype=float)
    cell = np.asarray(cell, dtype=float)
    if len(positions) < 2:
        raise ValueError('a nearest-neighbour distance needs at least two atoms')
    centre_indices = np.arange(len(positions)) if centres is None else np.flatnonzero(np.asarray(centres, dtype=bool))
    fractional = positions @ np.linalg.inv(cell)
    separations = fractional[None, :, :] - fractional[centre_indices, None, :]
    separations = (separations - np.rint(separations)) @ cell
    shifts = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing='ij')).reshape(3, -1).T @ cell
    shortest = np.full(len(centre_indices), np.inf)
    components = [np.ascontiguousarray(separations[..., k]) for k in range(3)]  # (centres, atoms) each
    squared, square = np.empty(components[0].shape), np.empty(components[0].shape)
    itself = (np.arange(len(centre_indices)), centre_indices)
    for shift in shifts:  # one image at a time: memory of centres x atoms distances
        # |s + shift|² as (x² + y²) + z², component arrays in place (no (centres, atoms, 3) temporaries)
        np.add(components[0], shift[0], out=squared)
        squared *= squared
        for k in (1, 2):
            np.add(components[k], shift[k], out=square)
            square *= square
            squared += square
        squared[itself] = np.inf  # the atom itself, any shift
        shortest = np.minimum(shortest, squared.min(axis=1))
    return np.sqrt(shortest)


@dataclasses.dataclass(frozen=True)
class LindemannRatio:
    """The Lindemann ratio of the framework.

    :ivar lindemann_ratio: sqrt(⟨u²⟩) / d_nn (dimensionless).
    :ivar rms_displacement_A: sqrt(⟨u²⟩) in Å, ⟨u²⟩ = ⟨|r_i(t) - r̄_i|²⟩ over framework atoms and frames.
    :ivar nearest_neighbour_distance_A: d_nn in Å, mean over framework atoms of the distance to
        their nearest framework atom in the average structure.
    :ivar atoms: number of framework atoms.
    """

    lindemann_ratio: float
    rms_displacement_A: float
    nearest_neighbour_distance_A: float
    atoms: int


def framework_lindemann_ratio(
    unwrapped_positions: np.ndarray, cells: np.ndarray, masses: np.ndarray, framework_mask: np.ndarray
) -> LindemannRatio:
    """Return the Lindemann ratio γ = sqrt(⟨u²⟩) / d_nn of the framework (docs/source/topics/descriptors.md).

    The framework centre-of-mass drift is removed (``msd.remove_drift``); every atom's mean
    position over the run defines the average structure (in the mean cell). ⟨u²⟩ is the mean over
    framework atoms and frames of the squared 3-d displacement from the mean position (an
    isotropic Gaussian vibration of standard deviation σ per direction gives ⟨u²⟩ = 3σ²). d_nn is
    the mean over framework atoms of the minimum-image distance to the nearest other framework
    atom in the average structure (mobile ions left out: module docstring).

    :param unwrapped_positions: continuous Cartesian positions in Å, shape ``(frames, atoms, 3)``.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)``.
    :param masses: masses in amu, shape ``(atoms,)``.
    :param framework_mask: boolean mask of the framework (non-mobile) atoms.
    :return: the ratio; NaN values with fewer than two framework atoms.
    """
    positions = np.asarray(unwrapped_positions, dtype=float)
    sums = _LindemannSums(masses, framework_mask, positions)
    if sums.defined:
        first_centre = sums.centre(positions[:1])[0]
        for start in range(1, positions.shape[0], UNWRAP_FRAME_CHUNK):  # frames after the first
            chunk = positions[start : start + UNWRAP_FRAME_CHUNK]
            drift = sums.centre(chunk)
            drift -= first_centre
            sums.add(chunk - positions[0], drift)
    return sums.result(cells)


class _LindemannSums:
    """The sums behind :func:`framework_lindemann_ratio`, accumulated over chunks of frames.

    With the framework drift removed (``msd.remove_drift``: z(t) = r(t) - d(t), d(t) = c(t) - c(0)
    the displacement of the framework centre of mass) and y(t) = z(t) - z(0) = s(t) - d(t) (s the
    unwrapped displacement from the first frame, so that no cancellation occurs), the mean
    position of every atom is r(0) + Σy / T and the framework's Σ |z - z̄|² = Σ y² - T ȳ² per atom
    and direction: one pass over the frames, no full-size copy.
    """

    def __init__(self, masses: np.ndarray, framework_mask: np.ndarray, positions: np.ndarray):
        self.framework_mask = np.asarray(framework_mask, dtype=bool)
        self.framework = _as_index(self.framework_mask)
        self.weights = np.asarray(masses, dtype=float)[self.framework_mask]
        self.framework_atoms = int(self.framework_mask.sum())
        self.defined = self.framework_atoms >= 2  # a distance between framework atoms
        self.first = positions[0, self.framework].copy()
        self.frames = 1  # the first frame, where y = 0
        self.displacement_sum = np.zeros((self.framework_atoms, DIMENSIONS))  # Σ_t y, framework atoms
        self.square_sum = np.zeros((self.framework_atoms, DIMENSIONS))  # Σ_t y², framework atoms

    def centre(self, positions: np.ndarray) -> np.ndarray:
        """The framework centre of mass of each frame given, shape ``(frames, 3)``."""
        return np.matmul(self.weights, positions[:, self.framework]) / self.weights.sum()

    def add(self, displacements: np.ndarray, drift: np.ndarray) -> None:
        """Add frames after the first: unwrapped displacements from the first frame ``(chunk, atoms, 3)``
        (overwritten) and the framework drift since the first frame ``(chunk, 3)``."""
        framework = displacements[:, self.framework]  # only the framework's mean positions are needed
        for direction in range(DIMENSIONS):  # y = s - d (per direction: numpy's inner loop runs over atoms)
            framework[:, :, direction] -= drift[:, direction, None]
        self.displacement_sum += framework.sum(axis=0)
        self.square_sum += np.einsum('tnk,tnk->nk', framework, framework)
        self.frames += len(displacements)

    def result(self, cells: np.ndarray) -> LindemannRatio:
        """The Lindemann ratio from the frames added (NaN with fewer than two framework atoms)."""
        if not self.defined:
            nan = float('nan')
            return LindemannRatio(nan, nan, nan, self.framework_atoms)
        mean_displacements = self.displacement_sum / self.frames
        mean_positions = self.first + mean_displacements  # of the framework atoms
        square_sum = float((self.square_sum - self.frames * mean_displacements * mean_displacements).sum())
        mean_square = max(square_sum, 0.0) / self.frames / self.framework_atoms  # ≥ 0 but for round-off
        mean_cell = np.asarray(cells, dtype=float).reshape(-1, 3, 3).mean(axis=0)
        distance = float(nearest_neighbour_distances(mean_positions, mean_cell).mean())
        rms = float(np.sqrt(mean_square))
        return LindemannRatio(rms / distance, rms, distance, self.framework_atoms)


def _unwrapped_pass(
    positions: np.ndarray,
    cells: np.ndarray,
    masses: np.ndarray,
    framework_mask: np.ndarray,
    frame_interval_ps: float | None = None,
) -> tuple[LindemannRatio, np.ndarray | None]:
    """One pass over wrapped positions, chunk by chunk: the Lindemann ratio and, given a frame
    interval, the finite-difference velocities (the numbers of ``unwrap_positions`` followed by
    ``framework_lindemann_ratio`` and ``velocities_from_positions``, to round-off, without an
    unwrapped copy of the trajectory).

    :return: the Lindemann ratio and the velocities in Å/ps (shape of ``positions``) or None.
    """
    frames = positions.shape[0]
    sums = _LindemannSums(masses, framework_mask, positions)
    velocities = None if frame_interval_ps is None else np.empty(positions.shape)
    if velocities is None and not sums.defined:
        return sums.result(cells), None
    dt = None if frame_interval_ps is None else float(frame_interval_ps)
    previous = positions[:1]  # the last two unwrapped frames before the current chunk
    for _, stop, displacements in _displacement_chunks(positions, cells):
        if velocities is not None:
            # central differences of the unwrapped positions for the frames with both neighbours
            # in ``window`` (frames ``stop - len(window)..stop-1``), np.gradient's formulas
            window = np.concatenate([previous, displacements + positions[0]])
            low = stop - len(window)
            if low == 0:  # the second-order one-sided difference at the first frame
                velocities[0] = -1.5 / dt * window[0] + 2.0 / dt * window[1] + -0.5 / dt * window[2]
            velocities[low + 1 : stop - 1] = (window[2:] - window[:-2]) / (2.0 * dt)
            if stop == frames:  # and at the last frame
                velocities[-1] = 0.5 / dt * window[-3] + -2.0 / dt * window[-2] + 1.5 / dt * window[-1]
            previous = window[-2:].copy()
        if sums.defined:
            # the drift of the framework centre of mass since the first frame, from the same displacements
            drift = np.matmul(sums.weights, displacements[:, sums.framework]) / sums.weights.sum()
            sums.add(displacements, drift)
    return sums.result(cells), velocities


def trajectory_lindemann_ratio(
    positions: np.ndarray,
    cells: np.ndarray,
    times_ps: np.ndarray,
    symbols: list[str] | tuple[str, ...],
    masses: np.ndarray,
    mobile_species: str,
    equilibration_ps: float = 0.0,
) -> LindemannRatio:
    """The framework Lindemann ratio of a trajectory as it is stored: frames before ``equilibration_ps``
    dropped (as the other analyses do), positions unwrapped on the fly, the framework every atom not of
    ``mobile_species``. Needs positions only: any frame interval will do.

    :param positions: Cartesian positions in Å, shape ``(frames, atoms, 3)``, wrapped or not.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)``.
    :param times_ps: time of each frame in ps, increasing, shape ``(frames,)``.
    :param symbols: chemical symbol per atom.
    :param masses: mass per atom in amu.
    :param mobile_species: element symbol of the mobile ion.
    :param equilibration_ps: time in ps discarded at the start.
    """
    positions = np.asarray(positions, dtype=float)
    times_ps = np.asarray(times_ps, dtype=float)
    if positions.ndim != 3 or positions.shape[2] != DIMENSIONS or len(symbols) != positions.shape[1]:
        raise ValueError(f'positions {positions.shape} do not match (frames, {len(symbols)} atoms, 3)')
    cells = np.broadcast_to(np.asarray(cells, dtype=float), (positions.shape[0], 3, 3))
    first = int(np.searchsorted(times_ps, times_ps[0] + equilibration_ps - 1e-9))
    framework_mask = np.array([symbol != mobile_species for symbol in symbols], dtype=bool)
    return _unwrapped_pass(positions[first:], cells[first:], np.asarray(masses, dtype=float), framework_mask)[0]
