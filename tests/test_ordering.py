"""Ordering disordered electrolytes (``aiida_superionic.structures``) on CIFs written from published occupancies.

The CIFs in ``tests/data/cifs`` each name their source in their header:

- Li6PS5Cl (argyrodite, F-43m): Deiseroth et al., Angew. Chem. Int. Ed. 47, 755 (2008); Cl/S exchange over 4a/4c
  after Rayavarapu et al., J. Solid State Electrochem. 16, 1807 (2012); Li on half of 48h.
- Li7La3Zr2O12 (cubic garnet, Ia-3d): Awaka et al., Chem. Lett. 40, 60 (2011); Li 24d 0.564, 96h 0.442.
- Li10GeP2S12 (P4_2/nmc): Kamaya et al., Nat. Mater. 10, 682 (2011); Ge/P 0.515/0.485 on 4d, Li 16h 0.691, 8f 0.643.
- Li1.3Al0.3Ti1.7(PO4)3 (NASICON, R-3c): Redhammer et al., Solid State Sci. 60, 99 (2016); Al/Ti 0.15/0.85 on 12c.
- Li3YCl6 (P-3m1): Asano et al., Adv. Mater. 30, 1803075 (2018); Y over two 2d positions, Li half on 6h.
- alpha-AgI (Im-3m): Cava, Reidinger, Wuensch, Solid State Commun. 24, 411 (1977); 2 Ag over the 12 sites of 12d.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pytest
from pymatgen.core import Structure

from aiida_superionic.structures.occupancy import OrderingError, plan_supercell
from aiida_superionic.structures.ordering import ELECTROSTATIC, QUENCHED, RANDOM, order_structure

CIFS = pathlib.Path(__file__).parent / 'data' / 'cifs'

#: The fast protocol's budget and tolerance (``protocols/order.yaml``).
FAST_BUDGET, TOLERANCE = 300, 0.02

#: Per CIF: its mobile species and the supercell the fast budget gives (from the occupancies, worked by hand:
#: e.g. Li6PS5Cl's 4a/4c Cl/S 0.61/0.39 on 4 sites per cell needs 2 cells, 5 of 8 being 0.625).
EXPECTED = {
    'Li6PS5Cl': ('Li', 2),
    'Li7La3Zr2O12': ('Li', 1),
    'Li10GeP2S12': ('Li', 1),
    'Li1.3Al0.3Ti1.7P3O12': ('Li', 1),
    'Li3YCl6': ('Li', 5),
    'alpha-AgI': ('Ag', 1),
}


def read(name: str) -> Structure:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # pymatgen warns about rounded occupancies of the CIF
        return Structure.from_file(str(CIFS / f'{name}.cif'))


def test_every_cif_is_disordered():
    assert sorted(path.stem for path in CIFS.glob('*.cif')) == sorted(EXPECTED)
    for name in EXPECTED:
        assert not read(name).is_ordered, name


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_ordering_keeps_composition_mobile_species_and_budget(name):
    structure = read(name)
    mobile, cells = EXPECTED[name]
    result = order_structure(structure, FAST_BUDGET, TOLERANCE, candidates=3, seed=7)
    plan = result.plan
    assert plan.cells == cells
    assert plan.atoms <= FAST_BUDGET
    assert result.mobile_species == mobile
    # Every site's occupancy within the tolerance, so every element's count within tolerance × its sites.
    assert plan.max_occupancy_change <= TOLERANCE + 1e-12
    for group in plan.groups:
        for element, occupancy in group.occupancy.items():
            assert abs(plan.occupancies[group.label][element] - occupancy) <= TOLERANCE + 1e-12
    sites = dict.fromkeys(plan.composition_before, 0)
    for group in plan.groups:
        for element in group.occupancy:
            sites[element] += len(group.indices) * plan.cells
    for element, before in plan.composition_before.items():
        assert abs(plan.composition_after[element] - before) <= TOLERANCE * sites[element] + 1e-9, element
    # The candidates: ordered, the planned composition, charge neutral with the oxidation states used.
    assert plan.oxidation_states, f'{name}: pymatgen found no oxidation states'
    for candidate in result.candidates:
        assert candidate.is_ordered
        counts = candidate.composition.get_el_amt_dict()
        assert counts == {element: float(count) for element, count in plan.composition_after.items()}
        charge = sum(plan.oxidation_states[element] * count for element, count in counts.items())
        assert charge == pytest.approx(0.0, abs=1e-9)
        assert np.allclose(candidate.lattice.abc, np.asarray(structure.lattice.abc) * plan.scaling)
    # Electrostatically ranked, lowest first, distinct; the seed recorded.
    assert result.method in (ELECTROSTATIC, QUENCHED)
    energies = result.ewald_energies_eV
    assert energies == sorted(energies)
    assert len(set(energies)) == len(energies)
    record = result.as_dict()
    assert record['seed'] == 7
    assert record['supercell'] == list(plan.scaling)
    assert set(record['composition_before']) == set(record['composition_after'])


def test_the_quenched_draw_is_reproducible_and_lowers_the_ewald_energy():
    """Same seed, same candidates; the quench ends below the random fillings it starts from."""
    from pymatgen.core.ewald import EwaldSummation

    structure = read('Li6PS5Cl')
    first = order_structure(structure, FAST_BUDGET, TOLERANCE, candidates=2, seed=3)
    again = order_structure(structure, FAST_BUDGET, TOLERANCE, candidates=2, seed=3)
    assert first.method == QUENCHED
    assert first.ewald_energies_eV == again.ewald_energies_eV
    assert [c.frac_coords.tolist() for c in first.candidates] == [c.frac_coords.tolist() for c in again.candidates]
    random = order_structure(structure, FAST_BUDGET, TOLERANCE, candidates=1, seed=3)  # to reuse the plan
    states = random.plan.oxidation_states

    def ewald(candidate):
        decorated = candidate.copy()
        decorated.add_oxidation_state_by_element(states)
        return EwaldSummation(decorated).total_energy

    from aiida_superionic.structures.ordering import random_candidates, scaled_structure

    supercell = scaled_structure(structure, random.plan)
    unquenched = [ewald(candidate) for candidate in random_candidates(supercell, random.plan, 3, seed=3)]
    assert ewald(first.candidates[0]) < min(unquenched)


def test_refusal_names_sites_and_budget():
    structure = read('Li3YCl6')  # Y 0.798/0.202 on two 2d positions: 5 cells, 150 atoms
    with pytest.raises(OrderingError) as refused:
        plan_supercell(structure, 100, TOLERANCE)
    message = str(refused.value)
    assert 'within 100 atoms' in message
    assert 'Y2' in message
    assert 'Y3' in message
    assert 'needs 5 cells (150 atoms)' in message
    assert 'raise the atom budget to 150' in message


def test_a_dopant_is_never_rounded_away_and_a_named_mobile_species_is_checked():
    structure = read('Li1.3Al0.3Ti1.7P3O12')
    for index, site in enumerate(structure):
        if 'Al' in site.species.get_el_amt_dict():
            structure.replace(index, {'Ti': 0.99, 'Al': 0.01})  # 0.12 Al per cell: within 0.02 of none at all
    with pytest.raises(OrderingError, match='Al would disappear') as refused:
        plan_supercell(structure, 300, TOLERANCE, oxidation_states={})
    assert 'it needs' in str(refused.value)  # the budget that would keep it
    with pytest.raises(OrderingError, match='the mobile species Na is not in the ordered structure'):
        order_structure(read('Li6PS5Cl'), FAST_BUDGET, TOLERANCE, candidates=1, mobile_species='Na')


def test_without_oxidation_states_the_draw_is_random_and_seeded():
    structure = read('alpha-AgI')
    result = order_structure(structure, FAST_BUDGET, TOLERANCE, candidates=2, seed=5)
    assert result.method == ELECTROSTATIC  # 66 configurations: pymatgen's exact ranking
    plan = plan_supercell(structure, FAST_BUDGET, TOLERANCE, oxidation_states={})
    assert plan.oxidation_states == {}
    from aiida_superionic.structures.ordering import random_candidates, scaled_structure

    supercell = scaled_structure(structure, plan)
    first = random_candidates(supercell, plan, 2, seed=5)
    assert [c.frac_coords.tolist() for c in first] == [
        c.frac_coords.tolist() for c in random_candidates(supercell, plan, 2, seed=5)
    ]
    assert RANDOM.startswith('random')


def test_an_ordered_structure_passes_as_given():
    structure = Structure.from_spacegroup(
        'Fm-3m', [[5.64, 0, 0], [0, 5.64, 0], [0, 0, 5.64]], ['Na', 'Cl'], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    result = order_structure(structure, FAST_BUDGET)
    assert not result.ordered_from_disordered
    assert result.candidates[0] == structure
    assert result.mobile_species == 'Na'
