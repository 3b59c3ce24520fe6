"""VASP's own elastic tensor (IBRION = 6, ISIF = 3): the task ``elastic`` and ``ElasticWorkChain`` with
``method='vasp_ibrion6'``.

VASP is mocked as in ``test_vasp_task.py``: ``mock-vasp`` runs ``vasp_files.run_fake_vasp``, which for IBRION = 6
with ISIF = 3 computes the moduli as VASP does, with EMT (``vasp_files.emt_elastic_moduli_kbar``: the clamped-ion
moduli from strained cells, the ionic relaxation from the internal strain and the force constants) and writes them
in OUTCAR's tables, in kbar and VASP's order XX YY ZZ XY YZ ZX; aiida-vasp's parser (parsevasp) reads them. A
recording the project makes, not VASP's numbers. The expected tensors are converted here by the names of the
components, independently of ``engines.vasp.tasks``.
"""

# The fixtures of ``test_vasp_md.py`` are imported by name, which pytest needs and ruff takes for redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import numpy as np
import pytest
import vasp_files
from aiida import orm
from aiida.engine import run_get_node
from test_vasp_md import OPTIONS, POTENTIAL_MAPPING, cu3au, potential_family, vasp_code  # noqa: F401
from test_vasp_task import MISC, finished_calculation, task_process  # noqa: F401

from aiida_superionic.descriptors.elastic import mechanical_descriptors
from aiida_superionic.engines.vasp import tasks
from aiida_superionic.workflows.elastic import ElasticWorkChain
from aiida_superionic.workflows.task import check_task_parameters, task_parameters
from aiida_superionic.workflows.vasp_task import VaspTaskWorkChain

#: The project's Voigt order and VASP's (OUTCAR's "Direction XX YY ZZ XY YZ ZX"), by name.
VOIGT = ('xx', 'yy', 'zz', 'yz', 'xz', 'xy')
VASP = {'xx': 'XX', 'yy': 'YY', 'zz': 'ZZ', 'yz': 'YZ', 'xz': 'ZX', 'xy': 'XY'}
VASP_ROWS = ('XX', 'YY', 'ZZ', 'XY', 'YZ', 'ZX')


def _by_names(moduli_kbar) -> np.ndarray:
    """VASP's table (kbar) as the project's Voigt C (GPa), component by component by name."""
    moduli = np.asarray(moduli_kbar, dtype=float)
    tensor = np.zeros((6, 6))
    for i, row in enumerate(VOIGT):
        for j, column in enumerate(VOIGT):
            tensor[i, j] = moduli[VASP_ROWS.index(VASP[row]), VASP_ROWS.index(VASP[column])] / 10.0
    return tensor


def _builder(code, structure, family, **parameters):
    builder = VaspTaskWorkChain.get_builder()
    builder.structure = structure
    builder.parameters = orm.Dict(task_parameters('elastic', **parameters))
    builder.vasp.code = code
    builder.vasp.potential_family = orm.Str(family)
    builder.vasp.potential_mapping = orm.Dict(POTENTIAL_MAPPING)
    builder.vasp.options = orm.Dict(OPTIONS)
    builder.vasp.incar = orm.Dict({'encut': 250})
    builder.vasp.kpoints_spacing = orm.Float(0.5)
    return builder


def _emt(structure: orm.StructureData):
    from ase.calculators.emt import EMT

    atoms = structure.get_ase()
    atoms.calc = EMT()
    return atoms


# ------------------------------------------------------------------------------------------------ pure choices


def _ibrion6_builder(vasp_code, structure, potential_family):
    """The fast protocol's ElasticWorkChain with VASP's own elastic tensor (IBRION 6)."""
    return ElasticWorkChain.get_builder_from_protocol(
        vasp_code(),
        structure,
        'fast',
        overrides={'method': 'vasp_ibrion6'},
        potential_family=potential_family,
        potential_mapping=POTENTIAL_MAPPING,
    )


