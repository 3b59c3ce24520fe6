"""Potentials as plug-ins, the device and threads of a job, and ``aiida-superionic potentials``."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.calculators.lj import LennardJones
from test_ase_engine import _payload, _run_runner

from aiida_superionic.calculations.ase import AseCalculation
from aiida_superionic.engines.ase import get_model_node, model_label, potentials

HOWTO = pathlib.Path(__file__).parent.parent / 'docs' / 'source' / 'howto' / 'own_calculator.md'


def test_entry_points_register_the_bundled_potentials():
    """The group ``superionic.potentials`` of the installed package holds every bundled potential."""
    from importlib import metadata

    registered = {entry.name: entry.load() for entry in metadata.entry_points(group=potentials.ENTRY_POINT_GROUP)}
    assert set(potentials.BUNDLED) <= set(registered)
    for name, potential in potentials.BUNDLED.items():
        assert registered[name] is potential
    with pytest.raises(ValueError, match=r"unknown potential 'mace'.*factory"):
        get_model_node('mace')
    with pytest.raises(ValueError, match='unknown device'):
        get_model_node('lj', device='gpu')
    with pytest.raises(ValueError, match="device='cuda'"):
        get_model_node('chgnet', use_device='cuda')


def test_model_labels_keep_the_names_of_stored_rows():
    """The table's ``model`` column: the existing label of CHGNet rows, and the potential's name for others."""
    assert model_label({'name': 'chgnet', 'model_version': '0.3.0', 'package_version': '0.4.2'}) == 'chgnet 0.3.0'
    assert model_label({'name': 'lj', 'model_version': '3.29.0'}) == 'lj 3.29.0'
    assert model_label({'name': 'factory', 'factory': 'a.b:c', 'model_version': None}) == 'factory a.b:c'


def test_a_node_of_the_previous_version_still_runs(tmp_path, generate_structure):
    """A model stored before devices existed (no ``device``, no ``threads``) runs on the CPU."""
    structure = generate_structure('cu3au', vacancy=False)
    old = {
        'name': 'emt',
        'package': 'ase',
        'package_version': potentials.package_version('ase'),
        'model_version': potentials.package_version('ase'),
        'weights_file': None,
        'weights_sha256': get_model_node('emt')['weights_sha256'],
        'calculator_kwargs': {},
    }
    status, output = _run_runner(tmp_path, _payload(structure, 'static', {}, old))
    assert status == 0, output
    assert output['model']['device'] == 'cpu'
    assert output['model']['device_requested'] == 'cpu'


@pytest.mark.parametrize('name', ['lj', 'chgnet'])
def test_runner_refuses_cuda_without_one(tmp_path, generate_structure, name):
    """cuda asked on this CPU-only computer: status ``device_unavailable``, no calculation, nothing says cuda ran."""
    if name == 'chgnet':
        pytest.importorskip('chgnet')
    structure = generate_structure('li3n', repeat=1, vacancy=False)
    status, output = _run_runner(
        tmp_path, _payload(structure, 'static', {}, get_model_node(name, device='cuda').get_dict())
    )
    assert status == 4
    assert output['status'] == 'device_unavailable'
    expected = 'no CUDA device' if name == 'chgnet' else 'runs on the CPU only'
    assert expected in output['error']
    assert 'energy_eV' not in output
    assert 'device' not in output['model']


def _lj_builder(python_code, structure, model):
    builder = AseCalculation.get_builder()
    builder.code = python_code
    builder.structure = structure
    builder.parameters = orm.Dict({'task': 'static'})
    builder.model = model
    return builder


def test_cuda_request_fails_with_its_exit_code(aiida_profile, python_code, generate_structure):
    structure = generate_structure('li3n', repeat=1, vacancy=False)
    results, node = run_get_node(_lj_builder(python_code, structure, get_model_node('lj', device='cuda')))
    assert node.exit_status == AseCalculation.exit_codes.ERROR_DEVICE_UNAVAILABLE.status == 335
    assert 'cuda' in node.exit_message
    assert 'model_used' not in results  # nothing records a device that did not run


def test_auto_and_threads_are_recorded_as_used(aiida_profile, python_code, generate_structure):
    """``auto`` resolves to the CPU here; the threads asked for reach the job (OMP_NUM_THREADS, torch)."""
    structure = generate_structure('li3n', repeat=1, vacancy=False)
    model = get_model_node('lj', device='auto', threads=2)
    results, node = run_get_node(_lj_builder(python_code, structure, model))
    assert node.is_finished_ok, node.exit_message
    used = results['model_used'].get_dict()
    assert (used['device_requested'], used['device'], used['threads']) == ('auto', 'cpu', 2)
    assert used['weights_sha256'] == model['weights_sha256']
    assert 'OMP_NUM_THREADS=2' in node.base.repository.get_object_content('_aiidasubmit.sh')
    assert {'superionic_ase_runner.py', 'superionic_ase_potentials.py'} <= set(node.base.repository.list_object_names())


def _howto_files() -> dict[str, str]:
    """The files of the how-to page, from its code blocks headed by a file name."""
    text = HOWTO.read_text()
    return dict(re.findall(r'```python\n# (\S+\.py)\n(.*?)```', text, flags=re.DOTALL))


def test_own_calculator_of_the_howto(aiida_profile, python_code, generate_structure, tmp_path, monkeypatch):
    """The how-to's factory, as the page shows it, through AiiDA: hashed parameters file, result as ASE gives it."""
    files = _howto_files()
    assert 'my_calculators.py' in files
    (tmp_path / 'my_calculators.py').write_text(files['my_calculators.py'])
    parameters = tmp_path / 'lj_parameters.json'
    parameters.write_text(json.dumps({'sigma': 2.0, 'epsilon': 0.05, 'rc': 6.0}))
    monkeypatch.syspath_prepend(str(tmp_path))
    model = get_model_node('factory', factory='my_calculators:lennard_jones', parameters_file=str(parameters))
    assert model['weights_files_sha256'] == {'parameters_file': potentials.sha256_of_file(parameters)}
    assert model['weights_file'] == 'lj_parameters.json'

    structure = generate_structure('li3n', repeat=1, vacancy=False)
    builder = _lj_builder(python_code, structure, model)
    builder.metadata.options.environment_variables = {'PYTHONPATH': str(tmp_path)}
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    atoms = structure.get_ase()
    atoms.calc = LennardJones(sigma=2.0, epsilon=0.05, rc=6.0)
    assert results['output_parameters']['energy_eV'] == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    assert results['model_used']['factory'] == 'my_calculators:lennard_jones'
    assert results['model_used']['weights_sha256'] == model['weights_sha256']

    # The same file changed after the model was recorded: the job refuses to run another model.
    parameters.write_text(json.dumps({'sigma': 2.1, 'epsilon': 0.05, 'rc': 6.0}))
    _, node = run_get_node(builder)
    assert node.exit_status == AseCalculation.exit_codes.ERROR_MODEL_MISMATCH.status


