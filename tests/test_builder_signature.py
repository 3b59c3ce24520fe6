"""One builder signature on every workchain that has one, aiida-quantumespresso's:
``get_builder_from_protocol(code, structure, protocol=None, overrides=None, options=None, **kwargs)``, the engine
inferred from the code; one protocol mechanism (``get_protocol_filepath``, ``get_available_protocols``,
``get_default_protocol``); and the test-size switch as a named preset that only a caller who asks for it gets."""

from __future__ import annotations

import pytest
import yaml
from aiida import orm

from aiida_superionic.workflows.dielectric import DielectricWorkChain
from aiida_superionic.workflows.elastic import ElasticWorkChain
from aiida_superionic.workflows.md import MdWorkChain
from aiida_superionic.workflows.order import OrderWorkChain
from aiida_superionic.workflows.phonons import PhononsWorkChain
from aiida_superionic.workflows.sse import SseWorkChain
from aiida_superionic.workflows.vacancy import VacancyWorkChain

#: Every workchain with a protocol builder, with the keywords its builder needs beyond the common ones.
WORKCHAINS = {
    SseWorkChain: {},
    MdWorkChain: {'temperature': 700.0},
    ElasticWorkChain: {},
    PhononsWorkChain: {},
    VacancyWorkChain: {},
    OrderWorkChain: {},
    DielectricWorkChain: {},
}

#: The workchains that need an electronic-structure code (refused on ASE).
VASP_ONLY = (DielectricWorkChain,)

VASP = {'potential_family': 'PBE.54', 'potential_mapping': {'Cu': 'Cu_pv', 'Au': 'Au'}}


@pytest.fixture
def vasp_code(aiida_code_installed):
    return aiida_code_installed(label='vasp', default_calc_job_plugin='vasp.vasp', filepath_executable='/bin/true')


def ids(workchain) -> str:
    return workchain.__name__


@pytest.mark.parametrize('workchain', [w for w in WORKCHAINS if w not in VASP_ONLY], ids=ids)
def test_every_builder_takes_the_aiida_quantumespresso_call_on_ase(
    aiida_profile, python_code, emt_model, generate_structure, workchain
):
    structure = generate_structure('cu3au', repeat=1, vacancy=False)
    builder = workchain.get_builder_from_protocol(
        python_code, structure, 'fast', model=emt_model, **WORKCHAINS[workchain]
    )
    assert builder.engine.value == 'ase'
    assert builder.ase.code.pk == python_code.pk
    workchain.spec().inputs.validate(builder._inputs(prune=True))


def test_the_aiida_quantumespresso_habit_as_typed(aiida_profile, python_code, generate_structure):
    """``SseWorkChain.get_builder_from_protocol(code, structure, 'fast')``: nothing else, CHGNet by default."""
    pytest.importorskip('chgnet')
    structure = generate_structure('li3n', repeat=1, vacancy=False)
    builder = SseWorkChain.get_builder_from_protocol(python_code, structure, 'fast')
    assert (builder.engine.value, builder.ase.model['name'], builder.protocol.value) == ('ase', 'chgnet', 'fast')


@pytest.mark.parametrize('workchain', list(WORKCHAINS), ids=ids)
def test_every_builder_takes_the_aiida_quantumespresso_call_on_vasp(
    aiida_profile, vasp_code, generate_structure, workchain
):
    structure = generate_structure('cu3au', repeat=1, vacancy=False)
    builder = workchain.get_builder_from_protocol(vasp_code, structure, 'fast', **VASP, **WORKCHAINS[workchain])
    assert builder.engine.value == 'vasp'
    assert builder.vasp.code.pk == vasp_code.pk


@pytest.mark.parametrize('workchain', list(WORKCHAINS), ids=ids)
def test_the_protocols_are_those_of_the_yaml_file(workchain):
    with open(workchain.get_protocol_filepath(), encoding='utf-8') as handle:
        data = yaml.safe_load(handle)
    assert set(workchain.get_available_protocols()) == set(data['protocols'])
    assert workchain.get_default_protocol() == data['default_protocol']
    for name, values in workchain.get_available_protocols().items():
        assert values['description'] == data['protocols'][name]['description']


