"""``superionic.order`` on the disordered electrolytes of ``tests/data/cifs`` (sources in ``test_ordering.py`` and in
each file): ordered within the budget, composition within tolerance, the mobile species kept, the lowest-energy
candidate chosen, and every step in the provenance graph.

The mechanics run on all six with ASE's Lennard-Jones calculator (fast; its energies mean nothing for these
crystals); one runs with CHGNet, the potential of the MD (``benchmarks/ordering.py`` times Li6PS5Cl).
"""

from __future__ import annotations

import pathlib
import warnings

import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from pymatgen.core import Structure

from aiida_superionic.engines.ase import get_model_node
from aiida_superionic.workflows.order import OrderWorkChain

CIFS = pathlib.Path(__file__).parent / 'data' / 'cifs'
MOBILE = {
    'Li6PS5Cl': 'Li',
    'Li7La3Zr2O12': 'Li',
    'Li10GeP2S12': 'Li',
    'Li1.3Al0.3Ti1.7P3O12': 'Li',
    'Li3YCl6': 'Li',
    'alpha-AgI': 'Ag',
}


def disordered_node(name: str) -> orm.StructureData:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return orm.StructureData(pymatgen=Structure.from_file(str(CIFS / f'{name}.cif')))


def check_ordering(node, results, structure, mobile: str, budget: int, tolerance: float) -> None:
    """What every ordering must hold: the checks of the issue, read from the outputs and the provenance."""
    assert node.is_finished_ok, node.exit_message
    ordering = results['ordering'].get_dict()
    assert ordering['ordered_from_disordered'] is True
    assert ordering['atoms'] <= budget
    assert ordering['max_occupancy_change'] <= tolerance + 1e-9
    assert ordering['mobile_species'] == mobile
    ordered = results['structure']
    assert mobile in ordered.get_symbols_set()
    counts = dict.fromkeys(ordering['composition_after'], 0)
    for symbol in ordered.get_ase().get_chemical_symbols():
        counts[symbol] += 1
    assert counts == ordering['composition_after']
    # The lowest energy chosen, among the energies the tasks gave.
    energies = ordering['energies_eV']
    assert ordering['chosen'] == min(range(len(energies)), key=lambda i: energies[i])
    called = {link.link_label: link.node for link in node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()}
    labels = [f'candidate_{i}' for i in range(ordering['candidates'])]
    assert sorted(label for label in called if label.startswith('relax_')) == [f'relax_{label}' for label in labels]
    tasks = {}  # the task whose energy ranks each candidate: its relaxation, or a static on where it stopped
    for label in labels:
        relax = called[f'relax_{label}']
        assert relax.inputs.structure.uuid == results['candidates'][label].uuid
        if relax.is_finished_ok:
            assert label not in called
            tasks[label] = relax
        else:
            assert called[label].inputs.structure.uuid == relax.outputs.structure.uuid
            tasks[label] = called[label]
    for label, task in tasks.items():
        assert task.outputs.energy.value == pytest.approx(energies[int(label.split('_')[1])])
    assert ordered.uuid == tasks[f'candidate_{ordering["chosen"]}'].outputs.structure.uuid
    # Provenance: the input structure → the candidates (calcfunction) → tasks → the record with energies.
    generate = results['candidates']['candidate_0'].creator
    assert generate.process_label == 'generate_ordered_candidates'
    assert generate.inputs.structure.uuid == structure.uuid
    choose = results['ordering'].creator
    assert choose.process_label == 'choose_ordered_candidate'
    assert {link.node.uuid for link in choose.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all()} >= {
        task.outputs.energy.uuid for task in tasks.values()
    }
    assert ordering['seed'] == node.inputs.seed.value


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(MOBILE))
def test_order_workchain_on_published_disordered_electrolytes(aiida_profile, python_code, name):
    structure = disordered_node(name)
    builder = OrderWorkChain.get_builder_from_protocol(python_code, structure, 'fast', model=get_model_node('lj'))
    assert builder.max_atoms.value == 300
    builder.candidates = orm.Int(2)
    results, node = run_get_node(builder)
    check_ordering(node, results, structure, MOBILE[name], 300, builder.occupancy_tolerance.value)


