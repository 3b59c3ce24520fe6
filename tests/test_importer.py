"""Importing MD runs another code wrote: files → import_trajectory → trajectory → descriptors, without duplicates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from aiida import orm
from ase import Atoms, units
from ase.io import read, write
from click.testing import CliRunner

from aiida_superionic.cli import cmd_root
from aiida_superionic.readers.trajectory import TrajectoryFileError
from aiida_superionic.workflows.importer import ImportFailedError, import_md_run

FRAME_INTERVAL_fs = 50.0


def random_walk_frames(frames: int = 200, walkers: int = 16, seed: int = 5, box: float = 10.0) -> list[Atoms]:
    """Li random walkers among four fixed Ge atoms in a cubic box, wrapped, with momenta (ASE units)."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.0, 0.15, (frames, walkers, 3)), axis=0) + rng.uniform(0, box, (walkers, 3))
    framework = rng.uniform(0, box, (4, 3))
    images = []
    for frame in range(frames):
        atoms = Atoms(
            ['Li'] * walkers + ['Ge'] * 4,
            positions=np.vstack([walk[frame] % box, framework]),
            cell=np.eye(3) * box,
            pbc=True,
        )
        atoms.set_velocities(rng.normal(0.0, 0.05, (walkers + 4, 3)))
        images.append(atoms)
    return images


@pytest.fixture
def extxyz_run(tmp_path):
    path = tmp_path / 'walk.extxyz'
    write(path, random_walk_frames(), format='extxyz')
    return path


def _count(node_class) -> int:
    return orm.QueryBuilder().append(node_class).count()


def test_an_extxyz_run_is_imported_with_its_arrays(aiida_profile_clean, extxyz_run):
    result = import_md_run(extxyz_run, frame_interval_fs=FRAME_INTERVAL_fs, temperature_K=600.0)
    images = read(extxyz_run, index=':')
    trajectory = result.trajectory
    np.testing.assert_allclose(trajectory.get_positions(), [atoms.positions for atoms in images], rtol=0, atol=1e-12)
    expected_velocities = np.array([atoms.get_velocities() for atoms in images]) * 1000.0 * units.fs  # Å/ps
    np.testing.assert_allclose(trajectory.get_velocities(), expected_velocities, rtol=1e-12)
    np.testing.assert_allclose(np.diff(trajectory.get_times()), FRAME_INTERVAL_fs / 1000.0, rtol=1e-12)
    assert trajectory.base.attributes.get('positions_wrapped') is True
    assert result.parameters['frames'] == len(images)
    assert result.parameters['source_files'] == ['walk.extxyz']

    descriptors = result.descriptors.get_dict()
    assert descriptors['mobile_species'] == 'Li'
    assert descriptors['diffusion_coefficient_cm2_s'] > 0
    # 50 fs between frames cannot resolve a VDOS: said, and D is still there.
    assert 'Nyquist' in descriptors['vibrational_analysis_error']


def test_an_ase_traj_file_with_two_segments_is_one_run(aiida_profile_clean, tmp_path):
    from ase.io.trajectory import Trajectory

    images = random_walk_frames(frames=60)
    paths = []
    for index, part in enumerate((images[:25], images[25:])):
        paths.append(tmp_path / f'part{index}.traj')
        with Trajectory(paths[-1], 'w') as writer:
            for atoms in part:
                writer.write(atoms)
    result = import_md_run(paths, frame_interval_fs=FRAME_INTERVAL_fs, temperature_K=600.0)
    np.testing.assert_allclose(result.trajectory.get_positions(), [atoms.positions for atoms in images], atol=1e-12)
    np.testing.assert_allclose(result.trajectory.get_times(), np.arange(60) * FRAME_INTERVAL_fs / 1000.0, rtol=1e-12)
    assert result.parameters['segment_frames'] == [25, 35]
    assert result.trajectory.get_velocities().shape == (60, 20, 3)


def test_the_provenance_runs_from_the_file_to_the_descriptors(aiida_profile_clean, extxyz_run):
    result = import_md_run(extxyz_run, frame_interval_fs=FRAME_INTERVAL_fs, temperature_K=600.0)
    source = result.import_calculation.inputs.segment_00
    assert isinstance(source, orm.SinglefileData)
    assert source.get_content('rb') == extxyz_run.read_bytes()
    assert result.trajectory.creator.pk == result.import_calculation.pk
    assert result.descriptors.creator.pk == result.descriptors_calculation.pk
    assert result.descriptors_calculation.inputs.trajectory.pk == result.trajectory.pk

    from aiida.tools.visualization import Graph

    graph = Graph()
    graph.recurse_descendants(source, depth=None)
    edges = {(edge.tail_node.pk, edge.head_node.pk) for edge in _graph_edges(graph)}
    chain = [source, result.import_calculation, result.trajectory, result.descriptors_calculation, result.descriptors]
    for tail, head in itertools.pairwise(chain):
        assert (tail.pk, head.pk) in edges


