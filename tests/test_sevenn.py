"""SevenNet through the plugin: Li3N static, relaxation and MD agree with SevenNet run here directly, offline.

Small on purpose (the 4-atom cell, a few steps): one torch thread each side.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from test_ase_engine import _builder

from aiida_superionic.engines.ase import get_model_node, model_label, potentials

pytestmark = pytest.mark.sevenn


@pytest.fixture(scope='module')
def sevennet():
    """SevenNet-0 built here from the weights in the sevenn wheel (no download: this machine has no network)."""
    import torch
    from sevenn.calculator import SevenNetCalculator

    torch.set_num_threads(1)
    return SevenNetCalculator(model='7net-0', device='cpu')


def _run(python_code, structure, parameters, model):
    results, node = run_get_node(_builder(python_code, structure, parameters, model))
    assert node.is_finished_ok, node.exit_message
    return results


def test_model_node_records_the_checkpoint_in_the_wheel():
    model = get_model_node('sevenn').get_dict()
    weights = potentials.SEVENNET_0.weights_file(model['calculator_kwargs'])
    assert weights.name == model['weights_file'] == 'checkpoint_sevennet_0.pth'
    assert model['weights_sha256'] == potentials.sha256_of_file(weights)
    assert model['package_version'] == potentials.package_version('sevenn')
    assert model_label(model) == 'sevenn 7net-0'
    elements = potentials.SEVENNET_0.elements(model['calculator_kwargs'])
    assert {'Li', 'N', 'P', 'S', 'Cl', 'La', 'Zr', 'O'} <= elements
    multi = get_model_node('sevenn-mf').get_dict()
    assert multi['weights_file'] == 'checkpoint_sevennet_mf_0.pth'
    assert multi['calculator_kwargs']['modal'] in potentials.SEVENNET_MF_0.modals(multi['calculator_kwargs'])
    assert model_label(multi) == 'sevenn-mf 7net-MF-0 (PBE)'
    with pytest.raises(FileNotFoundError, match='neither a bundled one'):
        get_model_node('sevenn', model='7net-nonexistent')


def test_li3n_static_relax_md_agree_with_sevennet_here(aiida_profile, python_code, generate_structure, sevennet):
    structure = generate_structure('li3n', repeat=1, vacancy=False)
    model = get_model_node('sevenn')

    # Static: energy, forces and stress.
    rattled = structure.get_ase()
    rattled.rattle(0.03, seed=2)
    results = _run(python_code, orm.StructureData(ase=rattled), {'task': 'static'}, model)
    rattled.calc = sevennet
    assert results['output_parameters']['energy_eV'] == pytest.approx(rattled.get_potential_energy(), abs=1e-4)
    np.testing.assert_allclose(results['output_arrays'].get_array('forces'), rattled.get_forces(), atol=1e-4)
    np.testing.assert_allclose(results['output_arrays'].get_array('stress'), rattled.get_stress(voigt=False), atol=1e-5)
    used = results['model_used'].get_dict()
    assert (used['name'], used['device'], used['threads']) == ('sevenn', 'cpu', 1)
    assert used['weights_sha256'] == model['weights_sha256']

    # Relaxation of the rattled cell (ions only): the result is a minimum of SevenNet run here.
    parameters = {'task': 'relax', 'fmax_eV_A': 0.01, 'max_steps': 200}
    results = _run(python_code, orm.StructureData(ase=rattled), parameters, model)
    relaxed = results['output_structure'].get_ase()
    relaxed.calc = sevennet
    assert np.abs(relaxed.get_forces()).max() < 0.011
    assert results['output_parameters']['energy_eV'] == pytest.approx(relaxed.get_potential_energy(), abs=1e-4)
    assert relaxed.get_potential_energy() < rattled.get_potential_energy()

    # MD: five steps; the energies of the first and the last frames are SevenNet's of those positions.
    parameters = {'task': 'md', 'temperature_K': 300.0, 'timestep_fs': 1.0, 'steps': 5, 'write_interval': 1, 'seed': 3}
    results = _run(python_code, structure, parameters, model)
    trajectory = results['trajectory']
    assert trajectory.numsteps == 6
    for frame in (0, 5):
        atoms = trajectory.get_step_structure(frame).get_ase()
        atoms.calc = sevennet
        assert trajectory.get_array('potential_energy_eV')[frame] == pytest.approx(
            atoms.get_potential_energy(), abs=1e-4
        )
    assert np.all(np.abs(trajectory.get_velocities()) > 0)
