"""Conversions between MD trajectory arrays and ``TrajectoryData`` nodes, with units stated.

Conventions of every trajectory this plugin stores: Cartesian positions in Å (as integrated or as
the code wrote them; the analysis unwraps either way), cells in Å as rows, times in ps,
velocities in Å/ps, energies in eV, temperatures in K.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from aiida import orm

#: Optional per-frame arrays stored beside positions, cells, times and velocities.
FRAME_ARRAYS = ('potential_energy_eV', 'kinetic_energy_eV', 'conserved_energy_eV', 'temperature_K')

UNITS = {'positions': 'Å', 'cells': 'Å', 'times': 'ps', 'velocities': 'Å/ps'}

#: Array (atoms × 3, Å/ps) of a trajectory without per-frame velocities that knows those of its last frame (VASP:
#: CONTCAR), so that an MD can continue from its last frame exactly.
LAST_FRAME_VELOCITIES = 'last_frame_velocities'


def build_trajectory(
    symbols: list[str],
    positions: np.ndarray,
    cells: np.ndarray,
    times_ps: np.ndarray,
    steps: np.ndarray,
    velocities: np.ndarray | None = None,
    frame_arrays: dict[str, np.ndarray] | None = None,
    wrapped: bool = False,
) -> orm.TrajectoryData:
    """Return an unstored ``TrajectoryData`` with the units and the wrapping recorded as attributes."""
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(
        symbols=list(symbols),
        positions=np.asarray(positions, dtype=float),
        stepids=np.asarray(steps, dtype=int),
        cells=np.asarray(cells, dtype=float),
        times=np.asarray(times_ps, dtype=float),
        velocities=None if velocities is None else np.asarray(velocities, dtype=float),
        pbc=(True, True, True),
    )
    for name, values in (frame_arrays or {}).items():
        trajectory.set_array(name, np.asarray(values, dtype=float))
    trajectory.base.attributes.set('units', UNITS)
    trajectory.base.attributes.set('positions_wrapped', bool(wrapped))
    return trajectory


@dataclasses.dataclass(frozen=True)
class TrajectoryArrays:
    """The arrays of a trajectory node, in the units of the module docstring."""

    symbols: list[str]
    positions: np.ndarray
    cells: np.ndarray
    times_ps: np.ndarray
    velocities: np.ndarray | None


def trajectory_arrays(trajectory: orm.TrajectoryData) -> TrajectoryArrays:
    """Return the arrays of a ``TrajectoryData``; it must have times and cells."""
    names = trajectory.get_arraynames()
    if 'times' not in names or 'cells' not in names:
        raise ValueError(f'trajectory<{trajectory.pk}> lacks times or cells (arrays: {sorted(names)})')
    return TrajectoryArrays(
        symbols=list(trajectory.symbols),
        positions=trajectory.get_positions(),
        cells=trajectory.get_cells(),
        times_ps=trajectory.get_times(),
        velocities=trajectory.get_velocities() if 'velocities' in names else None,
    )


#: Name of the array of a velocities ``ArrayData`` (atoms × 3, Å/ps): the start velocities of an MD continuation.
VELOCITIES_ARRAY = 'velocities'


def validate_velocities(node: orm.ArrayData, _) -> str | None:
    """Port validator: refuse a ``velocities`` node without a finite ``(atoms, 3)`` array named ``velocities``."""
    if VELOCITIES_ARRAY not in node.get_arraynames():
        return f'`velocities` must hold an array named `{VELOCITIES_ARRAY}`, found {node.get_arraynames()}'
    array = node.get_array(VELOCITIES_ARRAY)
    if array.ndim != 2 or array.shape[1] != 3 or not np.all(np.isfinite(array)):
        return f'`velocities` must be a finite (atoms, 3) array in Å/ps, got shape {array.shape}'
    return None
