"""The zero-temperature workchains on the VASP engine, end to end through aiida-vasp's ``mock-vasp``.

The fake VASP behind ``mock-vasp`` computes EMT (see ``vasp_files``), so on a structure EMT covers the same
workchain must give the same numbers on either engine: the ASE engine runs EMT directly. DFPT and the bands
are planted recordings (``vasp_files.planted_born_charges``, ``PLANTED_BAND_GAP``).
"""

# The fixtures of ``test_vasp_md.py`` are imported by name, which pytest needs and ruff takes for redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import numpy as np
import pytest
import vasp_files
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from test_vasp_md import POTENTIAL_MAPPING, potential_family, vasp_code  # noqa: F401

from aiida_superionic.descriptors.structural import mean_born_charge
from aiida_superionic.workflows.dielectric import DielectricWorkChain
from aiida_superionic.workflows.phonons import PhononsWorkChain
from aiida_superionic.workflows.vacancy import VacancyWorkChain

pytestmark = pytest.mark.slow

#: A coarse mesh: EMT does not care, and the planted bands need a few k-points.
OVERRIDES = {'vasp': {'kpoints_spacing': 0.5, 'incar': {'encut': 250}}}


@pytest.fixture
def cu3au_cell(generate_structure):
    return generate_structure('cu3au', repeat=1, vacancy=False)


def _vasp_builder(workchain, structure, code, family, overrides=None):
    return workchain.get_builder_from_protocol(
        code,
        structure,
        'fast',
        overrides={**OVERRIDES, **(overrides or {})},
        potential_family=family,
        potential_mapping=POTENTIAL_MAPPING,
    )


def test_dielectric_workchain(aiida_profile, vasp_code, potential_family, cu3au_cell):
    results, node = run_get_node(_vasp_builder(DielectricWorkChain, cu3au_cell, vasp_code(), potential_family))
    assert node.is_finished_ok, node.exit_message
    atoms = cu3au_cell.get_ase()
    born = vasp_files.planted_born_charges(atoms.get_chemical_symbols(), atoms.get_scaled_positions())
    np.testing.assert_allclose(results['nac_parameters'].get_array('born_charges'), born, atol=1e-6)
    values = results['descriptors'].get_dict()
    copper = [index for index, symbol in enumerate(atoms.get_chemical_symbols()) if symbol == 'Cu']
    assert values['born_charge'] == pytest.approx(mean_born_charge(born, copper, len(atoms)), abs=1e-6)
    assert values['dielectric_constant'] == pytest.approx(np.trace(vasp_files.PLANTED_EPSILON) / 3)
    assert values['band_gap_eV'] == pytest.approx(vasp_files.PLANTED_BAND_GAP, abs=1e-6)
    assert {'dfpt', 'static', 'structural_descriptors'} <= {
        link.link_label for link in node.base.links.get_outgoing().all()
    }


def test_phonons_agree_across_engines_and_carry_nac_on_vasp(
    aiida_profile, vasp_code, potential_family, python_code, emt_model, cu3au_cell
):
    """The same Γ modes from VASP (EMT behind mock-vasp) and from the ASE engine (EMT), and NAC data on VASP."""
    builder = _vasp_builder(PhononsWorkChain, cu3au_cell, vasp_code(), potential_family)
    vasp_results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    assert 'nac_parameters' in vasp_results
    assert vasp_results['phonopy_data'].has_nac_parameters()

    builder = PhononsWorkChain.get_builder_from_protocol(
        python_code, cu3au_cell, 'fast', overrides={'displacement': {'ase': 0.01}}, model=emt_model
    )
    ase_results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    np.testing.assert_allclose(
        vasp_results['gamma_frequencies'].get_array('frequencies_THz'),
        ase_results['gamma_frequencies'].get_array('frequencies_THz'),
        atol=0.02,
    )


def test_charged_vacancy_on_vasp(aiida_profile, vasp_code, potential_family, cu3au_cell):
    """q = −1 for a Cu⁺ vacancy: NELECT one above the POTCARs' valence, E_f with the Fermi level at the VBM."""
    builder = _vasp_builder(VacancyWorkChain, cu3au_cell, vasp_code(), potential_family)
    builder.supercell_matrix = orm.List([1, 1, 1])
    builder.charged = orm.Bool(True)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    values = results['descriptors'].get_dict()
    assert values['charge'] == -1
    assert 'Fermi level at the VBM' in values['charge_compensation']

    def child(label):
        return node.base.links.get_outgoing(link_type=LinkType.CALL_WORK, link_label_filter=label).one().node

    calculations = [calc for calc in child('defective').called if calc.process_label == 'VaspCalculation']
    assert calculations[0].inputs.parameters['nelect'] == 34.0  # 3 atoms × ZVAL 11, plus the Cu⁺'s electron
    assert 'nelect' not in child('pristine').called[0].inputs.parameters.get_dict()
    vbm = child('band_edge').outputs.output_parameters['vbm_eV']
    expected = values['defective_energy_eV'] - values['pristine_energy_eV'] + values['chemical_potential_eV'] - vbm
    assert values['vacancy_formation_energy_eV'] == pytest.approx(expected, abs=1e-9)


def test_elastic_strains_on_vasp_share_one_mesh_and_agree_with_ase(
    aiida_profile, vasp_code, potential_family, python_code, emt_model, cu3au_cell
):
    """The finite-strain fit on VASP (EMT behind mock-vasp) equals the ASE engine's, with every strained cell on
    the unstrained cell's k-point mesh."""
    from aiida_superionic.workflows.elastic import ElasticWorkChain

    overrides = {'strains': {'normal_strains': [0.01], 'shear_strains': [0.02]}}
    builder = _vasp_builder(ElasticWorkChain, cu3au_cell, vasp_code(), potential_family, overrides)
    builder.relax_ions = orm.Bool(False)
    vasp_results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    meshes = {
        tuple(calculation.inputs.kpoints.get_kpoints_mesh()[0])
        for task in node.called
        if task.process_label == 'VaspTaskWorkChain'
        for calculation in task.called
        if calculation.process_label == 'VaspCalculation'
    }
    assert len(meshes) == 1

    builder = ElasticWorkChain.get_builder_from_protocol(
        python_code, cu3au_cell, 'fast', overrides=overrides, model=emt_model
    )
    builder.relax_ions = orm.Bool(False)
    ase_results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    np.testing.assert_allclose(
        vasp_results['elastic_tensor'].get_array('elastic_tensor_GPa'),
        ase_results['elastic_tensor'].get_array('elastic_tensor_GPa'),
        atol=0.05,  # the fake VASP writes stresses to 1e-5 kbar and positions to 1e-8
    )
