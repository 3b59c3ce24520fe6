"""Physical constants and unit conversions used across the numerics, in one place."""

#: 1 Å²/ps expressed in cm²/s (1e-16 cm² / 1e-12 s).
A2_PER_PS_TO_CM2_PER_S = 1.0e-4

#: Femtoseconds per picosecond.
FS_PER_PS = 1.0e3

#: Number of Cartesian dimensions; D = slope / (2 * DIMENSIONS) of the MSD.
DIMENSIONS = 3

#: Mobile species in the order of precedence used when none is named (docs/source/topics/diffusion.md):
#: the first one present in the structure is the mobile ion.
MOBILE_SPECIES_PRECEDENCE = ('Li', 'Na', 'Ag', 'Cu', 'F', 'Cl', 'Br', 'I', 'O')

#: Boltzmann constant in eV/K (k_B / e, both exact in the SI since 2019).
BOLTZMANN_eV_K = 1.380649e-23 / 1.602176634e-19

#: Planck constant h in meV·ps (exact SI value): an energy in meV is ``PLANCK_meV_ps × ν`` with ν in THz.
PLANCK_meV_ps = 6.62607015e-34 / 1.602176634e-19 * 1.0e15

#: Reduced Planck constant ħ = h / 2π in meV·ps: an energy in meV is ``HBAR_meV_ps × ω`` with ω in rad/ps.
HBAR_meV_ps = PLANCK_meV_ps / (2.0 * 3.141592653589793)

#: 1 amu·Å²/ps² in eV (atomic mass constant 1.66053906660e-27 kg, CODATA 2018).
AMU_A2_PER_PS2_TO_eV = 1.66053906660e-27 * 1.0e4 / 1.602176634e-19

#: 1 cm²/s expressed in m²/s.
CM2_PER_S_TO_M2_PER_S = 1.0e-4

#: 1 Å³ expressed in m³.
A3_TO_M3 = 1.0e-30

#: 1 S/m expressed in mS/cm (1 S/m = 1e3 mS / 1e2 cm).
S_PER_M_TO_MS_PER_CM = 10.0

#: Probability inside ±1σ of a normal distribution, erf(1/√2): the coverage of a "1σ" interval.
ONE_SIGMA_PROBABILITY = 0.6826894921370859
