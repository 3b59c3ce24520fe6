"""Calcfunction: the recorded frames and the last state, with velocities, of one ``VaspMdCalculation``.

The reading is ``readers/`` (pure numerics): ``read_xdatcar`` for the frames, ``read_vasprun_energies`` for
their energies, ``read_poscar`` for CONTCAR and its velocities. This module decides what they mean together.

Step numbers. A calculation runs NSW ionic steps from a start state; VASP numbers them 1 ... NSW and writes
the XDATCAR configuration numbered k (a multiple of NBLOCK) and the k-th ``<calculation>`` of vasprun.xml
for the state after k steps, at time k·POTIM (the convention of ``readers.vasp``). A *stage* (the
equilibration, or the production of a segment) may take several calculations when one is stopped and
continued; ``first_step`` is the stage step at which this calculation starts, so its step k is stage step
``first_step + k``. Frames are kept at the stage steps that are multiples of ``record_interval`` (a
continuation that starts between two recorded frames writes more often; see ``engines.vasp.piece_nblock``),
and their times count from the stage step ``reference_step`` (the last frame recorded before this
calculation, or the stage's start), so that consecutive pieces join with ``stitch_trajectories``.

Which state is the last one. VASP rewrites CONTCAR after every ionic step, with the velocities (Cartesian,
Å/fs). Its step is known (i) when its positions are those of a recorded XDATCAR frame (tolerance
``SAME_POSITION_A``), (ii) when the run ended normally (vasprun.xml closed after NSW steps, or an XDATCAR
frame at step NSW): then it is step NSW, or (iii) when its positions are those of one of vasprun.xml's ionic
steps (every step is there, whatever NBLOCK). Frames after that step are dropped (the continuation computes
them again). When CONTCAR is missing, unreadable or at no step that can be justified, the last state is the
last recorded frame *without velocities*: ``final_velocities`` is absent and the summary says why, and the
workchain refuses to continue without them rather than draw new ones silently.

Truncated files (a job killed while writing) keep their complete frames and steps; frames without energies
in vasprun.xml get NaN energies.
"""

from __future__ import annotations

import re

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction
from aiida.orm.nodes.data.structure import Site

from ...common.trajectory import LAST_FRAME_VELOCITIES, build_trajectory
from ...engines.vasp import BOLTZMANN_EV_K, degrees_of_freedom
from ...readers.trajectory import TrajectoryFileError
from ...readers.vasp import open_binary, read_poscar, read_vasprun, read_vasprun_energies, read_xdatcar

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300

#: Two sets of positions closer than this (Å, largest minimum-image displacement) are the same state. XDATCAR
#: and vasprun.xml round fractional coordinates to 8 decimals (< 1e-6 Å); atoms move ~1e-2 Å per MD step.
SAME_POSITION_A = 1.0e-4

#: Å/fs (CONTCAR) to Å/ps (the plugin's unit).
ANGSTROM_PER_FS_IN_ANGSTROM_PER_PS = 1.0e3

#: What the parameters hold, and their defaults (None: required).
PARAMETERS = {
    'timestep_fs': None,
    'nsw': None,
    'nblock': None,
    'first_step': 0,
    'record_interval': None,
    'reference_step': None,
    'conserved_energy_offset_eV': 0.0,
}

#: How much of OUTCAR is searched for the Nosé period VASP chose (it is in the header).
OUTCAR_HEADER_BYTES = 4 * 2**20
_NOSE_PERIOD_PATTERN = re.compile(rb'period in steps\s*=\s*([-+0-9.EeDd]+)')


def _check_parameters(parameters: dict) -> tuple[dict, str | None]:
    unknown = set(parameters) - set(PARAMETERS)
    if unknown:
        return parameters, f'unknown parameters {sorted(unknown)}; allowed: {sorted(PARAMETERS)}'
    values = {key: parameters.get(key, default) for key, default in PARAMETERS.items()}
    missing = [key for key in ('timestep_fs', 'nsw', 'nblock') if values[key] is None]
    if missing:
        return values, f'missing parameters {missing}'
    if values['record_interval'] is None:
        values['record_interval'] = values['nblock']
    if values['reference_step'] is None:
        values['reference_step'] = values['first_step']
    if not values['timestep_fs'] > 0 or values['nsw'] < 1 or values['nblock'] < 1 or values['record_interval'] < 1:
        return values, f'timestep_fs, nsw, nblock and record_interval must be positive, got {values}'
    if values['reference_step'] > values['first_step'] or values['first_step'] < 0:
        return values, f'need 0 <= reference_step <= first_step, got {values}'
    return values, None


