"""The default engine: CHGNet, from the weights in its wheel, through ``AseCalculation`` and the demo."""

from __future__ import annotations

import runpy

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_superionic.calculations.ase import AseCalculation
from aiida_superionic.engines.ase import get_model_node, runner

pytestmark = pytest.mark.chgnet


def test_model_node_records_the_weights_in_the_wheel():
    model = get_model_node('chgnet').get_dict()
    weights = runner.chgnet_weights_file(model['model_version'])
    assert model['weights_file'] == weights.name
    assert model['weights_sha256'] == runner.sha256_of_file(weights)
    assert model['package_version'] == runner._package_version('chgnet')
    with pytest.raises(FileNotFoundError, match='no CHGNet weights'):
        get_model_node('chgnet', model_version='9.9.9')


def test_short_chgnet_md(aiida_profile, python_code, generate_structure):
    """Five steps on the 4-atom Li3N cell: energies match CHGNet run here, independently of the runner."""
    import torch
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    structure = generate_structure('li3n', repeat=1, vacancy=False)
    builder = AseCalculation.get_builder()
    builder.code = python_code
    builder.structure = structure
    builder.model = get_model_node('chgnet')
    builder.parameters = orm.Dict(
        {'task': 'md', 'temperature_K': 300.0, 'timestep_fs': 1.0, 'steps': 5, 'write_interval': 1, 'seed': 3}
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    trajectory = results['trajectory']
    assert trajectory.numsteps == 6
    assert results['output_parameters']['model']['weights_sha256'] == builder.model['weights_sha256']

    torch.set_num_threads(1)
    calculator = CHGNetCalculator(model=CHGNet.load(model_name='0.3.0', verbose=False), use_device='cpu')
    for frame in (0, 5):
        atoms = trajectory.get_step_structure(frame).get_ase()
        atoms.calc = calculator
        assert trajectory.get_array('potential_energy_eV')[frame] == pytest.approx(
            atoms.get_potential_energy(), abs=1e-4
        )
    assert np.all(np.abs(trajectory.get_velocities()) > 0)


@pytest.mark.slow
def test_demo_script_runs_with_a_test_size_switch(aiida_profile, aiida_localhost, capsys, monkeypatch, tmp_path):
    """``examples/submit_sse.py`` end to end on CHGNet: the whole fast protocol, with 100 MD steps per run."""
    import pathlib

    script = pathlib.Path(__file__).resolve().parents[1] / 'examples' / 'submit_sse.py'
    figure = tmp_path / 'msd.png'
    arguments = ['--md-steps', '100', '--equilibration-steps', '0', '--plot', str(figure), '--group', 'demo-test']
    monkeypatch.setattr('sys.argv', [str(script), *arguments])
    runpy.run_path(str(script), run_name='__main__')  # exits 1 when a child failed
    printed = capsys.readouterr().out
    for expected in ('Material:   Li3N', 'Model:      chgnet', 'Elastic:', 'Γ phonons:', 'Vacancy:', 'Workchain:'):
        assert expected in printed
    for label in ('stoichiometric_700K', 'stoichiometric_900K', 'vacancy_700K', 'vacancy_900K'):
        assert label in printed
    assert figure.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    query = orm.QueryBuilder().append(
        orm.WorkflowNode, filters={'process_type': 'aiida.workflows:superionic.sse'}, tag='wc'
    )
    node = query.order_by({'wc': {'ctime': 'desc'}}).first()[0]
    assert len(node.outputs.rows) == 4
    # 100 steps are too short for a D (the rows are flagged), not for the rows: every child finished.
    assert node.exit_status == 0, node.exit_message
