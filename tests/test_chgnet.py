"""The default engine: CHGNet, from the weights in its wheel, through ``AseCalculation`` and the demo."""

from __future__ import annotations

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
    used = results['model_used'].get_dict()  # recorded by the job on its computer
    assert (used['name'], used['device_requested'], used['device'], used['threads']) == ('chgnet', 'cpu', 'cpu', 1)

    torch.set_num_threads(1)
    calculator = CHGNetCalculator(model=CHGNet.load(model_name='0.3.0', verbose=False), use_device='cpu')
    for frame in (0, 5):
        atoms = trajectory.get_step_structure(frame).get_ase()
        atoms.calc = calculator
        assert trajectory.get_array('potential_energy_eV')[frame] == pytest.approx(
            atoms.get_potential_energy(), abs=1e-4
        )
    assert np.all(np.abs(trajectory.get_velocities()) > 0)
