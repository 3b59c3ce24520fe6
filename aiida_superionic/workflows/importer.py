"""Import an MD run that another code wrote and compute its descriptors, with provenance and without duplicates.

``import_md_run`` stores the source files (one ``FolderData`` per VASP run folder, one
``SinglefileData`` per trajectory file that ASE reads), runs ``superionic.import_trajectory`` on
them and then ``superionic.compute_trajectory_descriptors``, the calcfunction every MD in this
plugin goes through. The graph is files → import_trajectory → trajectory →
compute_trajectory_descriptors → descriptors.

Importing the same files again reuses what is stored: each source node carries the SHA-256 of its
content (``superionic_content_sha256`` extra), and a finished calcfunction with the same inputs
and settings is returned rather than run again.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib

from aiida import orm
from ase.data import chemical_symbols

from ..calculations.functions.compute_trajectory_descriptors import compute_trajectory_descriptors
from ..calculations.functions.import_trajectory import import_trajectory
from ..descriptors.diffusion import select_mobile_species
from ..readers.run import require_timestep, select_vasp_run_files
from ..readers.trajectory import TrajectoryFileError
from .builder_checks import temperature_problem
from .import_checks import SegmentDigests, checked_digests, refuse_repeated_segments, refuse_unreadable_incar_tags

#: Extra holding the SHA-256 of a source node's files (names and bytes), for re-imports to find it.
CONTENT_HASH_EXTRA = 'superionic_content_sha256'

#: Trajectory files read with ASE, by suffix (compressed copies are recognised by ASE itself).
ASE_SUFFIXES = ('.xyz', '.extxyz', '.traj')


class ImportFailedError(RuntimeError):
    """A calcfunction of the import returned a non-zero exit status; the message has its pk and reason."""


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """The nodes of one import."""

    import_calculation: orm.CalcFunctionNode
    trajectory: orm.TrajectoryData
    parameters: orm.Dict
    descriptors_calculation: orm.CalcFunctionNode
    descriptors: orm.Dict
    import_reused: bool  # the import_trajectory calculation was found stored, not run
    descriptors_reused: bool  # the same for compute_trajectory_descriptors

    @property
    def reused(self) -> bool:
        """Whether nothing new was computed."""
        return self.import_reused and self.descriptors_reused

    @property
    def warnings(self) -> list[str]:
        """The warnings of the import (a dropped last frame, a Langevin thermostat, ...) and of the analysis (a
        frame interval or temperature that the motion contradicts), one line each."""
        plausibility = self.descriptors.get('frame_interval_warning')
        return [*self.parameters.get('warnings', []), *([plausibility] if plausibility else [])]


def import_md_run(
    paths: list[str | pathlib.Path] | str | pathlib.Path,
    *,
    timestep_fs: float | None = None,
    nblock: int | None = None,
    frame_interval_fs: float | None = None,
    temperature_K: float | None = None,
    mobile_species: str | None = None,
    equilibration_ps: float = 0.0,
    trajectory_file: str | None = None,
    symbols: list[str] | None = None,
    ase_format: str | None = None,
    analysis_settings: dict | None = None,
) -> ImportResult:
    """Import one MD run (its segments in order) and return the stored nodes; needs a loaded AiiDA profile.

    ``paths``: VASP run folders (XDATCAR or vasprun.xml, INCAR or OUTCAR; gzip, bz2 and xz read as
    they are), or trajectory files ASE reads (``.xyz``, ``.extxyz``, ``.traj``), one per segment. ``timestep_fs`` /
    ``nblock`` override POTIM / NBLOCK (needed when a folder has no INCAR or OUTCAR); ``frame_interval_fs`` is the
    time between frames of an ASE file. The temperature is TEBEG unless ``temperature_K`` is given; the mobile
    species is the precedence rule (Li, Na, Ag, Cu, halides, O:
    ``descriptors.constants.MOBILE_SPECIES_PRECEDENCE``) unless named. ``equilibration_ps`` is discarded from the
    start of the analysis; ``analysis_settings`` are further settings of ``compute_trajectory_descriptors``.

    The frame interval and the temperature are checked against the motion (``frame_interval_check``, on unless
    ``analysis_settings`` turns it off): a contradiction flags D (verdict ``implausible_frame_interval``) and is
    among ``ImportResult.warnings``, naming the setting that looks wrong and the frame interval the motion implies.

    Problems found before anything is stored (a missing file, no time step) raise
    ``TrajectoryFileError``; a file that turns out unreadable leaves a failed ``import_trajectory``
    node and raises ``ImportFailedError`` with its reason.
    """
    check_import_numbers(timestep_fs, nblock, frame_interval_fs, temperature_K, equilibration_ps)
    if mobile_species is not None and mobile_species not in chemical_symbols[1:]:
        raise TrajectoryFileError(
            f'mobile_species (--mobile-species) {mobile_species!r} is not an element symbol; write it as in the '
            f'periodic table, e.g. {mobile_species.strip().capitalize() or "Li"}'
        )
    # Absolute from here on: AiiDA's file nodes refuse a relative path, and a user types one.
    paths = [
        pathlib.Path(path).expanduser().absolute()
        for path in ([paths] if isinstance(paths, (str, pathlib.Path)) else paths)
    ]
    if not paths:
        raise TrajectoryFileError('no run folder or trajectory file given')
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise TrajectoryFileError(f'not found: {", ".join(missing)}')
    refuse_repeated_segments(paths)
    if all(path.is_dir() for path in paths):
        settings = {
            'format': 'vasp',
            'timestep_fs': timestep_fs,
            'nblock': nblock,
            'symbols': symbols,
            'trajectory_file': trajectory_file,
        }
        run_files = [select_vasp_run_files(path, trajectory_file) for path in paths]
        for path, files in zip(paths, run_files, strict=True):
            require_timestep(path, files, timestep_fs)
            refuse_unreadable_incar_tags(path, files, timestep_fs)
        file_lists = [sorted(files.values(), key=lambda file: file.name) for files in run_files]
        trajectories = [files['trajectory'] for files in run_files]
    elif all(path.is_file() for path in paths):
        if frame_interval_fs is None:
            raise TrajectoryFileError(
                f'{paths[0].name}: give the time between frames (frame_interval_fs, --frame-interval-fs): '
                'trajectory files that ASE reads do not store it'
            )
        settings = {'format': 'ase', 'frame_interval_fs': frame_interval_fs, 'ase_format': ase_format}
        file_lists, trajectories = [[path] for path in paths], paths
    else:
        raise TrajectoryFileError('give either VASP run folders or trajectory files, not a mix')
    digests = [
        checked_digests(*arguments) for arguments in zip(file_lists, trajectories, strict=True)
    ]  # every file read and checked before any is stored
    refuse_repeated_segments(paths, digests)
    if settings['format'] == 'vasp':
        sources = [_vasp_folder_node(*arguments) for arguments in zip(paths, file_lists, digests, strict=True)]
    else:
        sources = [_file_node(path, digest) for path, digest in zip(paths, digests, strict=True)]
    settings = {key: value for key, value in settings.items() if value is not None}
    segments = {f'segment_{index:02d}': node for index, node in enumerate(sources)}

    calculation = _finished_calculation(import_trajectory, segments, {'settings': settings})
    import_reused = calculation is not None
    if calculation is None:
        try:
            _, calculation = import_trajectory.run_get_node(settings=orm.Dict(settings), **segments)
        except Exception as exception:  # a reader raised on a file the checks passed: one line, not a traceback
            raise ImportFailedError(
                f'reading {", ".join(str(path) for path in paths)} failed: {type(exception).__name__}: {exception}; '
                'the excepted import_trajectory keeps the traceback (`verdi process list -S excepted`)'
            ) from exception
        _check(calculation)
    trajectory, parameters = calculation.outputs.trajectory, calculation.outputs.parameters

    temperature = temperature_K if temperature_K is not None else parameters.get('temperature_K')
    if temperature is None:
        raise TrajectoryFileError(
            f'the temperature of the run is not in its files (no TEBEG): give it (temperature_K, --temperature); '
            f'the trajectory is stored as {trajectory.__class__.__name__}<{trajectory.pk}>'
        )
    species = mobile_species or select_mobile_species(list(trajectory.symbols))
    # the stated frame interval and temperature are labels: checked against the motion unless the caller says not
    analysis = {'frame_interval_check': True, **(analysis_settings or {}), 'equilibration_ps': float(equilibration_ps)}
    inputs = {'mobile_species': species, 'temperature': float(temperature), 'settings': analysis}
    descriptors_calculation = _finished_calculation(compute_trajectory_descriptors, {'trajectory': trajectory}, inputs)
    descriptors_reused = descriptors_calculation is not None
    if descriptors_calculation is None:
        _, descriptors_calculation = compute_trajectory_descriptors.run_get_node(
            trajectory=trajectory,
            mobile_species=orm.Str(species),
            temperature=orm.Float(float(temperature)),
            settings=orm.Dict(analysis),
        )
        _check(descriptors_calculation)
    return ImportResult(
        import_calculation=calculation,
        trajectory=trajectory,
        parameters=parameters,
        descriptors_calculation=descriptors_calculation,
        descriptors=descriptors_calculation.outputs.descriptors,
        import_reused=import_reused,
        descriptors_reused=descriptors_reused,
    )


def check_import_numbers(timestep_fs, nblock, frame_interval_fs, temperature_K, equilibration_ps) -> None:
    """Refuse, naming the option, a number the physics of an MD run rules out: before anything is read or stored.

    :raises TrajectoryFileError: one line naming the argument and its command-line option.
    """
    times = {'timestep_fs (--timestep-fs)': timestep_fs, 'frame_interval_fs (--frame-interval-fs)': frame_interval_fs}
    for name, value in times.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise TrajectoryFileError(f'{name} must be a finite time > 0 fs, got {value}')
    if nblock is not None and not (float(nblock).is_integer() and nblock >= 1):
        raise TrajectoryFileError(f'nblock (--nblock) must be a whole number of ionic steps >= 1, got {nblock}')
    if not (math.isfinite(equilibration_ps) and equilibration_ps >= 0):
        raise TrajectoryFileError(
            f'equilibration_ps (--equilibration-ps) must be a finite time >= 0 ps, got {equilibration_ps}'
        )
    if temperature_K is not None and temperature_problem(temperature_K, 'temperature_K'):
        raise TrajectoryFileError(f'{temperature_problem(temperature_K, "temperature_K")} (--temperature)')


def _vasp_folder_node(folder: pathlib.Path, files: list[pathlib.Path], digests: SegmentDigests) -> orm.FolderData:
    """Return the stored ``FolderData`` of the ``files`` an import of ``folder`` reads, reusing an identical one."""
    existing = _stored_source(orm.FolderData, digests.named)
    if existing is not None:
        return existing
    node = orm.FolderData(label=folder.name, description=f'VASP MD run files from {folder.resolve()}')
    for path in files:
        node.base.repository.put_object_from_file(str(path), path.name)
    node.base.extras.set(CONTENT_HASH_EXTRA, digests.named)  # extras of an unstored node are stored with it
    return node.store()


def _file_node(path: pathlib.Path, digests: SegmentDigests) -> orm.SinglefileData:
    """Return the stored ``SinglefileData`` of ``path``, reusing an identical one."""
    existing = _stored_source(orm.SinglefileData, digests.named)
    if existing is not None:
        return existing
    node = orm.SinglefileData(path, label=path.name, description=f'MD trajectory file {path.resolve()}')
    node.base.extras.set(CONTENT_HASH_EXTRA, digests.named)
    return node.store()


def _stored_source(node_class: type, digest: str):
    query = orm.QueryBuilder().append(node_class, filters={f'extras.{CONTENT_HASH_EXTRA}': digest}, project='*')
    found = query.first()
    return found[0] if found else None


def _finished_calculation(function, nodes: dict[str, orm.Node], values: dict) -> orm.CalcFunctionNode | None:
    """Return a calculation of ``function`` that finished ok with exactly these input nodes and input values.

    ``nodes`` are stored input nodes matched by identity; ``values`` are matched by value (a ``Dict``
    by its content, a ``Str`` or ``Float`` by its value), so a re-import with the same settings
    finds the earlier calculation.
    """
    if not all(node.is_stored for node in nodes.values()):
        return None
    query = orm.QueryBuilder().append(
        orm.CalcFunctionNode,
        filters={'attributes.process_label': function.__name__, 'attributes.exit_status': 0},
        tag='calculation',
        project='*',
    )
    for label, node in nodes.items():
        query.append(
            orm.Node, filters={'id': node.pk}, with_outgoing='calculation', edge_filters={'label': label}, tag=label
        )
    for (candidate,) in query.iterall():
        inputs = {link.link_label: link.node for link in candidate.base.links.get_incoming().all()}
        if set(inputs) != set(nodes) | set(values):
            continue
        if all(_node_value(inputs[label]) == value for label, value in values.items()):
            return candidate
    return None


def _node_value(node: orm.Node):
    return node.get_dict() if isinstance(node, orm.Dict) else node.value


def _check(calculation: orm.CalcFunctionNode) -> None:
    if not calculation.is_finished_ok:
        raise ImportFailedError(
            f'{calculation.process_label}<{calculation.pk}> failed with exit status {calculation.exit_status}: '
            f'{calculation.exit_message}'
        )
