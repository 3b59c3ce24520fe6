"""Builders of the zero-temperature workchains from protocols: VASP builders are regression-tested (a change to
the inputs they give must be deliberate), and bad protocol names, overrides and engine options are refused."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_superionic.workflows.dielectric import DielectricWorkChain
from aiida_superionic.workflows.elastic import ElasticWorkChain
from aiida_superionic.workflows.phonons import PhononsWorkChain
from aiida_superionic.workflows.vacancy import VacancyWorkChain

WORKCHAINS = {
    'elastic': ElasticWorkChain,
    'phonons': PhononsWorkChain,
    'vacancy': VacancyWorkChain,
    'dielectric': DielectricWorkChain,
}

#: POTCARs of Li3N with the most valence states, as the paper.
LI3N_POTENTIALS = {'Li': 'Li_sv', 'N': 'N'}


@pytest.fixture
def vasp_code(aiida_code_installed):
    return aiida_code_installed(label='vasp', default_calc_job_plugin='vasp.vasp', filepath_executable='/bin/true')


@pytest.mark.parametrize('protocol', ['fast', 'balanced', 'stringent'])
@pytest.mark.parametrize('name', sorted(WORKCHAINS))
def test_vasp_builders(
    aiida_profile, vasp_code, generate_structure, serialize_builder, data_regression, name, protocol
):
    builder = WORKCHAINS[name].get_builder_from_protocol(
        vasp_code,
        generate_structure('li3n', repeat=1, vacancy=False),
        protocol,
        potential_family='PBE.54',
        potential_mapping=LI3N_POTENTIALS,
    )
    data_regression.check(serialize_builder(builder))


def test_electronic_options_reach_the_incar(aiida_profile, vasp_code, generate_structure):
    """D3(BJ), DFT+U in aiida-vasp's POTCAR order and spin polarisation, on top of the stringent protocol."""
    from ase import Atoms

    atoms = Atoms(
        'LiFeO2', scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.25] * 3, [0.75] * 3], cell=[4.2] * 3, pbc=True
    )
    builder = ElasticWorkChain.get_builder_from_protocol(
        vasp_code,
        orm.StructureData(ase=atoms),
        'stringent',
        potential_family='PBE.54',
        potential_mapping={'Li': 'Li_sv', 'Fe': 'Fe_pv', 'O': 'O'},
        dispersion='d3bj',
        hubbard_u={'Fe': ['d', 5.3]},
        spin_polarized=True,
    )
    incar = builder.vasp.incar.get_dict()
    assert incar['encut'] == 750
    assert incar['ivdw'] == 12
    assert incar['ispin'] == 2
    assert 'ldau' not in incar  # made by each task for its own cell's species
    assert builder.vasp.hubbard_u.get_dict() == {'Fe': ['d', 5.3]}
    from aiida_vasp.utils.ldau import get_ldau_keys

    keys = get_ldau_keys(builder.structure, mapping={'Fe': ['d', 5.3]})
    assert keys['ldautype'] == 2
    assert sorted(keys['ldauu']) == [0.0, 0.0, 5.3]  # U on Fe only, in the order of the POTCARs


@pytest.mark.parametrize('name', sorted(WORKCHAINS))
def test_unknown_protocol_and_override_are_refused(name):
    workchain = WORKCHAINS[name]
    with pytest.raises(ValueError, match='unknown protocol'):
        workchain.get_protocol_inputs('fastest')
    with pytest.raises(ValueError, match=r'unknown override `vasp\.incar_tags`'):
        workchain.get_protocol_inputs('fast', overrides={'vasp': {'incar_tags': {}}})
    assert set(workchain.get_available_protocols()) == {'fast', 'balanced', 'stringent'}


def test_engine_options_are_checked(aiida_profile, python_code, vasp_code, emt_model, generate_structure):
    structure = generate_structure('cu3au', repeat=1, vacancy=False)
    with pytest.raises(ValueError, match=r'are VASP options'):
        ElasticWorkChain.get_builder_from_protocol(python_code, structure, dispersion='d3')
    with pytest.raises(ValueError, match='needs `potential_family`'):
        ElasticWorkChain.get_builder_from_protocol(vasp_code, structure)
    with pytest.raises(ValueError, match='unknown dispersion'):
        ElasticWorkChain.get_builder_from_protocol(
            vasp_code, structure, potential_family='PBE', potential_mapping={'Cu': 'Cu'}, dispersion='d4'
        )
    with pytest.raises(ValueError, match='need an electronic-structure code'):
        DielectricWorkChain.get_builder_from_protocol(python_code, structure, model=emt_model)
    # A builder whose engine namespace was never filled is refused at launch, before anything is stored.
    builder = ElasticWorkChain.get_builder()
    builder.structure = structure
    builder.engine = orm.Str('vasp')
    with pytest.raises(ValueError, match='`vasp` inputs namespace is empty'):
        run_get_node(builder)
