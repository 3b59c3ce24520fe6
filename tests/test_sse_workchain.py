"""``SseWorkChain`` end to end on the ASE engine with EMT (Cu3Au, Cu mobile), and its builders."""

from __future__ import annotations

import json
import pathlib

import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.manage.caching import enable_caching

from aiida_superionic.common.trust import TRUST_COLUMNS
from aiida_superionic.descriptors.keys import DESCRIPTOR_KEYS, IDENTIFIER_KEYS
from aiida_superionic.workflows.sse import SseWorkChain

#: Short MD for the tests: the rows need descriptors, not a converged D.
SHORT_MD = {'md': {'steps': 100, 'equilibration_steps': 20, 'write_interval': 2}}


@pytest.fixture
def sse_builder(python_code, emt_model, generate_structure):
    def factory(**overrides):
        return SseWorkChain.get_builder_from_protocol(
            python_code,
            generate_structure('cu3au', repeat=1, vacancy=False),
            'fast',
            overrides={**SHORT_MD, 'temperatures': [900.0, 1300.0], **overrides},
            model=emt_model,
        )

    return factory


@pytest.mark.slow
def test_sse_workchain_gives_a_row_per_temperature_and_composition(aiida_profile, sse_builder):
    builder = sse_builder()
    builder.group_label = orm.Str('sse-test')
    results, node = run_get_node(builder)
    assert node.exit_status in (0, SseWorkChain.exit_codes.ERROR_ELASTIC_FAILED.status), node.exit_message
    rows = results['rows']
    assert sorted(rows) == ['stoichiometric_1300K', 'stoichiometric_900K', 'vacancy_1300K', 'vacancy_900K']
    for label, row in rows.items():
        values = row.get_dict()
        assert set(values) == set(DESCRIPTOR_KEYS) | set(IDENTIFIER_KEYS) | set(TRUST_COLUMNS)
        assert values['formula'] == 'Cu3Au'
        assert values['engine'] == 'ase'
        assert values['model'].startswith('emt')
        # The MD was cut by the overrides: the label says so and the row keeps them.
        assert values['protocol'] == 'fast+overrides'
        assert json.loads(values['protocol_overrides'])['md']['steps'] == 100
        assert values['diffusivity_verdict'] in ('diffusive', 'too_few_hops', 'non_linear')
        assert values['mobile_ion_hops'] >= 0
        assert values['md_analysed_ps'] > 0
        assert values['mobile_ions'] == (24 if label.startswith('stoichiometric') else 23)
        assert values['kinetic_temperature_K'] > 0
        assert values['mobile_species'] == 'Cu'
        assert values['stoichiometric'] is label.startswith('stoichiometric')
        assert values['temperature_K'] == float(label.split('_')[1].removesuffix('K'))
        assert values['lowest_optical_frequency_meV'] is not None  # from the phonons
        assert values['vacancy_formation_energy_eV'] is not None  # from the vacancy
        assert values['band_gap_eV'] is None  # the ASE engine: absent, not faked
        assert values['born_charge'] is None
        assert values['diffusion_coefficient_cm2_s'] is not None
    cells = results['md_cells']
    assert len(cells['vacancy'].sites) == len(cells['stoichiometric'].sites) - 1  # 2 % of 24 Cu: one vacancy
    group = orm.load_group('sse-test')
    assert {row.uuid for row in rows.values()} <= {member.uuid for member in group.nodes}

    # Every step is a named child in `verdi process status`.
    labels = {link.link_label for link in node.base.links.get_outgoing().all()}
    expected = {'relax', 'elastic', 'phonons', 'vacancy', 'md_cells', 'md_stoichiometric_900K', 'md_vacancy_1300K'}
    assert expected <= labels
    assert {'row_vacancy_900K', 'structural_stoichiometric', 'structural_vacancy'} <= labels

    # Restart: everything reused, one new temperature computed.
    restart = SseWorkChain.get_builder_restart(node, temperatures=orm.List([900.0, 1300.0, 1100.0]))
    results, again = run_get_node(restart)
    children = {link.link_label for link in again.base.links.get_outgoing().all()}
    assert {'md_stoichiometric_1100K', 'md_vacancy_1100K'} <= children
    assert not {'relax', 'elastic', 'phonons', 'vacancy', 'md_stoichiometric_900K'} & children
    assert len(results['rows']) == 6
    # The restart takes the place of the run it continues in the group: every row once.
    members = {member.uuid for member in orm.load_group('sse-test').nodes}
    assert {again.uuid, *(row.uuid for row in results['rows'].values())} <= members
    assert not {node.uuid, *(row.uuid for row in rows.values())} & members

    # The same material again with AiiDA's caching on: every calculation is taken from the cache, and
    # `clean_workdir` empties the remote folders at the end.
    with enable_caching():
        builder = sse_builder()
        builder.clean_workdir = orm.Bool(True)
        results, cached = run_get_node(builder)
    assert cached.is_finished_ok, cached.exit_message
    calculations = [node for node in cached.called_descendants if isinstance(node, orm.CalcJobNode)]
    assert calculations
    assert all(node.base.caching.is_created_from_cache for node in calculations)
    assert all(node.outputs.remote_folder.is_empty for node in calculations)
    assert results['rows']['vacancy_900K']['diffusion_coefficient_cm2_s'] == pytest.approx(
        node.outputs.rows['vacancy_900K']['diffusion_coefficient_cm2_s']
    )


