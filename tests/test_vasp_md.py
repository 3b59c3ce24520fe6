"""The VASP engine of an MD segment, with aiida-vasp's ``mock-vasp`` and a fake VASP that integrates with EMT.

How VASP is mocked. ``mock-vasp`` (aiida-vasp's console script) is the code's executable: it parses INCAR,
POSCAR and KPOINTS, hashes them, and looks the hash up in a registry (``MOCK_VASP_REG_BASE``, a fresh tmp
folder per test); a miss runs ``MOCK_VASP_VASP_CMD``, here a script calling ``vasp_files.run_fake_vasp``,
which reads the INCAR and the POSCAR (velocity block included), runs the MD with ASE's EMT (velocity Verlet)
and writes XDATCAR, vasprun.xml, OUTCAR and CONTCAR as VASP lays them out. Faults (a run killed after some
step, a missing CONTCAR, NELM reached, a crash) are played from a JSON list, one per run. The POTCAR family
holds fake POTCARs (headers only), which neither mock reads.
"""

from __future__ import annotations

import io
import itertools
import json
import pathlib
import re
import shutil
import sys
import uuid

import numpy as np
import pytest
import vasp_files
from aiida import orm
from aiida.engine import run_get_node
from ase import Atoms

from aiida_superionic.calculations.functions.parse_vasp_md import parse_vasp_md
from aiida_superionic.calculations.functions.stitch_trajectories import stitch_trajectories
from aiida_superionic.calculations.vasp import VaspMdCalculation
from aiida_superionic.readers.vasp import PoscarState, read_poscar
from aiida_superionic.workflows.segment import validate_segment_parameters
from aiida_superionic.workflows.vasp_segment import VaspMdSegmentWorkChain

POTENTIAL_FAMILY = 'superionic-test-fake-pbe'
POTENTIAL_MAPPING = {'Cu': 'Cu', 'Au': 'Au'}

#: A fake POTCAR: the header and PSCTR block that aiida-vasp reads; no potential.
FAKE_POTCAR = """  PAW_PBE {symbol} 01Jan2000
   11.0000000000000
 parameters from PSCTR are:
   VRHFIN ={symbol}: d s
   LEXCH  = PE
   EATOM  =  1000.0000 eV,   73.4979 Ry

   TITEL  = PAW_PBE {symbol} 01Jan2000
   LULTRA =        F    use ultrasoft PP ?
   IUNSCR =        1    unscreen: 0-lin 1-nonlin 2-no
   RPACOR =    2.000    partial core radius
   POMASS =   {mass:.3f}; ZVAL   =   11.000    mass and valenz
   RCORE  =    2.300    outmost cutoff radius
   RWIGS  =    2.200; RWIGS  =    1.200    wigner-seitz radius (au A)
   ENMAX  =  250.000; ENMIN  =  187.500 eV
   LCOR   =        T    correct aug charges
   LPAW   =        T    paw PP
   EAUG   =  500.000
   DEXC   =    0.000
   RMAX   =    2.500    core radius for proj-oper
   RAUG   =    1.300    factor for augmentation sphere
   RDEP   =    2.300    radius for radial grids
   RDEPT  =    2.000    core radius for aug-charge

 END of PSCTR-controll parameters
 End of Dataset
"""

MD_PARAMETERS = {'temperature_K': 600.0, 'timestep_fs': 2.0, 'steps': 8, 'write_interval': 2}
OPTIONS = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 600}


@pytest.fixture
def cu3au():
    """Cu3Au (L1_2) 2×2×1, 16 atoms, the species interleaved as ASE repeats them (POSCAR keeps that order)."""
    atoms = Atoms(
        'AuCu3',
        scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
        cell=np.eye(3) * 3.75,
        pbc=True,
    ).repeat((2, 2, 1))
    atoms.rattle(0.02, seed=3)
    return orm.StructureData(ase=atoms)