def _graph_edges(graph):
    from aiida.common.links import LinkType

    incoming = []
    for node in [orm.load_node(pk) for pk in graph.nodes]:
        for link in node.base.links.get_incoming(link_type=(LinkType.INPUT_CALC, LinkType.CREATE)).all():
            if link.node.pk in graph.nodes:
                incoming.append(_Edge(link.node, node))
    return incoming


class _Edge:
    def __init__(self, tail, head):
        self.tail_node, self.head_node = tail, head


def test_reimporting_the_same_file_reuses_the_nodes(aiida_profile_clean, extxyz_run, tmp_path):
    first = import_md_run(extxyz_run, frame_interval_fs=FRAME_INTERVAL_fs, temperature_K=600.0)
    counts = {cls: _count(cls) for cls in (orm.Node, orm.CalcFunctionNode, orm.SinglefileData)}
    copy = tmp_path / 'copy'
    copy.mkdir()
    (copy / extxyz_run.name).write_bytes(extxyz_run.read_bytes())  # same content elsewhere: still the same run
    second = import_md_run(copy / extxyz_run.name, frame_interval_fs=FRAME_INTERVAL_fs, temperature_K=600.0)
    assert second.reused
    assert not first.reused
    assert second.import_calculation.pk == first.import_calculation.pk
    assert second.descriptors.pk == first.descriptors.pk
    assert {cls: _count(cls) for cls in counts} == counts

    # Another analysis of the same file reuses the trajectory and adds one descriptors calculation.
    third = import_md_run(extxyz_run, frame_interval_fs=FRAME_INTERVAL_fs, temperature_K=600.0, equilibration_ps=1.0)
    assert third.trajectory.pk == first.trajectory.pk
    assert third.descriptors.pk != first.descriptors.pk
    assert third.import_reused
    assert not third.descriptors_reused
    assert _count(orm.CalcFunctionNode) == counts[orm.CalcFunctionNode] + 1


def test_a_missing_frame_interval_is_asked_for_before_anything_is_stored(aiida_profile_clean, extxyz_run):
    with pytest.raises(TrajectoryFileError, match='time between frames'):
        import_md_run(extxyz_run, temperature_K=600.0)
    assert _count(orm.Node) == 0


def test_a_missing_temperature_is_asked_for_and_the_trajectory_kept(aiida_profile_clean, extxyz_run):
    with pytest.raises(TrajectoryFileError, match='temperature') as error:
        import_md_run(extxyz_run, frame_interval_fs=FRAME_INTERVAL_fs)
    assert 'TrajectoryData<' in str(error.value)
    assert _count(orm.TrajectoryData) == 1
    result = import_md_run(extxyz_run, frame_interval_fs=FRAME_INTERVAL_fs, temperature_K=600.0)
    assert _count(orm.TrajectoryData) == 1
    assert result.descriptors['temperature_K'] == 600.0


def test_frames_with_different_atoms_fail_with_a_stored_reason(aiida_profile_clean, tmp_path):
    images = random_walk_frames(frames=20)
    del images[7][0]
    path = tmp_path / 'broken.extxyz'
    write(path, images, format='extxyz')
    with pytest.raises(ImportFailedError, match='frame 7 has 19 atoms') as error:
        import_md_run(path, frame_interval_fs=FRAME_INTERVAL_fs, temperature_K=600.0)
    failed = orm.QueryBuilder().append(orm.CalcFunctionNode).one()[0]
    assert failed.exit_status == 300
    assert f'<{failed.pk}>' in str(error.value)


