"""Calcfunction: the energies of the ordered candidates recorded beside the ordering, and the lowest chosen."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction


@calcfunction
def choose_ordered_candidate(ordering: orm.Dict, **energies: orm.Float) -> orm.Dict:
    """Return ``ordering`` with ``energies_eV`` (per candidate, None for one whose relaxation failed), the energy per
    atom, and ``chosen``: the candidate of lowest energy.

    :param energies: ``candidate_<i>`` → the engine's total energy (eV) of candidate ``i`` after its short
        relaxation; a candidate without one has failed and cannot be chosen.
    """
    record = ordering.get_dict()
    count = record['candidates']
    values = [energies[f'candidate_{i}'].value if f'candidate_{i}' in energies else None for i in range(count)]
    known = {i: value for i, value in enumerate(values) if value is not None}
    chosen = min(known, key=known.get)
    record.update(
        {
            'energies_eV': values,
            'energies_eV_per_atom': [None if value is None else value / record['atoms'] for value in values],
            'chosen': chosen,
            'chosen_by': 'lowest energy of the engine after a short relaxation at fixed cell',
            'energy_spread_eV_per_atom': (max(known.values()) - min(known.values())) / record['atoms'],
        }
    )
    return orm.Dict(record)
