"""Calcfunction: the state at the last frame of a trajectory, to continue the MD from it."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...common.trajectory import LAST_FRAME_VELOCITIES, VELOCITIES_ARRAY


@calcfunction
def last_frame(trajectory: orm.TrajectoryData) -> dict:
    """Return ``structure`` (positions and cell of the last frame) and, when the trajectory has them, ``velocities``.

    The velocities are those of the last frame, or the array ``last_frame_velocities`` of a trajectory without
    velocities per frame (VASP's XDATCAR, with CONTCAR's velocities).

    ``velocities`` is an ``ArrayData`` with the array ``velocities`` (atoms × 3, Å/ps), the input
    the engines take to continue an MD without re-drawing the velocities.
    """
    index = trajectory.numsteps - 1
    outputs = {'structure': trajectory.get_step_structure(index)}
    names = trajectory.get_arraynames()
    if 'velocities' in names:
        last = trajectory.get_velocities()[index]
    elif LAST_FRAME_VELOCITIES in names:  # no velocities per frame, but those of the last one (VASP's CONTCAR)
        last = trajectory.get_array(LAST_FRAME_VELOCITIES)
    else:
        return outputs
    velocities = orm.ArrayData()
    velocities.set_array(VELOCITIES_ARRAY, last)
    velocities.base.attributes.set('units', {VELOCITIES_ARRAY: 'Å/ps'})
    outputs['velocities'] = velocities
    return outputs
