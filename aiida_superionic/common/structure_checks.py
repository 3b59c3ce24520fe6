"""Checks of an input structure before anything is computed on it: periodic, and no two atoms on top of each other.

Every workchain and the ASE calculation take ``validate_structure`` as the validator of their
``structure`` port, so a broken cell is refused when the process is built, with the reason, and not
after a queue wait by a crashed calculator.
"""

from __future__ import annotations

import numpy as np

#: Closest distance (Å) two atoms of an input structure may have. The shortest bond in nature, H–H in H₂, is
#: 0.74 Å; atoms closer than 0.5 Å are a duplicated site, a wrong occupancy or a unit error.
MIN_INTERATOMIC_DISTANCE_A = 0.5


def structure_problem(atoms, min_distance_A: float = MIN_INTERATOMIC_DISTANCE_A) -> str | None:
    """Return why ``atoms`` (an ``ase.Atoms``) cannot be simulated as a bulk crystal, or None.

    Refused: a cell that is not periodic in three dimensions, a cell of zero volume, and two atoms
    (or an atom and a periodic image) closer than ``min_distance_A``; the closest pair is named.
    """
    from ase.neighborlist import neighbor_list

    if not all(atoms.pbc):
        return f'the structure must be periodic in 3 dimensions, got pbc={[bool(value) for value in atoms.pbc]}'
    if abs(atoms.cell.volume) < 1e-6:
        return 'the cell has zero volume: its vectors are not independent'
    if len(atoms) == 0:
        return 'the structure has no atoms'
    first, second, distances = neighbor_list('ijd', atoms, min_distance_A, self_interaction=False)
    if distances.size:
        closest = int(np.argmin(distances))
        i, j = int(first[closest]), int(second[closest])
        symbols = atoms.get_chemical_symbols()
        return (
            f'overlapping atoms: {symbols[i]} {i} and {symbols[j]} {j} are {distances[closest]:.3f} Å apart '
            f'(less than {min_distance_A} Å; a duplicated site or wrong units?)'
        )
    return None


def validate_structure(node, _=None) -> str | None:
    """Port validator of a ``StructureData``: :func:`structure_problem` of its ASE atoms."""
    return structure_problem(node.get_ase())


def is_disordered_node(node) -> bool:
    """Whether a ``StructureData`` has a partly occupied or mixed site (a kind that is an alloy or has vacancies):
    AiiDA keeps such kinds but cannot convert them to ASE, so they must be ordered before any calculation."""
    return any(kind.is_alloy or kind.has_vacancies for kind in node.kinds)


def disordered_structure_problem(node) -> str | None:
    """Why a disordered ``StructureData`` cannot be ordered at all (not periodic, no volume), or None."""
    if not all(node.pbc):
        return f'the structure must be periodic in 3 dimensions, got pbc={list(node.pbc)}'
    if abs(node.get_cell_volume()) < 1e-6:
        return 'the cell has zero volume: its vectors are not independent'
    return None


def validate_structure_or_disordered(node, _=None) -> str | None:
    """Port validator of a structure that may be disordered (it is ordered first): the checks of
    :func:`validate_structure` for an ordered one, periodicity and volume for a disordered one."""
    if is_disordered_node(node):
        return disordered_structure_problem(node)
    return validate_structure(node)
