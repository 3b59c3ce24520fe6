"""``aiida-superionic launch``: one SseWorkChain per CIF of a folder, checked before anything is submitted.

The submission itself is aiida-core's; here it is recorded instead (a daemon would then run every
material's whole protocol), and the daemon's state is set by hand.
"""

from __future__ import annotations

import pathlib

import pytest
from aiida import orm
from aiida.engine.daemon.client import DaemonClient
from click.testing import CliRunner

from aiida_superionic.cli import cmd_root
from aiida_superionic.cli.launch import ALREADY


def _write_cifs(folder, generate_structure, names=('cu3au', 'li3n')):
    for name in names:
        structure = generate_structure(name, repeat=1, vacancy=False).get_pymatgen_structure()
        structure.to(filename=str(folder / f'{name}.cif'))


@pytest.fixture
def submitted(monkeypatch):
    """The builders `launch` submits, recorded; the daemon reported as running unless a test says otherwise."""
    builders = []

    def submit(builder):
        builders.append(builder)
        node = orm.Int(len(builders)).store()  # stands for the process node: only its pk is printed
        return node

    monkeypatch.setattr('aiida.engine.submit', submit)
    monkeypatch.setattr(DaemonClient, 'is_daemon_running', property(lambda self: True))
    return builders


def _invoke(*arguments):
    return CliRunner().invoke(cmd_root, ['launch', *map(str, arguments)])


def test_launch_builds_one_sse_per_cif(aiida_profile, python_code, generate_structure, tmp_path, submitted):
    _write_cifs(tmp_path, generate_structure)
    profile = aiida_profile.name
    result = _invoke(tmp_path, '-p', profile, '--model', 'lj', '-X', python_code.full_label, '-G', 'launched')
    assert result.exit_code == 0, result.output
    assert [builder.metadata.label for builder in submitted] == ['cu3au', 'li3n']
    for builder in submitted:
        assert builder.group_label.value == 'launched'
        assert builder.protocol.value == 'fast'
        assert builder.engine.value == 'ase'
        assert builder.ase.model['name'] == 'lj'
    assert 'li3n' in result.output
    assert 'SseWorkChain<' in result.output


def test_launch_refuses_bad_folders_before_submitting(
    aiida_profile, python_code, generate_structure, tmp_path, submitted, monkeypatch
):
    base = ['-p', aiida_profile.name, '--model', 'lj', '-X', python_code.full_label]
    result = _invoke(tmp_path, *base)
    assert result.exit_code != 0
    assert 'no *.cif file' in result.output

    (tmp_path / 'broken.cif').write_text('data_broken\n_cell_length_a 3\n')
    result = _invoke(tmp_path, *base)
    assert result.exit_code != 0
    assert 'broken.cif' in result.output
    (tmp_path / 'broken.cif').unlink()

    _write_cifs(tmp_path, generate_structure, names=('li3n', 'au'))
    (tmp_path / 'broken.cif').write_text('data_broken\n_cell_length_a 3\n')
    result = _invoke(tmp_path, *base)
    assert result.exit_code != 0
    assert '2 of 3 CIFs refused' in result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:4]}
    assert 'refused' in lines['au.cif']  # Au has no mobile ion: named in the table, and Li3N still goes on
    assert 'no candidate mobile species' in lines['au.cif']
    assert 'not a readable CIF' in lines['broken.cif']
    assert 'ordered as given' in lines['li3n.cif']
    assert [builder.metadata.label for builder in submitted] == ['li3n']
    submitted.clear()
    (tmp_path / 'au.cif').unlink()
    (tmp_path / 'broken.cif').unlink()

    result = _invoke(tmp_path, '--engine', 'vasp', '-p', aiida_profile.name)
    assert result.exit_code != 0
    assert 'needs --code, --potential-family and --potential' in result.output

    monkeypatch.setattr(DaemonClient, 'is_daemon_running', property(lambda self: False))
    result = _invoke(tmp_path, *base)
    assert result.exit_code != 0
    assert 'the daemon is not running' in result.output  # the embedded ZeroMQ broker lives in the daemon
    assert submitted == []