def _largest_displacement(positions_a: np.ndarray, positions_b: np.ndarray, cell: np.ndarray) -> float:
    """The largest minimum-image distance (Å) between the same atoms of two configurations in one cell."""
    fractional = (positions_a - positions_b) @ np.linalg.inv(cell)
    fractional -= np.round(fractional)
    return float(np.max(np.linalg.norm(fractional @ cell, axis=1)))


def _structure_like(template: orm.StructureData, cell: np.ndarray, positions: np.ndarray) -> orm.StructureData:
    """A ``StructureData`` with the kinds of ``template`` (names, masses: the POTCAR mapping keeps working)."""
    structure = orm.StructureData(cell=np.asarray(cell).tolist(), pbc=template.pbc)
    for kind in template.kinds:
        structure.append_kind(kind)
    for site, position in zip(template.sites, positions, strict=True):
        structure.append_site(Site(kind_name=site.kind_name, position=[float(value) for value in position]))
    return structure


def _nose_period_steps(retrieved: orm.FolderData) -> float | None:
    """The period of the Nosé oscillation (in time steps) that VASP printed in OUTCAR's header, if any."""
    if 'OUTCAR' not in retrieved.base.repository.list_object_names():
        return None
    with retrieved.base.repository.open('OUTCAR', 'rb') as handle, open_binary(handle) as stream:
        match = _NOSE_PERIOD_PATTERN.search(stream.read(OUTCAR_HEADER_BYTES))
    if not match:
        return None
    try:
        return float(match.group(1).replace(b'D', b'E').replace(b'd', b'e'))
    except ValueError:
        return None


class _NamedStream:
    """A repository stream that gives the file's name to the readers' messages (its own name is a hash)."""

    def __init__(self, stream, name: str):
        self._stream = stream
        self.name = name

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


def _read(retrieved: orm.FolderData, name: str, reader, warnings: list[str], **kwargs):
    """``reader`` applied to the retrieved file ``name``; None (and a warning) when absent or unreadable."""
    if name not in retrieved.base.repository.list_object_names():
        warnings.append(f'{name} was not retrieved')
        return None
    try:
        with retrieved.base.repository.open(name, 'rb') as handle:
            return reader(_NamedStream(handle, name), **kwargs)
    except TrajectoryFileError as exception:
        warnings.append(f'{name} cannot be read: {exception}')
        return None


