"""Physical constants and unit conversions used across the numerics, in one place."""

#: 1 Å²/ps expressed in cm²/s (1e-16 cm² / 1e-12 s).
A2_PER_PS_TO_CM2_PER_S = 1.0e-4

#: Femtoseconds per picosecond.
FS_PER_PS = 1.0e3

#: Number of Cartesian dimensions; D = slope / (2 * DIMENSIONS) of the MSD.
DIMENSIONS = 3

#: Mobile species in the order of precedence used when none is named (DESIGN.md): the
#: first one present in the structure is the mobile ion.
MOBILE_SPECIES_PRECEDENCE = ('Li', 'Na', 'Ag', 'Cu', 'F', 'Cl', 'Br', 'I', 'O')
