"""Ordered candidates of a disordered crystal: the supercell of ``occupancy.py``, then configurations drawn in it.

- With oxidation states (the CIF's or pymatgen's guess), pymatgen's ``OrderDisorderedStructureTransformation``
  ranks configurations by their Ewald (point-charge) energy and the lowest ``count`` distinct ones are the
  candidates: electrostatics keeps like charges apart, which is what a short relaxation cannot repair.
- Without oxidation states, ``count`` configurations are drawn at random, each site group filled independently,
  from ``numpy.random.default_rng(seed)``.

The candidates are then ranked by the engine that will run the MD (``superionic.order``); the Ewald ranking is
only the preselection (and what ``aiida-superionic order`` and ``launch --dry-run`` use, without an engine).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..descriptors.constants import MOBILE_SPECIES_PRECEDENCE
from .occupancy import OccupancyPlan, OrderingError, plan_supercell

#: The methods by which candidates are drawn, as recorded.
ELECTROSTATIC = 'electrostatic (pymatgen OrderDisorderedStructureTransformation, Ewald energy)'
QUENCHED = 'electrostatic (seeded random fillings quenched in the Ewald energy, pymatgen EwaldSummation)'

#: Configurations up to which pymatgen's exact Ewald ranking is used (it enumerates ~5e6 per minute).
MAX_ENUMERATED_LOG10 = 5.0
RANDOM = 'random (seeded)'
AS_GIVEN = 'as given (already ordered)'


@dataclasses.dataclass
class OrderingResult:
    """The ordered candidates of one structure.

    :ivar plan: the supercell and its whole numbers of atoms (None for a structure that was already ordered).
    :ivar candidates: pymatgen ``Structure`` objects, lowest Ewald energy first when ranked.
    :ivar ewald_energies_eV: the Ewald energy of each candidate (None each when drawn at random).
    :ivar method: how they were drawn; ``seed`` the random seed (recorded either way).
    :ivar mobile_species: the mobile species of the ordered structure.
    """

    plan: OccupancyPlan | None
    candidates: list
    ewald_energies_eV: list
    method: str
    seed: int
    mobile_species: str

    @property
    def ordered_from_disordered(self) -> bool:
        return self.plan is not None

    def as_dict(self) -> dict:
        """A JSON-serialisable record (the ``ordering`` output of ``superionic.order``)."""
        record = {
            'ordered_from_disordered': self.ordered_from_disordered,
            'method': self.method,
            'seed': self.seed,
            'mobile_species': self.mobile_species,
            'candidates': len(self.candidates),
            'ewald_energies_eV': self.ewald_energies_eV,
        }
        if self.plan is not None:
            record.update(self.plan.as_dict())
        else:
            record.update({'supercell': [1, 1, 1], 'atoms': len(self.candidates[0])})
        return record


def is_disordered(structure) -> bool:
    """Whether a pymatgen ``Structure`` has a partly occupied or mixed site."""
    return not structure.is_ordered


def mobile_species_after(structure, named: str | None) -> str:
    """The mobile species of the ordered ``structure``: ``named`` when given, else the first of the precedence rule.

    :raises OrderingError: when the named species (or, unnamed, every candidate) is absent after ordering.
    """
    present = {site.specie.symbol for site in structure}
    if named is not None:
        if named not in present:
            raise OrderingError(
                f'the mobile species {named} is not in the ordered structure ({structure.composition.reduced_formula})'
                f': check the CIF, or name another mobile species'
            )
        return named
    for element in MOBILE_SPECIES_PRECEDENCE:
        if element in present:
            return element
    raise OrderingError(
        f'no candidate mobile species ({", ".join(MOBILE_SPECIES_PRECEDENCE)}) in '
        f'{structure.composition.reduced_formula}: name the mobile species'
    )


def scaled_structure(structure, plan: OccupancyPlan):
    """The supercell of ``plan`` with each site group's occupancies replaced by the rounded ones (count / sites)."""
    supercell = structure.copy()
    supercell.remove_oxidation_states()
    group_of = {index: group.label for group in plan.groups for index in group.indices}
    # A site property follows every image into the supercell (labels do not: pymatgen renames them).
    supercell.add_site_property('order_group', [group_of[index] for index in range(len(supercell))])
    supercell.make_supercell(list(plan.scaling))
    for index, site in enumerate(supercell):
        label = site.properties['order_group']
        occupancy = {element: value for element, value in plan.occupancies[label].items() if value > 0}
        supercell.replace(index, occupancy, properties=site.properties, label=label)
    return supercell


