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
    assert sorted(called) == sorted(labels + [f'relax_{label}' for label in labels])
    tasks = {label: called[label] for label in labels}  # the static energies of the relaxed candidates
    for label in labels:  # each static task computed the structure its candidate's short relaxation ended with
        assert tasks[label].inputs.structure.uuid == called[f'relax_{label}'].outputs.structure.uuid
        assert called[f'relax_{label}'].inputs.structure.uuid == results['candidates'][label].uuid
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
    builder = OrderWorkChain.get_builder_from_protocol(
        'ase', structure, 'fast', code=python_code, model=get_model_node('lj')
    )
    assert builder.max_atoms.value == 300
    builder.candidates = orm.Int(2)
    results, node = run_get_node(builder)
    check_ordering(node, results, structure, MOBILE[name], 300, builder.occupancy_tolerance.value)


@pytest.mark.chgnet
def test_order_workchain_ranks_candidates_with_chgnet(aiida_profile, python_code):
    """alpha-AgI: 2 Ag over 12 sites, two distinct configurations; CHGNet, the MD's potential, ranks them."""
    structure = disordered_node('alpha-AgI')
    builder = OrderWorkChain.get_builder_from_protocol(
        'ase', structure, 'fast', code=python_code, model=get_model_node('chgnet')
    )
    builder.ase.metadata.options.resources = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
    results, node = run_get_node(builder)
    check_ordering(node, results, structure, 'Ag', 300, builder.occupancy_tolerance.value)
    ordering = results['ordering'].get_dict()
    assert ordering['candidates'] == 2
    assert ordering['energies_eV'][0] != ordering['energies_eV'][1]


def test_order_workchain_refuses_before_running(aiida_profile, python_code):
    """Beyond the budget: exit 410 naming the sites and the budget, no task run; a named absent mobile ion too."""
    structure = disordered_node('Li3YCl6')
    builder = OrderWorkChain.get_builder_from_protocol(
        'ase', structure, 'fast', code=python_code, model=get_model_node('lj')
    )
    builder.max_atoms = orm.Int(100)
    _, node = run_get_node(builder)
    assert node.exit_status == OrderWorkChain.exit_codes.ERROR_CANNOT_ORDER.status
    assert 'raise the atom budget to 150' in node.exit_message
    assert not node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()
    builder.max_atoms = orm.Int(300)
    builder.mobile_species = orm.Str('Na')
    with pytest.raises(ValueError, match='the mobile species Na is not in'):
        run_get_node(builder)
