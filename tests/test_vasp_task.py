"""The VASP engine of the zero-temperature tasks, through aiida-vasp's ``mock-vasp`` and a fake VASP on EMT.

VASP is mocked as in ``test_vasp_md.py`` (whose fixtures are used here): ``mock-vasp`` is the code's executable
and runs ``vasp_files.run_fake_vasp`` on a registry miss. For a task the fake VASP reads the INCAR: a static
run computes EMT's energy, forces and stress for POSCAR and plants bands with a known gap
(``vasp_files.PLANTED_BAND_GAP``); a relaxation relaxes with ASE's BFGS on EMT and writes every ionic step; a
linear response (LEPSILON) writes planted Born charges and dielectric tensors, a recording the project makes,
not physics. vasprun.xml, OUTCAR and CONTCAR are written in VASP's layouts and read by aiida-vasp's own parser.
"""

# The fixtures of ``test_vasp_md.py`` are imported by name, which pytest needs and ruff takes for redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import re

import numpy as np
import pytest
import vasp_files
from aiida import orm
from aiida.engine import run_get_node
from ase.calculators.emt import EMT
from ase.units import GPa

# The fixtures of the MD engine's tests: the Cu3Au structure, the fake POTCAR family, the mock-vasp codes.
from test_vasp_md import FAKE_POTCAR, OPTIONS, POTENTIAL_MAPPING, cu3au, potential_family, vasp_code  # noqa: F401

from aiida_superionic.engines.vasp import tasks
from aiida_superionic.workflows.task import task_parameters
from aiida_superionic.workflows.vasp_task import VaspTaskWorkChain

#: A spacing that gives the 7.5 × 7.5 × 3.75 Å cell of ``cu3au`` a 2 × 2 × 4 mesh, with Γ and (0, 0, ½) on it.
SPACING = 0.5


def _builder(code, structure, family, task: str, incar=None, charge=None, **parameters):
    builder = VaspTaskWorkChain.get_builder()
    builder.structure = structure
    builder.parameters = orm.Dict(task_parameters(task, **parameters))
    builder.vasp.code = code
    builder.vasp.potential_family = orm.Str(family)
    builder.vasp.potential_mapping = orm.Dict(POTENTIAL_MAPPING)
    builder.vasp.options = orm.Dict(OPTIONS)
    builder.vasp.incar = orm.Dict(incar if incar is not None else {'encut': 250})
    builder.vasp.kpoints_spacing = orm.Float(SPACING)
    if charge is not None:
        builder.vasp.charge = charge
    return builder


def _calculations(workchain: orm.WorkChainNode) -> list[orm.CalcJobNode]:
    return sorted((node for node in workchain.called if node.process_label == 'VaspCalculation'), key=lambda n: n.ctime)


def _report(node) -> str:
    return '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))


def _emt(structure: orm.StructureData):
    atoms = structure.get_ase()
    atoms.calc = EMT()
    return atoms


# ------------------------------------------------------------------------------------------------ pure choices


def test_kpoint_mesh_includes_two_pi():
    """N_i = ceil(|b_i| / spacing) with |b| = 2π/a: a 7.5 × 7.5 × 3.75 Å cell at 0.5 Å⁻¹ → 2 × 2 × 4."""
    assert tasks.kpoint_mesh(np.diag([7.5, 7.5, 3.75]), 0.5) == [2, 2, 4]
    assert tasks.kpoint_mesh(np.diag([4.0, 4.0, 40.0]), 0.2) == [8, 8, 1]
    hexagonal = [[3.0, 0.0, 0.0], [-1.5, 1.5 * np.sqrt(3), 0.0], [0.0, 0.0, 5.0]]
    assert tasks.kpoint_mesh(hexagonal, 0.3) == [9, 9, 5]  # |b₁| = |b₂| = 4π/(3√3) for a = 3 Å


