"""``AseCalculation``: an ASE calculator (a potential of ``superionic.potentials``) run as a real CalcJob.

Why a small CalcJob of our own rather than aiida-pythonjob's ``PythonJob``: the program that runs
(``engines/ase/runner.py``) is one plain file copied into the job's folder and stored with it, so
the provenance holds the exact code that ran; the remote Python needs only numpy, ase and the
calculator's package (not AiiDA, not cloudpickle-compatible versions of both sides); the MD
writes its trajectory incrementally so a killed job keeps what it wrote; and the parser, exit
codes and wall-time handling are ordinary AiiDA ones that restart handlers can act on.
"""

from __future__ import annotations

import json
import pathlib

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from ..common.structure_checks import validate_structure
from ..common.trajectory import validate_velocities
from ..engines.ase import potentials, runner

RUNNER_FILENAME = 'superionic_ase_runner.py'
#: The potentials module beside the runner: the job builds the calculator with it (``runner`` imports it).
POTENTIALS_FILENAME = 'superionic_ase_potentials.py'

#: Keys allowed in ``parameters`` per task, with the defaults the runner applies when absent.
TASK_PARAMETERS = {
    'static': {},
    'relax': {'fmax_eV_A': 0.01, 'max_steps': 500, 'relax_cell': False},
    'md': {
        'temperature_K': None,
        'timestep_fs': None,
        'steps': None,
        'write_interval': 1,
        'equilibration_steps': 0,
        'seed': 0,
        'thermostat_timescale_fs': 100.0,
        'thermostat_chain_length': 3,
    },
}

#: Parameters that must be strictly positive numbers when present.
POSITIVE_PARAMETERS = (
    'temperature_K',
    'timestep_fs',
    'steps',
    'write_interval',
    'thermostat_timescale_fs',
    'thermostat_chain_length',
    'fmax_eV_A',
    'max_steps',
)


def validate_parameters(node: orm.Dict, _) -> str | None:
    """Refuse an unknown task, unknown or missing keys and non-positive temperatures, steps or times."""
    parameters = node.get_dict()
    task = parameters.get('task')
    if task not in TASK_PARAMETERS:
        return f'`parameters.task` must be one of {sorted(TASK_PARAMETERS)}, got {task!r}'
    allowed = TASK_PARAMETERS[task]
    unknown = set(parameters) - set(allowed) - {'task'}
    if unknown:
        return f'unknown `parameters` keys for task {task!r}: {sorted(unknown)}; allowed: {sorted(allowed)}'
    missing = [key for key, default in allowed.items() if default is None and key not in parameters]
    if missing:
        return f'`parameters` of task {task!r} miss the required keys {missing}'
    for key in POSITIVE_PARAMETERS:
        if key in parameters and not parameters[key] > 0:
            return f'`parameters.{key}` must be > 0, got {parameters[key]}'
    if parameters.get('equilibration_steps', 0) < 0:
        return f'`parameters.equilibration_steps` must be >= 0, got {parameters["equilibration_steps"]}'
    return None


def validate_model(node: orm.Dict, _) -> str | None:
    """Refuse a model of an unknown potential, without a weights hash, or with an unknown device or thread count."""
    model = node.get_dict()
    try:
        potentials.load_potential(model.get('name'))
    except ValueError as exception:
        return f'`model.name`: {exception}'
    if not model.get('weights_sha256'):
        return '`model` has no `weights_sha256`: build it with `aiida_superionic.engines.ase.get_model_node`'
    if model.get('device', 'cpu') not in potentials.DEVICES:
        return f'`model.device` must be one of {potentials.DEVICES}, got {model["device"]!r}'
    threads = model.get('threads')
    if threads is not None and not (isinstance(threads, int) and threads >= 1):
        return f'`model.threads` must be an integer >= 1, got {threads!r}'
    return None


def validate_inputs(inputs, _) -> str | None:
    if 'structure' in inputs and 'model' in inputs:
        uncovered = runner.uncovered_elements_message(inputs['model'].get_dict(), inputs['structure'].get_symbols_set())
        if uncovered:
            return uncovered
    if 'velocities' in inputs:
        atoms = len(inputs['structure'].sites)
        shape = inputs['velocities'].get_array('velocities').shape
        if shape[0] != atoms:
            return f'`velocities` has {shape[0]} rows but the structure has {atoms} atoms'
        if inputs['parameters'].get('task') != 'md':
            return '`velocities` only apply to the `md` task'
    return None


