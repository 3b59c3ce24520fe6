"""The ASE engine: the runner program on its own, then ``AseCalculation`` through AiiDA with EMT."""

from __future__ import annotations

import json

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.calculators.emt import EMT

from aiida_superionic.calculations.ase import AseCalculation
from aiida_superionic.engines.ase import get_model_node, runner


def _payload(structure: orm.StructureData, task: str, parameters: dict, model: dict, **extra) -> dict:
    atoms = structure.get_ase()
    atoms.pbc = True
    return runner.task_payload(atoms, task, parameters, model, threads=1, **extra)


def _run_runner(tmp_path, payload: dict) -> tuple[int, dict]:
    path = tmp_path / runner.INPUT_FILENAME
    path.write_text(json.dumps(payload))
    status = runner.main(str(path))
    return status, json.loads((tmp_path / runner.OUTPUT_FILENAME).read_text())


MD_PARAMETERS = {'temperature_K': 300.0, 'timestep_fs': 2.0, 'steps': 20, 'write_interval': 5, 'seed': 7}


def test_runner_md_records_every_written_step(tmp_path, generate_structure):
    """Frames at steps 0, 5, ..., 20; times step·dt; first frame at the input positions; not wrapped."""
    structure = generate_structure('cu3au')
    model = get_model_node('emt').get_dict()
    status, output = _run_runner(tmp_path, _payload(structure, 'md', MD_PARAMETERS, model))
    assert status == 0, output
    assert output['status'] == 'finished'
    frames = runner.read_trajectory(
        tmp_path / runner.TRAJECTORY_HEADER_FILENAME, tmp_path / runner.TRAJECTORY_DATA_FILENAME
    )
    assert frames['complete_frames'] == output['frames_written'] == 5
    np.testing.assert_array_equal(frames['step'], [0, 5, 10, 15, 20])
    np.testing.assert_allclose(frames['time_ps'], frames['step'] * 2.0e-3)
    np.testing.assert_allclose(frames['positions'][0], structure.get_ase().get_positions())
    # The potential energy of frame 0 is EMT's energy of the input structure, computed independently.
    atoms = structure.get_ase()
    atoms.calc = EMT()
    assert frames['potential_energy_eV'][0] == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    # Zero total momentum from the start (Stationary), kept by the thermostat.
    masses = atoms.get_masses()
    momentum = np.einsum('n,fnk->fk', masses, frames['velocities'])
    assert np.abs(momentum).max() < 1e-8 * np.abs(frames['velocities']).max() * masses.sum()
    # The Nosé–Hoover chain conserves its extended energy closely over 20 steps of 2 fs.
    drift = np.ptp(frames['conserved_energy_eV']) / len(atoms)
    assert drift < 1e-3


def test_runner_md_is_reproducible_with_a_seed(tmp_path, generate_structure):
    structure = generate_structure('cu3au')
    model = get_model_node('emt').get_dict()
    positions = []
    for seed, folder in ((1, 'a'), (1, 'b'), (2, 'c')):
        (tmp_path / folder).mkdir()
        _run_runner(tmp_path / folder, _payload(structure, 'md', {**MD_PARAMETERS, 'seed': seed}, model))
        frames = runner.read_trajectory(
            tmp_path / folder / runner.TRAJECTORY_HEADER_FILENAME, tmp_path / folder / runner.TRAJECTORY_DATA_FILENAME
        )
        positions.append(frames['positions'][-1])
    np.testing.assert_array_equal(positions[0], positions[1])
    assert not np.allclose(positions[0], positions[2])


