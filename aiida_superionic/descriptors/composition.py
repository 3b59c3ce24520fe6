"""Composition-level facts about the mobile ion: its nominal charge, with the source stated."""

from __future__ import annotations

import collections

#: Oxidation state of each candidate mobile ion in the electrolytes of López et al. (2023) (Cu is
#: Cu(I) in the copper conductors, e.g. CuI, Cu2Se); used when pymatgen's guess is not available.
FAMILY_OXIDATION_STATES = {'Li': 1, 'Na': 1, 'Ag': 1, 'Cu': 1, 'F': -1, 'Cl': -1, 'Br': -1, 'I': -1, 'O': -2}

#: pymatgen's oxidation-state search grows combinatorially with the atoms of the reduced formula
#: (minutes for Li47P16S60); above this size the family table is used instead.
MAX_ATOMS_FOR_GUESS = 30


def nominal_charge(symbols: list[str] | tuple[str, ...], mobile_species: str) -> tuple[int, str]:
    """Return the nominal charge (oxidation state, in units of e) of the mobile ion and its source.

    pymatgen's ``Composition.oxi_state_guesses`` on the charge-neutral reduced formula when that
    formula has at most ``MAX_ATOMS_FOR_GUESS`` atoms and the guess for the mobile ion is a
    non-zero integer; otherwise the table ``FAMILY_OXIDATION_STATES`` (a cell with vacancies is
    not charge neutral, and its guess would be fractional).

    :raises ValueError: when neither gives a charge.
    """
    from pymatgen.core import Composition

    composition = Composition(collections.Counter(symbols))
    if mobile_species not in {element.symbol for element in composition.elements}:
        raise ValueError(f'no atom of the mobile species {mobile_species} in {composition.reduced_formula}')
    if composition.reduced_composition.num_atoms <= MAX_ATOMS_FOR_GUESS:
        guesses = composition.reduced_composition.oxi_state_guesses()
        if guesses:
            charge = guesses[0].get(mobile_species, 0)
            if charge and float(charge).is_integer():
                return int(charge), f'pymatgen oxi_state_guesses of {composition.reduced_formula}'
    if mobile_species in FAMILY_OXIDATION_STATES:
        return FAMILY_OXIDATION_STATES[mobile_species], 'family table (aiida_superionic.descriptors.composition)'
    raise ValueError(
        f'no nominal charge for {mobile_species} in {composition.reduced_formula}: pymatgen cannot assign '
        'oxidation states and the element is not a known mobile species'
    )