def test_factory_needs_an_import_path():
    with pytest.raises(ValueError, match='module:function'):
        get_model_node('factory', sigma=2.0)


def test_potentials_command_lists_what_is_installed():
    """``aiida-superionic potentials`` as typed: names, packages with versions, bundled weights, devices."""
    command = pathlib.Path(sys.executable).parent / 'aiida-superionic'
    result = subprocess.run([str(command), 'potentials'], capture_output=True, text=True, check=True, timeout=300)
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip() and line[0] != ' '}
    for name in ('chgnet', 'sevenn', 'sevenn-mf', 'emt', 'lj', 'factory'):
        assert name in lines, result.stdout
    assert f'ase {potentials.package_version("ase")}' in lines['lj']
    assert lines['lj'].endswith(' any')
    assert 'none (analytic)' in lines['lj']
    assert lines['emt'].endswith('11: H C-O Al Ni-Cu Pd-Ag Pt-Au')
    for name, package in (('chgnet', 'chgnet'), ('sevenn', 'sevenn')):
        version = potentials.package_version(package)
        if version is None:
            assert '(not installed)' in lines[name]
            continue
        assert f'{package} {version}' in lines[name]
        assert 'bundled (offline)' in lines[name]
        assert 'cpu' in lines[name]
    if potentials.package_version('chgnet'):
        assert lines['chgnet'].endswith('94: H-Pu')
    if potentials.package_version('sevenn'):
        assert lines['sevenn'].endswith('89: H-Bi Ac-Pu')


def test_lennard_jones_default_is_what_ase_gives():
    """The analytic potentials build ASE's own calculators with the recorded arguments."""
    calculator, used = potentials.LENNARD_JONES.build({'sigma': 2.5}, 'cpu', 1)
    assert isinstance(calculator, LennardJones)
    assert calculator.parameters['sigma'] == 2.5
    assert used == {'device_requested': 'cpu', 'device': 'cpu', 'threads': 1}
    assert np.isclose(calculator.parameters['epsilon'], LennardJones().parameters['epsilon'])


def test_a_model_of_an_unknown_potential_is_refused_by_its_port(aiida_profile, python_code, generate_structure):
    """One message naming the port and the registered potentials; no traceback from the coverage check."""
    model = get_model_node('lj').get_dict()
    model['name'] = 'mace'
    with pytest.raises(ValueError, match=r"`model.name`: unknown potential 'mace': choose one of chgnet"):
        _lj_builder(python_code, generate_structure('li3n', repeat=1, vacancy=False), orm.Dict(model))