def test_moduli_conversion_order_and_units():
    """kbar × 0.1, VASP's XX YY ZZ XY YZ ZX → xx yy zz yz xz xy on rows and columns, no sign change."""
    moduli = np.arange(36.0).reshape(6, 6) * 10.0 + 1000.0  # every entry different: M[i, j] = 1000 + 60 i + 10 j
    tensor = tasks.elastic_moduli_gpa(moduli)
    np.testing.assert_allclose(tensor, _by_names(moduli))
    assert tensor[0, 0] == pytest.approx(100.0)  # XX, XX
    assert tensor[3, 3] == pytest.approx(0.1 * moduli[4, 4])  # yz, yz is VASP's YZ, YZ
    assert tensor[4, 4] == pytest.approx(0.1 * moduli[5, 5])  # xz, xz is VASP's ZX, ZX
    assert tensor[5, 5] == pytest.approx(0.1 * moduli[3, 3])  # xy, xy is VASP's XY, XY
    assert tensor[5, 3] == pytest.approx(0.1 * moduli[3, 4])  # (xy, yz) is VASP's (XY, YZ)
    assert tensor[1, 4] == pytest.approx(0.1 * moduli[1, 5])  # (yy, xz) is VASP's (YY, ZX)
    assert np.all(tensor > 0)
    with pytest.raises(ValueError, match='6 × 6'):
        tasks.elastic_moduli_gpa(np.ones((3, 3)))

    parsed = {'non-symmetrized': None, 'non_symmetrized': moduli, 'symmetrized': moduli + 1.0, 'total': moduli - 1.0}
    arrays = tasks.elastic_tensors_gpa(parsed)
    np.testing.assert_allclose(arrays['elastic_tensor_GPa'], _by_names(moduli - 1.0))
    np.testing.assert_allclose(arrays['clamped_ion_elastic_tensor_GPa'], _by_names(moduli + 1.0))
    assert tasks.elastic_tensors_gpa({'total': None, 'symmetrized': None}) == {}


def test_elastic_task_incar_and_parameters():
    electronic = tasks.task_electronic_incar('elastic', {'encut': 600})
    incar = tasks.task_incar('elastic', electronic, nfree=4, potim=0.01)
    assert (incar['ibrion'], incar['isif'], incar['nsw'], incar['nfree'], incar['potim']) == (6, 3, 1, 4, 0.01)
    assert tasks.forbidden_task_tags({'POTIM': 0.5, 'nfree': 2, 'encut': 500}) == ['NFREE', 'POTIM']
    settings = tasks.task_parser_settings('elastic', None)['parser_settings']
    assert 'elastic_moduli' in settings['include_quantity']
    assert 'trajectory' in settings['include_node']
    assert settings['check_ionic_convergence'] is False

    assert check_task_parameters(task_parameters('elastic'), 'vasp') is None
    assert 'cannot run the task' in check_task_parameters(task_parameters('elastic'), 'ase')
    assert 'nfree' in check_task_parameters(task_parameters('elastic', nfree=1), 'vasp')
    assert 'potim' in check_task_parameters(task_parameters('elastic', potim=0.2), 'vasp')


# ------------------------------------------------------------------------------------------------ end to end


@pytest.fixture
def anisotropic_cu3au(cu3au):
    """The rattled Cu3Au of the MD tests under a small general strain: no two shear moduli alike."""
    atoms = cu3au.get_ase()
    deformation = np.array([[1.0, 0.02, 0.0], [0.0, 1.01, 0.03], [0.0, 0.0, 0.99]])
    atoms.set_cell(atoms.cell.array @ deformation.T, scale_atoms=True)
    return orm.StructureData(ase=atoms)