@pytest.fixture
def potential_family(tmp_path_factory):
    """The fake POTCAR family (created once per profile)."""
    from aiida_vasp.data.potcar import PotcarData

    if orm.QueryBuilder().append(orm.Group, filters={'label': POTENTIAL_FAMILY}).count():
        return POTENTIAL_FAMILY
    folder = tmp_path_factory.mktemp('potcars')
    for symbol, mass in (('Cu', 63.546), ('Au', 196.967)):
        (folder / symbol).mkdir()
        (folder / symbol / 'POTCAR').write_text(FAKE_POTCAR.format(symbol=symbol, mass=mass))
    PotcarData.upload_potcar_family(str(folder), POTENTIAL_FAMILY, 'fake POTCARs of the tests (headers only)')
    return POTENTIAL_FAMILY


@pytest.fixture
def vasp_code(aiida_code_installed, tmp_path):
    """Return a factory of ``mock-vasp`` codes backed by the fake VASP; ``faults`` are played one per run."""
    fake = tmp_path / 'fake-vasp'
    fake.write_text(
        f'#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(pathlib.Path(__file__).parent)!r})\n'
        'import vasp_files\nsys.exit(vasp_files.run_fake_vasp())\n'
    )
    fake.chmod(0o755)
    mock = shutil.which('mock-vasp') or str(pathlib.Path(sys.executable).parent / 'mock-vasp')

    def factory(faults: list[dict] | None = None, label: str = 'mock-vasp') -> orm.InstalledCode:
        registry = tmp_path / f'registry-{label}'
        registry.mkdir()
        faults_file = tmp_path / f'faults-{label}.json'
        faults_file.write_text(json.dumps(faults or []))
        prepend = (
            f'export MOCK_VASP_REG_BASE={registry}\nexport MOCK_VASP_VASP_CMD={fake}\n'
            f'export {vasp_files.FAKE_VASP_FAULTS}={faults_file}\n'
        )
        # A label of this test only: the fixture loads an existing code of the same label instead of creating it.
        return aiida_code_installed(
            label=f'{label}-{uuid.uuid4().hex[:8]}',
            default_calc_job_plugin='superionic.vasp.md',
            filepath_executable=mock,
            prepend_text=prepend,
        )

    return factory


def _segment_builder(code, structure, family, velocities=None, incar=None, **parameters):
    builder = VaspMdSegmentWorkChain.get_builder()
    builder.structure = structure
    if velocities is not None:
        builder.velocities = velocities
    builder.parameters = orm.Dict({**MD_PARAMETERS, **parameters})
    builder.vasp.code = code
    builder.vasp.potential_family = orm.Str(family)
    builder.vasp.potential_mapping = orm.Dict(POTENTIAL_MAPPING)
    builder.vasp.options = orm.Dict(OPTIONS)
    builder.vasp.incar = orm.Dict(incar if incar is not None else {'encut': 250})
    return builder


def _velocities_node(velocities_A_ps: np.ndarray) -> orm.ArrayData:
    node = orm.ArrayData()
    node.set_array('velocities', np.asarray(velocities_A_ps, dtype=float))
    return node


def _calculations(workchain: orm.WorkChainNode) -> list[orm.CalcJobNode]:
    calculations = [node for node in workchain.called if node.process_label == 'VaspMdCalculation']
    return sorted(calculations, key=lambda node: node.ctime)


def _poscar_of(calculation: orm.CalcJobNode) -> PoscarState:
    """The POSCAR the calculation wrote, read back (velocities in Å/fs)."""
    return read_poscar(io.BytesIO(calculation.base.repository.get_object_content('POSCAR', mode='rb')))


def _largest_displacement(positions_a, positions_b, cell) -> float:
    fractional = (np.asarray(positions_a) - np.asarray(positions_b)) @ np.linalg.inv(cell)
    fractional -= np.round(fractional)
    return float(np.abs(fractional @ cell).max())


# ------------------------------------------------------------------------------------------------ end to end


