"""A VASP MD run as the user has it on disk: one folder per segment, with XDATCAR or vasprun.xml and INCAR.

Pure (no AiiDA). ``select_vasp_run_files`` says which files of a folder are needed (and so are
stored as the provenance of an import), ``read_vasp_run`` reads them, and
``concatenate_segments`` joins the segments of one run in order into one time-contiguous run.

Where the MD parameters come from, in order: the arguments, INCAR, the header of OUTCAR (read
only when INCAR is absent), vasprun.xml's own copy of the input. The time step (POTIM, fs) and
NBLOCK (ionic steps per XDATCAR frame) fix the time axis; TEBEG (K) is the run's temperature.
"""

from __future__ import annotations

import pathlib

import numpy as np

from .trajectory import ParsedTrajectory, TrajectoryFileError
from .vasp import read_incar, read_outcar_parameters, read_vasprun, read_xdatcar

#: The trajectory files of a VASP run, in order of preference (XDATCAR is smaller and faster to read).
TRAJECTORY_FILES = ('XDATCAR', 'vasprun.xml')

#: Suffixes of the compressed copies that are read as they are.
COMPRESSION_SUFFIXES = ('', '.gz', '.bz2', '.xz')

#: INCAR tags copied into the run parameters when present.
RECORDED_TAGS = (
    'POTIM',
    'NBLOCK',
    'TEBEG',
    'TEEND',
    'MDALGO',
    'LANGEVIN_GAMMA',
    'ANDERSEN_PROB',
    'SMASS',
    'ISIF',
    'IBRION',
    'NSW',
    'GGA',
    'METAGGA',
    'ENCUT',
)


def find_run_file(folder: pathlib.Path, name: str) -> pathlib.Path | None:
    """Return ``folder/name`` or its compressed copy (``.gz``, ``.bz2``, ``.xz``), or None."""
    for suffix in COMPRESSION_SUFFIXES:
        candidate = folder / f'{name}{suffix}'
        if candidate.is_file():
            return candidate
    return None


def select_vasp_run_files(folder: str | pathlib.Path, trajectory_file: str | None = None) -> dict[str, pathlib.Path]:
    """Return the files of a VASP run folder that an import reads: ``trajectory``, ``incar`` and/or ``outcar``.

    ``trajectory_file`` (``'XDATCAR'`` or ``'vasprun.xml'``) picks one when both are present;
    XDATCAR otherwise. OUTCAR is only selected when there is no INCAR, to read the MD parameters
    from its header (an OUTCAR can be gigabytes; it is not needed when INCAR is there).
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise TrajectoryFileError(f'{folder}: not a folder (a VASP run is read from its folder)')
    names = (trajectory_file,) if trajectory_file else TRAJECTORY_FILES
    unknown = set(names) - set(TRAJECTORY_FILES)
    if unknown:
        raise TrajectoryFileError(f'unknown trajectory file {sorted(unknown)}: choose one of {list(TRAJECTORY_FILES)}')
    files = {}
    for name in names:
        found = find_run_file(folder, name)
        if found is not None:
            files['trajectory'] = found
            break
    else:
        raise TrajectoryFileError(
            f'{folder}: no {" or ".join(names)} (plain, .gz, .bz2 or .xz) in the folder; is it a VASP MD run?'
        )
    incar = find_run_file(folder, 'INCAR')
    if incar is not None:
        files['incar'] = incar
    else:
        outcar = find_run_file(folder, 'OUTCAR')
        if outcar is not None:
            files['outcar'] = outcar
    return files


def require_timestep(folder: str | pathlib.Path, files: dict[str, pathlib.Path], timestep_fs: float | None) -> None:
    """Raise unless the time step of an XDATCAR run is known: given, or in the INCAR or OUTCAR of the folder.

    (vasprun.xml holds POTIM itself.) Checked before anything is stored, so the user is asked first.
    """
    if (
        timestep_fs is None
        and 'incar' not in files
        and 'outcar' not in files
        and files['trajectory'].name.startswith('XDATCAR')
    ):
        raise TrajectoryFileError(
            f'{folder}: no INCAR (or OUTCAR) to read the time step POTIM from; give the time step explicitly '
            '(timestep_fs, or --timestep-fs on the command line)'
        )


def md_parameters(files: dict[str, pathlib.Path]) -> dict:
    """Return the INCAR tags of ``RECORDED_TAGS`` found in INCAR, or else in OUTCAR's header."""
    if 'incar' in files:
        tags = read_incar(files['incar'])
    elif 'outcar' in files:
        tags = read_outcar_parameters(files['outcar'])
    else:
        return {}
    return {tag: tags[tag] for tag in RECORDED_TAGS if tag in tags}