def configurations_log10(plan: OccupancyPlan) -> float:
    """log10 of the number of configurations of the supercell (the product of each group's multinomial)."""
    total = 0.0
    for group in plan.groups:
        sites = len(group.indices) * plan.cells
        counts = list(plan.counts[group.label].values())
        counts.append(sites - sum(counts))  # vacancies
        total += math.lgamma(sites + 1) - sum(math.lgamma(count + 1) for count in counts)
    return total / math.log(10)


def electrostatic_candidates(supercell, states: dict, count: int) -> tuple[list, list]:
    """The ``count`` lowest distinct configurations by Ewald energy (eV), by pymatgen's exact enumeration."""
    from pymatgen.transformations.standard_transformations import OrderDisorderedStructureTransformation

    decorated = supercell.copy()
    decorated.add_oxidation_state_by_element(states)
    transformation = OrderDisorderedStructureTransformation(algo=OrderDisorderedStructureTransformation.ALGO_FAST)
    # Many more than asked: symmetry-equivalent configurations come out with the same energy and are dropped below.
    ranked = transformation.apply_transformation(decorated, return_ranked_list=max(count * 25, 50))
    candidates, energies = [], []
    for entry in ranked:
        energy = float(entry['energy'])
        if any(abs(energy - seen) < 1e-6 for seen in energies):
            continue
        structure = entry['structure']
        structure.remove_oxidation_states()
        if 'order_group' in structure.site_properties:
            structure.remove_site_property('order_group')
        candidates.append(structure)
        energies.append(energy)
        if len(candidates) == count:
            break
    return candidates, energies


def quenched_candidates(supercell, plan: OccupancyPlan, count: int, seed: int) -> tuple[list, list]:
    """``count`` configurations, each a seeded random filling quenched to a local minimum of the Ewald energy by
    swaps within each site group; lowest energy first, energies in eV up to a constant (the charged-background
    term of the fixed composition).

    Written here because pymatgen's exact minimiser (``EwaldMinimizer``) enumerates combinations and cannot finish
    on electrolytes (Li on half of argyrodite's 96 48h sites of two cells: ~1e27); pymatgen's Ewald matrix is used.
    """
    from pymatgen.core import Structure
    from pymatgen.core.ewald import EwaldSummation

    # Unit charges on every site: E(q) = qᵀ M q (+ a constant at fixed total charge).
    unit = Structure(supercell.lattice, ['H'] * len(supercell), supercell.frac_coords)
    unit.add_oxidation_state_by_element({'H': 1})
    matrix = np.asarray(EwaldSummation(unit).total_energy_matrix)
    groups: dict[str, list[int]] = {}
    for index, site in enumerate(supercell):
        groups.setdefault(site.properties['order_group'], []).append(index)
    rng = np.random.default_rng(seed)
    found: list[tuple[float, list]] = []
    for _ in range(count * 3):
        labels = np.empty(len(supercell), dtype=object)
        for label, indices in groups.items():
            filling = [element for element, number in plan.counts[label].items() for _ in range(number)]
            filling += [None] * (len(indices) - len(filling))
            labels[indices] = rng.permutation(np.array(filling, dtype=object))
        charges = np.array([0.0 if element is None else plan.oxidation_states[element] for element in labels])
        _quench(matrix, charges, labels, [np.array(i) for i in groups.values() if len(i) > 1], rng)
        energy = float(charges @ matrix @ charges)
        if all(abs(energy - seen) > 1e-6 for seen, _ in found):
            found.append((energy, list(labels)))
        if len(found) == count:
            break
    found.sort(key=lambda item: item[0])
    candidates = []
    for _, labels in found:
        keep = [index for index, element in enumerate(labels) if element is not None]
        candidates.append(
            Structure(supercell.lattice, [labels[i] for i in keep], supercell.frac_coords[keep], to_unit_cell=True)
        )
    return candidates, [energy for energy, _ in found]