def test_elastic_task_gives_the_total_moduli_converted(vasp_code, anisotropic_cu3au, potential_family):
    """The tensor is the fake's "TOTAL" (relaxed ions) by names, the clamped one its "SYMMETRIZED"; energy, forces
    and stress are the undistorted cell's (the first configuration), not the last distortion's."""
    structure = anisotropic_cu3au
    results, node = run_get_node(_builder(vasp_code(), structure, potential_family))
    assert node.is_finished_ok, node.exit_message
    (calculation,) = [child for child in node.called if child.process_label == 'VaspCalculation']
    incar = calculation.inputs.parameters.get_dict()
    assert (incar['ibrion'], incar['isif'], incar['nsw'], incar['nfree'], incar['potim']) == (6, 3, 1, 2, 0.015)

    expected = vasp_files.emt_elastic_moduli_kbar(_emt(structure), potim=0.015, nfree=2)
    tensor = results['elastic_tensor'].get_array('elastic_tensor_GPa')
    clamped = results['elastic_tensor'].get_array('clamped_ion_elastic_tensor_GPa')
    np.testing.assert_allclose(tensor, _by_names(expected['total']), atol=1e-4)
    np.testing.assert_allclose(clamped, _by_names(expected['symmetrized']), atol=1e-4)
    # The test can tell the blocks and the shear columns apart: they differ by far more than its tolerance.
    assert np.abs(tensor - clamped).max() > 0.5
    assert min(abs(tensor[3, 3] - tensor[4, 4]), abs(tensor[4, 4] - tensor[5, 5]), abs(tensor[3, 3] - tensor[5, 5])) > 1
    assert results['elastic_tensor'].base.attributes.get('voigt_order') == 'xx, yy, zz, yz, xz, xy'

    atoms = _emt(structure)
    assert results['energy'].value == pytest.approx(atoms.get_potential_energy(), abs=2e-8)
    np.testing.assert_allclose(results['forces'].get_array('forces'), atoms.get_forces(), atol=1e-7)
    np.testing.assert_allclose(
        results['stress'].get_array('stress'), atoms.get_stress(voigt=False) * 160.2176634, atol=1e-5
    )
    last = calculation.outputs.misc.get_dict()  # aiida-vasp's misc: the last distortion's
    assert not np.allclose(last['forces'], atoms.get_forces(), atol=1e-3)
    assert results['structure'].uuid == structure.uuid
    assert results['output_parameters']['task'] == 'elastic'