def read_vasp_run(
    folder: str | pathlib.Path,
    timestep_fs: float | None = None,
    nblock: int | None = None,
    symbols: list[str] | None = None,
    trajectory_file: str | None = None,
) -> ParsedTrajectory:
    """Return the trajectory of one VASP MD run folder, with the MD parameters in ``parameters``.

    ``timestep_fs`` and ``nblock`` override POTIM and NBLOCK of the run (a warning says so when
    they differ); without an INCAR or OUTCAR, ``timestep_fs`` must be given for an XDATCAR.
    ``symbols`` (one per species) is needed only for a VASP 4 XDATCAR, which does not name them.
    """
    files = select_vasp_run_files(folder, trajectory_file)
    tags = md_parameters(files)
    warnings = []
    if 'IBRION' in tags and tags['IBRION'] != 0:
        raise TrajectoryFileError(
            f'{files["incar" if "incar" in files else "outcar"].name} in {folder} has IBRION = '
            f'{tags["IBRION"]}: not a molecular-dynamics run (IBRION = 0)'
        )
    timestep = _override('POTIM', tags.get('POTIM'), timestep_fs, 'fs', warnings)
    blocks = _override('NBLOCK', tags.get('NBLOCK'), nblock, '', warnings)
    trajectory = files['trajectory']
    if trajectory.name.startswith('XDATCAR'):
        require_timestep(folder, files, timestep)
        run = read_xdatcar(trajectory, timestep_fs=float(timestep), nblock=int(blocks or 1), symbols=symbols)
    else:
        run = read_vasprun(trajectory, timestep_fs=timestep, nblock=blocks)
    run.parameters = {**{key.lower(): value for key, value in tags.items()}, **run.parameters}
    if 'TEBEG' in tags:
        run.parameters['temperature_K'] = float(tags['TEBEG'])
        if 'TEEND' in tags and tags['TEEND'] != tags['TEBEG']:
            warnings.append(
                f'TEEND = {tags["TEEND"]} K differs from TEBEG = {tags["TEBEG"]} K: the run is a '
                'temperature ramp, and TEBEG is taken as its temperature'
            )
    run.warnings = warnings + thermostat_warnings(run.parameters) + run.warnings
    run.sources = [path.name for path in files.values()]
    return run


def thermostat_warnings(parameters: dict) -> list[str]:
    """Warnings for a thermostat that acts on the atoms' dynamics (``parameters``: the run's tags, lower case).

    A Langevin thermostat (MDALGO = 3) adds friction and random forces to every atom, and an Andersen one
    (ANDERSEN_PROB > 0) redraws velocities: both decorrelate the velocities, so D and the VDOS are those of the
    thermostat as much as of the material. A Nosé–Hoover thermostat (MDALGO = 2) leaves them alone.
    """
    warnings = []
    if parameters.get('mdalgo') == 3:
        gamma = parameters.get('langevin_gamma')
        friction = f' (LANGEVIN_GAMMA = {gamma} ps⁻¹)' if gamma is not None else ''
        warnings.append(
            f'MDALGO = 3 is a Langevin thermostat{friction}: its friction slows diffusion and broadens the VDOS, '
            "so D and the vibrational descriptors are not the material's alone; for transport use a Nosé–Hoover "
            'run (MDALGO = 2)'
        )
    andersen = parameters.get('andersen_prob')
    if isinstance(andersen, int | float) and not isinstance(andersen, bool) and andersen > 0:
        warnings.append(
            f'ANDERSEN_PROB = {andersen} is an Andersen thermostat: it redraws velocities, which shortens their '
            "correlation, so D and the vibrational descriptors are not the material's alone; for transport use a "
            'Nosé–Hoover run (MDALGO = 2)'
        )
    return warnings