def test_runner_stops_at_the_wall_time_and_keeps_frames(tmp_path, generate_structure):
    """A run far longer than its wall time stops cleanly with every frame written so far."""
    structure = generate_structure('cu3au')
    model = get_model_node('emt').get_dict()
    payload = _payload(structure, 'md', {**MD_PARAMETERS, 'steps': 10**7, 'write_interval': 1}, model)
    payload['max_wallclock_seconds'] = 1.0
    status, output = _run_runner(tmp_path, payload)
    assert status == 0
    assert output['status'] == 'walltime'
    frames = runner.read_trajectory(
        tmp_path / runner.TRAJECTORY_HEADER_FILENAME, tmp_path / runner.TRAJECTORY_DATA_FILENAME
    )
    assert frames['complete_frames'] == output['frames_written'] > 1
    assert output['production_steps_done'] == frames['step'][-1]


def test_read_trajectory_drops_a_partial_last_frame(tmp_path):
    """A job killed in the middle of a write leaves a partial record: the complete frames are kept."""
    symbols = ['Li', 'N']
    writer = runner.TrajectoryWriter(tmp_path, symbols, write_interval=1, timestep_fs=1.0)
    rng = np.random.default_rng(0)
    written = [rng.normal(size=(2, 3)) for _ in range(4)]
    for step, positions in enumerate(written):
        writer.write([step, step * 1e-3, 0, 0, 0, 300], np.eye(3) * 5, positions, positions * 0)
    writer.close()
    data = tmp_path / runner.TRAJECTORY_DATA_FILENAME
    data.write_bytes(data.read_bytes()[:-20])  # cut into the last record
    frames = runner.read_trajectory(tmp_path / runner.TRAJECTORY_HEADER_FILENAME, data)
    assert frames['complete_frames'] == 3
    assert frames['dropped_bytes'] == runner.trajectory_record_length(2) * 8 - 20
    np.testing.assert_array_equal(frames['positions'], np.array(written[:3]))


def test_model_identity_of_analytic_potentials_hashes_the_parameters():
    first = runner.describe_model('lj', {'sigma': 2.0, 'epsilon': 0.01})
    same = runner.describe_model('lj', {'epsilon': 0.01, 'sigma': 2.0})
    other = runner.describe_model('lj', {'sigma': 2.1, 'epsilon': 0.01})
    assert first['weights_sha256'] == same['weights_sha256'] != other['weights_sha256']
    with pytest.raises(ValueError, match='unknown potential'):
        runner.describe_model('nonsense')


# --- through AiiDA ------------------------------------------------------------------------------


def _builder(python_code, structure, parameters, model):
    builder = AseCalculation.get_builder()
    builder.code = python_code
    builder.structure = structure
    builder.parameters = orm.Dict(parameters)
    builder.model = model
    return builder


def test_static_through_aiida(aiida_profile, python_code, generate_structure, emt_model):
    structure = generate_structure('cu3au', vacancy=False)
    atoms = structure.get_ase()
    atoms.rattle(0.05, seed=3)
    structure = orm.StructureData(ase=atoms)
    results, node = run_get_node(_builder(python_code, structure, {'task': 'static'}, emt_model))
    assert node.is_finished_ok, node.exit_message
    atoms.calc = EMT()
    assert results['output_parameters']['energy_eV'] == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(results['output_arrays'].get_array('forces'), atoms.get_forces(), atol=1e-10)
    np.testing.assert_allclose(results['output_arrays'].get_array('stress'), atoms.get_stress(voigt=False), atol=1e-10)
    assert results['output_parameters']['model']['weights_sha256'] == emt_model['weights_sha256']
    # The program that ran is stored with the job.
    assert 'superionic_ase_runner.py' in node.base.repository.list_object_names()


def test_relax_through_aiida(aiida_profile, python_code, generate_structure, emt_model):
    atoms = generate_structure('cu3au', vacancy=False).get_ase()
    atoms.rattle(0.1, seed=1)
    atoms.calc = EMT()
    start_energy = atoms.get_potential_energy()
    parameters = {'task': 'relax', 'fmax_eV_A': 0.01, 'max_steps': 300}
    results, node = run_get_node(_builder(python_code, orm.StructureData(ase=atoms), parameters, emt_model))
    assert node.is_finished_ok, node.exit_message
    assert results['output_parameters']['relax_converged']
    assert results['output_parameters']['max_force_eV_A'] < 0.01
    assert results['output_parameters']['energy_eV'] < start_energy
    relaxed = results['output_structure'].get_ase()
    relaxed.calc = EMT()
    assert np.linalg.norm(relaxed.get_forces(), axis=1).max() < 0.01