def test_one_default_protocol_across_the_api():
    """The Python API has one default; the demo and ``launch`` say theirs (``fast``) in their help."""
    assert {workchain.get_default_protocol() for workchain in WORKCHAINS} == {'balanced'}


@pytest.mark.parametrize('workchain', list(WORKCHAINS), ids=ids)
def test_a_code_of_another_plugin_is_refused_in_one_line(aiida_code_installed, generate_structure, workchain):
    code = aiida_code_installed(
        label='adder', default_calc_job_plugin='core.arithmetic.add', filepath_executable='/bin/true'
    )
    structure = generate_structure('cu3au', repeat=1, vacancy=False)
    with pytest.raises(
        ValueError, match=r'runs `core\.arithmetic\.add` jobs: give a code of `superionic\.ase`'
    ) as error:
        workchain.get_builder_from_protocol(code, structure, 'fast', **WORKCHAINS[workchain])
    assert '\n' not in str(error.value)


def test_the_md_temperature_is_a_required_keyword(python_code, emt_model, generate_structure):
    structure = generate_structure('cu3au')
    with pytest.raises(ValueError, match=r'`temperature` is missing: give the MD temperature in K'):
        MdWorkChain.get_builder_from_protocol(python_code, structure, 'fast', model=emt_model)
    with pytest.raises(ValueError, match=r'the temperature is a keyword, .*temperature=600\.0'):
        MdWorkChain.get_builder_from_protocol(python_code, structure, 600.0, model=emt_model)
    builder = MdWorkChain.get_builder_from_protocol(python_code, structure, temperature=600.0, model=emt_model)
    assert builder.temperature.value == 600.0
    assert builder.steps.value == MdWorkChain.get_protocol_inputs()['steps']  # the default protocol


def test_options_reach_every_calculation(aiida_profile, python_code, emt_model, generate_structure):
    structure = generate_structure('cu3au', repeat=1, vacancy=False)
    options = {'max_wallclock_seconds': 600, 'queue_name': 'short'}
    builder = SseWorkChain.get_builder_from_protocol(python_code, structure, 'fast', options=options, model=emt_model)
    for namespace in (builder, builder.elastic, builder.phonons, builder.vacancy, builder.md):
        merged = namespace['ase']['metadata']['options']
        assert (merged['max_wallclock_seconds'], merged['queue_name']) == (600, 'short')
        assert merged['resources']['num_machines'] == 1  # the protocol's options kept


def test_the_test_size_preset_is_shown_and_only_given_when_asked(
    aiida_profile, monkeypatch, python_code, emt_model, generate_structure
):
    assert set(SseWorkChain.get_available_presets()) == {'test_size'}
    preset = SseWorkChain.get_preset_overrides('test_size')
    assert preset['overrides']['md']['steps'] == 100
    assert preset['at_most'] == {'md_supercell_min_length': 7.0}
    structure = generate_structure('cu3au', repeat=1, vacancy=False)

    def build(**kwargs):
        return SseWorkChain.get_builder_from_protocol(python_code, structure, 'balanced', model=emt_model, **kwargs)

    production = build()
    monkeypatch.setenv('SUPERIONIC_TEST_SIZE', '1')  # read by the entry points only, never by a builder
    same = build()
    assert same.protocol.value == production.protocol.value == 'balanced'
    assert same.md.steps.value == production.md.steps.value == 25000
    assert same.md_supercell_matrix.get_list() == production.md_supercell_matrix.get_list()
    cut = build(preset='test_size')
    assert cut.protocol.value == 'balanced+test-size'
    assert (cut.md.steps.value, cut.md.equilibration_steps.value, cut.md.max_steps.value) == (100, 0, 100)
    assert cut.md_supercell_matrix.get_list() == [2, 2, 2]  # 7 Å of a 3.75 Å cell
    with pytest.raises(ValueError, match=r"unknown preset 'tiny': choose one of \['test_size'\]"):
        build(preset='tiny')
    assert isinstance(cut.md.steps, orm.Int)