def test_elastic_workchain_with_vasp_ibrion6(aiida_profile, vasp_code, cu3au, potential_family):
    """One `elastic` task; the tensor is its output, and the descriptors are `mechanical_descriptors` of it."""
    builder = ElasticWorkChain.get_builder_from_protocol(
        vasp_code(),
        cu3au,
        'fast',
        overrides={'method': 'vasp_ibrion6', 'vasp': {'kpoints_spacing': 0.5, 'incar': {'encut': 250}}},
        potential_family=potential_family,
        potential_mapping=POTENTIAL_MAPPING,
    )
    assert builder.method.value == 'vasp_ibrion6'
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    labels = {link.link_label for link in node.base.links.get_outgoing().all()}
    assert 'elastic' in labels
    assert not {'reference', 'generate_strains', 'fit_elastic_tensor'} & labels

    expected = _by_names(vasp_files.emt_elastic_moduli_kbar(_emt(cu3au))['total'])
    tensor = results['elastic_tensor'].get_array('elastic_tensor_GPa')
    np.testing.assert_allclose(tensor, expected, atol=1e-4)
    direct = mechanical_descriptors(tensor, cu3au.get_pymatgen_structure().density)
    values = results['descriptors'].get_dict()
    for key, value in direct.items():
        assert values[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert values['bulk_modulus_GPa'] == pytest.approx(expected[:3, :3].sum() / 9, rel=0.02)


def test_a_run_without_the_total_moduli_fails_with_340(task_process, finished_calculation):
    """A finished calculation whose OUTCAR had no "TOTAL ELASTIC MODULI": the task says what is missing."""
    process = task_process('elastic')
    assert (process.ctx.inputs.parameters['ibrion'], process.ctx.inputs.parameters['nfree']) == (6, 2)
    misc = {**MISC, 'elastic_moduli': {'total': None, 'symmetrized': np.eye(6).tolist(), 'non-symmetrized': None}}
    finished_calculation(process, 0, misc=misc)
    exit_code = process.results()
    assert exit_code.status == VaspTaskWorkChain.exit_codes.ERROR_OUTPUT_MISSING.status
    assert 'TOTAL ELASTIC MODULI' in exit_code.message


def test_a_failed_elastic_task_is_the_workchains_404(aiida_localhost, vasp_code, cu3au, potential_family):
    """The child role of the VASP path has its own exit code, with the task's failure in the message."""
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager
    from plumpy import ProcessState

    builder = _ibrion6_builder(vasp_code, cu3au, potential_family)
    process = instantiate_process(get_manager().get_runner(), builder)
    assert not process.uses_strains()
    task = orm.WorkChainNode()
    task.set_process_label('VaspTaskWorkChain')
    task.store()
    task.set_process_state(ProcessState.FINISHED)
    task.set_exit_status(340)
    task.set_exit_message('The calculation finished without the relaxed-ion elastic moduli.')
    process.ctx.elastic = task
    exit_code = process.inspect_vasp_elastic()
    assert exit_code.status == ElasticWorkChain.exit_codes.ERROR_VASP_ELASTIC_FAILED.status == 404
    assert 'exit status 340' in exit_code.message
    assert 'relaxed-ion elastic moduli' in exit_code.message


def test_vasp_ibrion6_is_refused_on_the_ase_engine(python_code, emt_model, cu3au):
    with pytest.raises(ValueError, match="needs `engine` 'vasp'"):
        ElasticWorkChain.get_builder_from_protocol(
            python_code, cu3au, 'fast', overrides={'method': 'vasp_ibrion6'}, model=emt_model
        )
    builder = ElasticWorkChain.get_builder_from_protocol(python_code, cu3au, 'fast', model=emt_model)
    assert builder.method.value == 'strains'
    builder.method = orm.Str('vasp_ibrion6')
    with pytest.raises(ValueError, match=r"on the ase engine use `method` 'strains'"):
        run_get_node(builder)
    with pytest.raises(ValueError, match=r"`method` must be one of \['strains', 'vasp_ibrion6'\]"):
        builder.method = orm.Str('ibrion6')


def test_vasp_ibrion6_refuses_clamped_ions(vasp_code, cu3au, potential_family):
    builder = _ibrion6_builder(vasp_code, cu3au, potential_family)
    builder.relax_ions = orm.Bool(False)
    with pytest.raises(ValueError, match='clamped_ion_elastic_tensor_GPa'):
        run_get_node(builder)


def test_the_fake_outcar_tables_read_as_vasps(tmp_path):
    """The fake's tables are read alike by parsevasp (aiida-vasp's reader) and pymatgen's
    ``Outcar.read_elastic_tensor`` (its own regular expression on real OUTCARs): the layout is VASP's."""
    from parsevasp.outcar import Outcar as ParsevaspOutcar
    from pymatgen.io.vasp.outputs import Outcar

    rng = np.random.default_rng(5)
    rigid = rng.uniform(-50.0, 2000.0, (6, 6))
    ionic = -rng.uniform(0.0, 100.0, (6, 6))
    symmetrized = (rigid + rigid.T) / 2
    moduli = {'rigid': rigid, 'symmetrized': symmetrized, 'ionic': ionic, 'total': symmetrized + ionic}
    text = vasp_files.md_outcar_text([5], nsw=1, potim=0.015, nblock=1, tebeg=0.0, smass=0.0, ibrion=6, isif=3)
    path = tmp_path / 'OUTCAR'
    footer = text.index(' General timing')
    path.write_text(text[:footer] + vasp_files.elastic_moduli_text(moduli) + text[footer:])

    parsed = ParsevaspOutcar(file_path=str(path)).get_elastic_moduli()
    np.testing.assert_allclose(parsed['total'], moduli['total'], atol=6e-5)
    np.testing.assert_allclose(parsed['symmetrized'], symmetrized, atol=6e-5)
    np.testing.assert_allclose(parsed['non_symmetrized'], rigid, atol=6e-5)
    outcar = Outcar.__new__(Outcar)  # only the table reader: the fake OUTCAR lacks what the constructor parses
    outcar.filename, outcar.data = str(path), {}
    outcar.read_elastic_tensor()
    np.testing.assert_allclose(outcar.data['elastic_tensor'], moduli['total'], atol=6e-5)
