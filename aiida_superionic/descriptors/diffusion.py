"""Tracer diffusion of the mobile species from one MD trajectory, as López et al. (2023) define it.

Pure numerics (no AiiDA): the calcfunction ``compute_trajectory_descriptors`` is a thin wrapper.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .constants import MOBILE_SPECIES_PRECEDENCE
from .msd import (
    DiffusionFit,
    HopCount,
    compute_msd,
    count_hops,
    fit_diffusion_coefficient,
    minimum_pair_distance,
    paper_fit_window,
    remove_drift,
    unwrap_positions,
)

#: Fraction of the shortest mobile–mobile distance that counts as a hop (see ``count_hops``).
DEFAULT_HOP_FRACTION = 0.75

#: Width in ps of the moving average applied before counting hops.
DEFAULT_HOP_SMOOTHING_PS = 0.1


def select_mobile_species(symbols: list[str] | tuple[str, ...]) -> str:
    """Return the mobile species of a structure by the precedence rule of the design.

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
        (tensor, collective MSD, blocks) start from them rather than unwrapping again.
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
    positions = np.asarray(positions, dtype=float)
    times_ps = np.asarray(times_ps, dtype=float)
    symbols = list(symbols)
    frames, atoms, _ = positions.shape
    if len(symbols) != atoms or len(masses) != atoms or len(times_ps) != frames:
        raise ValueError(
            f'inconsistent trajectory: {frames} frames x {atoms} atoms, {len(times_ps)} times, '
            f'{len(symbols)} symbols, {len(masses)} masses'
        )
    if not np.all(np.isfinite(positions)):
        raise ValueError('the trajectory contains NaN or infinite positions')
    mobile_mask = np.array([symbol == mobile_species for symbol in symbols])
    if not mobile_mask.any():
        raise ValueError(f'no atom of the mobile species {mobile_species} in the trajectory ({sorted(set(symbols))})')

    cells = np.broadcast_to(np.asarray(cells, dtype=float), (frames, 3, 3))
    # Checked on the whole run before equilibration frames are dropped: otherwise decreasing times
    # leave only the first frame and the error wrongly blames a too short run.
    if np.any(np.diff(times_ps) <= 0):
        raise ValueError('the frames must be equally spaced in time and increasing')
    kept = times_ps >= times_ps[0] + equilibration_ps - 1e-9
    positions, cells, times_ps = positions[kept], cells[kept], times_ps[kept]
    frames = len(times_ps)
    first, last = paper_fit_window(frames)
    steps = np.diff(times_ps)
    if not np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9) or steps[0] <= 0:
        raise ValueError('the frames must be equally spaced in time and increasing')
    frame_interval_ps = float(steps[0])

    unwrapped = unwrap_positions(positions, cells)
    unwrapped = remove_drift(unwrapped, masses, ~mobile_mask)
    mobile_positions = np.ascontiguousarray(unwrapped[:, mobile_mask])
    msd_xyz = compute_msd(mobile_positions, max_lag=last)
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
    return TracerDiffusion(
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