def test_bad_inputs_are_refused_before_anything_runs(aiida_profile, sse_builder, generate_structure):
    builder = sse_builder()
    builder.structure = generate_structure('au', repeat=1, vacancy=False)
    with pytest.raises(ValueError, match='mobile'):
        run_get_node(builder)
    builder = sse_builder()
    builder.run_dielectric = orm.Bool(True)
    with pytest.raises(ValueError, match='cannot run it'):
        run_get_node(builder)
    with pytest.raises(ValueError, match='must be a non-empty list of positive'):
        sse_builder(temperatures=[-5.0])
    with pytest.raises(ValueError, match='unknown override `temperature`'):
        sse_builder(temperature=300)
    with pytest.raises(ValueError, match=r'unknown override `md\.stepz`'):
        sse_builder(md={'stepz': 1})


@pytest.fixture
def vasp_code(aiida_code_installed):
    return aiida_code_installed(label='vasp', default_calc_job_plugin='vasp.vasp', filepath_executable='/bin/true')


@pytest.mark.parametrize('protocol', ['fast', 'balanced', 'stringent'])
def test_vasp_builder(aiida_profile, vasp_code, generate_structure, serialize_builder, data_regression, protocol):
    """The whole VASP protocol of a material; a change to any child's inputs must be deliberate."""
    builder = SseWorkChain.get_builder_from_protocol(
        vasp_code,
        generate_structure('li3n', repeat=1, vacancy=False),
        protocol,
        code_gamma=vasp_code,
        potential_family='PBE.54',
        potential_mapping={'Li': 'Li_sv', 'N': 'N'},
    )
    assert builder.run_dielectric.value
    data_regression.check(serialize_builder(builder))


def test_ase_builder_skips_what_the_engine_cannot_give(aiida_profile, python_code, generate_structure):
    from aiida_superionic.engines.ase import get_model_node

    lennard_jones = get_model_node('lj')  # a model of every element (EMT has no Li)
    builder = SseWorkChain.get_builder_from_protocol(
        python_code, generate_structure('li3n', repeat=1, vacancy=False), 'stringent', model=lennard_jones
    )
    assert not builder.run_dielectric.value
    assert builder.temperatures.get_list() == [600.0, 800.0, 1000.0, 1200.0]
    assert builder.md_supercell_matrix.get_list() == [4, 4, 4]  # 12 Å from a = 3.65, c = 3.88 Å: 256 atoms
    assert builder.md.target_relative_uncertainty.value == 0.1
    assert builder.elastic.max_force.value == 0.005


@pytest.mark.parametrize('protocol', ['fast', 'balanced', 'stringent'])
def test_the_test_size_switch_cuts_steps_and_supercells_of_every_protocol(monkeypatch, protocol):
    """The ``test_size`` preset: any protocol's MD is 100 steps on a supercell of at most the fast one's 7 Å; without
    it the inputs are the protocol's, whatever ``SUPERIONIC_TEST_SIZE`` says (only the entry points read it)."""
    from aiida_superionic.workflows.sse_builder import preset_from_environment

    normal = SseWorkChain.get_protocol_inputs(protocol)
    cut = SseWorkChain.get_protocol_inputs(protocol, preset='test_size')
    assert (cut['md']['steps'], cut['md']['max_steps'], cut['md']['equilibration_steps']) == (100, 100, 0)
    assert cut['md_supercell_min_length'] == min(normal['md_supercell_min_length'], 7.0)
    assert SseWorkChain.get_preset_overrides('test_size')['children_protocol'] == 'fast'
    monkeypatch.setenv('SUPERIONIC_TEST_SIZE', '1')
    assert SseWorkChain.get_protocol_inputs(protocol) == normal
    assert preset_from_environment() == 'test_size'
    monkeypatch.setenv('SUPERIONIC_TEST_SIZE', '0')
    assert preset_from_environment() is None


