"""The mobile-ion vacancy: the site (among symmetry-distinct ones), the supercell, the formation energy.

Pure numpy, pymatgen and ASE (no AiiDA). Energies in eV, lengths in Å.

**Formation energy.** For a vacancy of charge q (q = 0: the neutral vacancy, the atom removed with its
electrons; q = −z for a cation of nominal charge z removed as an ion, its electron left in the cell),

    E_f = E(defective, q) − E(pristine) + μ + q (ε_VBM + E_F),

with μ the chemical potential of the removed atom (its reference, stated with the result) and E_F the Fermi
level above the valence-band maximum ε_VBM of the pristine cell. The neutral value needs neither ε_VBM nor
E_F. No finite-size (image-charge) correction is applied to a charged cell; the result says so.
"""

from __future__ import annotations

import numpy as np

#: Elemental references of the mobile species: the ASE ``bulk`` crystal of the element (its reference
#: state at low temperature) for the metals, the diatomic molecule for the halogens and oxygen, with
#: the experimental bond length in Å (CRC Handbook) as the start of the relaxation.
MOLECULE_BOND_LENGTHS_A = {'F': 1.412, 'Cl': 1.988, 'Br': 2.281, 'I': 2.666, 'O': 1.208}

#: Edge of the cubic box (Å) of a molecular reference: 15 Å of vacuum keeps a diatomic from its images.
MOLECULE_BOX_A = 15.0


def symmetry_distinct_sites(structure, species: str, symprec: float = 0.01) -> list[dict]:
    """Return the symmetry-distinct sites of ``species`` in ``structure`` (a pymatgen ``Structure``).

    :return: one dict per orbit, ordered by the first site index: ``indices`` (all equivalent sites),
        ``wyckoff`` (e.g. ``'2c'``, from spglib with ``symprec``) and ``multiplicity``.
    :raises ValueError: when the structure holds no atom of ``species``.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    symmetrized = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetrized_structure()
    groups = []
    for indices, wyckoff in zip(symmetrized.equivalent_indices, symmetrized.wyckoff_symbols, strict=True):
        if structure[indices[0]].specie.symbol == species:
            groups.append(
                {'indices': sorted(int(i) for i in indices), 'wyckoff': wyckoff, 'multiplicity': len(indices)}
            )
    if not groups:
        raise ValueError(f'the structure {structure.composition.reduced_formula} has no {species} site')
    return sorted(groups, key=lambda group: group['indices'][0])


def choose_vacancy_site(groups: list[dict], seed: int) -> tuple[int, int]:
    """Return ``(orbit, site)``: an orbit drawn uniformly among the distinct ones with ``seed``, and its first site.

    Uniform over orbits, not over sites: each kind of site is as likely, whatever its multiplicity.
    """
    orbit = int(np.random.default_rng(seed).integers(len(groups)))
    return orbit, groups[orbit]['indices'][0]


def elemental_reference(species: str):
    """Return ``(atoms, description, relax_cell)``: the ASE structure of the elemental reference of ``species``.

    Metals: ``ase.build.bulk`` (bcc Li and Na, fcc Cu and Ag, ...), relaxed with the cell. Halogens and O: the
    diatomic molecule in a 15 Å box, relaxed at fixed box. (O₂ is a triplet: on VASP pass spin polarisation.)
    """
    from ase import Atoms
    from ase.build import bulk

    if species in MOLECULE_BOND_LENGTHS_A:
        bond = MOLECULE_BOND_LENGTHS_A[species]
        centre = MOLECULE_BOX_A / 2
        atoms = Atoms(
            f'{species}2',
            positions=[[centre, centre, centre - bond / 2], [centre, centre, centre + bond / 2]],
            cell=np.eye(3) * MOLECULE_BOX_A,
            pbc=True,
        )
        return atoms, f'{species}2 molecule in a {MOLECULE_BOX_A:g} Å box, half its energy', False
    try:
        atoms = bulk(species)
    except (ValueError, KeyError) as exception:
        raise ValueError(f'ASE has no reference crystal for {species}: give the chemical potential') from exception
    return atoms, f'elemental {species} crystal (ase.build.bulk, {len(atoms)} atom(s)), cell relaxed', True


def vacancy_formation_energy(
    defective_eV: float,
    pristine_eV: float,
    chemical_potential_eV: float,
    charge: int = 0,
    valence_band_maximum_eV: float | None = None,
    fermi_level_eV: float = 0.0,
) -> float:
    """E_f = E(defective, q) − E(pristine) + μ + q (ε_VBM + E_F), in eV (see the module docstring).

    :raises ValueError: for a charged vacancy without the valence-band maximum.
    """
    energy = defective_eV - pristine_eV + chemical_potential_eV
    if charge:
        if valence_band_maximum_eV is None:
            raise ValueError('a charged vacancy needs the valence-band maximum of the pristine cell')
        energy += charge * (valence_band_maximum_eV + fermi_level_eV)
    return float(energy)


def vacancy_count(mobile_ions: int, fraction: float) -> int:
    """Mobile-ion vacancies for a fraction of the mobile ions: round(fraction × n), at least one, fewer than n."""
    if mobile_ions < 2:
        raise ValueError(f'a cell with {mobile_ions} mobile ion(s) cannot keep one after a vacancy: use a larger cell')
    if not 0 < fraction < 1:
        raise ValueError(f'the vacancy fraction must be between 0 and 1, got {fraction}')
    return min(mobile_ions - 1, max(1, round(fraction * mobile_ions)))


def choose_vacancy_sites(mobile_indices, count: int, seed: int) -> list[int]:
    """``count`` distinct sites among ``mobile_indices`` drawn with ``seed`` (sorted), for an MD cell with vacancies.

    A uniform draw, not one per symmetry orbit: with several vacancies in a large cell the draw samples the
    orbits in proportion to their multiplicity, as a real vacancy population would at high temperature.
    """
    indices = np.asarray(sorted(int(index) for index in mobile_indices))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(indices, size=count, replace=False))