def test_two_segments_continue_with_positions_and_velocities(vasp_code, cu3au, potential_family):
    """Segment 1 (equilibration + production), then segment 2 from its final structure and velocities.

    Every POSCAR carries the velocities of the state it continues (VASP's Å/fs), and segment 2 is the exact
    continuation of segment 1: the same trajectory as one integration of the fake VASP's NVE dynamics.
    """
    code = vasp_code()
    first, first_node = run_get_node(_segment_builder(code, cu3au, potential_family, equilibration_steps=3))
    assert first_node.is_finished_ok, first_node.exit_message
    equilibration, production = _calculations(first_node)
    assert equilibration.inputs.parameters['nsw'] == 3
    assert 'velocities' not in equilibration.inputs  # VASP draws them
    # The production starts from the equilibration's CONTCAR: positions and velocities.
    contcar = read_poscar(io.BytesIO(equilibration.outputs.retrieved.get_object_content('CONTCAR', mode='rb')))
    np.testing.assert_allclose(_poscar_of(production).velocities, contcar.velocities, rtol=1e-12, atol=0)

    trajectory = first['trajectory']
    np.testing.assert_allclose(trajectory.get_times(), [0.004, 0.008, 0.012, 0.016])
    np.testing.assert_array_equal(trajectory.get_stepids(), [2, 4, 6, 8])
    assert 'velocities' not in trajectory.get_arraynames()
    for name in ('potential_energy_eV', 'kinetic_energy_eV', 'conserved_energy_eV', 'temperature_K'):
        assert np.all(np.isfinite(trajectory.get_array(name))), name
    final_structure, final_velocities = first['final_structure'], first['final_velocities']
    assert [site.kind_name for site in final_structure.sites] == [site.kind_name for site in cu3au.sites]
    cell = np.array(final_structure.cell)
    assert _largest_displacement(final_structure.get_ase().positions, trajectory.get_positions()[-1], cell) < 1e-6

    second, second_node = run_get_node(
        _segment_builder(code, final_structure, potential_family, velocities=final_velocities)
    )
    assert second_node.is_finished_ok, second_node.exit_message
    (calculation,) = _calculations(second_node)
    poscar = _poscar_of(calculation)
    np.testing.assert_allclose(poscar.velocities * 1000.0, final_velocities.get_array('velocities'), rtol=1e-13)
    assert _largest_displacement(poscar.positions, final_structure.get_ase().positions, cell) < 1e-8

    # Segment 2 is the exact continuation: integrate 8 steps from segment 1's final state here.
    expected = vasp_files.emt_velocity_verlet(
        final_structure.get_ase().get_chemical_symbols(),
        final_structure.get_ase().positions,
        cell,
        final_velocities.get_array('velocities') / 1000.0,
        8,
        2.0,
    )
    frames = second['trajectory'].get_positions()
    for frame, step in zip(frames, (2, 4, 6, 8), strict=True):
        assert _largest_displacement(frame, expected['positions'][step - 1], cell) < 1e-6
    np.testing.assert_allclose(
        second['trajectory'].get_array('potential_energy_eV'), expected['potential'][[1, 3, 5, 7]], atol=2e-8
    )

    # The lead's stitcher joins the two segments with one time axis.
    joined = stitch_trajectories(segment_00=first['trajectory'], segment_01=second['trajectory'])['trajectory']
    np.testing.assert_allclose(joined.get_times(), 0.004 * np.arange(1, 9))


