"""Calcfunction: the vacancy formation energy with its chemical-potential reference stated."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...descriptors.vacancy import vacancy_formation_energy

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300


@calcfunction
def compute_vacancy_formation_energy(
    pristine_energy: orm.Float,
    defective_energy: orm.Float,
    vacancy: orm.Dict,
    reference_energy: orm.Float | None = None,
    reference_structure: orm.StructureData | None = None,
    reference_description: orm.Str | None = None,
    chemical_potential: orm.Dict | None = None,
    charge: orm.Int | None = None,
    band_edge: orm.Dict | None = None,
) -> orm.Dict | ExitCode:
    """Return ``vacancy_formation_energy_eV`` and everything it rests on (see ``descriptors.vacancy``).

    μ is either ``chemical_potential`` (``value_eV`` and ``description``, given by the user) or the energy per atom
    of ``reference_structure`` (``reference_energy`` in eV, computed with the same engine; ``reference_description``
    says what it is). ``charge`` is the vacancy's charge q (default 0); a charged one needs ``band_edge``, the
    ``output_parameters`` of a VASP static task of the pristine cell with its ``vbm_eV``, and gives E_f with the
    Fermi level at the valence-band maximum.
    """
    species = vacancy['mobile_species']
    if chemical_potential is not None:
        mu = float(chemical_potential['value_eV'])
        reference = f'given: {chemical_potential["description"]}'
    elif reference_energy is not None and reference_structure is not None:
        symbols = reference_structure.get_ase().get_chemical_symbols()
        if set(symbols) != {species}:
            return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: the reference is not elemental {species}')
        mu = reference_energy.value / len(symbols)
        reference = reference_description.value if reference_description is not None else f'{species} reference'
    else:
        return ExitCode(
            ERROR_INVALID_INPUT, 'ERROR_INVALID_INPUT: give a chemical potential or a reference calculation'
        )
    q = charge.value if charge is not None else 0
    try:
        energy = vacancy_formation_energy(
            defective_energy.value,
            pristine_energy.value,
            mu,
            charge=q,
            valence_band_maximum_eV=None if band_edge is None else band_edge.get('vbm_eV'),
        )
    except ValueError as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')
    return orm.Dict(
        {
            'vacancy_formation_energy_eV': energy,
            'chemical_potential_eV': mu,
            'chemical_potential_reference': reference,
            'charge': q,
            'charge_compensation': 'neutral vacancy (the atom removed with its electrons)'
            if q == 0
            else f'charged vacancy q = {q:+d} (NELECT changed), Fermi level at the VBM of the pristine cell, '
            'no finite-size correction',
            'pristine_energy_eV': pristine_energy.value,
            'defective_energy_eV': defective_energy.value,
            **{key: vacancy[key] for key in ('mobile_species', 'site_index', 'wyckoff', 'seed', 'vacancy_fraction')},
        }
    )
