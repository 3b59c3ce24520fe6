"""Calcfunction: the segments of one MD joined into one trajectory with a continuous time axis."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...common.trajectory import FRAME_ARRAYS, LAST_FRAME_VELOCITIES, build_trajectory

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300


@calcfunction
def stitch_trajectories(**segments: orm.TrajectoryData) -> dict | ExitCode:
    """Return ``trajectory``: the segments, in the order of their labels (``segment_00``, ...), as one run.

    Each segment's times are relative to its start state, which is the end of the segment before
    it: a frame at t ≤ 0 of every segment after the first repeats that state and is dropped, and
    the times and steps of each segment continue those of the previous one. Every segment must
    have the same atoms and the same time between frames. Velocities are kept when every segment
    has them, and so are the frame arrays (energies, temperature) present in every segment. The
    conserved energy of a segment that repeats its start frame is shifted to continue the previous
    segment's (a continued thermostat starts its own energy at zero); when a later segment has no
    start frame (VASP writes none) the conserved energy cannot be joined and is left out.
    """
    if not segments:
        return ExitCode(ERROR_INVALID_INPUT, 'ERROR_INVALID_INPUT: no segments given')
    labels = sorted(segments)
    nodes = [segments[label] for label in labels]
    symbols = list(nodes[0].symbols)
    names = [set(node.get_arraynames()) for node in nodes]
    keep_velocities = all('velocities' in arrays for arrays in names)
    frame_arrays = [name for name in FRAME_ARRAYS if all(name in arrays for arrays in names)]
    # The conserved energy continues across a join only through a repeated start frame (see the docstring).
    if any(node.get_times()[0] > 1e-9 for node in nodes[1:]) and 'conserved_energy_eV' in frame_arrays:
        frame_arrays.remove('conserved_energy_eV')

    positions, cells, velocities, times, steps = [], [], [], [], []
    extras = {name: [] for name in frame_arrays}
    time_offset, step_offset, interval = 0.0, 0, None
    for index, (label, node) in enumerate(zip(labels, nodes, strict=True)):
        if list(node.symbols) != symbols:
            return ExitCode(
                ERROR_INVALID_INPUT,
                f'ERROR_INVALID_INPUT: {label} has other atoms ({node.get_formula()}) than {labels[0]} '
                f'({nodes[0].get_formula()})',
            )
        segment_times = node.get_times()
        keep = np.ones(segment_times.shape, dtype=bool) if index == 0 else segment_times > 1e-9
        kept_times = segment_times[keep]
        if kept_times.size == 0:
            continue
        # Frame spacing, the gap from the previous segment's last frame (its start state, t = 0) included.
        spacing = np.diff(kept_times if index == 0 else np.concatenate([[0.0], kept_times]))
        if spacing.size:
            interval = spacing[0] if interval is None else interval
            if not np.allclose(spacing, interval, rtol=1e-6, atol=0.0):
                return ExitCode(
                    ERROR_INVALID_INPUT,
                    f'ERROR_INVALID_INPUT: {label} has frames {spacing.min() * 1000:g} to {spacing.max() * 1000:g} fs '
                    f'apart, {labels[0]} {interval * 1000:g} fs: one run needs one frame interval',
                )
        positions.append(node.get_positions()[keep])
        cells.append(node.get_cells()[keep])
        if keep_velocities:
            velocities.append(node.get_velocities()[keep])
        times.append(kept_times + time_offset)
        segment_steps = node.get_stepids()[keep]
        steps.append(segment_steps + step_offset)
        for name in frame_arrays:
            values = node.get_array(name)
            if name == 'conserved_energy_eV' and index and extras[name] and segment_times[0] <= 1e-9:
                # A continuation restarts the thermostat's own variables, so its conserved energy starts anew:
                # its start frame is the previous end, whose value carries the run's conserved energy on.
                values = values + (extras[name][-1][-1] - values[0])
            extras[name].append(values[keep])
        time_offset = times[-1][-1]
        step_offset = int(steps[-1][-1])

    trajectory = build_trajectory(
        symbols,
        np.concatenate(positions),
        np.concatenate(cells),
        np.concatenate(times),
        np.concatenate(steps),
        velocities=np.concatenate(velocities) if keep_velocities else None,
        frame_arrays={name: np.concatenate(values) for name, values in extras.items()},
        wrapped=all(node.base.attributes.get('positions_wrapped', False) for node in nodes),
    )
    if not keep_velocities and LAST_FRAME_VELOCITIES in names[-1]:  # the run ends where its last segment does
        trajectory.set_array(LAST_FRAME_VELOCITIES, nodes[-1].get_array(LAST_FRAME_VELOCITIES))
    trajectory.base.attributes.set('segment_frames', [len(part) for part in times])
    return {'trajectory': trajectory}