def test_wall_time_continuation_end_to_end(vasp_code, cu3au, potential_family):
    """VASP killed after step 5 of 8 (frames every 2 steps): the segment continues from CONTCAR and is unchanged."""
    symbols = cu3au.get_ase().get_chemical_symbols()
    start_velocities = vasp_files.maxwell_boltzmann_A_fs(symbols, 600.0, seed=11)
    builder = _segment_builder(
        vasp_code([{'stop_after': 5}]), cu3au, potential_family, velocities=_velocities_node(start_velocities * 1000)
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message

    killed, continuation = _calculations(node)
    assert killed.exit_status == VaspMdCalculation.exit_codes.ERROR_DID_NOT_FINISH.status
    incar = continuation.inputs.parameters.get_dict()
    # From step 5, between two frames: NBLOCK 1 so that steps 6 and 8 are written; 3 steps remain.
    assert (incar['nsw'], incar['nblock'], incar['kblock']) == (3, 1, 3)
    contcar = read_poscar(io.BytesIO(killed.outputs.retrieved.get_object_content('CONTCAR', mode='rb')))
    np.testing.assert_allclose(_poscar_of(continuation).velocities, contcar.velocities, rtol=1e-12, atol=0)

    trajectory = results['trajectory']
    np.testing.assert_allclose(trajectory.get_times(), [0.004, 0.008, 0.012, 0.016])
    np.testing.assert_array_equal(trajectory.get_stepids(), [2, 4, 6, 8])
    expected = vasp_files.emt_velocity_verlet(symbols, cu3au.get_ase().positions, cu3au.cell, start_velocities, 8, 2.0)
    cell = np.array(cu3au.cell)
    for frame, step in zip(trajectory.get_positions(), (2, 4, 6, 8), strict=True):
        assert _largest_displacement(frame, expected['positions'][step - 1], cell) < 1e-6
    np.testing.assert_allclose(
        trajectory.get_array('potential_energy_eV'), expected['potential'][[1, 3, 5, 7]], atol=2e-8
    )
    np.testing.assert_allclose(
        results['final_velocities'].get_array('velocities'), expected['velocities'][-1] * 1000.0, rtol=1e-6, atol=1e-9
    )
    report = '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))
    assert 'continuing the production from step 5' in report


def test_md_tags_in_the_incar_are_refused(vasp_code, cu3au, potential_family):
    with pytest.raises(ValueError, match=r'`vasp.incar` must not set NSW, POTIM: the workchain sets them'):
        _segment_builder(vasp_code(), cu3au, potential_family, incar={'ENCUT': 250, 'POTIM': 1.0, 'nsw': 5})


@pytest.mark.parametrize(
    ('parameters', 'message'),
    [
        ({'steps': 9}, r'`parameters.steps` \(9\) must be a multiple of `write_interval` \(2\)'),
        ({'timestep_fs': -1.0}, r'`parameters.timestep_fs` must be a positive number'),
        ({'ensemble': 'npt'}, r"unknown `parameters` \['ensemble'\]"),
    ],
)
def test_bad_parameters_are_refused(parameters, message):
    assert re.search(message, validate_segment_parameters(orm.Dict({**MD_PARAMETERS, **parameters}), None))


# ------------------------------------------------------------------------------------------------ handlers


@pytest.fixture
def segment_process(vasp_code, cu3au, potential_family):
    """Return a factory: a ``VaspMdSegmentWorkChain`` instantiated (not run) and ready to launch its production."""
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    def factory(**parameters):
        builder = _segment_builder(vasp_code(), cu3au, potential_family, **parameters)
        process = instantiate_process(get_manager().get_runner(), builder)
        process.setup()
        process.prepare_production()
        return process

    return factory


@pytest.fixture
def fake_calculation(aiida_localhost, tmp_path, monkeypatch):
    """Return a factory of finished ``VaspMdCalculation`` nodes for the next inputs of a segment process.

    Their ``retrieved`` folder holds what the fake VASP writes for those inputs and the ``fault``; the node
    gets ``exit_status``, as aiida-vasp's parser would set it.
    """
    from aiida.common.links import LinkType
    from plumpy import ProcessState

    def factory(process, exit_status: int, fault: dict | None = None) -> orm.CalcJobNode:
        inputs = process.ctx.inputs
        folder = tmp_path / f'calculation-{len(list(tmp_path.iterdir()))}'
        folder.mkdir()
        (folder / 'INCAR').write_text(''.join(f'{key.upper()} = {value}\n' for key, value in inputs.parameters.items()))
        structure = inputs.structure
        names = [site.kind_name for site in structure.sites]
        species = [name for index, name in enumerate(names) if index == 0 or names[index - 1] != name]
        counts = [len(list(group)) for _, group in itertools.groupby(names)]
        cell = np.array(structure.cell)
        fractional = structure.get_ase().positions @ np.linalg.inv(cell)
        velocities = inputs.velocities.get_array('velocities') / 1000.0 if 'velocities' in inputs else None
        (folder / 'POSCAR').write_text(vasp_files.contcar_text(species, counts, cell, fractional, velocities))
        faults = tmp_path / 'faults.json'
        faults.write_text(json.dumps([fault or {}]))
        monkeypatch.setenv(vasp_files.FAKE_VASP_FAULTS, str(faults))
        vasp_files.run_fake_vasp(folder)

        node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:superionic.vasp.md')
        node.set_process_label('VaspMdCalculation')
        node.base.links.add_incoming(structure, LinkType.INPUT_CALC, 'structure')
        node.store()
        retrieved = orm.FolderData()
        for name in ('XDATCAR', 'vasprun.xml', 'OUTCAR', 'CONTCAR'):
            if (folder / name).is_file():
                retrieved.base.repository.put_object_from_file(str(folder / name), name)
        retrieved.base.links.add_incoming(node, LinkType.CREATE, 'retrieved')
        retrieved.store()
        node.set_process_state(ProcessState.FINISHED)
        node.set_exit_status(exit_status)
        process.ctx.children = [*process.ctx.get('children', []), node]
        process.ctx.iteration = len(process.ctx.children)
        return node

    return factory


DID_NOT_FINISH = VaspMdCalculation.exit_codes.ERROR_DID_NOT_FINISH.status
NOT_CONVERGED = VaspMdCalculation.exit_codes.ERROR_ELECTRONIC_NOT_CONVERGED.status
MISSING_OBJECT = VaspMdCalculation.exit_codes.ERROR_CRITICAL_MISSING_OBJECT.status


@pytest.mark.parametrize(
    ('stop_after', 'nblock', 'frames'),
    [(5, 1, [2, 4]), (4, 2, [2, 4]), (1, 1, [])],
)
def test_handle_unfinished_md_continues_from_contcar(segment_process, fake_calculation, stop_after, nblock, frames):
    """Killed after ``stop_after`` of 8 steps: continue from CONTCAR's state for the rest, frames kept."""
    process = segment_process()
    node = fake_calculation(process, DID_NOT_FINISH, {'stop_after': stop_after})
    assert process._parse(node) is None
    report = process.handle_unfinished_md(node)
    assert report.do_break
    assert report.exit_code.status == 0

    state = process.ctx.state
    assert state['step'] == stop_after
    incar = process.ctx.inputs.parameters
    assert (incar['nsw'], incar['nblock']) == (8 - stop_after, nblock)
    assert process.ctx.inputs.structure.uuid == state['structure'].uuid
    contcar = read_poscar(io.BytesIO(node.outputs.retrieved.get_object_content('CONTCAR', mode='rb')))
    np.testing.assert_allclose(process.ctx.inputs.velocities.get_array('velocities'), contcar.velocities * 1000.0)
    assert process.ctx.piece['first_step'] == stop_after
    assert process.ctx.piece['reference_step'] == (frames[-1] if frames else 0)
    kept = [step for piece in process.ctx.trajectories for step in piece.get_stepids()]
    assert kept == frames


def test_handle_unfinished_md_refuses_to_lose_the_velocities(segment_process, fake_calculation):
    """No CONTCAR after a kill: the last frame has no velocities; stop (ERROR_VELOCITIES_LOST), frames kept."""
    process = segment_process()
    node = fake_calculation(process, DID_NOT_FINISH, {'stop_after': 5, 'no_contcar': True})
    process._parse(node)
    assert process.ctx.state['step'] == 4  # the last XDATCAR frame
    assert process.ctx.state['velocities'] is None
    report = process.handle_unfinished_md(node)
    assert report.exit_code.status == VaspMdSegmentWorkChain.exit_codes.ERROR_VELOCITIES_LOST.status
    assert 'stopped at step 4 of 8 of the production' in report.exit_code.message
    assert process.outputs['trajectory'].get_stepids().tolist() == [2, 4]  # attached before failing


def test_handle_electronic_convergence_strengthens_and_continues(segment_process, fake_calculation):
    """NELM reached at step 3 of a run killed after step 5: ALGO Fast → Normal, NELM 60 → 120, continue."""
    process = segment_process()
    node = fake_calculation(process, DID_NOT_FINISH, {'stop_after': 5, 'nelm_at': [3]})
    process._parse(node)
    assert process.ctx.summary['electronic_not_converged_steps'] == [3]
    report = process.handle_electronic_convergence(node)
    assert report.do_break
    assert report.exit_code.status == 0
    incar = process.ctx.inputs.parameters
    assert (incar['algo'], incar['nelm'], incar['nsw']) == ('Normal', 120, 3)


def test_handle_electronic_convergence_after_the_last_step(segment_process, fake_calculation):
    """NELM at the last step (exit 701), all steps done: keep everything, finish, stronger settings recorded."""
    process = segment_process()
    node = fake_calculation(process, NOT_CONVERGED, {'nelm_at': [8]})
    process._parse(node)
    report = process.handle_electronic_convergence(node)
    assert report.do_break
    assert report.exit_code.status == 0
    assert process.ctx.is_finished
    assert process.ctx.electronic['algo'] == 'Normal'
    assert process.ctx.state['step'] == 8


def test_handle_electronic_convergence_fails_when_nothing_is_left(segment_process, fake_calculation):
    process = segment_process(incar={'algo': 'All', 'nelm': 200})
    node = fake_calculation(process, DID_NOT_FINISH, {'stop_after': 5, 'nelm_at': [2, 3]})
    process._parse(node)
    report = process.handle_electronic_convergence(node)
    assert report.exit_code.status == VaspMdSegmentWorkChain.exit_codes.ERROR_ELECTRONIC_CONVERGENCE.status


def test_handle_vasp_crashed_retries_once_then_fails(segment_process, fake_calculation):
    """Nothing written (exit 352): the same calculation once more; the second time, ERROR_VASP_CRASHED."""
    process = segment_process()
    first_inputs = dict(process.ctx.inputs)
    node = fake_calculation(process, MISSING_OBJECT, {'crash': True})
    process._parse(node)
    report = process.handle_vasp_crashed(node)
    assert report.do_break
    assert report.exit_code.status == 0
    assert dict(process.ctx.inputs) == first_inputs

    node = fake_calculation(process, MISSING_OBJECT, {'crash': True})
    process._parse(node)
    report = process.handle_vasp_crashed(node)
    assert report.exit_code.status == VaspMdSegmentWorkChain.exit_codes.ERROR_VASP_CRASHED.status


def test_handle_complete_despite_failure_keeps_a_finished_run(segment_process, fake_calculation):
    """aiida-vasp fails a run that did all its steps (here 703, a VASP warning): its frames and state are kept."""
    process = segment_process()
    node = fake_calculation(process, VaspMdCalculation.exit_codes.ERROR_VASP_CRITICAL_ERROR.status)
    process._parse(node)
    assert process.handle_unfinished_md(node) is None
    report = process.handle_complete_despite_failure(node)
    assert report.do_break
    assert report.exit_code.status == 0
    assert process.ctx.is_finished
    assert [piece.get_stepids().tolist() for piece in process.ctx.trajectories] == [[2, 4, 6, 8]]


def test_handlers_in_order_for_a_successful_calculation(segment_process, fake_calculation):
    """A calculation that did all its steps triggers no handler: the stage is done."""
    process = segment_process()
    fake_calculation(process, 0)
    assert process.inspect_process() is None
    assert process.ctx.is_finished
    assert process.ctx.state['step'] == 8
    assert process.ctx.state['velocities'] is not None


# ------------------------------------------------------------------------------------------------ parsing


def test_parse_vasp_md_keeps_complete_frames_of_a_killed_run(tmp_path, monkeypatch, cu3au):
    """Killed after step 5 (NBLOCK 2): frames 2 and 4 with their energies, CONTCAR's state at step 5 (found in
    vasprun.xml), times from the reference; as a continuation piece the frames are thinned to the stage's grid.
    """
    symbols = cu3au.get_ase().get_chemical_symbols()
    velocities = vasp_files.maxwell_boltzmann_A_fs(symbols, 600.0, seed=5)
    cell = np.array(cu3au.cell)
    folder = tmp_path / 'run'
    folder.mkdir()
    (folder / 'INCAR').write_text('NSW = 8\nPOTIM = 2.0\nNBLOCK = 1\nTEBEG = 600\nNELM = 60\n')
    names = [site.kind_name for site in cu3au.sites]
    counts = [len(list(group)) for _, group in itertools.groupby(names)]
    species = [name for name, _ in itertools.groupby(names)]
    fractional = cu3au.get_ase().positions @ np.linalg.inv(cell)
    (folder / 'POSCAR').write_text(vasp_files.contcar_text(species, counts, cell, fractional, velocities))
    (tmp_path / 'faults.json').write_text(json.dumps([{'stop_after': 5}]))
    monkeypatch.setenv(vasp_files.FAKE_VASP_FAULTS, str(tmp_path / 'faults.json'))
    vasp_files.run_fake_vasp(folder)
    expected = vasp_files.emt_velocity_verlet(symbols, cu3au.get_ase().positions, cell, velocities, 5, 2.0)
    # A thermostat with energy, as VASP's Nosé terms would give (the fake VASP's NVE has none).
    nose = {'nosepot': 0.01 * np.arange(1, 6), 'nosekinetic': 0.002 * np.arange(1, 6)}
    total = expected['potential'] + expected['kinetic'] + nose['nosepot'] + nose['nosekinetic']
    energies = {'e_fr_energy': expected['potential'], 'kinetic': expected['kinetic'], 'total': total, **nose}
    fractional_steps = (expected['positions'] @ np.linalg.inv(cell)) % 1.0
    md = {'nsw': 8, 'potim': 2.0, 'nblock': 1, 'tebeg': 600.0, 'finished': False}
    vasprun = vasp_files.md_vasprun_text(fractional_steps, cell, species, counts, energies, [5] * 5, **md)
    (folder / 'vasprun.xml').write_text(vasprun)
    retrieved = orm.FolderData(tree=str(folder))

    # As a continuation that started at stage step 3, recorded every 2 steps, the last frame being step 2, after
    # pieces whose thermostats ended with 0.5 eV.
    parameters = {'timestep_fs': 2.0, 'nsw': 8, 'nblock': 1, 'first_step': 3, 'record_interval': 2}
    parameters.update({'reference_step': 2, 'conserved_energy_offset_eV': 0.5})
    results = parse_vasp_md(retrieved, orm.Dict(parameters), cu3au)
    summary = results['summary'].get_dict()
    assert summary['final_step'] == 8
    assert summary['completed_steps'] == 5
    assert not summary['finished']
    assert summary['final_state_from'] == 'CONTCAR'
    trajectory = results['trajectory']
    np.testing.assert_array_equal(trajectory.get_stepids(), [2, 4, 6])  # stage steps 4, 6, 8 from step 2
    np.testing.assert_allclose(trajectory.get_times(), [0.004, 0.008, 0.012])
    np.testing.assert_allclose(trajectory.get_array('potential_energy_eV'), expected['potential'][[0, 2, 4]], atol=2e-8)
    np.testing.assert_allclose(trajectory.get_array('conserved_energy_eV'), total[[0, 2, 4]] + 0.5, atol=2e-8)
    assert summary['nose_energy_eV'] == pytest.approx(0.06)  # at step 5: what the next piece's offset adds
    np.testing.assert_allclose(results['final_velocities'].get_array('velocities'), expected['velocities'][4] * 1e3)
    assert any('ends inside <calculation> 6' in warning for warning in summary['warnings'])


def test_read_poscar_velocities():
    """CONTCAR's blank-line block is Cartesian Å/fs; ``Direct`` velocities are per time step; a cut block is none."""
    cell = np.diag([4.0, 5.0, 6.0])
    fractional = np.array([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]])
    velocities = np.array([[1e-3, -2e-3, 3e-3], [-1e-3, 2e-3, -3e-3]])
    text = vasp_files.contcar_text(['Li', 'O'], [1, 1], cell, fractional, velocities)
    state = read_poscar(io.BytesIO(text.encode()))
    assert state.symbols == ['Li', 'O']
    np.testing.assert_allclose(state.positions, fractional @ cell)
    np.testing.assert_allclose(state.velocities, velocities)
    direct = text.split('\n  \n')[0] + '\nDirect\n' + ''.join(f'{vx} {vy} {vz}\n' for vx, vy, vz in velocities)
    np.testing.assert_allclose(
        read_poscar(io.BytesIO(direct.encode()), timestep_fs=2.0).velocities, velocities @ cell / 2
    )
    cut = read_poscar(io.BytesIO(text[: text.index('  \n') + 20].encode()))
    assert cut.velocities is None
    assert 'incomplete' in cut.warnings[0]