def test_a_test_size_builder_of_a_screening_protocol_is_small(aiida_profile, python_code, generate_structure):
    """At test size, a balanced builder runs the fast protocol's zero-temperature steps (13 strained cells, not 25;
    a 7 Å vacancy cell) and 100 MD steps, at the protocol's temperatures."""
    from aiida_superionic.engines.ase import get_model_node

    li3n = generate_structure('li3n', repeat=1, vacancy=False)
    lennard_jones = get_model_node('lj')
    builder = SseWorkChain.get_builder_from_protocol(
        python_code, li3n, 'balanced', model=lennard_jones, preset='test_size'
    )
    production = SseWorkChain.get_builder_from_protocol(python_code, li3n, 'balanced', model=lennard_jones)
    assert builder.elastic.strains.get_dict()['normal_strains'] == [-0.01, 0.01]
    assert production.elastic.strains.get_dict()['normal_strains'] == [-0.01, -0.005, 0.005, 0.01]
    assert builder.vacancy.supercell_matrix.get_list() == [2, 2, 2]
    assert production.vacancy.supercell_matrix.get_list() == [3, 3, 3]
    assert builder.temperatures.get_list() == [500.0, 700.0, 900.0]  # the protocol's temperatures stay
    assert builder.md.steps.value == 100
    assert builder.protocol.value == 'balanced+test-size'


def test_the_builder_refuses_an_md_beyond_the_budget_before_anything_runs(
    aiida_profile, python_code, generate_structure
):
    from aiida_superionic.engines.ase import get_model_node

    li3n = generate_structure('li3n', repeat=1, vacancy=False)
    lennard_jones = get_model_node('lj')
    huge = {'md_supercell_min_length': 40.0}  # 11 × 11 × 11 cells of 4 atoms
    with pytest.raises(ValueError, match='5324 atoms is more than max_md_atoms = 1000'):
        SseWorkChain.get_builder_from_protocol(python_code, li3n, 'fast', huge, model=lennard_jones)
    SseWorkChain.get_builder_from_protocol(python_code, li3n, 'fast', huge, model=lennard_jones, accept_cost=True)
    raised = {**huge, 'max_md_atoms': 6000}  # or the budget raised in the overrides
    SseWorkChain.get_builder_from_protocol(python_code, li3n, 'fast', raised, model=lennard_jones)


def test_the_budget_refusal_the_docs_show_is_the_one_the_builder_gives(aiida_profile, python_code, generate_structure):
    pytest.importorskip('chgnet')
    from aiida_superionic.engines.ase import get_model_node

    li3n = generate_structure('li3n', repeat=1, vacancy=False)
    with pytest.raises(ValueError, match='more than max_md_atoms') as refused:
        SseWorkChain.get_builder_from_protocol(
            python_code, li3n, 'fast', {'md_supercell_min_length': 40.0}, model=get_model_node('chgnet')
        )
    page = (pathlib.Path(__file__).parents[1] / 'docs' / 'source' / 'topics' / 'protocols.md').read_text()
    assert f'  {refused.value}\n' in page


def test_on_a_workstation_the_md_runs_at_once_are_the_cores_over_each_run_s_threads(
    aiida_profile, python_code, generate_structure, monkeypatch
):
    """A protocol that runs every MD at once (for a cluster's queue) gets, on this machine's direct scheduler, as many
    runs at once as the cores allow: balanced runs of 2 threads on 2 cores one at a time, fast's own limit kept."""
    from aiida_superionic.engines.ase import get_model_node

    li3n = generate_structure('li3n', repeat=1, vacancy=False)
    lennard_jones = get_model_node('lj')
    monkeypatch.setattr('os.cpu_count', lambda: 2)
    balanced = SseWorkChain.get_builder_from_protocol(python_code, li3n, 'balanced', model=lennard_jones)
    assert balanced.max_concurrent_md.value == 1
    monkeypatch.setattr('os.cpu_count', lambda: 16)
    assert (
        SseWorkChain.get_builder_from_protocol(
            python_code, li3n, 'balanced', model=lennard_jones
        ).max_concurrent_md.value
        == 8
    )
    assert (
        SseWorkChain.get_builder_from_protocol(python_code, li3n, 'fast', model=lennard_jones).max_concurrent_md.value
        == 2
    )