@pytest.mark.chgnet
def test_order_workchain_ranks_candidates_with_chgnet(aiida_profile, python_code):
    """alpha-AgI: 2 Ag over 12 sites, two distinct configurations; CHGNet, the MD's potential, ranks them."""
    structure = disordered_node('alpha-AgI')
    builder = OrderWorkChain.get_builder_from_protocol(python_code, structure, 'fast', model=get_model_node('chgnet'))
    builder.ase.metadata.options.resources = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
    results, node = run_get_node(builder)
    check_ordering(node, results, structure, 'Ag', 300, builder.occupancy_tolerance.value)
    ordering = results['ordering'].get_dict()
    assert ordering['candidates'] >= 2  # the distinct Ag-Ag arrangements pymatgen's exact ranking finds
    assert len(set(ordering['energies_eV'])) == ordering['candidates']


def test_order_workchain_refuses_before_running(aiida_profile, python_code):
    """Beyond the budget: exit 410 naming the sites and the budget, no task run; a named absent mobile ion too."""
    structure = disordered_node('Li3YCl6')
    builder = OrderWorkChain.get_builder_from_protocol(python_code, structure, 'fast', model=get_model_node('lj'))
    builder.max_atoms = orm.Int(100)
    _, node = run_get_node(builder)
    assert node.exit_status == OrderWorkChain.exit_codes.ERROR_CANNOT_ORDER.status
    assert 'raise the atom budget to 150' in node.exit_message
    assert not node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()
    builder.max_atoms = orm.Int(300)
    builder.mobile_species = orm.Str('Na')
    with pytest.raises(ValueError, match='the mobile species Na is not in'):
        run_get_node(builder)


@pytest.mark.chgnet
@pytest.mark.slow
def test_sse_workchain_orders_a_disordered_cif_first(aiida_profile, python_code):
    """alpha-AgI from its CIF (2 Ag over 12 sites) through SseWorkChain at test size with CHGNet: the ordering runs
    first (role ``order``) and every row records it."""
    from aiida_superionic.workflows.sse import SseWorkChain

    structure = disordered_node('alpha-AgI')
    builder = SseWorkChain.get_builder_from_protocol(
        python_code,
        structure,
        'fast',
        overrides={
            'temperatures': [900.0],
            'run': {'elastic': False, 'phonons': False, 'vacancy': False},
            'md': {'steps': 100, 'equilibration_steps': 20, 'write_interval': 2},
            'order': {'candidates': 2},
        },
        model=get_model_node('chgnet'),
    )
    assert builder.mobile_species.value == 'Ag'
    assert builder.md_supercell_matrix.get_list() == [2, 2, 2]  # 7 Å from the ordered 5.09 Å cell
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    called = {link.link_label: link.node for link in node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()}
    order = called['order']
    assert order.process_label == 'OrderWorkChain'
    assert order.is_finished_ok
    # The relaxation started from the ordered structure, not the CIF's.
    assert called['relax'].inputs.structure.uuid == order.outputs.structure.uuid
    ordering = results['ordering'].get_dict()
    assert ordering['composition_after'] == {'Ag': 2, 'I': 2}
    assert sorted(results['rows']) == ['stoichiometric_900K', 'vacancy_900K']
    for row in results['rows'].values():
        values = row.get_dict()
        assert values['ordered_from_disordered'] is True
        assert values['ordering_supercell'] == [1, 1, 1]
        assert values['composition_change']['Ag'] == pytest.approx(2 / 2.0004 - 1, abs=1e-6)
        assert values['mobile_species'] == 'Ag'
        assert values['formula'] == 'AgI'


def test_sse_builder_refuses_a_disordered_cif_without_the_named_mobile_species(aiida_profile, python_code):
    from aiida_superionic.workflows.sse import SseWorkChain

    with pytest.raises(ValueError, match='the mobile species Li is not in the ordered structure'):
        SseWorkChain.get_builder_from_protocol(
            python_code, disordered_node('alpha-AgI'), 'fast', model=get_model_node('lj'), mobile_species='Li'
        )
    with pytest.raises(ValueError, match='raise the atom budget to 150'):
        SseWorkChain.get_builder_from_protocol(
            python_code,
            disordered_node('Li3YCl6'),
            'fast',
            overrides={'order': {'max_atoms': 100}},
            model=get_model_node('lj'),
        )
