"""The smallest supercell of a disordered crystal in which every site's occupancy is a whole number of atoms.

A CIF of a disordered electrolyte gives fractional occupancies (Li 0.5 on 48h, S/Cl mixed on 4a): no atomistic
simulation can place half an atom, and pymatgen's ``OrderDisorderedStructureTransformation`` needs every
occupancy times the number of sites to be an integer before it starts (on the CIF's own cell it mostly is not:
``Occupancy fractions not consistent with size of unit cell``). This module finds the supercell where it is:

- the sites are grouped as pymatgen groups them (same species and occupancies; the CIF label kept when there is
  one), each group with ``m`` sites in the given cell, so ``n·m`` in a supercell of ``n`` cells;
- for ``n = 1, 2, ...`` up to the atom budget, every fractional count ``occupancy·n·m`` is rounded down or up,
  each occupancy moving by at most ``occupancy_tolerance``; with oxidation states known (the CIF's, else
  pymatgen's guess for the cell's composition) only charge-neutral roundings are taken, the one closest to the
  CIF's occupancies first; an element never disappears;
- the smallest ``n`` that works is laid out as the most nearly cubic diagonal supercell ``a × b × c = n``.

When nothing within the budget works, the refusal names the sites whose occupancy cannot be met and the atom
budget that would be needed. Written here rather than taken from a package: pymatgen and enumlib enumerate the
configurations of a given supercell (the next step, ``ordering.py``) but do not choose the supercell from the
occupancies; enumlib's supercell-size search is a Fortran binary that pip does not install.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

#: Cells of the given structure tried beyond the budget to say which budget a refusal would need.
MAX_CELLS_SEARCHED = 64

#: Roundings tried per supercell size at most (2 choices per fractional count); beyond, the nearest rounding only.
MAX_ROUNDINGS = 2**16

#: Occupancies closer than this to a whole number of atoms are whole (CIF occupancies carry 3–4 digits).
INTEGER_TOLERANCE = 1e-3


class OrderingError(ValueError):
    """A disordered structure that cannot be ordered as asked; the message names the cause and the fix."""


@dataclasses.dataclass(frozen=True)
class SiteGroup:
    """Sites of the given cell with the same species and occupancies (a crystallographic site of the CIF).

    :ivar label: the CIF label (``Li1``) or, without one, the species and occupancies (``Li:0.5``).
    :ivar indices: the sites of the given cell in the group.
    :ivar occupancy: element → occupancy of each site.
    """

    label: str
    indices: tuple[int, ...]
    occupancy: dict[str, float]

    @property
    def disordered(self) -> bool:
        return len(self.occupancy) > 1 or any(abs(value - 1.0) > INTEGER_TOLERANCE for value in self.occupancy.values())

    @property
    def full(self) -> bool:
        """Whether the site is always occupied (mixed, but no vacancy): its counts must fill every site."""
        return abs(sum(self.occupancy.values()) - 1.0) <= INTEGER_TOLERANCE


@dataclasses.dataclass(frozen=True)
class OccupancyPlan:
    """The supercell and the whole numbers of atoms per site group.

    :ivar scaling: the diagonal supercell of the given cell.
    :ivar counts: group label → element → atoms in the supercell.
    :ivar occupancies: group label → element → occupancy after ordering (count / sites).
    :ivar composition_before: element → atoms the CIF's occupancies give in the supercell (fractional).
    :ivar composition_after: element → atoms in the ordered supercell.
    :ivar oxidation_states: element → oxidation state used for neutrality (empty when unknown).
    :ivar oxidation_source: where the oxidation states come from (``CIF``, ``pymatgen guess``, ``unknown``).
    """

    scaling: tuple[int, int, int]
    groups: tuple[SiteGroup, ...]
    counts: dict[str, dict[str, int]]
    occupancies: dict[str, dict[str, float]]
    composition_before: dict[str, float]
    composition_after: dict[str, int]
    oxidation_states: dict[str, float]
    oxidation_source: str
    occupancy_tolerance: float

    @property
    def cells(self) -> int:
        return int(np.prod(self.scaling))

    @property
    def atoms(self) -> int:
        return int(sum(self.composition_after.values()))

    @property
    def max_occupancy_change(self) -> float:
        changes = [
            abs(self.occupancies[group.label][element] - value)
            for group in self.groups
            for element, value in group.occupancy.items()
        ]
        return max(changes, default=0.0)

    def composition_change(self) -> dict[str, float]:
        """Element → relative change of its number of atoms (after / before − 1)."""
        return {
            element: self.composition_after.get(element, 0) / before - 1.0
            for element, before in self.composition_before.items()
        }

    def as_dict(self) -> dict:
        """A JSON-serialisable record (for a ``Dict`` node and the CLI's summary)."""
        return {
            'supercell': list(self.scaling),
            'atoms': self.atoms,
            'occupancy_tolerance': self.occupancy_tolerance,
            'max_occupancy_change': round(self.max_occupancy_change, 6),
            'sites': {
                group.label: {
                    'sites_per_cell': len(group.indices),
                    'occupancy_before': group.occupancy,
                    'occupancy_after': self.occupancies[group.label],
                    'atoms': self.counts[group.label],
                }
                for group in self.groups
            },
            'composition_before': {key: round(value, 6) for key, value in self.composition_before.items()},
            'composition_after': dict(self.composition_after),
            'composition_change': {key: round(value, 6) for key, value in self.composition_change().items()},
            'oxidation_states': dict(self.oxidation_states),
            'oxidation_source': self.oxidation_source,
        }


def site_groups(structure) -> tuple[SiteGroup, ...]:
    """Group the sites of a pymatgen ``Structure`` by CIF label (when any) and species with occupancies."""
    groups: dict[tuple, list[int]] = {}
    labels: dict[tuple, str] = {}
    for index, site in enumerate(structure):
        occupancy = tuple(sorted((species.symbol, round(float(amount), 6)) for species, amount in site.species.items()))
        label = getattr(site, 'label', None) or ''
        key = (label, occupancy)
        groups.setdefault(key, []).append(index)
        if key not in labels:
            labels[key] = label or ','.join(f'{element}:{amount:g}' for element, amount in occupancy)
    # Two orbits with the same CIF label and occupancy stay one group; the same label with other occupancies is
    # told apart.
    names: dict[str, int] = {}
    result = []
    for key, indices in groups.items():
        name = labels[key]
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:
            name = f'{name}#{names[name]}'
        occupancy: dict[str, float] = {}
        for element, amount in key[1]:
            occupancy[element] = occupancy.get(element, 0.0) + amount
        result.append(SiteGroup(name, tuple(indices), occupancy))
    return tuple(result)


def oxidation_states_of(structure) -> tuple[dict[str, float], str]:
    """Element → oxidation state: the structure's own (a CIF with ``_atom_type_oxidation_number``), else pymatgen's
    first guess for the cell's composition rounded to whole atoms; ``({}, 'unknown')`` when neither gives one."""
    from pymatgen.core import Composition

    species = {specie for site in structure for specie in site.species}
    if all(getattr(specie, 'oxi_state', None) is not None for specie in species):
        states = {specie.symbol: float(specie.oxi_state) for specie in species}
    else:
        states = {}
    if states:
        return states, 'CIF'
    amounts: dict[str, float] = {}
    for site in structure:
        for species, amount in site.species.items():
            amounts[species.symbol] = amounts.get(species.symbol, 0.0) + float(amount)
    rounded = {element: max(1, round(amount)) for element, amount in amounts.items()}
    try:
        guesses = Composition(rounded).oxi_state_guesses(max_sites=-1)  # -1: on the reduced formula (fast)
    except Exception:  # pymatgen raises several types for compositions it cannot balance
        guesses = []
    if not guesses:
        return {}, 'unknown'
    return {element: float(state) for element, state in guesses[0].items()}, 'pymatgen guess'


def near_cubic_scaling(lattice_lengths, cells: int) -> tuple[int, int, int]:
    """The diagonal ``a × b × c = cells`` whose supercell lengths are the most nearly equal."""
    lengths = np.asarray(lattice_lengths, dtype=float)
    best, best_key = (cells, 1, 1), None
    for a in range(1, cells + 1):
        if cells % a:
            continue
        for b in range(1, cells // a + 1):
            if (cells // a) % b:
                continue
            scaling = (a, b, cells // a // b)
            supercell = lengths * scaling
            key = (supercell.max() / supercell.min(), scaling)
            if best_key is None or key < best_key:
                best, best_key = scaling, key
    return best


def _round_counts(groups, cells, tolerance, ordered_charge, states) -> tuple[dict | None, list[str]]:
    """Whole atoms per (group, element) in ``cells`` cells, or ``(None, why)`` naming the sites that fail."""
    fractional, fixed, failing = [], {}, []
    for group in groups:
        sites = len(group.indices) * cells
        for element, occupancy in group.occupancy.items():
            exact = occupancy * sites
            options = sorted({math.floor(exact + INTEGER_TOLERANCE), math.ceil(exact - INTEGER_TOLERANCE)})
            options = [count for count in options if abs(count / sites - occupancy) <= tolerance + 1e-12]
            if not options:
                nearest = round(exact)
                failing.append(
                    f'{group.label} ({element} {occupancy:g} on {sites} sites: {exact:.2f} atoms, '
                    f'{nearest} is occupancy {nearest / sites:.3f})'
                )
            elif len(options) == 1:
                fixed[(group.label, element)] = options[0]
            else:
                fractional.append(((group.label, element), exact, options))
    if failing:
        return None, failing
    combinations = list(itertools.product(*(options for _, _, options in fractional)))
    if len(combinations) > MAX_ROUNDINGS:
        combinations = [tuple(round(exact) for _, exact, _ in fractional)]
    best, best_error = None, None
    for combination in combinations:
        counts = dict(fixed)
        counts.update({key: count for (key, _, _), count in zip(fractional, combination, strict=True)})
        if not _fits_sites(groups, counts, cells):
            continue
        if states:
            charge = ordered_charge * cells + sum(states[element] * count for (_, element), count in counts.items())
            if abs(charge) > 1e-6:
                continue
        error = sum((count - exact) ** 2 for (_, exact, _), count in zip(fractional, combination, strict=True))
        if best_error is None or error < best_error:
            best, best_error = counts, error
    if best is None:
        why = 'charge-neutral ' if states else ''
        return None, [f'no {why}rounding of the partly occupied sites keeps every occupancy within {tolerance:g}']
    return best, []


def _fits_sites(groups, counts, cells) -> bool:
    for group in groups:
        total = sum(counts[(group.label, element)] for element in group.occupancy)
        sites = len(group.indices) * cells
        if total > sites or (group.full and total != sites):
            return False
    return True


def plan_supercell(
    structure, max_atoms: int, occupancy_tolerance: float = 0.02, oxidation_states: dict | None = None
) -> OccupancyPlan:
    """The smallest diagonal supercell of ``structure`` (a pymatgen ``Structure``) within ``max_atoms`` atoms in
    which every occupancy is a whole number of atoms, each moved by at most ``occupancy_tolerance``.

    :param oxidation_states: element → oxidation state for neutrality; by default :func:`oxidation_states_of`.
    :raises OrderingError: naming the sites that cannot be met and the budget that would be needed.
    """
    groups = site_groups(structure)
    if oxidation_states is None:
        states, source = oxidation_states_of(structure)
    else:
        states, source = dict(oxidation_states), 'given'
    disordered = tuple(group for group in groups if group.disordered)
    ordered = tuple(group for group in groups if not group.disordered)
    ordered_charge = (
        sum(states[element] * len(group.indices) for group in ordered for element in group.occupancy) if states else 0.0
    )
    per_cell = sum(sum(group.occupancy.values()) * len(group.indices) for group in groups)
    largest = max(1, int(max_atoms // max(per_cell, 1e-9)))
    first_failure: list[str] = []
    for cells in range(1, max(largest, MAX_CELLS_SEARCHED) + 1):
        counts, failing = _round_counts(disordered, cells, occupancy_tolerance, ordered_charge, states)
        lost = _lost_elements(groups, disordered, counts) if counts is not None else []
        if counts is not None and not lost:
            break
        if cells <= largest:
            first_failure = failing or lost
    else:
        raise OrderingError(
            f'cannot order within {max_atoms} atoms: {"; ".join(first_failure)}; no supercell of up to '
            f'{MAX_CELLS_SEARCHED} cells ({MAX_CELLS_SEARCHED * per_cell:.0f} atoms) meets occupancy tolerance '
            f'{occupancy_tolerance:g} either: raise the tolerance, or fix the occupancies in the CIF'
        )
    atoms = sum(counts.values()) + sum(len(group.indices) * cells for group in ordered)
    if cells > largest or atoms > max_atoms:
        raise OrderingError(
            f'cannot order within {max_atoms} atoms at occupancy tolerance {occupancy_tolerance:g}: '
            f'{"; ".join(first_failure)}; it needs {cells} cells ({atoms} atoms): raise the atom budget to '
            f'{atoms} (protocol `max_atoms`) or the tolerance'
        )
    return _make_plan(structure, groups, cells, counts, states, source, occupancy_tolerance)


def _lost_elements(groups, disordered, counts) -> list[str]:
    """Elements of the CIF that the rounding would remove altogether (a dopant rounded to zero)."""
    present = {element for group in groups for element in group.occupancy}
    kept = {element for group in groups if not group.disordered for element in group.occupancy}
    kept |= {element for (_, element), count in counts.items() if count > 0}
    return [f'{element} would disappear (rounded to 0 atoms)' for element in sorted(present - kept)]


def _make_plan(structure, groups, cells, counts, states, source, tolerance) -> OccupancyPlan:
    scaling = near_cubic_scaling(structure.lattice.abc, cells)
    plan_counts: dict[str, dict[str, int]] = {}
    occupancies: dict[str, dict[str, float]] = {}
    before: dict[str, float] = {}
    after: dict[str, int] = {}
    for group in groups:
        sites = len(group.indices) * cells
        plan_counts[group.label] = {}
        occupancies[group.label] = {}
        for element, occupancy in group.occupancy.items():
            count = counts[(group.label, element)] if group.disordered else sites
            plan_counts[group.label][element] = count
            occupancies[group.label][element] = count / sites
            before[element] = before.get(element, 0.0) + occupancy * sites
            after[element] = after.get(element, 0) + count
    return OccupancyPlan(scaling, groups, plan_counts, occupancies, before, after, states, source, tolerance)
