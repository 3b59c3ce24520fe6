"""A planted descriptor table for the analysis tests: known structure that the statistics must find.

``planted_table()`` returns a table in the layout of :mod:`aiida_superionic.analysis.table` with

* 36 materials in five families (Li 13, Na 8, Ag/Cu 7 (Ag 4, Cu 3), halide 6 (F, Cl, I), O 2), each at
  several temperatures and in both compositions (stoichiometric and with vacancies);
* **four planted clusters**: most descriptors are linear in two latent material coordinates
  (u, v) whose values sit near four well-separated centres (``PLANTED_CLUSTER`` gives each
  material's cluster: material index mod 4, so clusters cut across families);
* **a monotonic, strongly non-linear law** ``D = 1e-9 exp(60 γ)`` between D and the Lindemann
  ratio γ, exact on every row: γ is D's first Spearman correlation (ρ = 1) but not its first
  Pearson one, which is ``msd_A2`` (linear in D with 8 % noise);
* an exact linear law ``σ = B + 4G/3`` (``p_wave_modulus_GPa``) for the kernel-ridge check;
* descriptors the engine cannot give (band gap, Born charge, dielectric constant, both
  polarizabilities: NaN on every row), one with a few gaps (vacancy formation energy, NaN for
  three materials), and one constant column (``lattice_angles_std_deg`` = 0);
* temperature sets chosen for the 500 ± 100 K selection (``EXPECTED_SELECTION_K``): most
  materials have 500 K; a few have only 450/600 K, 380/560 K, 450/550 K (a tie: the lower is
  taken) or nothing within 400–600 K (left out).
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd

from aiida_superionic.analysis.table import normalise_table
from aiida_superionic.descriptors.keys import DESCRIPTOR_KEYS

SPECIES = ['Li'] * 13 + ['Na'] * 8 + ['Ag'] * 4 + ['Cu'] * 3 + ['F', 'F', 'Cl', 'Cl', 'I', 'I'] + ['O'] * 2
FAMILY = {'Li': 'Li', 'Na': 'Na', 'Ag': 'Ag/Cu', 'Cu': 'Ag/Cu', 'F': 'halide', 'Cl': 'halide', 'I': 'halide', 'O': 'O'}
MASS_AMU = {'Li': 6.94, 'Na': 22.99, 'Ag': 107.87, 'Cu': 63.55, 'F': 19.0, 'Cl': 35.45, 'I': 126.9, 'O': 16.0}
CHARGE = {'Li': 1, 'Na': 1, 'Ag': 1, 'Cu': 1, 'F': -1, 'Cl': -1, 'I': -1, 'O': -2}
MATERIALS = len(SPECIES)
FORMULAS = [f'{species}{index:02d}X' for index, species in enumerate(SPECIES)]
PLANTED_CLUSTER = {formula: index % 4 for index, formula in enumerate(FORMULAS)}
CLUSTER_CENTRES = np.array([[-6.0, -6.0], [6.0, -6.0], [-6.0, 6.0], [6.0, 6.0]])

DEFAULT_TEMPERATURES_K = (500.0, 700.0, 900.0)
#: Materials with other temperature sets, for the selection test.
SPECIAL_TEMPERATURES_K = {
    FORMULAS[3]: (450.0, 600.0, 800.0),
    FORMULAS[4]: (380.0, 560.0, 700.0),
    FORMULAS[5]: (450.0, 550.0, 900.0),
    FORMULAS[6]: (300.0, 700.0, 1000.0),
}
#: The temperature (K) the 500 ± 100 K selection must take for each material (None: left out).
EXPECTED_SELECTION_K = {
    formula: {FORMULAS[3]: 450.0, FORMULAS[4]: 560.0, FORMULAS[5]: 450.0, FORMULAS[6]: None}.get(formula, 500.0)
    for formula in FORMULAS
}

ENGINE_CANNOT_GIVE = (
    'band_gap_eV',
    'born_charge',
    'dielectric_constant',
    'mobile_ion_polarizability_A3',
    'crystal_polarizability_A3',
)
SOME_GAPS = 'vacancy_formation_energy_eV'
GAPS_IN = (FORMULAS[1], FORMULAS[14], FORMULAS[30])
CONSTANT = 'lattice_angles_std_deg'
#: Descriptors given by an explicit rule here; every other descriptor is linear in the latent (u, v).
EXPLICIT = {
    *ENGINE_CANNOT_GIVE,
    SOME_GAPS,
    CONSTANT,
    'lindemann_ratio',
    'diffusion_coefficient_cm2_s',
    'msd_A2',
    'p_wave_modulus_GPa',
    'mobile_ion_mass_amu',
    'nominal_charge',
    'stoichiometric',
    'space_group',
}


def planted_table(seed: int = 7, engine: str = 'ase', model: str = 'planted-potential') -> pd.DataFrame:
    """Return the planted table (about 215 rows); see the module docstring for what is planted."""
    rng = np.random.default_rng(seed)
    latent_keys = [key for key in DESCRIPTOR_KEYS if key not in EXPLICIT]
    loadings = rng.normal(size=(len(latent_keys), 2))
    means = rng.uniform(5.0, 50.0, size=len(latent_keys))
    scales = rng.uniform(0.5, 3.0, size=len(latent_keys))

    latent = CLUSTER_CENTRES[[PLANTED_CLUSTER[formula] for formula in FORMULAS]] + rng.normal(0, 0.3, (MATERIALS, 2))
    lindemann_base = rng.uniform(0.04, 0.10, size=MATERIALS)
    space_groups = rng.choice([62, 139, 166, 194, 225], size=MATERIALS)
    vacancy_energy = rng.uniform(0.5, 3.0, size=MATERIALS)

    rows = []
    for material, formula in enumerate(FORMULAS):
        species = SPECIES[material]
        for temperature in SPECIAL_TEMPERATURES_K.get(formula, DEFAULT_TEMPERATURES_K):
            for stoichiometric in (True, False):
                row = dict.fromkeys(DESCRIPTOR_KEYS, np.nan)
                # Small per-row changes (temperature, vacancies, noise) that keep each material in its cluster.
                shift = 0.02 * (temperature - 500.0) / 100.0 + (0.0 if stoichiometric else 0.05)
                noise = rng.normal(0, 0.05, size=len(latent_keys))
                row.update(
                    zip(
                        latent_keys,
                        means + scales * (loadings @ latent[material] + shift + noise),
                        strict=True,
                    )
                )
                lindemann = (
                    lindemann_base[material] + 0.01 * (temperature - 500.0) / 100.0 + 0.003 * (not stoichiometric)
                )
                diffusion = 1e-9 * np.exp(60.0 * lindemann)  # cm²/s: the planted monotonic law
                row.update(
                    lindemann_ratio=lindemann,
                    diffusion_coefficient_cm2_s=diffusion,
                    msd_A2=6.0 * diffusion * 1e4 * 50.0 * (1.0 + rng.normal(0, 0.08)),  # Å² at τmax = 50 ps
                    p_wave_modulus_GPa=row['bulk_modulus_GPa'] + 4.0 * row['shear_modulus_GPa'] / 3.0,
                    mobile_ion_mass_amu=MASS_AMU[species],
                    nominal_charge=float(CHARGE[species]),
                    stoichiometric=stoichiometric,
                    space_group=float(space_groups[material]),
                    **{CONSTANT: 0.0},
                    **{SOME_GAPS: np.nan if formula in GAPS_IN else vacancy_energy[material]},
                )
                row.update(
                    formula=formula,
                    mobile_species=species,
                    mobile_family=FAMILY[species],
                    temperature_K=temperature,
                    engine=engine,
                    model=model,
                    protocol='planted',
                    workchain_uuid=str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                    structure_uuid=str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                )
                rows.append((str(uuid.UUID(bytes=rng.bytes(16), version=4)), row))
    frame = pd.DataFrame([row for _, row in rows], index=[name for name, _ in rows])
    return normalise_table(frame)


def mixed_table() -> pd.DataFrame:
    """The planted table, its Li rows again from a second engine/model (new UUIDs)."""
    first = planted_table()
    second = planted_table(seed=8, engine='vasp', model='PBE')
    return pd.concat([first, second[second['mobile_species'] == 'Li']])