class AseCalculation(CalcJob):
    """Run a static, relax or NVT molecular-dynamics (Nosé–Hoover chain) task with an ASE calculator."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            validator=validate_structure,
            help='The periodic structure to compute.',
        )
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            validator=validate_parameters,
            help='The task (`static`, `relax` or `md`) and its settings, e.g. for `md`: '
            '`temperature_K`, `timestep_fs`, `steps` (production), `write_interval`, '
            '`equilibration_steps`, `seed`, `thermostat_timescale_fs`, `thermostat_chain_length`.',
        )
        spec.input(
            'model',
            valid_type=orm.Dict,
            validator=validate_model,
            help='The potential asked for and its identity: name, package version, model version, '
            'SHA-256 of the weights, calculator arguments, `device` (cpu, cuda, auto) and optionally `threads`, '
            'from `get_model_node`. The job fails with ERROR_MODEL_MISMATCH if the computer has different '
            'weights, ERROR_DEVICE_UNAVAILABLE if it lacks the device.',
        )
        spec.input(
            'velocities',
            valid_type=orm.ArrayData,
            required=False,
            validator=validate_velocities,
            help='Start velocities of an `md` task (array `velocities`, atoms × 3, Å/ps), to continue an MD; '
            'without them the velocities are drawn from the Maxwell–Boltzmann distribution with `seed`.',
        )
        spec.inputs['metadata']['options']['resources'].default = {
            'num_machines': 1,
            'num_mpiprocs_per_machine': 1,
        }
        spec.inputs['metadata']['options']['parser_name'].default = 'superionic.ase'
        spec.inputs['metadata']['options']['input_filename'].default = runner.INPUT_FILENAME
        spec.inputs['metadata']['options']['output_filename'].default = 'aiida.out'
        spec.inputs['metadata']['options']['withmpi'].default = False

        spec.output(
            'output_parameters',
            valid_type=orm.Dict,
            help='Energies, status, the model that ran, timings and counts of the run.',
        )
        spec.output(
            'model_used',
            valid_type=orm.Dict,
            required=False,
            help='What the job ran, as the job itself recorded it on its computer: the potential, package and '
            "version, weights file and SHA-256, calculator arguments, the device (`auto` resolved), torch's "
            'threads and version.',
        )
        spec.output(
            'output_structure',
            valid_type=orm.StructureData,
            required=False,
            help='The relaxed structure (`relax`), or the state after the last MD step run (`md`; it may '
            'postdate the last written frame). Absent when the MD became unstable.',
        )
        spec.output(
            'output_arrays',
            valid_type=orm.ArrayData,
            required=False,
            help='Forces (eV/Å) and stress (eV/Å³, positive in tension) of a `static` task or of the '
            'final structure of a `relax` task.',
        )
        spec.output(
            'trajectory',
            valid_type=orm.TrajectoryData,
            required=False,
            help='The MD trajectory: Cartesian positions as integrated (not wrapped, Å), '
            'cells, velocities (Å/ps), times (ps), energies (eV) and temperatures (K) per frame.',
        )
        spec.inputs.validator = validate_inputs
        spec.default_output_node = 'output_parameters'

        spec.exit_code(
            310,
            'ERROR_OUTPUT_MISSING',
            message='The runner wrote no output file: it was killed or crashed; see `aiida.out`.',
        )
        spec.exit_code(311, 'ERROR_OUTPUT_CORRUPT', message='The runner output file could not be read: {error}')
        spec.exit_code(320, 'ERROR_TRAJECTORY_MISSING', message='The MD task wrote no readable trajectory: {error}')
        spec.exit_code(
            330,
            'ERROR_MODEL_MISMATCH',
            message='The computer does not have the model recorded in the input: {error}',
        )
        spec.exit_code(
            335,
            'ERROR_DEVICE_UNAVAILABLE',
            message='The computer cannot run the potential on the device asked for (no fall-back): {error}',
        )
        spec.exit_code(340, 'ERROR_CALCULATOR_FAILED', message='The calculator failed: {error}')
        spec.exit_code(
            350,
            'ERROR_MD_UNSTABLE',
            message='The MD became numerically unstable; frames before it are kept: {error}',
        )
        spec.exit_code(
            400,
            'ERROR_OUT_OF_WALLTIME',
            message='The run stopped at the wall-time limit; every complete frame is kept: {error}',
        )
        spec.exit_code(
            410,
            'ERROR_RELAX_NOT_CONVERGED',
            message='The relaxation did not reach the force threshold; the last structure is kept.',
        )

    def prepare_for_submission(self, folder):
        """Write the task as JSON and copy the runner program next to it."""
        options = self.inputs.metadata.options
        resources = options.resources
        threads = (
            self.inputs.model.get('threads')
            or resources.get('num_cores_per_mpiproc')
            or resources.get('num_mpiprocs_per_machine')
            or 1
        )
        structure = self.inputs.structure.get_ase()
        payload = {
            'task': self.inputs.parameters['task'],
            'parameters': {k: v for k, v in self.inputs.parameters.get_dict().items() if k != 'task'},
            'model': self.inputs.model.get_dict(),
            'threads': int(threads),
            'max_wallclock_seconds': options.get('max_wallclock_seconds'),
            'structure': {
                'symbols': structure.get_chemical_symbols(),
                'positions': structure.get_positions().tolist(),
                'cell': structure.cell.array.tolist(),
                'pbc': [bool(flag) for flag in structure.pbc],
            },
        }
        if 'velocities' in self.inputs:
            payload['velocities'] = self.inputs.velocities.get_array('velocities').tolist()
        with folder.open(options.input_filename, 'w') as handle:
            json.dump(payload, handle, indent=1)
        folder.insert_path(str(pathlib.Path(runner.__file__)), RUNNER_FILENAME)
        folder.insert_path(str(pathlib.Path(potentials.__file__)), POTENTIALS_FILENAME)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [RUNNER_FILENAME, options.input_filename]
        codeinfo.stdout_name = options.output_filename
        codeinfo.withmpi = options.withmpi

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        # Before Python starts, so numpy's and torch's thread pools see it.
        calcinfo.prepend_text = f'export OMP_NUM_THREADS={int(threads)}'
        calcinfo.retrieve_list = [
            runner.OUTPUT_FILENAME,
            options.output_filename,
            runner.TRAJECTORY_HEADER_FILENAME,
        ]
        # The raw trajectory is parsed into a TrajectoryData; keeping the file too would store it twice.
        calcinfo.retrieve_temporary_list = [runner.TRAJECTORY_DATA_FILENAME]
        return calcinfo