def test_task_incar_per_task():
    electronic = tasks.task_electronic_incar('relax', {'ENCUT': 520, 'algo': 'Fast'})
    assert (electronic['encut'], electronic['algo'], electronic['lreal']) == (520, 'Fast', False)
    static = tasks.task_incar('static', electronic)
    assert (static['ibrion'], static['nsw'], static['isif']) == (-1, 0, 2)
    relax = tasks.task_incar('relax', electronic, relax_cell=True, fmax_eV_A=0.005, max_steps=80)
    assert (relax['ibrion'], relax['nsw'], relax['isif'], relax['ediffg']) == (2, 80, 3, -0.005)
    dfpt = tasks.task_incar('dfpt', tasks.task_electronic_incar('dfpt', None), nelect=175.0)
    assert (dfpt['ibrion'], dfpt['nsw'], dfpt['lepsilon'], dfpt['ediff'], dfpt['nelect']) == (8, 1, True, 1e-8, 175.0)


def test_stress_sign_and_energy_choice():
    """VASP's kbar, positive in compression → GPa positive in tension; E(σ→0), repaired as pymatgen does."""
    np.testing.assert_allclose(tasks.stress_gpa(np.diag([10.0, 20.0, -30.0])), np.diag([-1.0, -2.0, 3.0]))
    energies = {'energy_extrapolated': -10.0, 'energy_free': -10.002}
    assert tasks.total_energy(energies) == (-10.0, 'energy(sigma→0)')
    # VASP's bug: the ionic step's e_0_energy is wrong; F + (E0 − F) of the last electronic step is right.
    broken = {**energies, 'energy_extrapolated': -10.002}
    broken.update({'energy_extrapolated_electronic': -9.999, 'energy_free_electronic': -10.001})
    assert tasks.total_energy(broken)[0] == pytest.approx(-10.0)


def test_band_gap_is_fundamental_and_zero_for_a_metal():
    eigenvalues = np.array([[-1.0, 0.0, 2.0], [-1.2, -0.3, 1.5]])  # two k-points, three bands
    occupations = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    gap = tasks.band_gap(eigenvalues, occupations)
    assert (gap['band_gap'], gap['direct_gap'], gap['vbm_kpoint'], gap['cbm_kpoint']) == (1.5, 1.8, 0, 1)
    assert not gap['is_metal']
    metal = tasks.band_gap(eigenvalues, np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))  # band 2 crosses E_F
    assert metal['is_metal']
    assert metal['band_gap'] == 0.0
    assert tasks.band_gap(eigenvalues, np.ones_like(eigenvalues)) is None  # no empty band: no gap


def test_zval_and_electron_count():
    potcar = FAKE_POTCAR.format(symbol='Cu', mass=63.546)
    assert tasks.zval_from_potcar(potcar) == 11.0
    assert tasks.zval_from_potcar(' PAW_PBE Li_sv\n   3.00000000000000\n') == 3.0
    with pytest.raises(ValueError, match='second line'):
        tasks.zval_from_potcar(potcar.replace('11.0000000000000', '12.0000000000000'))
    assert tasks.electron_count([11.0] * 16, charge=1) == 175.0


# ------------------------------------------------------------------------------------------------ end to end


