"""The 54 descriptor keys of the table, their categories, and the merge into one row.

The one definition of the keys: the code and the docs (docs/source/topics/architecture.md, table.md) read them
from here.

Keys are stable once released: the analysis reads them by name. A descriptor that an engine
cannot give is present with the value ``None`` (NaN in the table), never zero or invented.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Mechanical–elastic (13), from the elastic tensor and the density.
MECHANICAL_ELASTIC_KEYS = (
    'lame_lambda_GPa',
    'bulk_modulus_GPa',
    'youngs_modulus_GPa',
    'shear_modulus_GPa',
    'poisson_ratio',
    'p_wave_modulus_GPa',
    'vickers_hardness_GPa',
    'pugh_ratio',
    'cauchy_pressure_GPa',
    'v_longitudinal_km_s',
    'v_transverse_km_s',
    'velocity_ratio',
    'v_mean_km_s',
)

#: The six vibrational quantities that come for all atoms, the framework and the mobile ions.
GROUPED_VIBRATIONAL_QUANTITIES = (
    'mean_frequency_meV',
    'mean_frequency_30meV_meV',
    'vibrational_energy_eV',
    'heat_capacity_kB',
    'free_energy_eV',
    'entropy_kB',
)
ATOM_GROUPS = ('all', 'framework', 'mobile')

#: Diffusive–vibrational (23), from NVT MD at one temperature (and Γ phonons for the lowest optical mode).
DIFFUSIVE_VIBRATIONAL_KEYS = (
    'lindemann_ratio',
    'lowest_optical_frequency_meV',
    *(f'{quantity}_{group}' for quantity in GROUPED_VIBRATIONAL_QUANTITIES for group in ATOM_GROUPS),
    'debye_temperature_K',
    'diffusion_coefficient_cm2_s',
    'msd_A2',
)

#: Structural–compositional (18).
STRUCTURAL_COMPOSITIONAL_KEYS = (
    'nominal_charge',
    'born_charge',
    'dielectric_constant',
    'mobile_ion_mass_amu',
    'mobile_ion_polarizability_A3',
    'crystal_polarizability_A3',
    'stoichiometric',
    'space_group',
    'min_lattice_constant_A',
    'formula_units',
    'volume_per_formula_unit_A3',
    'lattice_constants_std_A',
    'lattice_angles_std_deg',
    'symmetry_operations',
    'nearest_neighbours',
    'nearest_neighbour_distance_A',
    'band_gap_eV',
    'vacancy_formation_energy_eV',
)

#: The 54 descriptor columns, in the table's order: by category, as the paper groups them.
DESCRIPTOR_KEYS = MECHANICAL_ELASTIC_KEYS + DIFFUSIVE_VIBRATIONAL_KEYS + STRUCTURAL_COMPOSITIONAL_KEYS

#: Category of every descriptor (for the PCA's dominant-category analysis).
DESCRIPTOR_CATEGORIES = {
    **dict.fromkeys(MECHANICAL_ELASTIC_KEYS, 'mechanical-elastic'),
    **dict.fromkeys(DIFFUSIVE_VIBRATIONAL_KEYS, 'diffusive-vibrational'),
    **dict.fromkeys(STRUCTURAL_COMPOSITIONAL_KEYS, 'structural-compositional'),
}

#: Categorical descriptors (one-hot in the ML models).
CATEGORICAL_KEYS = ('stoichiometric', 'space_group')

#: Identifier columns every row carries beside the 54 descriptors.
IDENTIFIER_KEYS = (
    'formula',
    'mobile_species',
    'mobile_family',
    'temperature_K',
    'stoichiometric',
    'engine',
    'model',
    'protocol',
)


def merge_descriptor_row(sources: Mapping[str, Mapping | None], identifiers: Mapping) -> dict:
    """Return one table row: exactly the 54 descriptor keys (``None`` where absent) and the identifiers.

    :param sources: descriptor dicts by origin (e.g. ``{'trajectory': ..., 'structural': ...,
        'elastic': ...}``); ``None`` for a calculation that was not run. Keys beyond the 54 are
        kept only in their source nodes, not in the row.
    :param identifiers: the ``IDENTIFIER_KEYS``, all required (``model`` is the ML model or the
        DFT functional).
    :raises ValueError: for a missing identifier, or two sources that give one descriptor
        different values (a row must not depend on the merge order).
    """
    missing = [key for key in IDENTIFIER_KEYS if key not in identifiers]
    if missing:
        raise ValueError(f'the row lacks the identifiers {missing}')
    row: dict = dict.fromkeys(DESCRIPTOR_KEYS)
    origin: dict[str, str] = {}
    for name, values in sources.items():
        for key, value in (values or {}).items():
            if key not in row or value is None:
                continue
            if key in origin and row[key] != value:
                raise ValueError(
                    f'`{key}` is {row[key]!r} in the {origin[key]} descriptors and {value!r} in the {name} ones'
                )
            row[key], origin[key] = value, name
    if identifiers['stoichiometric'] is not None and row['stoichiometric'] is None:
        row['stoichiometric'] = bool(identifiers['stoichiometric'])
    if row['stoichiometric'] is not None and bool(row['stoichiometric']) != bool(identifiers['stoichiometric']):
        raise ValueError('the stoichiometric descriptor contradicts the stoichiometric identifier')
    return {**row, **{key: identifiers[key] for key in IDENTIFIER_KEYS}}
