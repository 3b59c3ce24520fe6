"""The structural–compositional descriptors of the table (18 keys) and the lowest optical mode at Γ.

Pure pymatgen/spglib/numpy (no AiiDA). Lengths in Å, volumes in Å³, angles in degrees, masses in
amu, charges in units of e, energies in eV, phonon frequencies in THz (input) and meV (output).

**Which cell.** The lattice statistics (``min_lattice_constant_A``, ``lattice_constants_std_A``,
``lattice_angles_std_deg``), ``formula_units``, ``volume_per_formula_unit_A3`` and
``symmetry_operations`` are taken in **spglib's conventional standard cell** (``refine_cell``,
through pymatgen's ``SpacegroupAnalyzer.get_refined_structure``) with the stated ``symprec`` (Å)
and ``angle_tolerance`` (degrees), so that they do not depend on the supercell that was simulated.
``symmetry_operations`` counts the operations spglib finds in that cell, centring translations
included: 192 for Fm-3m (48 point operations × 4 centrings; 48 in the primitive cell), 24 for
P6/mmm. For a cell with vacancies or other disorder the symmetry is that of the given cell.

**Missing inputs.** Born charges, ε∞, the band gap, the vacancy formation energy and Γ phonons
come from DFT (DFPT); when they are not given (e.g. a force-field workflow) the descriptor is
``None``, never zero and never estimated.

**Mobile-ion polarizability.** A tabulated ionic polarizability with its source named would do. No table of *ionic*
polarizabilities is installed with the project's dependencies (pymatgen's periodic table has none; ASE's
``vdwcorrection`` holds free-*atom* polarizabilities, Chu & Dalgarno 2004, which are not ionic), so
``mobile_ion_polarizability_A3`` is ``None`` and ``polarizability_source`` says why.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .composition import nominal_charge
from .constants import PLANCK_meV_ps
from .diffusion import select_mobile_species

#: Family of each candidate mobile ion (the table groups the electrolytes by these: its ``mobile_family`` column).
MOBILE_FAMILIES = {
    'Li': 'Li',
    'Na': 'Na',
    'Ag': 'Ag/Cu',
    'Cu': 'Ag/Cu',
    'F': 'halide',
    'Cl': 'halide',
    'Br': 'halide',
    'I': 'halide',
    'O': 'O',
}

#: Default symmetry tolerances handed to spglib: distance in Å, angle in degrees.
DEFAULT_SYMPREC_A = 0.01
DEFAULT_ANGLE_TOLERANCE_DEG = 5.0

#: Default relative shell for counting nearest neighbours: every atom within d_min·(1 + 0.1).
DEFAULT_NEIGHBOUR_TOLERANCE = 0.1

#: Number of acoustic modes at Γ (dropped before taking the lowest optical mode).
ACOUSTIC_MODES = 3

#: ``polarizability_source`` when no verified table of ionic polarizabilities is installed.
POLARIZABILITY_NOT_AVAILABLE = 'not available: no verified ionic-polarizability table installed'

#: The cell in which the lattice statistics, formula units and symmetry operations are taken.
FORMULA_UNITS_CELL = 'conventional'


def mobile_family(mobile_species: str) -> str:
    """Return the family of a mobile ion: ``'Li'``, ``'Na'``, ``'Ag/Cu'``, ``'halide'`` or ``'O'``.

    :raises ValueError: for an element that is not a candidate mobile species.
    """
    try:
        return MOBILE_FAMILIES[mobile_species]
    except KeyError:
        raise ValueError(
            f'{mobile_species} is not a candidate mobile species (one of {", ".join(MOBILE_FAMILIES)})'
        ) from None


@dataclasses.dataclass(frozen=True)
class CellSymmetry:
    """Symmetry and lattice facts of a structure in spglib's conventional standard cell.

    :ivar space_group: international space-group number.
    :ivar symmetry_operations: operations spglib finds in the conventional cell (centrings included).
    :ivar formula_units: formula units (of the reduced formula) in the conventional cell.
    :ivar volume_per_formula_unit_A3: conventional-cell volume per formula unit in Å³.
    :ivar lattice_constants_A: a, b, c of the conventional cell in Å.
    :ivar lattice_angles_deg: α, β, γ of the conventional cell in degrees.
    """

    space_group: int
    symmetry_operations: int
    formula_units: int
    volume_per_formula_unit_A3: float
    lattice_constants_A: tuple[float, float, float]
    lattice_angles_deg: tuple[float, float, float]

    @property
    def min_lattice_constant_A(self) -> float:
        """Smallest of a, b, c in Å."""
        return float(min(self.lattice_constants_A))

    @property
    def lattice_constants_std_A(self) -> float:
        """Population standard deviation (ddof 0) of a, b, c in Å."""
        return float(np.std(self.lattice_constants_A))

    @property
    def lattice_angles_std_deg(self) -> float:
        """Population standard deviation (ddof 0) of α, β, γ in degrees."""
        return float(np.std(self.lattice_angles_deg))


def cell_symmetry(
    structure,
    symprec: float = DEFAULT_SYMPREC_A,
    angle_tolerance: float = DEFAULT_ANGLE_TOLERANCE_DEG,
) -> CellSymmetry:
    """Return the symmetry and lattice facts of ``structure`` in spglib's conventional standard cell.

    :param structure: an ordered pymatgen ``Structure`` (Å).
    :param symprec: spglib distance tolerance in Å.
    :param angle_tolerance: spglib angle tolerance in degrees.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    analyzer = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=angle_tolerance)
    conventional = analyzer.get_refined_structure()
    conventional_analyzer = SpacegroupAnalyzer(conventional, symprec=symprec, angle_tolerance=angle_tolerance)
    _, formula_units = conventional.composition.get_reduced_composition_and_factor()
    formula_units = round(formula_units)
    return CellSymmetry(
        space_group=int(analyzer.get_space_group_number()),
        symmetry_operations=len(conventional_analyzer.get_symmetry_dataset().rotations),
        formula_units=formula_units,
        volume_per_formula_unit_A3=float(conventional.volume / formula_units),
        lattice_constants_A=tuple(float(value) for value in conventional.lattice.abc),
        lattice_angles_deg=tuple(float(value) for value in conventional.lattice.angles),
    )