def test_static_energy_forces_stress_and_band_gap(vasp_code, cu3au, potential_family):
    """E, forces and stress are EMT's (stress in GPa with ASE's sign); the gap is the planted indirect one."""
    results, node = run_get_node(_builder(vasp_code(), cu3au, potential_family, 'static'))
    assert node.is_finished_ok, node.exit_message
    (calculation,) = _calculations(node)
    incar = calculation.inputs.parameters.get_dict()
    assert (incar['ibrion'], incar['nsw'], incar['isif'], incar['prec']) == (-1, 0, 2, 'Accurate')
    assert 'nelect' not in incar
    assert calculation.inputs.kpoints.get_kpoints_mesh()[0] == [2, 2, 4]

    atoms = _emt(cu3au)
    assert results['energy'].value == pytest.approx(atoms.get_potential_energy(), abs=2e-8)
    np.testing.assert_allclose(results['forces'].get_array('forces'), atoms.get_forces(), atol=1e-7)
    stress = results['stress'].get_array('stress')
    np.testing.assert_allclose(stress, atoms.get_stress(voigt=False) / GPa, atol=1e-6)
    assert np.trace(stress) > 0  # a = 3.75 Å is above EMT's 3.71: the cell is in tension
    assert results['structure'].uuid == cu3au.uuid

    assert results['band_gap'].value == pytest.approx(vasp_files.PLANTED_BAND_GAP)
    parameters = results['output_parameters'].get_dict()
    assert parameters['direct_gap_eV'] == pytest.approx(
        vasp_files.PLANTED_BAND_GAP + 2 * vasp_files.PLANTED_VALENCE_WIDTH
    )
    assert not parameters['is_metal']
    assert parameters['energy_free_eV'] == pytest.approx(results['energy'].value - vasp_files.PLANTED_ENTROPY_EV)
    assert parameters['kpoints_mesh'] == [2, 2, 4]
    assert (parameters['engine'], parameters['task'], parameters['jobs']) == ('vasp', 'static', 1)
    outputs_call = next(child for child in node.called if child.process_label == 'vasp_task_outputs')
    assert results['energy'].creator.uuid == outputs_call.uuid  # provenance: the calcfunction made it
    assert 'band gap 1.234 eV' in _report(node)


def test_dfpt_nac_parameters_in_input_site_order(vasp_code, cu3au, potential_family):
    """The planted Born charges (different at every site) and ε∞ (not ε_ion) come out in the input's order."""
    results, node = run_get_node(_builder(vasp_code(), cu3au, potential_family, 'dfpt'))
    assert node.is_finished_ok, node.exit_message
    incar = _calculations(node)[0].inputs.parameters.get_dict()
    assert (incar['ibrion'], incar['nsw'], incar['lepsilon']) == (8, 1, True)
    nac = results['nac_parameters']
    symbols = [site.kind_name for site in cu3au.sites]
    fractional = cu3au.get_ase().get_scaled_positions(wrap=False)
    np.testing.assert_allclose(
        nac.get_array('born_charges'), vasp_files.planted_born_charges(symbols, fractional), atol=1e-7
    )
    np.testing.assert_allclose(nac.get_array('dielectric'), vasp_files.PLANTED_EPSILON)
    np.testing.assert_allclose(results['output_parameters']['epsilon_ion'], vasp_files.PLANTED_EPSILON_ION)
    assert results['energy'].value == pytest.approx(_emt(cu3au).get_potential_energy(), abs=2e-8)
    assert results['structure'].uuid == cu3au.uuid
    assert 'band_gap' not in results


def test_relax_stopped_continues_from_contcar_and_converges(vasp_code, cu3au, potential_family):
    """Killed after 2 ionic steps: the next calculation starts from the last structure and converges."""
    builder = _builder(vasp_code([{'stop_after': 2}]), cu3au, potential_family, 'relax', fmax_eV_A=0.02)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    killed, continuation = _calculations(node)
    assert killed.exit_status == VaspTaskWorkChain._process_class.exit_codes.ERROR_DID_NOT_FINISH.status
    incar = continuation.inputs.parameters.get_dict()
    assert (incar['ibrion'], incar['isif'], incar['nsw'], incar['ediffg']) == (2, 2, 500, -0.02)
    np.testing.assert_allclose(
        continuation.inputs.structure.get_ase().positions, killed.outputs.structure.get_ase().positions
    )
    assert not np.allclose(continuation.inputs.structure.get_ase().positions, cu3au.get_ase().positions)

    relaxed = results['structure']
    assert [site.kind_name for site in relaxed.sites] == [site.kind_name for site in cu3au.sites]
    atoms = _emt(relaxed)
    assert np.abs(atoms.get_forces()).max() < 0.02
    np.testing.assert_allclose(results['forces'].get_array('forces'), atoms.get_forces(), atol=1e-6)
    assert results['energy'].value == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
    assert results['energy'].value < _emt(cu3au).get_potential_energy()
    assert results['output_parameters']['jobs'] == 2
    assert 'continuing from its last structure' in _report(node)


