"""Calcfunction: the ``TrajectoryData`` of an MD run that another code wrote, from its files.

The source files are the inputs (one ``FolderData`` per segment of a VASP run, holding XDATCAR or
vasprun.xml and INCAR, or OUTCAR when there is no INCAR; or one ``SinglefileData`` per segment of
a trajectory file ASE reads), so the provenance of every descriptor reaches back to the bytes the
code wrote. The reading itself is ``readers/`` (pure numerics).
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, Process, calcfunction

from ...common.trajectory import build_trajectory
from ...readers.ase_files import read_ase_trajectory
from ...readers.run import concatenate_segments, read_vasp_run
from ...readers.trajectory import TrajectoryFileError

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300

#: The formats, and the settings each accepts.
FORMAT_SETTINGS = {
    'vasp': {'timestep_fs', 'nblock', 'symbols', 'trajectory_file'},
    'ase': {'frame_interval_fs', 'ase_format'},
}


@calcfunction
def import_trajectory(settings: orm.Dict, **segments: orm.FolderData | orm.SinglefileData) -> dict | ExitCode:
    """Return ``trajectory`` (the run, segments joined in the order of their labels) and ``parameters``.

    ``settings.format`` is ``'vasp'`` (each segment a ``FolderData`` of a VASP run folder; optional
    ``timestep_fs``, ``nblock`` overriding POTIM and NBLOCK, ``symbols`` for a VASP 4 XDATCAR,
    ``trajectory_file`` to choose between XDATCAR and vasprun.xml) or ``'ase'`` (each segment a
    ``SinglefileData``; ``frame_interval_fs`` required, optional ``ase_format``). Segment labels
    sort in run order (``segment_00``, ``segment_01``, ...).

    ``parameters`` holds the MD parameters of the run (time step, NBLOCK, TEBEG as
    ``temperature_K``, MDALGO, ...), the frames of each segment and the warnings (a truncated last
    frame that was dropped, an overridden time step, ...), which are also in the process report.
    A file that cannot be read returns exit status 300 (``ERROR_INVALID_INPUT``) naming the file
    and the problem.
    """
    options = settings.get_dict()
    file_format = options.pop('format', None)
    if file_format not in FORMAT_SETTINGS:
        return ExitCode(
            ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: format {file_format!r}: choose one of {sorted(FORMAT_SETTINGS)}'
        )
    unknown = set(options) - FORMAT_SETTINGS[file_format]
    if unknown:
        return ExitCode(
            ERROR_INVALID_INPUT,
            f'ERROR_INVALID_INPUT: unknown settings {sorted(unknown)} for format {file_format!r}; '
            f'allowed: {sorted(FORMAT_SETTINGS[file_format])}',
        )
    if not segments:
        return ExitCode(ERROR_INVALID_INPUT, 'ERROR_INVALID_INPUT: no segments given')

    labels = sorted(segments)
    parsed = []
    try:
        for label in labels:
            node = segments[label]
            with node.as_path() as path:
                if file_format == 'vasp':
                    if not isinstance(node, orm.FolderData):
                        raise TrajectoryFileError(f'{label} is a {type(node).__name__}; a VASP segment is a FolderData')
                    parsed.append(read_vasp_run(path, **options))
                else:
                    parsed.append(
                        read_ase_trajectory(path, options.get('frame_interval_fs'), options.get('ase_format'))
                    )
        run = concatenate_segments(parsed, labels if len(labels) > 1 else None)
    except TrajectoryFileError as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')

    process = Process.current()
    for warning in run.warnings:
        process.report(warning)

    wrapped = _is_wrapped(run.positions, run.cells)
    trajectory = build_trajectory(
        run.symbols, run.positions, run.cells, run.times_ps, run.steps, velocities=run.velocities, wrapped=wrapped
    )
    trajectory.base.attributes.set('source_format', file_format)
    trajectory.base.attributes.set('source_files', run.sources)
    parameters = {
        **{key: value for key, value in run.parameters.items() if value is not None},
        'format': file_format,
        'frames': run.frames,
        'atoms': len(run.symbols),
        'frame_interval_fs': float(run.times_ps[1] - run.times_ps[0]) * 1000.0 if run.frames > 1 else None,
        'duration_ps': float(run.times_ps[-1] - run.times_ps[0]),
        'has_velocities': run.velocities is not None,
        'source_files': run.sources,
        'warnings': run.warnings,
    }
    return {'trajectory': trajectory, 'parameters': orm.Dict({k: v for k, v in parameters.items() if v is not None})}


def _is_wrapped(positions: np.ndarray, cells: np.ndarray, chunk: int = 4096) -> bool:
    """Return whether every position lies inside its cell (fractional coordinates in [0, 1) up to 1e-6)."""
    for start in range(0, positions.shape[0], chunk):
        fractional = np.linalg.solve(
            np.transpose(cells[start : start + chunk], (0, 2, 1))[:, None], positions[start : start + chunk, ..., None]
        )[..., 0]
        if fractional.min() < -1e-6 or fractional.max() >= 1 + 1e-6:
            return False
    return True