@dataclasses.dataclass(frozen=True)
class NearestNeighbours:
    """The first coordination shell of the mobile ions, averaged over the mobile ions.

    :ivar distance_A: mean over mobile ions of the distance to the nearest other atom (any
        species, periodic images included) in Å.
    :ivar count: mean over mobile ions of the number of atoms within ``d_min · (1 + tolerance)``,
        ``d_min`` being that ion's own nearest distance.
    :ivar tolerance: the relative width of the shell.
    """

    distance_A: float
    count: float
    tolerance: float


def nearest_neighbours(
    structure, mobile_species: str, tolerance: float = DEFAULT_NEIGHBOUR_TOLERANCE
) -> NearestNeighbours:
    """Return the nearest-neighbour distance and count of the mobile ions of ``structure``.

    All periodic images are searched (not only the minimum image), so a small cell is handled.

    :raises ValueError: when no site is of the mobile species or the tolerance is negative.
    """
    if tolerance < 0:
        raise ValueError(f'the neighbour tolerance must be non-negative, not {tolerance}')
    mobile = [index for index, site in enumerate(structure) if site.specie.symbol == mobile_species]
    if not mobile:
        raise ValueError(f'no atom of the mobile species {mobile_species} in {structure.composition.reduced_formula}')
    radius = 3.0
    while True:
        neighbours = [structure.get_neighbors(structure[index], radius) for index in mobile]
        if all(neighbours):
            break
        radius *= 2.0
    minima = [min(neighbour.nn_distance for neighbour in shell) for shell in neighbours]
    cutoff = max(minima) * (1.0 + tolerance) + 1e-6
    if cutoff > radius:
        neighbours = [structure.get_neighbors(structure[index], cutoff) for index in mobile]
    counts = [
        sum(neighbour.nn_distance <= d_min * (1.0 + tolerance) + 1e-6 for neighbour in shell)
        for shell, d_min in zip(neighbours, minima, strict=True)
    ]
    return NearestNeighbours(distance_A=float(np.mean(minima)), count=float(np.mean(counts)), tolerance=tolerance)