def test_cell_relaxation_is_repeated_from_its_final_cell(vasp_code, potential_family):
    """ISIF = 3 shrinks Cu3Au from 3.75 Å towards EMT's 3.71 Å (−3 % in volume): a second calculation from the
    final cell (the plane-wave basis of that cell), which hardly changes it, and the stress is relaxed."""
    from ase import Atoms

    fractional = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    atoms = Atoms('AuCu3', scaled_positions=fractional, cell=np.eye(3) * 3.75, pbc=True)
    structure = orm.StructureData(ase=atoms)
    builder = _builder(vasp_code(), structure, potential_family, 'relax', relax_cell=True, fmax_eV_A=0.005)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    first, second = _calculations(node)
    assert first.inputs.parameters['isif'] == 3
    assert first.outputs.structure.get_cell_volume() / structure.get_cell_volume() < 0.98
    assert second.inputs.structure.get_cell_volume() == pytest.approx(first.outputs.structure.get_cell_volume())
    assert results['structure'].get_cell_volume() == pytest.approx(second.inputs.structure.get_cell_volume(), rel=0.01)
    assert np.abs(results['stress'].get_array('stress')).max() < 0.2  # GPa
    assert 'relaxing once more from the final cell' in _report(node)


def test_outputs_without_empty_bands_have_no_band_gap():
    """All states occupied (too few bands): no ``band_gap`` output, and ``output_parameters`` says why."""
    from aiida_superionic.calculations.functions.vasp_task_outputs import vasp_task_outputs

    misc = {
        'total_energies': {'energy_extrapolated': -3.0, 'energy_free': -3.001},
        'forces': [[0.0, 0.0, 0.1], [0.0, 0.0, -0.1]],
        'stress': np.diag([10.0, 10.0, 10.0]).tolist(),
    }
    bands = orm.BandsData()
    kpoints = orm.KpointsData()
    kpoints.set_kpoints([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
    bands.set_kpointsdata(kpoints)
    bands.set_bands(np.array([[-2.0, -1.0], [-1.5, -0.5]]), occupations=np.ones((2, 2)))
    outputs = vasp_task_outputs(orm.Dict(misc), orm.Dict({'task': 'static'}), bands=bands)
    assert 'band_gap' not in outputs
    assert 'NBANDS' in outputs['output_parameters']['band_gap_missing']
    np.testing.assert_allclose(outputs['stress'].get_array('stress'), -np.eye(3))  # 10 kbar of compression
    assert outputs['output_parameters']['pressure_GPa'] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------ inputs


def test_task_tags_in_the_incar_are_refused(vasp_code, cu3au, potential_family):
    with pytest.raises(ValueError, match=r'`vasp.incar` must not set EDIFFG, IBRION, NELECT: the workchain sets them'):
        _builder(
            vasp_code(),
            cu3au,
            potential_family,
            'static',
            incar={'ENCUT': 250, 'ibrion': 2, 'EDIFFG': -0.1, 'nelect': 3},
        )


def test_kpoints_and_spacing_together_are_refused(vasp_code, cu3au, potential_family):
    builder = _builder(vasp_code(), cu3au, potential_family, 'static')
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh([1, 1, 1])
    builder.vasp.kpoints = kpoints
    with pytest.raises(ValueError, match=r'either `vasp.kpoints` or `vasp.kpoints_spacing`'):
        run_get_node(builder)


# ------------------------------------------------------------------------------------------------ handlers


@pytest.fixture
def task_process(vasp_code, cu3au, potential_family):
    """Return a factory: a ``VaspTaskWorkChain`` instantiated (not run), set up for its first calculation."""
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    made = []

    def factory(task: str = 'static', charge=None, **parameters):
        made.append(task)
        code = vasp_code(label=f'mock-vasp-{len(made)}')
        builder = _builder(code, cu3au, potential_family, task, charge=charge, **parameters)
        process = instantiate_process(get_manager().get_runner(), builder)
        assert process.setup() is None
        return process

    return factory


def test_a_charged_cell_sets_nelect_from_the_potcars(task_process):
    """NELECT = Σ ZVAL − q: 16 atoms × ZVAL 11 (the fake POTCARs' line 2 and ZVAL) − (+1) = 175."""
    process = task_process('static', charge=orm.Int(1))
    assert process.ctx.inputs.parameters['nelect'] == 175.0
    negative = task_process('dfpt', charge=orm.Float(-0.5))
    assert negative.ctx.inputs.parameters['nelect'] == 176.5
    assert 'nelect' not in task_process('static').ctx.inputs.parameters


@pytest.fixture
def finished_calculation(aiida_localhost, cu3au):
    """Return a factory of finished ``VaspCalculation`` nodes planted as the next child of a task process.

    ``misc`` is what aiida-vasp's parser would write (``run_status``, ``forces``, ``total_energies``);
    ``structure`` an output structure (aiida-vasp's, element-named kinds) when given.
    """
    from aiida.common.links import LinkType
    from plumpy import ProcessState

    def factory(process, exit_status: int, *, misc: dict | None = None, structure=None, inputs_structure=None):
        node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:vasp.vasp')
        node.set_process_label('VaspCalculation')
        node.base.links.add_incoming(inputs_structure or process.ctx.structure, LinkType.INPUT_CALC, 'structure')
        node.base.links.add_incoming(orm.Dict(process.ctx.inputs.parameters).store(), LinkType.INPUT_CALC, 'parameters')
        node.store()
        outputs = {}
        if misc is not None:
            outputs['misc'] = orm.Dict(misc)
        if structure is not None:
            outputs['structure'] = structure
        for label, output in outputs.items():
            output.base.links.add_incoming(node, LinkType.CREATE, label)
            output.store()
        node.set_process_state(ProcessState.FINISHED)
        node.set_exit_status(exit_status)
        if exit_status:
            node.set_exit_message(VaspTaskWorkChain._process_class.spec().exit_codes(exit_status).message)
        process.ctx.children = [*process.ctx.get('children', []), node]
        process.ctx.iteration = len(process.ctx.children)
        return node

    return factory


EXIT = VaspTaskWorkChain._process_class.exit_codes
MISC = {'run_status': {'finished': True}, 'forces': [[0.0, 0.0, 0.3]], 'total_energies': {'energy_extrapolated': -1.0}}


def _moved(structure: orm.StructureData, scale: float = 1.0, shift: float = 0.01) -> orm.StructureData:
    """aiida-vasp's view of a structure after some steps: kinds named after the elements, atoms moved."""
    atoms = structure.get_ase()
    atoms.set_cell(atoms.cell * scale, scale_atoms=True)
    atoms.positions += shift
    return orm.StructureData(ase=atoms)


def test_crash_is_retried_once_then_engine_failed(task_process, finished_calculation):
    process = task_process('static')
    first = finished_calculation(process, EXIT.ERROR_CRITICAL_MISSING_OBJECT.status)
    report = process.handle_vasp_crashed(first)
    assert report.do_break
    assert report.exit_code.status == 0
    assert process.ctx.crashed
    second = finished_calculation(process, EXIT.ERROR_VASP_DID_NOT_EXECUTE.status)
    report = process.handle_vasp_crashed(second)
    assert report.exit_code.status == VaspTaskWorkChain.exit_codes.ERROR_ENGINE_FAILED.status
    assert report.exit_code.message.startswith('The VASP calculation failed and could not be recovered')
    assert 'twice in a row' in report.exit_code.message


def test_a_static_run_stopped_early_is_a_crash(task_process, finished_calculation):
    process = task_process('static')
    node = finished_calculation(process, EXIT.ERROR_DID_NOT_FINISH.status, misc={'run_status': {'finished': False}})
    assert process.handle_relax_not_converged(node) is None
    assert process.handle_vasp_crashed(node).exit_code.status == 0


def test_electronic_convergence_climbs_then_fails(task_process, finished_calculation):
    process = task_process('relax')
    moved = _moved(process.ctx.structure)
    node = finished_calculation(process, EXIT.ERROR_ELECTRONIC_NOT_CONVERGED.status, misc=MISC, structure=moved)
    report = process.handle_electronic_convergence(node)
    assert report.exit_code.status == 0
    incar = process.ctx.inputs.parameters
    assert (incar['algo'], incar['nelm'], incar['ibrion']) == ('All', 120, 2)
    np.testing.assert_allclose(process.ctx.inputs.structure.get_ase().positions, moved.get_ase().positions)
    process.ctx.electronic.update({'algo': 'All', 'nelm': 200})
    report = process.handle_electronic_convergence(node)
    assert report.exit_code.status == VaspTaskWorkChain.exit_codes.ERROR_ENGINE_FAILED.status
    assert 'ALGO = All' in report.exit_code.message


def test_vasp_error_fails_at_once(task_process, finished_calculation):
    process = task_process('static')
    node = finished_calculation(process, EXIT.ERROR_VASP_CRITICAL_ERROR.status, misc=MISC)
    report = process.handle_vasp_error(node)
    assert report.exit_code.status == VaspTaskWorkChain.exit_codes.ERROR_ENGINE_FAILED.status


def test_relax_not_converged_continues_then_stops_with_its_structure(task_process, finished_calculation):
    """NSW used up: continue from the last structure (input kinds kept); after max_iterations, 330 with it."""
    process = task_process('relax', max_steps=3)
    moved = _moved(process.ctx.structure)
    node = finished_calculation(process, EXIT.ERROR_IONIC_NOT_CONVERGED.status, misc=MISC, structure=moved)
    report = process.handle_relax_not_converged(node)
    assert report.exit_code.status == 0
    structure = process.ctx.inputs.structure
    assert structure.creator.process_label == 'vasp_relaxed_structure'
    np.testing.assert_allclose(structure.get_ase().positions, moved.get_ase().positions)
    assert process.ctx.inputs.parameters['nsw'] == 3

    process.inputs.max_iterations = orm.Int(2)  # the second calculation is the last one allowed
    last = _moved(structure, shift=0.02)
    node = finished_calculation(process, EXIT.ERROR_IONIC_NOT_CONVERGED.status, misc=MISC, structure=last)
    report = process.handle_relax_not_converged(node)
    assert report.exit_code.status == VaspTaskWorkChain.exit_codes.ERROR_RELAX_NOT_CONVERGED.status
    assert re.search(r'2 calculations of up to 3 ionic steps.*largest force 0.3 eV/Å', report.exit_code.message)
    np.testing.assert_allclose(process.outputs['structure'].get_ase().positions, last.get_ase().positions)


def test_cell_relaxation_reruns_after_a_large_volume_change(task_process, finished_calculation):
    process = task_process('relax', relax_cell=True)
    shrunk = _moved(process.ctx.structure, scale=0.99, shift=0.0)  # −3 % in volume
    node = finished_calculation(process, 0, misc=MISC, structure=shrunk)
    report = process.handle_pulay_stress(node)
    assert report.exit_code.status == 0
    assert process.ctx.inputs.parameters['isif'] == 3
    assert process.ctx.inputs.structure.get_cell_volume() == pytest.approx(shrunk.get_cell_volume())
    same = _moved(process.ctx.inputs.structure, scale=1.001, shift=0.0)
    node = finished_calculation(process, 0, misc=MISC, structure=same, inputs_structure=process.ctx.inputs.structure)
    assert process.handle_pulay_stress(node) is None


def test_linear_response_tightens_a_loose_protocol_ediff():
    """One EDIFF serves every task of a workchain: DFPT and IBRION 6 tighten it, never loosen it."""
    assert tasks.task_electronic_incar('dfpt', {'ediff': 1e-5})['ediff'] == 1e-8
    assert tasks.task_electronic_incar('dfpt', {'ediff': 1e-10})['ediff'] == 1e-10
    assert tasks.task_electronic_incar('elastic', {'ediff': 1e-5})['ediff'] == 1e-7
    assert tasks.task_electronic_incar('static', {'ediff': 1e-5})['ediff'] == 1e-5