def test_the_command_prints_the_descriptors_and_the_calculation(aiida_profile_clean, extxyz_run):
    runner = CliRunner()
    arguments = ['import', str(extxyz_run), '--frame-interval-fs', '50', '--temperature', '600']
    result = runner.invoke(cmd_root, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    calculation = (
        orm.QueryBuilder()
        .append(orm.CalcFunctionNode, filters={'attributes.process_label': 'import_trajectory'})
        .one()[0]
    )
    assert f'import_trajectory<{calculation.pk}> (new)' in result.output
    assert 'diffusion_coefficient_cm2_s' in result.output
    assert f'verdi node graph generate {calculation.pk}' in result.output
    again = runner.invoke(cmd_root, arguments, catch_exceptions=False)
    assert f'import_trajectory<{calculation.pk}> (stored before, reused)' in again.output
    other = runner.invoke(cmd_root, [*arguments, '--equilibration-ps', '1'], catch_exceptions=False)
    assert f'import_trajectory<{calculation.pk}> (stored before, reused)' in other.output
    assert 'compute_trajectory_descriptors<' in other.output
    assert '(new): trajectory<' in other.output


def test_the_command_names_a_bad_argument(aiida_profile_clean, extxyz_run):
    result = CliRunner().invoke(cmd_root, ['import', str(extxyz_run), '--temperature', '600'])
    assert result.exit_code != 0
    assert 'time between frames' in result.output


def test_verdi_node_graph_generate_draws_the_chain(aiida_profile_clean, extxyz_run, tmp_path, monkeypatch):
    import shutil

    if shutil.which('dot') is None:
        pytest.skip("graphviz's `dot` is not installed (`make graphviz`); verdi node graph generate needs it")
    from aiida.cmdline.commands.cmd_node import graph_generate

    result = import_md_run(extxyz_run, frame_interval_fs=FRAME_INTERVAL_fs, temperature_K=600.0)
    monkeypatch.chdir(tmp_path)
    output = CliRunner().invoke(
        graph_generate, [str(result.import_calculation.pk), '-f', 'svg'], catch_exceptions=False
    )
    assert output.exit_code == 0, output.output
    drawing = (tmp_path / f'{result.import_calculation.pk}.dot.svg').read_text()
    for label in ('SinglefileData', 'import_trajectory', 'TrajectoryData', 'compute_trajectory_descriptors', 'Dict'):
        assert label in drawing


# VASP run folders -------------------------------------------------------------------------------------------------

SPECIES = ['Li', 'P', 'S']
COUNTS = [12, 2, 8]
CELL_A = np.diag([10.0, 10.5, 11.0])


def incar_text(potim: float = 2.0, nblock: int = 5, tebeg: float = 650.0, **tags) -> str:
    """An INCAR of an NVT run from ``vasp_files.INCAR_MD`` with the MD tags replaced."""
    import re

    from vasp_files import INCAR_MD

    values = {'POTIM': potim, 'NBLOCK': nblock, 'TEBEG': tebeg, 'TEEND': tebeg, **tags}
    text = INCAR_MD
    for tag, value in values.items():
        text, found = re.subn(rf'\b{tag}\s*=\s*[^;!#\n]*', f'{tag} = {value} ', text)
        if not found:
            text += f'{tag} = {value}\n'
    return text


def vasp_run(
    folder,
    frames: int = 120,
    seed: int = 0,
    nblock: int = 5,
    incar: str | None = '',
    cells=CELL_A,
    start=None,
    **options,
):
    """Write a VASP run folder (gzipped XDATCAR + INCAR) and return its fractional coordinates."""
    from vasp_files import random_md_frames, write_xdatcar

    folder.mkdir(parents=True, exist_ok=True)
    fractional = np.round(random_md_frames(frames, COUNTS, seed=seed, step_A=0.2, start=start), 8)
    write_xdatcar(
        folder / 'XDATCAR.gz', fractional, cells, SPECIES, COUNTS, nblock=nblock, compression='gzip', **options
    )
    if incar is not None:
        (folder / 'INCAR').write_text(incar or incar_text(nblock=nblock))
    return fractional


def test_a_vasp_run_folder_is_imported_with_its_md_parameters(aiida_profile_clean, tmp_path):
    fractional = vasp_run(tmp_path / 'run')
    result = import_md_run(tmp_path / 'run')
    trajectory = result.trajectory
    np.testing.assert_allclose(trajectory.get_positions(), fractional @ CELL_A, rtol=0, atol=1e-10)
    assert list(trajectory.symbols) == ['Li'] * 12 + ['P'] * 2 + ['S'] * 8
    np.testing.assert_allclose(trajectory.get_times(), np.arange(1, 121) * 5 * 2.0 / 1000.0, rtol=1e-12)
    parameters = result.parameters.get_dict()
    assert parameters['temperature_K'] == 650.0
    assert (parameters['potim'], parameters['nblock'], parameters['mdalgo']) == (2.0, 5, 2)
    assert parameters['source_files'] == ['XDATCAR.gz', 'INCAR']
    assert sorted(result.import_calculation.inputs.segment_00.list_object_names()) == ['INCAR', 'XDATCAR.gz']
    descriptors = result.descriptors.get_dict()
    assert descriptors['temperature_K'] == 650.0
    assert descriptors['mobile_species'] == 'Li'
    assert descriptors['diffusion_coefficient_cm2_s'] > 0


def test_segments_of_one_run_are_joined_in_order(aiida_profile_clean, tmp_path):
    first = vasp_run(tmp_path / 'run1', frames=60, seed=1)
    second = vasp_run(tmp_path / 'run2', frames=40, seed=2, start=first[-1])  # continues the first
    result = import_md_run([tmp_path / 'run1', tmp_path / 'run2'])
    np.testing.assert_allclose(result.trajectory.get_positions(), np.concatenate([first, second]) @ CELL_A, atol=1e-10)
    times = result.trajectory.get_times()
    np.testing.assert_allclose(np.diff(times), 0.010, rtol=1e-9)  # one frame interval, across the join too
    assert result.parameters['segment_frames'] == [60, 40]
    assert set(result.import_calculation.inputs) == {'settings', 'segment_00', 'segment_01'}

    # The same folders in the other order are no run: the atoms jump where the second segment meets the first.
    with pytest.raises(ImportFailedError, match=r'moves .* of a cell vector between frames 39 and 40'):
        import_md_run([tmp_path / 'run2', tmp_path / 'run1'])


def test_segments_with_other_atoms_are_refused(aiida_profile_clean, tmp_path):
    from vasp_files import random_md_frames, write_xdatcar

    vasp_run(tmp_path / 'run1', frames=30)
    other = tmp_path / 'run2'
    other.mkdir()
    write_xdatcar(other / 'XDATCAR', random_md_frames(30, [11, 2, 8]), CELL_A, SPECIES, [11, 2, 8])
    (other / 'INCAR').write_text(incar_text())
    with pytest.raises(ImportFailedError, match='segment_01 has 21 atoms, Li11P2S8, but segment_00 has 22'):
        import_md_run([tmp_path / 'run1', other])


def test_a_variable_cell_run_keeps_the_cell_of_every_frame(aiida_profile_clean, tmp_path):
    from vasp_files import breathing_cells

    cells = np.round(breathing_cells(80, CELL_A), 6)
    fractional = vasp_run(tmp_path / 'npt', frames=80, cells=cells, incar=incar_text(ISIF=3))
    result = import_md_run(tmp_path / 'npt')
    np.testing.assert_allclose(result.trajectory.get_cells(), cells, rtol=0, atol=1e-12)
    expected = np.einsum('fai,fij->faj', fractional, cells)
    np.testing.assert_allclose(result.trajectory.get_positions(), expected, rtol=0, atol=1e-10)
    assert result.parameters['isif'] == 3


def test_without_incar_the_time_step_is_asked_for(aiida_profile_clean, tmp_path):
    vasp_run(tmp_path / 'run', incar=None)
    with pytest.raises(TrajectoryFileError, match='give the time step explicitly'):
        import_md_run(tmp_path / 'run', temperature_K=650.0)
    assert _count(orm.Node) == 0
    result = import_md_run(tmp_path / 'run', timestep_fs=1.5, nblock=5, temperature_K=650.0)
    np.testing.assert_allclose(np.diff(result.trajectory.get_times()), 5 * 1.5 / 1000.0, rtol=1e-12)
    assert result.parameters['source_files'] == ['XDATCAR.gz']


def test_without_incar_the_outcar_header_gives_the_parameters(aiida_profile_clean, tmp_path):
    from vasp_files import outcar_header_text

    vasp_run(tmp_path / 'run', incar=None)
    (tmp_path / 'run' / 'OUTCAR').write_text(outcar_header_text(potim=1.0, nblock=5, tebeg=700.0, teend=700.0))
    result = import_md_run(tmp_path / 'run')
    assert result.parameters['temperature_K'] == 700.0
    np.testing.assert_allclose(np.diff(result.trajectory.get_times()), 5 * 1.0 / 1000.0, rtol=1e-12)
    assert result.parameters['source_files'] == ['XDATCAR.gz', 'OUTCAR']


def test_a_given_time_step_overrides_potim_with_a_warning(aiida_profile_clean, tmp_path):
    vasp_run(tmp_path / 'run')
    result = import_md_run(tmp_path / 'run', timestep_fs=1.0)
    assert any('POTIM' in warning and '1.0 is used' in warning for warning in result.parameters['warnings'])
    np.testing.assert_allclose(np.diff(result.trajectory.get_times()), 5 * 1.0 / 1000.0, rtol=1e-12)


def test_a_truncated_last_frame_is_dropped_and_reported(aiida_profile_clean, tmp_path):
    import gzip

    vasp_run(tmp_path / 'run', frames=50)
    path = tmp_path / 'run' / 'XDATCAR.gz'
    text = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(text[: len(text) - 100]))  # a job killed while writing the last frame
    result = import_md_run(tmp_path / 'run')
    assert result.parameters['frames'] == 49
    warnings = result.parameters['warnings']
    assert any('49' in warning and 'incomplete' in warning for warning in warnings), warnings
    logs = orm.Log.collection.get_logs_for(result.import_calculation)
    reported = [log.message for log in logs]  # what verdi process report shows
    assert len(reported) == len(warnings)
    assert all(message.endswith(warning) for message, warning in zip(reported, warnings, strict=True))


