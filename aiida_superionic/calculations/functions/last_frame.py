"""Calcfunction: the state at the last frame of a trajectory, to continue the MD from it."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction


@calcfunction
def last_frame(trajectory: orm.TrajectoryData) -> dict:
    """Return ``structure`` (positions and cell of the last frame) and, when the trajectory has them, ``velocities``.

    ``velocities`` is an ``ArrayData`` with the array ``velocities`` (atoms × 3, Å/ps), the input
    the engines take to continue an MD without re-drawing the velocities.
    """
    index = trajectory.numsteps - 1
    outputs = {'structure': trajectory.get_step_structure(index)}
    if 'velocities' in trajectory.get_arraynames():
        velocities = orm.ArrayData()
        velocities.set_array('velocities', trajectory.get_velocities()[index])
        velocities.base.attributes.set('units', {'velocities': 'Å/ps'})
        outputs['velocities'] = velocities
    return outputs