def test_md_through_aiida(aiida_profile, python_code, generate_structure, emt_model):
    structure = generate_structure('cu3au')
    parameters = {'task': 'md', **MD_PARAMETERS, 'equilibration_steps': 10}
    results, node = run_get_node(_builder(python_code, structure, parameters, emt_model))
    assert node.is_finished_ok, node.exit_message
    trajectory = results['trajectory']
    assert trajectory.numsteps == 5
    np.testing.assert_allclose(trajectory.get_times(), np.arange(5) * 5 * 2.0e-3)
    assert trajectory.get_velocities().shape == (5, len(structure.sites), 3)
    assert trajectory.base.attributes.get('units')['velocities'] == 'Å/ps'
    assert trajectory.base.attributes.get('positions_wrapped') is False
    temperatures = trajectory.get_array('temperature_K')
    assert np.all(np.isfinite(temperatures))
    assert 'output_structure' in results
    np.testing.assert_allclose(results['output_structure'].get_ase().positions, trajectory.get_positions()[-1])
    # The raw trajectory was parsed, not stored a second time.
    assert runner.TRAJECTORY_DATA_FILENAME not in node.outputs.retrieved.base.repository.list_object_names()
    # Where the job's time went (benchmarks/demo_budget.py): in order, within the job's life, CPU times that add up.
    timings = results['output_parameters']['timings']
    moments = ['process_start', 'main_start', 'task_start', 'md_loop_start', 'md_loop_end', 'task_end']
    assert [timings[key] for key in moments] == sorted(timings[key] for key in moments)
    assert node.ctime.timestamp() < timings['process_start'] < node.mtime.timestamp()
    assert 0 < timings['task_start_cpu'] < timings['task_end_cpu']
    assert 0 < timings['md_loop_cpu'] <= timings['task_end_cpu'] - timings['task_start_cpu']


def test_md_wall_time_keeps_the_frames(aiida_profile, python_code, generate_structure, emt_model):
    structure = generate_structure('cu3au')
    builder = _builder(python_code, structure, {'task': 'md', **MD_PARAMETERS, 'steps': 10**7}, emt_model)
    builder.metadata.options.max_wallclock_seconds = 2
    results, node = run_get_node(builder)
    assert node.exit_status == AseCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status
    assert results['trajectory'].numsteps >= 1
    assert results['output_parameters']['frames_written'] == results['trajectory'].numsteps


def test_model_mismatch_is_refused(aiida_profile, python_code, generate_structure):
    model = get_model_node('emt').get_dict()
    model['weights_sha256'] = '0' * 64
    builder = _builder(python_code, generate_structure('cu3au'), {'task': 'static'}, orm.Dict(model))
    _, node = run_get_node(builder)
    assert node.exit_status == AseCalculation.exit_codes.ERROR_MODEL_MISMATCH.status
    assert 'model mismatch' in node.exit_message


def test_an_element_the_calculator_lacks_is_refused_with_its_name(
    aiida_profile, python_code, generate_structure, emt_model, tmp_path
):
    builder = _builder(python_code, generate_structure('li3n', repeat=1), {'task': 'static'}, emt_model)
    before = orm.QueryBuilder().append(orm.CalcJobNode).count()
    with pytest.raises(ValueError, match='the emt potential does not cover Li'):
        run_get_node(builder)
    assert orm.QueryBuilder().append(orm.CalcJobNode).count() == before

    # The runner refuses it too, on the computer, for an input written by hand.
    atoms = generate_structure('li3n', repeat=1).get_ase()
    payload = {
        'task': 'static',
        'structure': {
            'symbols': atoms.get_chemical_symbols(),
            'positions': atoms.positions.tolist(),
            'cell': atoms.cell.tolist(),
        },
        'model': emt_model.get_dict(),
    }
    (tmp_path / runner.INPUT_FILENAME).write_text(json.dumps(payload))
    assert runner.main(str(tmp_path / runner.INPUT_FILENAME)) == 3
    output = json.loads((tmp_path / runner.OUTPUT_FILENAME).read_text())
    assert output['status'] == 'model_mismatch'
    assert 'does not cover Li' in output['error']