def test_launch_orders_disordered_cifs_and_names_a_missing_mobile_species(
    aiida_profile, python_code, tmp_path, submitted
):
    """A disordered argyrodite is submitted as it is read (the workchain orders it first); a named mobile species
    that a CIF lacks refuses that CIF alone."""
    import shutil

    cifs = pathlib.Path(__file__).parent / 'data' / 'cifs'
    shutil.copy(cifs / 'Li6PS5Cl.cif', tmp_path)
    shutil.copy(cifs / 'alpha-AgI.cif', tmp_path)
    base = ['-p', aiida_profile.name, '--model', 'lj', '-X', python_code.full_label]
    result = _invoke(tmp_path, *base, '--mobile-species', 'Li')
    assert result.exit_code != 0, result.output
    assert '1 of 2 CIFs refused' in result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:3]}
    assert 'the mobile species Li is not in the ordered structure (AgI)' in lines['alpha-AgI.cif']
    assert 'ordered from disordered' in lines['Li6PS5Cl.cif']
    assert '1×1×2' in lines['Li6PS5Cl.cif']
    assert 'SseWorkChain<' in lines['Li6PS5Cl.cif']
    (builder,) = submitted
    assert builder.mobile_species.value == 'Li'
    assert builder.order.max_atoms.value == 300
    # The children's supercells follow the ordered 104-atom cell (9.86 × 9.86 × 19.72 Å), not the CIF's.
    assert builder.md_supercell_matrix.get_list() == [1, 1, 1]