def lowest_optical_frequency_meV(gamma_frequencies_THz) -> float | None:
    """Return the lowest optical mode at Γ in meV, imaginary modes negative.

    The frequencies (THz, all Γ modes, imaginary ones as negative numbers) are sorted, the three
    of smallest ``|ω|`` are dropped as the acoustic modes, and the lowest remaining one is
    converted with h·(1 THz) = 4.135667696 meV. ``None`` when there is no optical mode (3 modes).

    :raises ValueError: when the number of modes is not a positive multiple of 3 or one is not finite.
    """
    frequencies = np.asarray(gamma_frequencies_THz, dtype=float).ravel()
    if frequencies.size < ACOUSTIC_MODES or frequencies.size % 3 or not np.all(np.isfinite(frequencies)):
        raise ValueError(
            f'expected the finite frequencies of all Γ modes (a positive multiple of 3), got {frequencies.size}'
        )
    optical = np.delete(frequencies, np.argsort(np.abs(frequencies), kind='stable')[:ACOUSTIC_MODES])
    if optical.size == 0:
        return None
    return float(np.min(optical) * PLANCK_meV_ps)


def mean_born_charge(born_charges, mobile_indices: list[int], sites: int) -> float:
    """Return the mean over the mobile ions of trace(Z*)/3 (e), from Born charges of shape ``(sites, 3, 3)``."""
    charges = np.asarray(born_charges, dtype=float)
    if charges.shape != (sites, 3, 3) or not np.all(np.isfinite(charges)):
        raise ValueError(f'Born charges must be finite with shape ({sites}, 3, 3), got {charges.shape}')
    return float(np.mean(np.trace(charges[mobile_indices], axis1=1, axis2=2)) / 3.0)


def mean_dielectric_constant(dielectric_tensor) -> float:
    """Return trace(ε∞)/3 of the ion-clamped dielectric tensor (3×3, dimensionless)."""
    tensor = np.asarray(dielectric_tensor, dtype=float)
    if tensor.shape != (3, 3) or not np.all(np.isfinite(tensor)):
        raise ValueError(f'the dielectric tensor must be finite with shape (3, 3), got {tensor.shape}')
    return float(np.trace(tensor) / 3.0)


def clausius_mossotti_polarizability_A3(epsilon: float, volume_A3: float) -> float:
    """Return the polarizability volume α = (3V/4π)(ε − 1)/(ε + 2) in Å³ (Clausius–Mossotti).

    :param epsilon: the (mean) high-frequency dielectric constant.
    :param volume_A3: the volume per formula unit in Å³, so that α is per formula unit.
    """
    if not epsilon > -2.0:
        raise ValueError(f'the Clausius–Mossotti relation needs ε > −2, got {epsilon}')
    return float(3.0 * volume_A3 / (4.0 * np.pi) * (epsilon - 1.0) / (epsilon + 2.0))


def _optional_float(value, name: str) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f'{name} must be finite, got {value}')
    return value