def _quench(matrix, charges, labels, groups, rng, sweeps: int = 30) -> None:
    """Swap two sites of a group with different charges whenever it lowers qᵀ M q, until a sweep changes nothing."""
    potential = matrix @ charges
    diagonal = np.diag(matrix)
    for _ in range(sweeps):
        changed = False
        for indices in groups:
            for i in rng.permutation(indices):
                partners = indices[charges[indices] != charges[i]]
                if not partners.size:
                    continue
                delta = charges[partners] - charges[i]
                # E' − E for swapping i with each partner j (δ = q_j − q_i).
                change = (
                    2 * delta * potential[i]
                    - 2 * delta * potential[partners]
                    + delta**2 * (diagonal[i] + diagonal[partners] - 2 * matrix[i, partners])
                )
                best = int(np.argmin(change))
                if change[best] < -1e-9:
                    j = partners[best]
                    step = charges[j] - charges[i]
                    potential += step * (matrix[:, i] - matrix[:, j])
                    charges[i], charges[j] = charges[j], charges[i]
                    labels[i], labels[j] = labels[j], labels[i]
                    changed = True
        if not changed:
            return


def random_candidates(supercell, plan: OccupancyPlan, count: int, seed: int) -> list:
    """``count`` configurations, each site group filled at random with its whole numbers of atoms."""
    from pymatgen.core import Structure

    rng = np.random.default_rng(seed)
    candidates = []
    groups: dict[str, list[int]] = {}
    for index, site in enumerate(supercell):
        groups.setdefault(site.properties['order_group'], []).append(index)
    for _ in range(count):
        species, coordinates = [], []
        for label, indices in groups.items():
            counts = plan.counts[label]
            order = rng.permutation(len(indices))
            position = 0
            for element, number in counts.items():
                for index in order[position : position + number]:
                    species.append(element)
                    coordinates.append(supercell[indices[index]].frac_coords)
                position += number
        candidates.append(Structure(supercell.lattice, species, coordinates))
    return candidates


def order_structure(
    structure,
    max_atoms: int,
    occupancy_tolerance: float = 0.02,
    candidates: int = 5,
    seed: int = 1,
    mobile_species: str | None = None,
) -> OrderingResult:
    """Order a pymatgen ``Structure``: the supercell (:func:`~.occupancy.plan_supercell`) and ``candidates``
    configurations in it, electrostatically ranked when oxidation states are known, else drawn with ``seed``.
    An ordered structure is returned as it is (one candidate).

    :param mobile_species: the mobile ion named by the user: its absence after ordering is refused.
    :raises OrderingError: a supercell beyond the budget, an occupancy that moves beyond the tolerance, an element
        that would disappear, or a mobile species absent after ordering; the message names cause and fix.
    """
    if candidates < 1:
        raise OrderingError(f'`candidates` must be at least 1, got {candidates}')
    if not is_disordered(structure):
        ordered = structure.copy()
        ordered.remove_oxidation_states()
        species = mobile_species_after(ordered, mobile_species)
        return OrderingResult(None, [ordered], [None], AS_GIVEN, seed, species)
    plan = plan_supercell(structure, max_atoms, occupancy_tolerance)
    supercell = scaled_structure(structure, plan)
    drawn, energies, method = [], [], RANDOM
    if plan.oxidation_states:
        try:
            if configurations_log10(plan) <= MAX_ENUMERATED_LOG10:
                drawn, energies = electrostatic_candidates(supercell, plan.oxidation_states, candidates)
                method = ELECTROSTATIC
            else:
                drawn, energies = quenched_candidates(supercell, plan, candidates, seed)
                method = QUENCHED
        except (ValueError, TypeError) as exception:  # pymatgen refuses some decorations: fall back, stated
            method = f'{RANDOM}; the electrostatic ranking failed: {exception}'
    if not drawn:
        drawn = random_candidates(supercell, plan, candidates, seed)
        energies = [None] * len(drawn)
    species = mobile_species_after(drawn[0], mobile_species)
    return OrderingResult(plan, drawn, energies, method, seed, species)