def test_a_frame_with_missing_atoms_fails_naming_the_frame(aiida_profile_clean, tmp_path):
    vasp_run(tmp_path / 'run', frames=30, incar=incar_text())
    path = tmp_path / 'run' / 'XDATCAR.gz'
    import gzip

    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    marker = [index for index, line in enumerate(lines) if line.startswith('Direct configuration')][10]
    del lines[marker + 3]  # configuration 11 loses one atom
    path.write_bytes(gzip.compress(''.join(lines).encode()))
    with pytest.raises(ImportFailedError, match='exit status 300') as error:
        import_md_run(tmp_path / 'run')
    assert 'XDATCAR' in str(error.value)
    assert 'configuration' in str(error.value)


def test_a_relaxation_is_not_imported_as_md(aiida_profile_clean, tmp_path):
    vasp_run(tmp_path / 'run', incar=incar_text(IBRION=2))
    with pytest.raises(ImportFailedError, match='IBRION = 2'):
        import_md_run(tmp_path / 'run')


def test_vasprun_xml_is_read_when_asked(aiida_profile_clean, tmp_path):
    from vasp_files import random_md_frames, write_vasprun

    folder = tmp_path / 'run'
    vasp_run(folder, frames=30)
    fractional = np.round(random_md_frames(90, COUNTS, seed=4, step_A=0.2), 8)
    write_vasprun(folder / 'vasprun.xml', fractional, CELL_A, SPECIES, COUNTS, potim=1.0, tebeg=650.0)
    result = import_md_run(folder, trajectory_file='vasprun.xml')
    assert result.parameters['frames'] == 90  # vasprun.xml holds every ionic step
    np.testing.assert_allclose(result.trajectory.get_positions(), fractional @ CELL_A, rtol=0, atol=1e-10)
    assert result.parameters['source_files'] == ['vasprun.xml', 'INCAR']