def structural_descriptors(
    structure,
    mobile_species: str | None = None,
    stoichiometric: bool = True,
    born_charges=None,
    dielectric_tensor=None,
    band_gap_eV: float | None = None,
    vacancy_formation_energy_eV: float | None = None,
    gamma_frequencies_THz=None,
    symprec: float = DEFAULT_SYMPREC_A,
    angle_tolerance: float = DEFAULT_ANGLE_TOLERANCE_DEG,
    neighbour_tolerance: float = DEFAULT_NEIGHBOUR_TOLERANCE,
) -> dict:
    """Return the structural–compositional descriptors of the table (:mod:`.keys`) and the lowest optical mode at Γ.

    :param structure: an ordered pymatgen ``Structure`` (Å), the simulated cell.
    :param mobile_species: the mobile ion; by default the mobile-species precedence rule.
    :param stoichiometric: whether the cell is stoichiometric (categorical, as given).
    :param born_charges: Born effective charges in e, shape ``(sites, 3, 3)`` in site order.
    :param dielectric_tensor: ion-clamped ε∞, shape ``(3, 3)``.
    :param band_gap_eV: the (DFT) band gap in eV.
    :param vacancy_formation_energy_eV: the mobile-ion vacancy formation energy in eV (its
        reference, the chemical potential of the removed ion, is the caller's to state).
    :param gamma_frequencies_THz: all phonon frequencies at Γ in THz, imaginary as negative.
    :param symprec: spglib distance tolerance in Å.
    :param angle_tolerance: spglib angle tolerance in degrees.
    :param neighbour_tolerance: relative shell width for the nearest-neighbour count.
    :return: the descriptor keys (``None`` for what the inputs cannot give) plus the identifiers
        ``mobile_species``, ``mobile_family``, ``nominal_charge_source``, ``symprec_A``,
        ``angle_tolerance_deg``, ``formula_units_cell``, ``polarizability_source``.
    :raises ValueError: for a disordered structure, no mobile species, no nominal charge or
        inputs of the wrong shape.
    """
    from pymatgen.core import Element

    if not structure.is_ordered:
        raise ValueError(
            f'the structure {structure.composition.reduced_formula} is disordered; an ordered cell is needed'
        )
    symbols = [site.specie.symbol for site in structure]
    if mobile_species is None:
        mobile_species = select_mobile_species(symbols)
    family = mobile_family(mobile_species)
    formula = structure.composition.reduced_formula
    try:
        charge, charge_source = nominal_charge(symbols, mobile_species)
    except ValueError as exception:
        raise ValueError(f'cannot assign the nominal charge of {mobile_species} in {formula}: {exception}') from None

    mobile_indices = [index for index, symbol in enumerate(symbols) if symbol == mobile_species]
    symmetry = cell_symmetry(structure, symprec=symprec, angle_tolerance=angle_tolerance)
    shell = nearest_neighbours(structure, mobile_species, tolerance=neighbour_tolerance)

    born = None if born_charges is None else mean_born_charge(born_charges, mobile_indices, len(structure))
    epsilon = None if dielectric_tensor is None else mean_dielectric_constant(dielectric_tensor)
    crystal_polarizability = (
        None if epsilon is None else clausius_mossotti_polarizability_A3(epsilon, symmetry.volume_per_formula_unit_A3)
    )
    optical = None if gamma_frequencies_THz is None else lowest_optical_frequency_meV(gamma_frequencies_THz)

    return {
        'nominal_charge': int(charge),
        'born_charge': born,
        'dielectric_constant': epsilon,
        'mobile_ion_mass_amu': float(Element(mobile_species).atomic_mass),
        'mobile_ion_polarizability_A3': None,
        'crystal_polarizability_A3': crystal_polarizability,
        'stoichiometric': bool(stoichiometric),
        'space_group': symmetry.space_group,
        'min_lattice_constant_A': symmetry.min_lattice_constant_A,
        'formula_units': symmetry.formula_units,
        'volume_per_formula_unit_A3': symmetry.volume_per_formula_unit_A3,
        'lattice_constants_std_A': symmetry.lattice_constants_std_A,
        'lattice_angles_std_deg': symmetry.lattice_angles_std_deg,
        'symmetry_operations': symmetry.symmetry_operations,
        'nearest_neighbours': shell.count,
        'nearest_neighbour_distance_A': shell.distance_A,
        'band_gap_eV': _optional_float(band_gap_eV, 'band_gap_eV'),
        'vacancy_formation_energy_eV': _optional_float(vacancy_formation_energy_eV, 'vacancy_formation_energy_eV'),
        'lowest_optical_frequency_meV': optical,
        'mobile_species': mobile_species,
        'mobile_family': family,
        'nominal_charge_source': charge_source,
        'symprec_A': float(symprec),
        'angle_tolerance_deg': float(angle_tolerance),
        'formula_units_cell': FORMULA_UNITS_CELL,
        'polarizability_source': POLARIZABILITY_NOT_AVAILABLE,
    }