def test_nose_mass_gives_the_period_asked_for():
    """Q = g k_B T τ²: the Nosé oscillation 2π √(Q / 2 g k_B T) has the period π √2 τ whatever the size."""
    from aiida_superionic.engines.vasp import BOLTZMANN_EV_K, EV_FS2_IN_AMU_A2, nose_mass, nose_period_fs, nose_smass

    for atoms in (16, 416):
        mass = nose_mass(atoms, 600.0, 100.0) / EV_FS2_IN_AMU_A2  # eV fs²
        period = 2 * np.pi * np.sqrt(mass / (2 * (3 * atoms - 3) * BOLTZMANN_EV_K * 600.0))
        assert period == pytest.approx(nose_period_fs(100.0), rel=1e-12)
    assert nose_smass(16, 600.0, 100.0, np.eye(3) * 7.5) == pytest.approx(nose_mass(16, 600.0, 100.0) / 7.5**2)


# ------------------------------------------------------------------------------------------------ MdWorkChain


def _md_builder(code, structure, family, steps: int, segment_steps: int):
    from aiida_superionic.workflows.md import MdWorkChain

    builder = MdWorkChain.get_builder()
    builder.structure = structure
    builder.temperature = orm.Float(600.0)
    builder.timestep = orm.Float(2.0)
    builder.steps = orm.Int(steps)
    builder.segment_steps = orm.Int(segment_steps)
    builder.write_interval = orm.Int(2)
    builder.engine = orm.Str('vasp')
    builder.vasp = {
        'code': code,
        'potential_family': orm.Str(family),
        'potential_mapping': orm.Dict(POTENTIAL_MAPPING),
        'options': orm.Dict(OPTIONS),
        'incar': orm.Dict({'encut': 250}),
    }
    return builder


