"""Calcfunction: the MD supercells of a material, stoichiometric and with mobile-ion vacancies."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...descriptors.vacancy import choose_vacancy_sites, vacancy_count

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300


@calcfunction
def generate_md_cells(structure: orm.StructureData, settings: orm.Dict) -> dict | ExitCode:
    """Return ``stoichiometric`` (the supercell), ``vacancy`` (with mobile ions removed) and ``vacancies`` (which).

    :param settings: ``supercell_matrix`` (three integers), ``mobile_species``, ``vacancy_fraction`` (of the mobile
        ions; at least one vacancy) and ``seed`` of the uniform draw of the sites removed.
    """
    values = settings.get_dict()
    supercell = structure.get_pymatgen_structure() * values['supercell_matrix']
    species = values['mobile_species']
    mobile = [index for index, site in enumerate(supercell) if site.specie.symbol == species]
    try:
        count = vacancy_count(len(mobile), values['vacancy_fraction'])
    except ValueError as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')
    removed = choose_vacancy_sites(mobile, count, values['seed'])
    defective = supercell.copy()
    defective.remove_sites(removed)
    return {
        'stoichiometric': orm.StructureData(pymatgen=supercell),
        'vacancy': orm.StructureData(pymatgen=defective),
        'vacancies': orm.Dict(
            {
                'mobile_species': species,
                'removed_sites': removed,
                'vacancies': count,
                'mobile_ions': len(mobile),
                'vacancy_fraction': count / len(mobile),
                'requested_fraction': values['vacancy_fraction'],
                'seed': values['seed'],
                'supercell_matrix': values['supercell_matrix'],
            }
        ),
    }