@pytest.mark.parametrize(
    ('parameters', 'message'),
    [
        ({'task': 'md', **MD_PARAMETERS, 'temperature_K': 0.0}, 'temperature_K` must be > 0'),
        ({'task': 'md', **MD_PARAMETERS, 'timestep_fs': -1.0}, 'timestep_fs` must be > 0'),
        ({'task': 'md', **MD_PARAMETERS, 'tempreature_K': 300.0}, 'unknown `parameters` keys'),
        ({'task': 'md', 'timestep_fs': 1.0, 'steps': 10}, 'miss the required keys'),
        ({'task': 'dance'}, '`parameters.task` must be one of'),
    ],
)
def test_bad_parameters_are_refused_before_anything_runs(
    aiida_profile, python_code, generate_structure, emt_model, parameters, message
):
    before = orm.QueryBuilder().append(orm.CalcJobNode).count()
    with pytest.raises(ValueError, match=message):
        run_get_node(_builder(python_code, generate_structure('cu3au'), parameters, emt_model))
    assert orm.QueryBuilder().append(orm.CalcJobNode).count() == before


def test_non_periodic_structure_is_refused(aiida_profile, python_code, emt_model):
    from ase.build import molecule

    atoms = molecule('CO')
    atoms.center(vacuum=5)
    with pytest.raises(ValueError, match='periodic in 3 dimensions'):
        run_get_node(_builder(python_code, orm.StructureData(ase=atoms), {'task': 'static'}, emt_model))


def test_a_killed_md_keeps_its_complete_frames(aiida_profile, aiida_code_installed, generate_structure, emt_model):
    """The job is killed by the OS (CPU-time limit, SIGXCPU): no output file, but every complete frame is kept."""
    import sys

    code = aiida_code_installed(
        label='python-cpu-limited',
        default_calc_job_plugin='superionic.ase',
        filepath_executable=sys.executable,
        prepend_text='ulimit -t 4',
    )
    parameters = {'task': 'md', **MD_PARAMETERS, 'steps': 10**7, 'write_interval': 1}
    results, node = run_get_node(_builder(code, generate_structure('cu3au'), parameters, emt_model))
    assert node.exit_status == AseCalculation.exit_codes.ERROR_OUTPUT_MISSING.status
    trajectory = results['trajectory']
    assert trajectory.numsteps > 10
    np.testing.assert_array_equal(trajectory.get_stepids(), np.arange(trajectory.numsteps))
    assert 'output_parameters' not in results


def test_an_exploding_md_stops_as_unstable_with_its_finite_frames(aiida_profile, python_code, generate_structure):
    """Lennard-Jones with σ = 2.5 Å (> the Li–Li distance), ε = 50 eV on Li3N blows up: exit 350, no NaN stored."""
    model = get_model_node('lj', sigma=2.5, epsilon=50.0)
    parameters = {'task': 'md', **MD_PARAMETERS, 'steps': 200, 'write_interval': 1}
    results, node = run_get_node(_builder(python_code, generate_structure('li3n', repeat=1), parameters, model))
    assert node.exit_status == AseCalculation.exit_codes.ERROR_MD_UNSTABLE.status, node.exit_message
    assert 'non-finite' in node.exit_message
    assert 'output_structure' not in results
    assert results['trajectory'].numsteps == results['output_parameters']['frames_written'] >= 1
    assert np.all(np.isfinite(results['trajectory'].get_positions()))
