"""Tracer diffusion of the mobile species from one MD trajectory, as López et al. (2023) define it.

Pure numerics (no AiiDA): the calcfunction ``compute_trajectory_descriptors`` is a thin wrapper.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from .constants import MOBILE_SPECIES_PRECEDENCE
from .msd import (
    MAX_FRAME_STEP_FRACTION,
    DiffusionFit,
    FrameStepError,
    HopCount,
    _all_finite,
    _as_index,
    _minimum_image_step_chunks,
    _msd_sums,
    check_frame_steps,
    count_hops,
    fit_diffusion_coefficient,
    minimum_pair_distance,
    paper_fit_window,
)

#: Fraction of the shortest mobile–mobile distance that counts as a hop (see ``count_hops``).
DEFAULT_HOP_FRACTION = 0.75

#: Width in ps of the moving average applied before counting hops.
DEFAULT_HOP_SMOOTHING_PS = 0.1


def select_mobile_species(symbols: list[str] | tuple[str, ...]) -> str:
    """Return the mobile species of a structure by the precedence rule ``MOBILE_SPECIES_PRECEDENCE``.

    The first of Li, Na, Ag, Cu, F, Cl, Br, I, O present is the mobile ion.

    :param symbols: chemical symbols of the structure's sites.
    :raises ValueError: if none of those elements is present.
    """
    present = set(symbols)
    for element in MOBILE_SPECIES_PRECEDENCE:
        if element in present:
            return element
    raise ValueError(
        f'no candidate mobile species in {sorted(present)}: the structure must contain one of '
        f'{", ".join(MOBILE_SPECIES_PRECEDENCE)}, or name the mobile species explicitly'
    )


@dataclasses.dataclass(frozen=True)
class TracerDiffusion:
    """The tracer diffusion of the mobile species from one trajectory.

    :ivar lag_times_ps: lag times in ps of the MSD, from 0 to τmax (half the analysed run).
    :ivar msd_xyz_A2: MSD per Cartesian direction in Å², shape ``(lags, 3)``.
    :ivar fit: the linear fit over the paper's window τmax/2 ≤ τ ≤ τmax.
    :ivar hops: mobile-ion hops in the analysed part of the run.
    :ivar analysed_time_ps: length of the analysed run (after equilibration) in ps.
    :ivar analysed_frames: number of analysed frames.
    :ivar mobile_ions: number of mobile ions.
    :ivar mobile_positions: the analysed positions of the mobile ions in Å, unwrapped and with the
        framework drift removed, shape ``(analysed_frames, mobile_ions, 3)``; further analyses
        (tensor, collective MSD, blocks) start from them rather than unwrapping again. Stored
        time-contiguous (a transposed view of an array of shape ``(mobile_ions, 3, frames)``), the
        layout of the FFTs along time.
    :ivar cell_volume_A3: mean cell volume over the analysed frames in Å³.
    """

    lag_times_ps: np.ndarray
    msd_xyz_A2: np.ndarray
    fit: DiffusionFit
    hops: HopCount
    analysed_time_ps: float
    analysed_frames: int
    mobile_ions: int
    mobile_positions: np.ndarray = dataclasses.field(repr=False)
    cell_volume_A3: float

    @property
    def msd_A2(self) -> np.ndarray:
        """Total MSD in Å² per lag."""
        return self.msd_xyz_A2.sum(axis=1)


def analyse_tracer_diffusion(
    positions: np.ndarray,
    cells: np.ndarray,
    times_ps: np.ndarray,
    symbols: list[str] | tuple[str, ...],
    masses: np.ndarray,
    mobile_species: str,
    equilibration_ps: float = 0.0,
    hop_fraction: float = DEFAULT_HOP_FRACTION,
    hop_smoothing_ps: float = DEFAULT_HOP_SMOOTHING_PS,
) -> TracerDiffusion:
    """Compute the tracer MSD, D (paper window) and hop count of the mobile species.

    Frames before ``equilibration_ps`` (measured from the first frame) are discarded. Positions
    are unwrapped, the framework (every non-mobile atom) centre-of-mass drift is removed, the
    MSD is averaged over all time origins up to τmax = half the analysed run and D = slope / 6
    of a linear fit over τmax/2 ≤ τ ≤ τmax.

    :param positions: Cartesian positions in Å, shape ``(frames, atoms, 3)``, wrapped or not.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)``.
    :param times_ps: time of each frame in ps, equally spaced, shape ``(frames,)``.
    :param symbols: chemical symbol per atom.
    :param masses: mass per atom in amu.
    :param mobile_species: element symbol of the mobile ion.
    :param equilibration_ps: time in ps discarded at the start.
    :param hop_fraction: hop distance as a fraction of the shortest mobile–mobile distance.
    :param hop_smoothing_ps: moving-average width in ps before hop counting.
    :raises ValueError: for inconsistent shapes, unequal time steps, no mobile atom, too short a run.
    """
    return _tracer_diffusion(
        positions,
        cells,
        times_ps,
        symbols,
        masses,
        mobile_species,
        equilibration_ps=equilibration_ps,
        hop_fraction=hop_fraction,
        hop_smoothing_ps=hop_smoothing_ps,
    )[0]


def _tracer_diffusion(
    positions: np.ndarray,
    cells: np.ndarray,
    times_ps: np.ndarray,
    symbols: list[str] | tuple[str, ...],
    masses: np.ndarray,
    mobile_species: str,
    equilibration_ps: float = 0.0,
    hop_fraction: float = DEFAULT_HOP_FRACTION,
    hop_smoothing_ps: float = DEFAULT_HOP_SMOOTHING_PS,
    off_diagonal: bool = False,
) -> tuple[TracerDiffusion, np.ndarray | None]:
    """:func:`analyse_tracer_diffusion`, and with ``off_diagonal`` the (xy, yz, xz) elements of the
    MSD tensor at the same lags from the same FFTs, shape ``(lags, 3)`` (else None)."""
    positions = np.asarray(positions, dtype=float)
    times_ps = np.asarray(times_ps, dtype=float)
    symbols = list(symbols)
    frames, atoms, _ = positions.shape
    if len(symbols) != atoms or len(masses) != atoms or len(times_ps) != frames:
        raise ValueError(
            f'inconsistent trajectory: {frames} frames x {atoms} atoms, {len(times_ps)} times, '
            f'{len(symbols)} symbols, {len(masses)} masses'
        )
    # Non-finite positions and steps that unwrapping cannot follow are found in the unwrapping pass (a separate
    # pass over the whole trajectory costs as much as the unwrapping): here only the first frame is checked.
    if not _all_finite(positions[:1]):
        raise ValueError('the trajectory contains NaN or infinite positions')
    mobile_mask = np.array([symbol == mobile_species for symbol in symbols])
    if not mobile_mask.any():
        raise ValueError(f'no atom of the mobile species {mobile_species} in the trajectory ({sorted(set(symbols))})')

    cells = np.broadcast_to(np.asarray(cells, dtype=float), (frames, 3, 3))
    # Checked on the whole run before equilibration frames are dropped: otherwise decreasing times
    # leave only the first frame and the error wrongly blames a too short run.
    if np.any(np.diff(times_ps) <= 0):
        raise ValueError('the frames must be equally spaced in time and increasing')
    # the times increase, so the kept frames (t >= t0 + equilibration) are a slice: views, not copies
    first_kept = int(np.searchsorted(times_ps, times_ps[0] + equilibration_ps - 1e-9))
    with _frame_steps_named(symbols, 0):  # the dropped frames too: a run that cannot be unwrapped is refused whole
        check_frame_steps(positions[: first_kept + 1], cells[: first_kept + 1])
    positions, cells, times_ps = positions[first_kept:], cells[first_kept:], times_ps[first_kept:]
    frames = len(times_ps)
    first, last = paper_fit_window(frames)
    steps = np.diff(times_ps)
    if not np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9) or steps[0] <= 0:
        raise ValueError('the frames must be equally spaced in time and increasing')
    frame_interval_ps = float(steps[0])

    with _frame_steps_named(symbols, first_kept):
        mobile_positions = _drift_corrected_time_rows(positions, cells, masses, mobile_mask, check_steps=True)
    mobile_positions = mobile_positions.transpose(2, 0, 1)
    msd_xyz, off_diagonal_xyz = _msd_sums(mobile_positions, last, cross=off_diagonal)
    lag_times_ps = np.arange(last + 1) * frame_interval_ps
    fit = fit_diffusion_coefficient(lag_times_ps, msd_xyz.sum(axis=1), fit_start_ps=lag_times_ps[first])

    smoothing_frames = max(1, round(hop_smoothing_ps / frame_interval_ps))
    if mobile_mask.sum() >= 2:
        # Sites from the first smoothing window: thermal displacement would shorten the distance.
        sites = mobile_positions[:smoothing_frames].mean(axis=0)
        site_distance = minimum_pair_distance(sites, cells[0])
    else:
        site_distance = float(np.min(np.linalg.norm(cells[0], axis=1)))
    hops = count_hops(mobile_positions, hop_distance_A=hop_fraction * site_distance, smoothing_frames=smoothing_frames)
    tracer = TracerDiffusion(
        lag_times_ps=lag_times_ps,
        msd_xyz_A2=msd_xyz,
        fit=fit,
        hops=hops,
        analysed_time_ps=float(times_ps[-1] - times_ps[0]),
        analysed_frames=frames,
        mobile_ions=int(mobile_mask.sum()),
        mobile_positions=mobile_positions,
        cell_volume_A3=float(np.abs(np.linalg.det(cells)).mean()),
    )
    return tracer, off_diagonal_xyz


@contextlib.contextmanager
def _frame_steps_named(symbols: list[str], first_frame: int):
    """Turn a :class:`FrameStepError` of positions that start at frame ``first_frame`` of the run into the
    user's message: the atom with its element, the frames counted in the run, what to do."""
    try:
        yield
    except FrameStepError as error:
        frame = error.frame + first_frame
        raise ValueError(
            f'atom {error.atom} ({symbols[error.atom]}) moves {error.fraction:.2f} of a cell vector between frames '
            f'{frame - 1} and {frame}: beyond {MAX_FRAME_STEP_FRACTION} the nearest periodic image may not be the '
            'true one (a jump of half a cell cannot be unwrapped): write frames more often, or check that joined '
            'segments continue each other'
        ) from None


