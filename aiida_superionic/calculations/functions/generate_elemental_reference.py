"""Calcfunction: the elemental reference structure of a mobile species, for its chemical potential."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...descriptors.vacancy import elemental_reference


@calcfunction
def generate_elemental_reference(species: orm.Str) -> dict:
    """Return ``structure`` (the start of the reference's relaxation), ``description`` and ``relax_cell``.

    See :func:`~aiida_superionic.descriptors.vacancy.elemental_reference`: the ASE crystal of a metal
    (cell relaxed), the diatomic molecule of a halogen or O in a box (box fixed).
    """
    atoms, description, relax_cell = elemental_reference(species.value)
    return {
        'structure': orm.StructureData(ase=atoms),
        'description': orm.Str(description),
        'relax_cell': orm.Bool(relax_cell),
    }
