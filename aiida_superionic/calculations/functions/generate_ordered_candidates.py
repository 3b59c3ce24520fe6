"""Calcfunction: the ordered candidates of a disordered structure, their supercell and composition recorded."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...common.structure_checks import structure_problem
from ...structures.occupancy import OrderingError
from ...structures.ordering import order_structure

#: Exit status of a structure that cannot be ordered as asked: the message names the sites and the budget.
ERROR_CANNOT_ORDER = 310

#: Exit status when every candidate has overlapping atoms.
ERROR_NO_VALID_CANDIDATE = 311


@calcfunction
def generate_ordered_candidates(structure: orm.StructureData, settings: orm.Dict) -> dict | ExitCode:
    """Return ``candidate_<i>`` (ordered ``StructureData``, lowest Ewald energy first when ranked) and ``ordering``.

    :param settings: ``max_atoms``, ``occupancy_tolerance``, ``candidates``, ``seed`` and optionally
        ``mobile_species`` (refused when absent after ordering). ``ordering`` records the supercell, the
        occupancies and composition before and after, the oxidation states used, how the candidates were drawn
        (method, seed, Ewald energies) and any candidate dropped for overlapping atoms.
    """
    values = settings.get_dict()
    try:
        result = order_structure(
            structure.get_pymatgen_structure(),
            max_atoms=values['max_atoms'],
            occupancy_tolerance=values['occupancy_tolerance'],
            candidates=values['candidates'],
            seed=values['seed'],
            mobile_species=values.get('mobile_species'),
        )
    except OrderingError as exception:
        return ExitCode(ERROR_CANNOT_ORDER, f'ERROR_CANNOT_ORDER: {exception}')
    record = result.as_dict()
    outputs, dropped, energies = {}, [], []
    for index, (candidate, energy) in enumerate(zip(result.candidates, result.ewald_energies_eV, strict=True)):
        node = orm.StructureData(pymatgen=candidate)
        problem = structure_problem(node.get_ase())
        if problem:
            dropped.append({'candidate': index, 'why': problem})
            continue
        outputs[f'candidate_{len(energies)}'] = node
        energies.append(energy)
    if not outputs:
        return ExitCode(ERROR_NO_VALID_CANDIDATE, f'ERROR_NO_VALID_CANDIDATE: every candidate is refused: {dropped}')
    record.update({'ewald_energies_eV': energies, 'dropped': dropped, 'candidates': len(energies)})
    outputs['ordering'] = orm.Dict(record)
    return outputs
