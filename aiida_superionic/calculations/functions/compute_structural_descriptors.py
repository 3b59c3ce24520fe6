"""Calcfunction: the structural–compositional descriptors of one cell and its lowest optical mode at Γ.

A thin wrapper around ``descriptors.structural.structural_descriptors``: lattice statistics,
formula units and symmetry operations in spglib's conventional standard cell (symprec 0.01 Å,
angle tolerance 5°), the nearest-neighbour shell of the mobile ion (all atoms within
d_min·1.1), and the DFT quantities (Born charges, ε∞, band gap, vacancy formation energy, Γ
phonons) when they are given; what is not given is stored as ``None``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...descriptors.structural import structural_descriptors

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300

#: The arrays an input ``dielectric`` ArrayData may hold (either or both).
DIELECTRIC_ARRAYS = ('born_charges', 'dielectric')

#: The array of the input ``gamma_frequencies``.
FREQUENCIES_ARRAY = 'frequencies_THz'


def _array(node: orm.ArrayData | None, name: str, required: bool):
    if node is None or (not required and name not in node.get_arraynames()):
        return None
    if name not in node.get_arraynames():
        raise ValueError(f'the ArrayData has no array {name!r} (it has {node.get_arraynames()})')
    return node.get_array(name)


@calcfunction
def compute_structural_descriptors(
    structure: orm.StructureData,
    mobile_species: orm.Str | None = None,
    stoichiometric: orm.Bool | None = None,
    dielectric: orm.ArrayData | None = None,
    band_gap: orm.Float | None = None,
    vacancy_formation_energy: orm.Float | None = None,
    gamma_frequencies: orm.ArrayData | None = None,
    vacancy_descriptors: orm.Dict | None = None,
) -> orm.Dict | ExitCode:
    """Return the structural–compositional descriptors of ``structure`` (Å) as a Dict.

    :param mobile_species: the mobile ion; by default the mobile-species precedence rule.
    :param stoichiometric: whether the cell is stoichiometric (default True).
    :param dielectric: DFPT results, arrays ``born_charges`` (e, shape ``(sites, 3, 3)``, site
        order of ``structure``) and/or ``dielectric`` (ion-clamped ε∞, ``(3, 3)``): the layout of
        aiida-phonopy's non-analytical correction data, which the ``dfpt`` task outputs as ``nac_parameters``.
    :param band_gap: the band gap in eV.
    :param vacancy_formation_energy: the mobile-ion vacancy formation energy in eV.
    :param gamma_frequencies: array ``frequencies_THz``, all Γ modes, imaginary as negative.
    :param vacancy_descriptors: the ``descriptors`` of a ``VacancyWorkChain`` (its ``vacancy_formation_energy_eV``),
        instead of ``vacancy_formation_energy``.

    Bad input (no mobile species, no nominal charge, arrays of the wrong shape, an unknown array)
    returns exit status 300 (``ERROR_INVALID_INPUT``) with the reason.
    """
    try:
        vacancy_energy = None if vacancy_formation_energy is None else vacancy_formation_energy.value
        if vacancy_descriptors is not None:
            if vacancy_energy is not None:
                raise ValueError(
                    'give the vacancy formation energy once: as `vacancy_formation_energy` or in `vacancy_descriptors`'
                )
            vacancy_energy = vacancy_descriptors['vacancy_formation_energy_eV']
        if dielectric is not None:
            unknown = set(dielectric.get_arraynames()) - set(DIELECTRIC_ARRAYS)
            if unknown or not dielectric.get_arraynames():
                raise ValueError(
                    f'dielectric must hold {" and/or ".join(DIELECTRIC_ARRAYS)}, got {dielectric.get_arraynames()}'
                )
        if gamma_frequencies is not None and set(gamma_frequencies.get_arraynames()) != {FREQUENCIES_ARRAY}:
            raise ValueError(
                f'gamma_frequencies must hold only {FREQUENCIES_ARRAY!r}, got {gamma_frequencies.get_arraynames()}'
            )
        result = structural_descriptors(
            structure.get_pymatgen_structure(),
            mobile_species=None if mobile_species is None else mobile_species.value,
            stoichiometric=True if stoichiometric is None else stoichiometric.value,
            born_charges=_array(dielectric, 'born_charges', required=False),
            dielectric_tensor=_array(dielectric, 'dielectric', required=False),
            band_gap_eV=None if band_gap is None else band_gap.value,
            vacancy_formation_energy_eV=vacancy_energy,
            gamma_frequencies_THz=_array(gamma_frequencies, FREQUENCIES_ARRAY, required=True),
        )
    except ValueError as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')
    return orm.Dict(result)