def _override(tag: str, from_run, given, unit: str, warnings: list[str]):
    """Return ``given`` if set, else the run's value; a warning when both are set and differ."""
    if given is None:
        return from_run
    if from_run is not None and float(from_run) != float(given):
        warnings.append(f'{tag} of the run is {from_run} {unit}'.rstrip() + f'; the given {given} is used instead')
    return given


def concatenate_segments(segments: list[ParsedTrajectory], labels: list[str] | None = None) -> ParsedTrajectory:
    """Return the segments of one run joined in order, the times and steps of each continuing the last.

    Every segment must have the same atoms in the same order and the same time between frames
    (the analysis needs equal steps); each is assumed to start where the previous one ended (as a
    VASP run restarted from CONTCAR does), one frame interval after its last frame.
    """
    if not segments:
        raise TrajectoryFileError('no segments to join')
    labels = labels or [f'segment {index}' for index in range(len(segments))]
    if len(segments) == 1:
        return segments[0]
    first = segments[0]
    intervals = [_frame_interval_ps(segment, label) for segment, label in zip(segments, labels, strict=True)]
    for segment, label, interval in zip(segments[1:], labels[1:], intervals[1:], strict=True):
        if segment.symbols != first.symbols:
            raise TrajectoryFileError(
                f'{label} has {len(segment.symbols)} atoms, {_formula(segment.symbols)}, but {labels[0]} has '
                f'{len(first.symbols)}, {_formula(first.symbols)}: segments of one run must hold the same atoms in '
                'the same order'
            )
        if not np.isclose(interval, intervals[0], rtol=1e-9, atol=0.0):
            raise TrajectoryFileError(
                f'{label} has {interval * 1000:g} fs between frames, {labels[0]} has {intervals[0] * 1000:g} fs: the '
                'analysis needs one frame interval (re-sample one segment, or import them separately)'
            )
    times, steps = [], []
    time_offset, step_offset = 0.0, 0
    for segment, interval in zip(segments, intervals, strict=True):
        times.append(segment.times_ps - segment.times_ps[0] + time_offset)
        steps.append(segment.steps - segment.steps[0] + step_offset)
        step_interval = int(segment.steps[1] - segment.steps[0]) if segment.frames > 1 else 1
        time_offset = times[-1][-1] + interval
        step_offset = int(steps[-1][-1]) + step_interval
    has_velocities = all(segment.velocities is not None for segment in segments)
    return ParsedTrajectory(
        symbols=first.symbols,
        positions=np.concatenate([segment.positions for segment in segments]),
        cells=np.concatenate([segment.cells for segment in segments]),
        times_ps=np.concatenate(times),
        steps=np.concatenate(steps),
        velocities=np.concatenate([segment.velocities for segment in segments]) if has_velocities else None,
        parameters={**first.parameters, 'segment_frames': [segment.frames for segment in segments]},
        warnings=[
            f'{label}: {warning}'
            for segment, label in zip(segments, labels, strict=True)
            for warning in segment.warnings
        ],
        sources=[
            f'{label}/{source}' for segment, label in zip(segments, labels, strict=True) for source in segment.sources
        ],
    )


def _frame_interval_ps(segment: ParsedTrajectory, label: str) -> float:
    if segment.frames < 2:
        raise TrajectoryFileError(f'{label} has {segment.frames} frame: a segment needs at least two')
    return float(segment.times_ps[1] - segment.times_ps[0])


def _formula(symbols: list[str]) -> str:
    counts: dict[str, int] = {}
    for symbol in symbols:
        counts[symbol] = counts.get(symbol, 0) + 1
    return ''.join(f'{symbol}{count}' for symbol, count in counts.items())
