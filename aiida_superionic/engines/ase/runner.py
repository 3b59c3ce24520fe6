"""Run one ASE task (static, relax or md) described by a JSON file; the program of ``AseCalculation``.

This file is copied, as it is, into the working directory of every ``superionic.ase`` job and run
there with the code's Python (``python superionic_ase_runner.py aiida_input.json``), so the
remote computer needs numpy, ase and the calculator's package but not AiiDA nor this plugin; the
copy stored with the job records exactly what ran. It imports nothing from ``aiida_superionic``.

Outputs in the working directory:

- ``aiida_output.json``: status, energies, final structure, model identity, timings;
- ``trajectory.json`` + ``trajectory.bin`` (task ``md``): a header and fixed-length float64 records,
  one per written frame, appended and flushed as the run goes, so a job that is killed keeps
  every complete frame (``read_trajectory`` drops a partial last record).

Positions in the trajectory are Cartesian as integrated, never wrapped into the cell (ASE's MD
integrators do not wrap), in Å; velocities in Å/ps; times in ps from the first production frame;
energies in eV; temperatures in K.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import signal
import sys
import time
import traceback

import numpy as np

try:
    from . import potentials
except ImportError:  # run as a script in the job's folder, beside the copy of potentials.py
    import superionic_ase_potentials as potentials  # type: ignore[no-redef]

INPUT_FILENAME = 'aiida_input.json'
OUTPUT_FILENAME = 'aiida_output.json'
TRAJECTORY_HEADER_FILENAME = 'trajectory.json'
TRAJECTORY_DATA_FILENAME = 'trajectory.bin'
TRAJECTORY_FORMAT = 'superionic-trajectory-1'

#: Per-frame scalar fields of a trajectory record, in order, before the cell (9 values), the
#: positions (3N) and the velocities (3N).
TRAJECTORY_SCALAR_FIELDS = (
    'step',
    'time_ps',
    'potential_energy_eV',
    'kinetic_energy_eV',
    'conserved_energy_eV',
    'temperature_K',
)

#: Fraction of the job's wall time after which the runner stops cleanly and reports it.
WALLTIME_SAFETY_FRACTION = 0.95

#: The potentials the runner knows without entry points (those this package ships), by name.
CALCULATORS = tuple(potentials.BUNDLED)


class StopRequested(Exception):  # noqa: N818 (a signal, not an error)
    """Raised inside the MD loop when the wall time is near or the scheduler sent SIGTERM."""


# ---------------------------------------------------------------------------------------------
# Model identity: the same functions run on the client (to record the model as an input node)
# and here (to check that the computer runs the recorded model).


sha256_of_file = potentials.sha256_of_file


def _package_version(package: str) -> str:
    from importlib import metadata

    return metadata.version(package)


def chgnet_weights_file(version: str) -> pathlib.Path:
    """Return the path of the pretrained CHGNet weights shipped in the chgnet wheel (no torch import)."""
    return potentials.CHGNET.weights_file({'model_version': version})


def describe_model(name: str, calculator_kwargs: dict | None = None) -> dict:
    """Return the identity of a potential: name, package and version, weights file and hash (``Potential.describe``).

    :param name: a potential of ``superionic.potentials`` (``chgnet``, ``sevenn``, ``emt``, ``lj``, ``factory`` ...).
    :param calculator_kwargs: keyword arguments of the calculator (CHGNet: ``model_version``; SevenNet: ``model``,
        ``modal``; Lennard-Jones: ``sigma``, ``epsilon``, ``rc``; ``factory``: ``factory`` and its arguments).
    :raises ValueError: for an unknown potential.
    """
    return potentials.load_potential(name).describe(calculator_kwargs)


#: Highest atomic number the CHGNet model embeds (kept for callers of the runner's name).
CHGNET_MAX_ATOMIC_NUMBER = potentials.ChgnetPotential.max_atomic_number


def covered_elements(model: dict) -> frozenset[str] | None:
    """Return the chemical symbols the model can evaluate, or ``None`` when it takes every element (or when the
    model names no known potential: the model's own validation says so)."""
    try:
        potential = potentials.load_potential(model.get('name') or potentials.DEFAULT)
        kwargs = potential.resolve_kwargs(model.get('calculator_kwargs'))
    except ValueError:
        return None
    return potential.elements(kwargs)


def uncovered_elements_message(model: dict, symbols) -> str | None:
    """Return why ``model`` cannot evaluate a structure of ``symbols`` (the elements it lacks), or None."""
    covered = covered_elements(model)
    if covered is None:
        return None
    missing = sorted(set(symbols) - covered)
    if not missing:
        return None
    from ase.data import atomic_numbers, chemical_symbols

    numbers = sorted(atomic_numbers[symbol] for symbol in covered)
    if numbers == list(range(1, len(numbers) + 1)):
        listed = f'H to {chemical_symbols[numbers[-1]]}'
    else:
        listed = ', '.join(sorted(covered)) if len(covered) < 20 else '`aiida-superionic potentials` lists them'
    return (
        f'the {model.get("name")} potential does not cover {", ".join(missing)}: it is defined for '
        f'{len(covered)} elements ({listed}); choose another model or the VASP engine'
    )


def build_calculator(model: dict, threads: int):
    """Return ``(calculator, used)`` for a model description, after checking its identity here.

    ``used`` is what the job runs with: the device (``auto`` resolved), torch's threads and version.

    :raises ValueError: when the weights on this computer differ from the recorded ones.
    :raises potentials.DeviceUnavailable: when the device asked for is not here (never a silent fall-back).
    """
    name = model['name']
    potential = potentials.load_potential(name)
    found = potential.describe(model.get('calculator_kwargs'))
    if model.get('weights_sha256') and found['weights_sha256'] != model['weights_sha256']:
        raise ValueError(
            f'model mismatch: the {name} weights here hash to {found["weights_sha256"]}, the input '
            f'recorded {model["weights_sha256"]} (package {found["package_version"]} here)'
        )
    if found['package_version'] != model.get('package_version'):
        print(
            f'Warning: {found["package"]} {found["package_version"]} runs here, the input recorded '
            f'{model.get("package_version")}; the weights hash matches',
            flush=True,
        )
    return potential.build(model.get('calculator_kwargs'), model.get('device') or 'cpu', threads)


# ---------------------------------------------------------------------------------------------
# Trajectory file: written here, read by the parser.


def trajectory_record_length(number_of_atoms: int) -> int:
    """Number of float64 values in one frame record."""
    return len(TRAJECTORY_SCALAR_FIELDS) + 9 + 6 * number_of_atoms


class TrajectoryWriter:
    """Append frames to ``trajectory.bin`` (fixed-length float64 records), flushing each one."""

    def __init__(self, folder: pathlib.Path, symbols: list[str], write_interval: int, timestep_fs: float):
        header = {
            'format': TRAJECTORY_FORMAT,
            'symbols': symbols,
            'number_of_atoms': len(symbols),
            'scalar_fields': list(TRAJECTORY_SCALAR_FIELDS),
            'record_length': trajectory_record_length(len(symbols)),
            'write_interval': write_interval,
            'timestep_fs': timestep_fs,
            'positions': 'Cartesian, Å, as integrated (not wrapped into the cell)',
            'velocities': 'Å/ps',
        }
        (folder / TRAJECTORY_HEADER_FILENAME).write_text(json.dumps(header, indent=2))
        self._handle = open(folder / TRAJECTORY_DATA_FILENAME, 'wb')  # noqa: SIM115 (closed in close())
        self.frames = 0

    def write(self, scalars: list[float], cell: np.ndarray, positions: np.ndarray, velocities: np.ndarray):
        record = np.concatenate([np.asarray(scalars, float), cell.ravel(), positions.ravel(), velocities.ravel()])
        self._handle.write(record.astype('<f8').tobytes())
        self._handle.flush()
        self.frames += 1

    def close(self):
        self._handle.close()


def read_trajectory(header_path: str | os.PathLike, data_path: str | os.PathLike) -> dict:
    """Read the trajectory written by ``TrajectoryWriter``; a partial last record is dropped.

    :param header_path: the ``trajectory.json`` header.
    :param data_path: the ``trajectory.bin`` records.
    :return: a dict with the header, ``complete_frames``, ``dropped_bytes`` and arrays
        ``cells`` (F, 3, 3), ``positions`` and ``velocities`` (F, N, 3) and one array per scalar field.
    :raises ValueError: for an unknown format or a header that does not match the records.
    """
    header = json.loads(pathlib.Path(header_path).read_text())
    if header.get('format') != TRAJECTORY_FORMAT:
        raise ValueError(f'unknown trajectory format {header.get("format")!r}')
    atoms = header['number_of_atoms']
    length = header['record_length']
    if length != trajectory_record_length(atoms):
        raise ValueError(
            f'the header says {length} values per record, {atoms} atoms need {trajectory_record_length(atoms)}'
        )
    size = os.path.getsize(data_path)
    frames = size // (8 * length)
    records = np.fromfile(data_path, dtype='<f8', count=frames * length).reshape(frames, length)
    dropped = size - frames * length * 8
    scalars = len(header['scalar_fields'])
    result = {'header': header, 'complete_frames': frames, 'dropped_bytes': dropped}
    for index, field in enumerate(header['scalar_fields']):
        result[field] = records[:, index].copy()
    result['cells'] = records[:, scalars : scalars + 9].reshape(frames, 3, 3).copy()
    start = scalars + 9
    result['positions'] = records[:, start : start + 3 * atoms].reshape(frames, atoms, 3).copy()
    result['velocities'] = records[:, start + 3 * atoms :].reshape(frames, atoms, 3).copy()
    return result


# ---------------------------------------------------------------------------------------------
# Tasks


def _atoms_from_input(structure: dict):
    from ase import Atoms

    return Atoms(
        symbols=structure['symbols'],
        positions=structure['positions'],
        cell=structure['cell'],
        pbc=structure.get('pbc', [True, True, True]),
    )


def _structure_of(atoms) -> dict:
    return {
        'symbols': atoms.get_chemical_symbols(),
        'positions': atoms.get_positions().tolist(),
        'cell': atoms.cell.array.tolist(),
        'pbc': [bool(flag) for flag in atoms.pbc],
    }


def _process_start_epoch() -> float | None:
    """When this Python process started, in seconds since the epoch (Linux's ``/proc``; None elsewhere): the
    interpreter's start and the imports before ``main`` count in a job's cost but not in ``_Clock``."""
    try:
        with open('/proc/self/stat') as stat, open('/proc/uptime') as uptime:
            start_ticks = int(stat.read().rsplit(')', 1)[1].split()[19])  # field 22, starttime, in clock ticks
            seconds_since_boot = float(uptime.read().split()[0])
        return time.time() - seconds_since_boot + start_ticks / os.sysconf('SC_CLK_TCK')
    except (OSError, ValueError, IndexError):
        return None


def task_payload(atoms, task: str, parameters: dict, model: dict, threads: int = 1, **extra) -> dict:
    """The runner's input (``aiida_input.json``) for ``atoms``: what ``AseCalculation`` writes, for running the
    runner without AiiDA (tests, benchmarks)."""
    return {
        'task': task,
        'parameters': parameters,
        'model': model,
        'threads': threads,
        'structure': _structure_of(atoms),
        **extra,
    }


class _Clock:
    """Tells when to stop: the wall-time limit is near or a SIGTERM arrived."""

    def __init__(self, max_seconds: float | None):
        self.start = time.monotonic()
        self.deadline = None if not max_seconds else self.start + WALLTIME_SAFETY_FRACTION * max_seconds
        self.terminated = False
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, *_):
        self.terminated = True

    def check(self):
        if self.terminated:
            raise StopRequested('SIGTERM received')
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise StopRequested('wall-time limit reached')

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


