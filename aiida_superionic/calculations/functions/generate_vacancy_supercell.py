"""Calcfunction: the pristine supercell and the one with a mobile-ion vacancy, the site chosen and recorded."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...descriptors.vacancy import choose_vacancy_site, symmetry_distinct_sites

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300


@calcfunction
def generate_vacancy_supercell(structure: orm.StructureData, settings: orm.Dict) -> dict | ExitCode:
    """Return ``pristine`` (the supercell), ``defective`` (one mobile ion removed) and ``vacancy`` (the choice).

    :param settings: ``supercell_matrix`` (3 integers or 3 × 3), ``mobile_species``, ``seed`` and ``symprec`` (Å).
        The symmetry-distinct sites of the mobile species are those of the supercell (spglib with ``symprec``);
        one orbit is drawn uniformly with ``seed`` and its first site removed. ``vacancy`` records the orbits,
        the one drawn, the site index in ``pristine``, its Wyckoff letter and fractional position.
    """
    values = settings.get_dict()
    supercell = structure.get_pymatgen_structure() * values['supercell_matrix']
    species = values['mobile_species']
    try:
        orbits = symmetry_distinct_sites(supercell, species, values['symprec'])
    except ValueError as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')
    orbit, site = choose_vacancy_site(orbits, values['seed'])
    defective = supercell.copy()
    defective.remove_sites([site])
    vacancy = {
        'mobile_species': species,
        'site_index': site,
        'site_fractional': [float(x) for x in supercell[site].frac_coords],
        'wyckoff': orbits[orbit]['wyckoff'],
        'orbit': orbit,
        'orbits': [
            {'wyckoff': group['wyckoff'], 'multiplicity': group['multiplicity'], 'first_site': group['indices'][0]}
            for group in orbits
        ],
        'seed': values['seed'],
        'symprec': values['symprec'],
        'supercell_matrix': values['supercell_matrix'],
        'pristine_atoms': len(supercell),
        'vacancy_fraction': 1.0 / sum(1 for s in supercell if s.specie.symbol == species),
    }
    return {
        'pristine': orm.StructureData(pymatgen=supercell),
        'defective': orm.StructureData(pymatgen=defective),
        'vacancy': orm.Dict(vacancy),
    }