@calcfunction
def parse_vasp_md(retrieved: orm.FolderData, parameters: orm.Dict, structure: orm.StructureData) -> dict | ExitCode:
    """Return the recorded frames and the last state of one ``VaspMdCalculation``, and a ``summary``.

    :param retrieved: the ``retrieved`` folder of the calculation (XDATCAR, vasprun.xml, CONTCAR, OUTCAR).
    :param parameters: ``timestep_fs`` (POTIM, fs), ``nsw`` and ``nblock`` of the calculation, and for a piece
        of a longer stage ``first_step`` (stage step of its start state, default 0), ``record_interval``
        (frames kept at stage steps that are its multiples; default ``nblock``), ``reference_step`` (the stage
        step at which times are zero; default ``first_step``) and ``conserved_energy_offset_eV`` (added to the
        conserved energy: the Nosé energy the stage had when this calculation restarted the thermostat).
    :param structure: the calculation's input structure: the symbols and kinds of the outputs.
    :return: ``trajectory`` (when a frame is kept: Cartesian Å, cells, times in ps and steps from
        ``reference_step``, ``potential_energy_eV``, ``kinetic_energy_eV``, ``conserved_energy_eV``,
        ``temperature_K`` from vasprun.xml; no velocities: VASP writes them for the last state only),
        ``final_structure`` and ``final_velocities`` (array ``velocities``, Å/ps) of the last state (see the
        module docstring; velocities only from CONTCAR), and ``summary``: ``final_step`` (stage step of the
        last state), ``completed_steps``, ``finished`` (all NSW steps done), ``final_state_from``,
        ``frames``, ``last_frame_step``, ``electronic_not_converged_steps`` (stage steps whose
        self-consistency stopped at NELM), ``nelm``, ``nose_period_steps`` (as VASP printed it),
        ``nose_energy_eV`` (the thermostat's energy at the last state) and ``warnings``. Exit status 300
        (``ERROR_INVALID_INPUT``) only for bad ``parameters``: unreadable files are warnings, and the caller
        decides what a calculation without a usable state means.
    """
    values, error = _check_parameters(parameters.get_dict())
    if error:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {error}')
    timestep_fs = float(values['timestep_fs'])
    nsw, nblock = int(values['nsw']), int(values['nblock'])
    first_step, record_interval = int(values['first_step']), int(values['record_interval'])
    reference_step = int(values['reference_step'])
    conserved_offset = float(values['conserved_energy_offset_eV'])
    symbols = [structure.get_kind(site.kind_name).symbol for site in structure.sites]
    atoms = len(symbols)
    warnings: list[str] = []

    frames = _read(retrieved, 'XDATCAR', read_xdatcar, warnings, timestep_fs=timestep_fs, nblock=nblock)
    if frames is not None:
        warnings.extend(frames.warnings)
        if frames.positions.shape[1] != atoms:
            warnings.append(f'XDATCAR has {frames.positions.shape[1]} atoms, the structure {atoms}: not used')
            frames = None
    energies = _read(retrieved, 'vasprun.xml', read_vasprun_energies, warnings)
    if energies is not None:
        warnings.extend(energies.warnings)
    contcar = _read(retrieved, 'CONTCAR', read_poscar, warnings, timestep_fs=timestep_fs)
    if contcar is not None:
        warnings.extend(contcar.warnings)
        if contcar.positions.shape[0] != atoms:
            warnings.append(f'CONTCAR has {contcar.positions.shape[0]} atoms, the structure {atoms}: not used')
            contcar = None

    local_steps = frames.steps if frames is not None else np.empty(0, dtype=np.int64)
    finished_normally = bool(
        (energies is not None and energies.closed and len(energies.steps) >= nsw)
        or (len(local_steps) and local_steps[-1] == nsw)
    )

    # Which step is CONTCAR's state (module docstring: (i), (ii), (iii)).
    contcar_step = None
    if contcar is not None:
        for index in range(len(local_steps) - 1, -1, -1):
            moved = _largest_displacement(contcar.positions, frames.positions[index], contcar.cell)
            if moved < SAME_POSITION_A:
                contcar_step = int(local_steps[index])
                break
        if contcar_step is None and finished_normally:
            contcar_step = nsw
            if len(local_steps) and local_steps[-1] == nsw:
                warnings.append('CONTCAR differs from the XDATCAR frame of the last step; CONTCAR is taken as step NSW')
        if contcar_step is None and energies is not None and len(energies.steps):
            # Read only now: the positions of every ionic step are needed for a run stopped between two frames.
            ionic_steps = _read(retrieved, 'vasprun.xml', read_vasprun, warnings, timestep_fs=timestep_fs)
            for index in range(ionic_steps.frames - 1 if ionic_steps is not None else -1, -1, -1):
                moved = _largest_displacement(contcar.positions, ionic_steps.positions[index], contcar.cell)
                if moved < SAME_POSITION_A:
                    contcar_step = int(ionic_steps.steps[index])
                    break
        if contcar_step is None:
            warnings.append('the step of CONTCAR cannot be told (it matches no recorded frame and no ionic step)')

    velocities = None
    if contcar_step is not None:
        final_local_step = contcar_step
        final_structure = _structure_like(structure, contcar.cell, contcar.positions)
        final_state_from = 'CONTCAR'
        if contcar.velocities is not None:
            velocities = contcar.velocities * ANGSTROM_PER_FS_IN_ANGSTROM_PER_PS
        else:
            warnings.append('CONTCAR has no velocity block: the last state has no velocities')
    elif len(local_steps):
        final_local_step = int(local_steps[-1])
        final_structure = _structure_like(structure, frames.cells[-1], frames.positions[-1])
        final_state_from = 'XDATCAR (no velocities)'
    else:
        final_local_step, final_structure, final_state_from = 0, None, None

    outputs = {}
    kept = np.empty(0, dtype=np.int64)
    if len(local_steps):
        stage_steps = first_step + local_steps
        kept = np.flatnonzero((local_steps <= final_local_step) & (stage_steps % record_interval == 0))
    if kept.size:
        frame_arrays = {}
        if energies is not None:
            rows = local_steps[kept] - 1
            available = rows < len(energies.steps)
            if not np.all(available):
                warnings.append(f'vasprun.xml has no energies for {np.count_nonzero(~available)} frame(s): NaN')

            def per_frame(values: np.ndarray) -> np.ndarray:
                result = np.full(kept.size, np.nan)
                result[available] = values[rows[available]]
                return result

            kinetic = per_frame(energies.energies['kinetic'])
            frame_arrays = {
                'potential_energy_eV': per_frame(energies.energies['e_fr_energy']),
                'kinetic_energy_eV': kinetic,
                'conserved_energy_eV': per_frame(energies.energies['total']) + conserved_offset,
                # VASP's instantaneous temperature: 2 E_kin / (g k_B), g = 3N - 3.
                'temperature_K': 2.0 * kinetic / (degrees_of_freedom(atoms) * BOLTZMANN_EV_K),
            }
        steps_from_reference = first_step + local_steps[kept] - reference_step
        trajectory = build_trajectory(
            symbols=symbols,
            positions=frames.positions[kept],
            cells=frames.cells[kept],
            times_ps=steps_from_reference * timestep_fs / 1000.0,
            steps=steps_from_reference,
            frame_arrays=frame_arrays,
            wrapped=True,
        )
        if velocities is not None and first_step + final_local_step - reference_step == steps_from_reference[-1]:
            # XDATCAR has no velocities; CONTCAR's are those of the last frame: kept with the trajectory, a
            # segment reused by a later run (``restart_from``) continues with them.
            trajectory.set_array(LAST_FRAME_VELOCITIES, np.asarray(velocities, dtype=float))
        outputs['trajectory'] = trajectory
    if final_structure is not None:
        outputs['final_structure'] = final_structure
    if velocities is not None:
        final_velocities = orm.ArrayData()
        final_velocities.set_array('velocities', velocities)
        final_velocities.base.attributes.set('units', {'velocities': 'Å/ps'})
        outputs['final_velocities'] = final_velocities

    nelm = energies.nelm if energies is not None else None
    not_converged = []
    if energies is not None and nelm:
        hit = np.flatnonzero(energies.electronic_steps >= nelm) + 1
        not_converged = [int(first_step + step) for step in hit if step <= final_local_step]
    # The Nosé energy at the last state: a continuation restarts the thermostat at zero, so its conserved energy
    # continues this one's when shifted by it (the caller passes the sum as the next conserved_energy_offset_eV).
    nose_energy = None
    if energies is not None and 0 < final_local_step <= len(energies.steps):
        row = final_local_step - 1
        nose_energy = float(energies.energies['nosepot'][row] + energies.energies['nosekinetic'][row])
        nose_energy = nose_energy if np.isfinite(nose_energy) else None
    outputs['summary'] = orm.Dict(
        {
            'first_step': first_step,
            'nsw': nsw,
            'final_step': first_step + final_local_step,
            'completed_steps': final_local_step,
            'finished': final_local_step == nsw,
            'final_state_from': final_state_from,
            'has_velocities': velocities is not None,
            'frames': int(kept.size),
            'last_frame_step': int(first_step + local_steps[kept[-1]]) if kept.size else None,
            'nelm': nelm,
            'electronic_not_converged_steps': not_converged,
            'nose_period_steps': _nose_period_steps(retrieved),
            'nose_energy_eV': nose_energy,
            'warnings': warnings,
        }
    )
    return outputs