def _drift_corrected_time_rows(
    positions: np.ndarray,
    cells: np.ndarray,
    masses: np.ndarray,
    selected_mask: np.ndarray,
    check_steps: bool = False,
) -> np.ndarray:
    """Return the selected atoms unwrapped, minus the framework drift, as time-contiguous rows.

    The numbers of ``remove_drift(unwrap_positions(positions, cells), masses, ~selected_mask)`` for
    the selected atoms (the framework is every atom not selected; no framework, no drift) to
    round-off, in one pass over the frames that never holds an unwrapped copy of the trajectory:
    the minimum-image steps of each chunk of frames are written, transposed, into the rows of the
    selected atoms and summed along time there (contiguous); of the framework only the
    mass-weighted sum of the steps is kept, whose running sum over frames is the drift of its
    centre of mass.

    :param positions: Cartesian positions in Å, shape ``(frames, atoms, 3)``, wrapped or not.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)``.
    :param masses: masses in amu, shape ``(atoms,)``.
    :param selected_mask: boolean mask of the atoms to return (the mobile ions).
    :param check_steps: check every step on the way (``msd._check_fractional_steps``): FrameStepError for a
        step unwrapping cannot follow, ValueError for non-finite positions.
    :return: positions in Å, shape ``(selected atoms, 3, frames)`` (``.transpose(2, 0, 1)`` gives
        the usual ``(frames, atoms, 3)`` view).
    """
    positions = np.asarray(positions, dtype=float)
    selected_mask = np.asarray(selected_mask, dtype=bool)
    frames = positions.shape[0]
    weights = np.asarray(masses, dtype=float)[~selected_mask]
    selected, framework = _as_index(selected_mask), _as_index(~selected_mask)
    rows = np.empty((int(selected_mask.sum()), positions.shape[2], frames))
    rows[:, :, 0] = 0.0
    weighted_steps = np.zeros((frames, positions.shape[2])) if weights.size else None
    for start, stop, steps in _minimum_image_step_chunks(positions, cells, check_steps=check_steps):
        if weighted_steps is not None:
            weighted_steps[start:stop] = np.matmul(weights, steps[:, framework])
        rows[:, :, start:stop] = steps[:, selected].transpose(1, 2, 0)
    np.cumsum(rows, axis=-1, out=rows)  # unwrapped displacements from frame 0
    rows += positions[0, selected][:, :, None]
    if weighted_steps is not None:
        drift = np.cumsum(weighted_steps, axis=0)
        drift /= weights.sum()  # of the framework centre of mass from frame 0
        rows -= drift.T
    return rows