class _Progress:
    """Prints a line to standard output (``aiida.out``) about every 5 % of the steps."""

    def __init__(self, total_steps: int, clock: _Clock, lines: int = 20):
        self.total = max(1, total_steps)
        self.every = max(1, self.total // lines)
        self.clock = clock
        self.start = clock.elapsed  # time per step excludes loading the model

    def step(self, done: int, phase: str, atoms) -> None:
        if done % self.every and done != self.total:
            return
        per_step = (self.clock.elapsed - self.start) / done
        print(
            f'step {done:>8d}/{self.total} ({phase}) T = {atoms.get_temperature():7.1f} K '
            f'E_pot = {atoms.get_potential_energy():.4f} eV  {per_step:.3f} s/step, '
            f'{per_step * (self.total - done) / 60:.1f} min left',
            flush=True,
        )


def _forces_and_stress(atoms) -> dict:
    """Forces (eV/Å) and, when the calculator gives it, the stress (eV/Å³, positive in tension) of ``atoms``."""
    result = {'forces_eV_A': atoms.get_forces().tolist()}
    try:
        result['stress_eV_A3'] = atoms.get_stress(voigt=False).tolist()
    except Exception as exception:  # a calculator without stress (e.g. for molecules) is fine
        result['stress_error'] = str(exception)
    return result


def run_static(atoms, parameters: dict, folder: pathlib.Path, clock: _Clock) -> dict:
    return {'energy_eV': float(atoms.get_potential_energy()), **_forces_and_stress(atoms)}


def run_relax(atoms, parameters: dict, folder: pathlib.Path, clock: _Clock) -> dict:
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    target = FrechetCellFilter(atoms) if parameters.get('relax_cell', False) else atoms
    optimizer = FIRE(target, logfile='-')
    converged = False
    fmax = float(parameters.get('fmax_eV_A', 0.01))
    for _ in optimizer.irun(fmax=fmax, steps=int(parameters.get('max_steps', 500))):
        clock.check()
    converged = optimizer.converged(target.get_forces())
    return {
        'energy_eV': float(atoms.get_potential_energy()),
        'max_force_eV_A': float(np.linalg.norm(atoms.get_forces(), axis=1).max()),
        'relax_steps': int(optimizer.nsteps),
        'relax_converged': bool(converged),
        'final_structure': _structure_of(atoms),
        **_forces_and_stress(atoms),
    }


def run_md(atoms, parameters: dict, folder: pathlib.Path, clock: _Clock) -> dict:
    from ase import units
    from ase.md.nose_hoover_chain import NoseHooverChainNVT
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    temperature = float(parameters['temperature_K'])
    timestep_fs = float(parameters['timestep_fs'])
    write_interval = int(parameters['write_interval'])
    equilibration_steps = int(parameters.get('equilibration_steps', 0))
    production_steps = int(parameters['steps'])
    rng = np.random.default_rng(int(parameters.get('seed', 0)))

    if not atoms.info.get('velocities_given'):
        thermalize_momenta(atoms, temperature, rng=rng)
        Stationary(atoms)  # zero centre-of-mass momentum, temperature kept: the cell must not drift
    # A continuation keeps the velocities it was given; the thermostat's own variables start at zero.
    dynamics = NoseHooverChainNVT(
        atoms,
        timestep=timestep_fs * units.fs,
        temperature_K=temperature,
        tdamp=float(parameters.get('thermostat_timescale_fs', 100.0)) * units.fs,
        tchain=int(parameters.get('thermostat_chain_length', 3)),
    )
    velocity_to_A_per_ps = 1000.0 * units.fs  # ASE velocity unit -> Å/ps

    def conserved_energy(potential, kinetic):
        thermostat = getattr(dynamics, '_thermostat', None)
        return potential + kinetic + (thermostat.get_thermostat_energy() if thermostat else math.nan)

    writer = TrajectoryWriter(folder, atoms.get_chemical_symbols(), write_interval, timestep_fs)
    progress = _Progress(equilibration_steps + production_steps, clock)
    status, message, phase = 'finished', '', 'equilibration'
    equilibration_done = production_done = 0
    loop_start, loop_cpu = time.time(), time.process_time()
    try:
        for done in range(1, equilibration_steps + 1):
            dynamics.run(1)
            _check_finite(atoms, f'equilibration step {done}')
            equilibration_done = done
            progress.step(done, phase, atoms)
            clock.check()
        phase = 'production'
        for step in range(production_steps + 1):
            if step:
                dynamics.run(1)
                _check_finite(atoms, f'production step {step}')
                production_done = step
                progress.step(equilibration_steps + step, phase, atoms)
            if step % write_interval == 0:
                potential = float(atoms.get_potential_energy())
                kinetic = float(atoms.get_kinetic_energy())
                writer.write(
                    [
                        step,
                        step * timestep_fs / 1000.0,
                        potential,
                        kinetic,
                        conserved_energy(potential, kinetic),
                        atoms.get_temperature(),
                    ],
                    atoms.cell.array,
                    atoms.get_positions(),
                    atoms.get_velocities() * velocity_to_A_per_ps,
                )
            clock.check()
    except StopRequested as stop:
        status, message = (
            'walltime',
            f'{stop} after {equilibration_done} equilibration and {production_done} production steps',
        )
    except UnstableDynamics as instability:
        status, message = 'unstable', str(instability)
    finally:
        writer.close()
        loop_end, loop_cpu = time.time(), time.process_time() - loop_cpu
    result = {
        'md_loop_timings': [loop_start, loop_end, loop_cpu],
        'md_status': status,
        'md_message': message,
        'frames_written': writer.frames,
        'equilibration_steps_done': equilibration_done,
        'production_steps_done': production_done,
    }
    if status != 'unstable':  # the state after the last step run (it may postdate the last written frame)
        result['final_structure'] = _structure_of(atoms)
        result['final_velocities_A_ps'] = (atoms.get_velocities() * velocity_to_A_per_ps).tolist()
    return result


class UnstableDynamics(Exception):  # noqa: N818 (a state of the run, reported as a status)
    """Raised when the energy or the positions stop being finite numbers."""


def _check_finite(atoms, where: str) -> None:
    """Stop the MD the moment it blows up: every frame written before stays valid."""
    if not (math.isfinite(atoms.get_potential_energy()) and np.all(np.isfinite(atoms.positions))):
        raise UnstableDynamics(f'non-finite energy or positions at {where}')


TASKS = {'static': run_static, 'relax': run_relax, 'md': run_md}


def main(input_path: str) -> int:
    """Run the task of ``input_path`` in its folder; always write ``aiida_output.json``."""
    folder = pathlib.Path(input_path).resolve().parent
    payload = json.loads(pathlib.Path(input_path).read_text())
    threads = int(payload.get('threads', 1))  # OMP_NUM_THREADS is exported by the job script
    clock = _Clock(payload.get('max_wallclock_seconds'))
    output = {'status': 'started', 'task': payload['task'], 'threads': threads}
    # Where the job's time goes (benchmarks/demo_budget.py reads them), in seconds since the epoch: the process
    # start (interpreter, imports), the task's start (model loaded) and end, the MD loop's; and the CPU time of
    # the process at the task's start and end, and of the MD loop.
    timings = output['timings'] = {'process_start': _process_start_epoch(), 'main_start': time.time()}
    exit_status = 0
    try:
        atoms = _atoms_from_input(payload['structure'])
        if payload.get('velocities') is not None:  # Å/ps, to continue an MD
            from ase import units

            atoms.set_velocities(np.asarray(payload['velocities'], dtype=float) / (1000.0 * units.fs))
            atoms.info['velocities_given'] = True
        output['model'] = describe_model(payload['model']['name'], payload['model'].get('calculator_kwargs'))
        uncovered = uncovered_elements_message(payload['model'], atoms.get_chemical_symbols())
        if uncovered:
            output.update(status='model_mismatch', error=uncovered)
            return 3
        try:
            atoms.calc, used = build_calculator(payload['model'], threads)
        except ValueError as exception:
            output.update(status='model_mismatch', error=str(exception))
            return 3
        except potentials.DeviceUnavailable as exception:
            output.update(status='device_unavailable', error=str(exception))
            return 4
        output['model'].update(used)  # what ran: the device (``auto`` resolved), torch's threads
        timings['task_start'], timings['task_start_cpu'] = time.time(), time.process_time()
        try:
            output.update(TASKS[payload['task']](atoms, payload.get('parameters', {}), folder, clock))
            output['status'] = output.pop('md_status', 'finished')
        except StopRequested as stop:
            output.update(status='walltime', error=str(stop))
        timings['task_end'], timings['task_end_cpu'] = time.time(), time.process_time()
        if 'md_loop_timings' in output:
            timings['md_loop_start'], timings['md_loop_end'], timings['md_loop_cpu'] = output.pop('md_loop_timings')
    except Exception as exception:  # report any calculator failure in the output, then fail
        output.update(status='calculator_failed', error=f'{type(exception).__name__}: {exception}')
        output['traceback'] = traceback.format_exc()
        exit_status = 2
    finally:
        output['wall_seconds'] = clock.elapsed
        (folder / OUTPUT_FILENAME).write_text(json.dumps(output, indent=1))
    return exit_status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else INPUT_FILENAME))