def test_a_vasp_run_extended_with_restart_from_keeps_the_velocities(vasp_code, cu3au, potential_family):
    """XDATCAR has no velocities; the reused segment carries CONTCAR's, so the extension continues it exactly."""
    from aiida_superionic.workflows.md import MdWorkChain

    first_results, first = run_get_node(_md_builder(vasp_code(), cu3au, potential_family, steps=20, segment_steps=20))
    segment = next(child for child in first.called if child.process_label == 'VaspMdSegmentWorkChain')
    builder = MdWorkChain.get_builder_restart(first, steps=orm.Int(40))
    _, extended = run_get_node(builder)
    new = [child for child in extended.called if child.process_label == 'VaspMdSegmentWorkChain']
    assert len(new) == 1
    np.testing.assert_allclose(
        new[0].inputs.velocities.get_array('velocities'),
        segment.outputs.final_velocities.get_array('velocities'),
        atol=1e-12,
    )
    assert extended.inputs.restart_from['segment_00'].uuid == first_results['segments']['segment_00'].uuid


def test_md_workchain_runs_vasp_segments_behind_the_same_inputs(vasp_code, cu3au, potential_family):
    """``engine='vasp'``: two VASP segments continued with velocities, stitched, analysed like the ASE engine's."""
    from aiida_superionic.workflows.md import MdWorkChain

    builder = _md_builder(vasp_code(), cu3au, potential_family, steps=40, segment_steps=20)
    results, node = run_get_node(builder)
    # 80 fs of Cu3Au at 600 K: no hop, so D is undefined (417); the machinery is what is checked here.
    assert node.exit_status == MdWorkChain.exit_codes.ERROR_NO_HOPS.status, node.exit_message
    segments = sorted(
        (child for child in node.called if child.process_label == 'VaspMdSegmentWorkChain'), key=lambda n: n.ctime
    )
    assert len(segments) == 2
    first, second = segments
    np.testing.assert_allclose(
        second.inputs.velocities.get_array('velocities'),
        first.outputs.final_velocities.get_array('velocities'),
        atol=1e-12,
    )
    np.testing.assert_allclose(np.diff(results['trajectory'].get_times()), 0.004, atol=1e-12)
    assert results['trajectory'].numsteps == 20  # 40 steps, a frame every 2, none at t = 0 (VASP writes none)
    descriptors = results['descriptors'].get_dict()
    assert descriptors['mobile_species'] == 'Cu'
    # XDATCAR has no velocities: the VDOS is attempted from finite differences of the positions (this fake VASP's
    # 80 fs are too noisy for one: the reason is stated and D is still there).
    assert 'finite differences' in descriptors.get('velocity_source', descriptors.get('vibrational_analysis_error'))
    # The conserved energy cannot be joined across VASP segments (no start frame): the guard reads each segment's.
    assert 'energy_drift_meV_atom_ps' not in descriptors
    assert set(results['segments']) == {'segment_00', 'segment_01'}