@pytest.mark.realdata
def test_the_real_argyrodite_xdatcar_matches_pymatgen(aiida_profile_clean, realdata, tmp_path):
    """kinisi's Li6PS5Cl VASP XDATCAR (416 atoms, 140 frames, 2 fs x 50): our import equals pymatgen's parse."""
    from pymatgen.io.vasp.outputs import Xdatcar

    source = realdata / 'kinisi_XDATCAR' / 'example_XDATCAR.gz'
    if not source.is_file():
        pytest.skip(f'{source} not found')
    folder = tmp_path / 'argyrodite'
    folder.mkdir()
    (folder / 'XDATCAR.gz').write_bytes(source.read_bytes())
    (folder / 'INCAR').write_text(incar_text(potim=2.0, nblock=50, tebeg=500.0))
    result = import_md_run(folder)
    structures = Xdatcar(str(source)).structures
    np.testing.assert_allclose(
        result.trajectory.get_positions(), [s.cart_coords for s in structures], rtol=0, atol=1e-10
    )
    assert list(result.trajectory.symbols) == [site.specie.symbol for site in structures[0]]
    descriptors = result.descriptors.get_dict()
    assert descriptors['mobile_species'] == 'Li'
    assert descriptors['analysed_frames'] == len(structures)
    assert descriptors['diffusion_coefficient_cm2_s'] > 0
    assert 'Nyquist' in descriptors['vibrational_analysis_error']  # 100 fs between frames
