"""The paper's symbols and units of the table's columns, for figure labels (López et al. 2023, Table 1).

``label('diffusion_coefficient_cm2_s')`` is ``'D (cm²/s)'``; a column that is not a descriptor (a
target the user brought) is labelled by its own name. Grouped quantities carry their group as a
subscript letter: all atoms none, framework (non-diffusive) ``nd``, mobile (diffusive) ``d``.
"""

from __future__ import annotations

#: key → (symbol, unit); unit '' for a number without one.
SYMBOLS = {
    'lame_lambda_GPa': ('λ', 'GPa'),
    'bulk_modulus_GPa': ('B', 'GPa'),
    'youngs_modulus_GPa': ('E', 'GPa'),
    'shear_modulus_GPa': ('G', 'GPa'),
    'poisson_ratio': ('ν', ''),
    'p_wave_modulus_GPa': ('σ', 'GPa'),
    'vickers_hardness_GPa': ('H_V', 'GPa'),
    'pugh_ratio': ('κ', ''),
    'cauchy_pressure_GPa': ('P_c', 'GPa'),
    'v_longitudinal_km_s': ('v_l', 'km/s'),
    'v_transverse_km_s': ('v_t', 'km/s'),
    'velocity_ratio': ('v_r', ''),
    'v_mean_km_s': ('⟨v⟩', 'km/s'),
    'lindemann_ratio': ('γ', ''),
    'lowest_optical_frequency_meV': ('Γ', 'meV'),
    'debye_temperature_K': ('θ_D', 'K'),
    'diffusion_coefficient_cm2_s': ('D', 'cm²/s'),
    'msd_A2': ('msd', 'Å²'),
    'nominal_charge': ('Z_N', 'e'),
    'born_charge': ('Z_B', 'e'),
    'dielectric_constant': ('ϵ', ''),
    'mobile_ion_mass_amu': ('M', 'amu'),
    'mobile_ion_polarizability_A3': ('α_i', 'Å³'),
    'crystal_polarizability_A3': ('α_c', 'Å³'),
    'stoichiometric': ('Stc', ''),
    'space_group': ('Sym', ''),
    'min_lattice_constant_A': ('a_m', 'Å'),
    'formula_units': ('n', ''),
    'volume_per_formula_unit_A3': ('Ω', 'Å³'),
    'lattice_constants_std_A': ('⟨abc⟩', 'Å'),
    'lattice_angles_std_deg': ('⟨αβγ⟩', '°'),
    'symmetry_operations': ('SO', ''),
    'nearest_neighbours': ('N_nn', ''),
    'nearest_neighbour_distance_A': ('d_nn', 'Å'),
    'band_gap_eV': ('E_g', 'eV'),
    'vacancy_formation_energy_eV': ('E_vac', 'eV'),
    'temperature_K': ('T', 'K'),
}
_GROUPED = {
    'mean_frequency_meV': ('⟨ω⟩', 'meV'),
    'mean_frequency_30meV_meV': ('⟨ω30⟩', 'meV'),
    'vibrational_energy_eV': ('E_vib', 'eV/atom'),
    'heat_capacity_kB': ('C_v', 'k_B/atom'),
    'free_energy_eV': ('F_vib', 'eV/atom'),
    'entropy_kB': ('S_vib', 'k_B/atom'),
}
_GROUP_SUFFIX = {'all': '', 'framework': ',nd', 'mobile': ',d'}
for _quantity, (_symbol, _unit) in _GROUPED.items():
    for _group, _suffix in _GROUP_SUFFIX.items():
        SYMBOLS[f'{_quantity}_{_group}'] = (f'{_symbol}{_suffix}' if _suffix else _symbol, _unit)


def label(column: str) -> str:
    """The paper's symbol and unit, e.g. ``'D (cm²/s)'``; a one-hot column ``space_group=225`` as ``'Sym = 225'``."""
    if '=' in column:
        key, value = column.split('=', 1)
        return f'{SYMBOLS.get(key, (key, ""))[0]} = {value}'
    if column not in SYMBOLS:
        return column
    symbol, unit = SYMBOLS[column]
    return f'{symbol} ({unit})' if unit else symbol


def describe(column: str) -> str:
    """The label and the key, for tables of the report: ``'D (cm²/s) — diffusion_coefficient_cm2_s'``."""
    text = label(column)
    return column if text == column else f'{text} — {column}'