def test_dry_run_and_order_as_the_docs_type_them(tmp_path):
    """The documented commands, in a subprocess with relative paths: every CIF accounted for, one file written."""
    import shutil
    import subprocess
    import sys

    cifs = pathlib.Path(__file__).parent / 'data' / 'cifs'
    shutil.copytree(cifs, tmp_path / 'cifs')
    (tmp_path / 'cifs' / 'broken.cif').write_text('data_broken\n_cell_length_a 3\n')
    command = pathlib.Path(sys.executable).parent / 'aiida-superionic'
    result = subprocess.run(
        [str(command), 'launch', 'cifs/', '--dry-run'], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Traceback' not in result.stderr
    assert '1 of 7 CIFs refused' in result.stderr
    table = result.stdout.splitlines()
    assert len([line for line in table if 'ordered from disordered' in line]) == 6
    assert 'not a readable CIF' in next(line for line in table if line.startswith('broken.cif'))

    result = subprocess.run(
        [str(command), 'order', 'cifs/Li6PS5Cl.cif', '-o', 'Li6PS5Cl-ordered.cif'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'ordered from disordered' in result.stdout
    from pymatgen.core import Structure

    ordered = Structure.from_file(str(tmp_path / 'Li6PS5Cl-ordered.cif'))
    assert ordered.is_ordered
    assert ordered.composition.get_el_amt_dict() == {'Li': 48.0, 'P': 8.0, 'S': 40.0, 'Cl': 8.0}

    result = subprocess.run(
        [str(command), 'order', 'cifs/Li3YCl6.cif', '-o', 'x.cif', '--max-atoms', '100'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert 'raise the atom budget to 150' in result.stderr
    assert not (tmp_path / 'x.cif').exists()


@pytest.mark.sevenn
def test_launch_takes_the_potential_and_device_by_name(
    aiida_profile, python_code, generate_structure, tmp_path, submitted
):
    """``--potential sevenn --device auto``: every child of the SseWorkChain gets that model; mistakes are one line."""
    _write_cifs(tmp_path, generate_structure, names=('li3n',))
    base = [tmp_path, '-p', aiida_profile.name, '-X', python_code.full_label]
    result = _invoke(*base, '--potential', 'sevenn', '--device', 'auto')
    assert result.exit_code == 0, result.output
    (builder,) = submitted
    for model in (builder.md.ase.model, builder.ase.model):
        assert (model['name'], model['model_version'], model['device']) == ('sevenn', '7net-0', 'auto')

    for arguments, message in (
        (('--potential', 'mace'), "unknown potential 'mace': choose one of chgnet, sevenn"),
        (('--potential', 'Li=Li_sv'), 'ELEMENT=POTCAR is for --engine vasp'),
        (('--potential', 'lj', '--device', 'gpu'), "'gpu' is not one of 'cpu', 'cuda', 'auto'"),
    ):
        result = _invoke(*base, *arguments)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert 'Traceback' not in result.output
    assert len(submitted) == 1


def test_protocol_builders_take_the_potential_by_name(aiida_profile, python_code, generate_structure):
    from aiida_superionic.engines.ase import get_model_node
    from aiida_superionic.workflows.md import MdWorkChain
    from aiida_superionic.workflows.sse import SseWorkChain

    structure = generate_structure('li3n', repeat=1, vacancy=False)
    builder = SseWorkChain.get_builder_from_protocol(python_code, structure, 'fast', potential='lj', device='auto')
    assert (builder.md.ase.model['name'], builder.md.ase.model['device']) == ('lj', 'auto')
    builder = MdWorkChain.get_builder_from_protocol(
        python_code, structure, temperature=600.0, potential='lj', device='cuda'
    )
    assert (builder.ase.model['name'], builder.ase.model['device']) == ('lj', 'cuda')
    with pytest.raises(ValueError, match='either a `model` node or `potential`'):
        MdWorkChain.get_builder_from_protocol(
            python_code, structure, temperature=600.0, model=get_model_node('lj'), potential='lj'
        )


@pytest.fixture
def submitted_runs(monkeypatch):
    """`launch`'s submissions stored as SseWorkChain nodes in the state a test sets (finished well by default)."""
    from plumpy import ProcessState

    from aiida_superionic.workflows.sse import SseWorkChain

    runs = []
    state = {'process_state': ProcessState.FINISHED, 'exit_status': 0}

    def submit(builder):
        node = orm.WorkChainNode()
        node.set_process_type(SseWorkChain.build_process_type())
        node.set_process_state(state['process_state'])
        if state['exit_status'] is not None:
            node.set_exit_status(state['exit_status'])
        node.label = builder.metadata.label
        runs.append(node.store())
        return node

    monkeypatch.setattr('aiida.engine.submit', submit)
    monkeypatch.setattr(DaemonClient, 'is_daemon_running', property(lambda self: True))
    return runs, state


def test_a_second_launch_of_the_same_folder_reuses_the_first(
    aiida_profile, python_code, generate_structure, tmp_path, submitted_runs
):
    """The same CIFs, protocol and potential twice: the second launch submits nothing and files the first's runs in
    its group; a failed run is run again; --force and a change that matters (the potential) submit anew."""
    from plumpy import ProcessState

    runs, state = submitted_runs
    _write_cifs(tmp_path, generate_structure)
    base = [tmp_path, '-p', aiida_profile.name, '--model', 'lj', '-X', python_code.full_label]
    first = _invoke(*base, '-G', 'first')
    assert first.exit_code == 0, first.output
    assert len(runs) == 2

    again = _invoke(*base, '-G', 'second')
    assert again.exit_code == 0, again.output
    assert len(runs) == 2, 'nothing is submitted twice'
    assert again.output.count(ALREADY) == 2
    assert '2 of 2 CIFs launched before: not submitted again (--force runs them again)' in again.output
    assert f'ran as SseWorkChain<{runs[0].pk}>: reused' in again.output
    assert set(orm.load_group('second').nodes) == set(runs)

    forced = _invoke(*base, '-G', 'second', '--force')
    assert forced.exit_code == 0, forced.output
    assert len(runs) == 4
    assert ALREADY not in forced.output

    copper = tmp_path / 'copper'  # EMT has no Li: another potential on the one material it covers
    copper.mkdir()
    (tmp_path / 'cu3au.cif').rename(copper / 'cu3au.cif')
    other_potential = _invoke(copper, '-p', aiida_profile.name, '--model', 'emt', '-X', python_code.full_label)
    assert other_potential.exit_code == 0, other_potential.output
    assert len(runs) == 5, 'another potential is another run'
    (copper / 'cu3au.cif').rename(tmp_path / 'cu3au.cif')

    # Runs still going are left to finish; runs that failed are run again.
    state.update(process_state=ProcessState.RUNNING, exit_status=None)
    running = _invoke(
        tmp_path, '-p', aiida_profile.name, '--model', 'lj', '-X', python_code.full_label, '--protocol', 'balanced'
    )
    assert len(runs) == 7
    still = _invoke(
        tmp_path, '-p', aiida_profile.name, '--model', 'lj', '-X', python_code.full_label, '--protocol', 'balanced'
    )
    assert still.exit_code == 0, still.output
    assert len(runs) == 7
    assert f'still running as SseWorkChain<{runs[-1].pk}>: not submitted again' in still.output
    for node in runs[-2:]:
        node.set_exit_status(300)  # a stored node's state is an attribute the engine may still change
        node.set_process_state(ProcessState.FINISHED)
    failed_before = _invoke(
        tmp_path, '-p', aiida_profile.name, '--model', 'lj', '-X', python_code.full_label, '--protocol', 'balanced'
    )
    assert failed_before.exit_code == 0, failed_before.output
    assert len(runs) == 9
    assert running.exit_code == 0


def test_an_md_beyond_the_budget_is_refused_unless_accepted(aiida_profile, python_code, tmp_path, submitted):
    """A CIF of 1372 atoms (a 25 Å cell): its MD cell is beyond max_md_atoms; --accept-cost runs it anyway."""
    from ase.build import bulk
    from pymatgen.io.ase import AseAtomsAdaptor

    AseAtomsAdaptor.get_structure(bulk('Cu', 'fcc', a=3.6, cubic=True) * (7, 7, 7)).to(
        filename=str(tmp_path / 'cu.cif')
    )
    base = [tmp_path, '-p', aiida_profile.name, '--model', 'lj', '-X', python_code.full_label]
    refused = _invoke(*base)
    assert refused.exit_code != 0
    assert '1372 atoms is more than max_md_atoms = 1000' in refused.output
    assert '--accept-cost' in refused.output
    assert 'Traceback' not in refused.output
    assert submitted == []
    accepted = _invoke(*base, '--accept-cost')
    assert accepted.exit_code == 0, accepted.output
    assert len(submitted) == 1


def test_launch_asks_for_the_test_size_preset_from_the_environment_and_checks_the_code(
    aiida_profile, python_code, generate_structure, tmp_path, submitted, monkeypatch
):
    """``SUPERIONIC_TEST_SIZE=1`` is read by the command (never by the builder), which asks for the preset."""
    _write_cifs(tmp_path, generate_structure, names=('cu3au',))
    base = ['-p', aiida_profile.name, '--model', 'lj', '-X', python_code.full_label]
    monkeypatch.setenv('SUPERIONIC_TEST_SIZE', '1')
    result = _invoke(tmp_path, *base)
    assert result.exit_code == 0, result.output
    (builder,) = submitted
    assert builder.protocol.value == 'fast+test-size'
    assert builder.md.steps.value == 100
    result = _invoke(
        tmp_path, '--engine', 'vasp', '-p', aiida_profile.name, '-X', python_code.full_label,
        '--potential-family', 'PBE.54', '--potential', 'Cu=Cu', '--potential', 'Au=Au',
    )  # fmt: skip
    assert result.exit_code != 0
    assert f'--code {python_code.full_label} runs `superionic.ase` jobs, not those of --engine vasp' in result.output
