"""Phonons at Γ from finite-displacement forces (phonopy), for the lowest optical mode.

Pure numpy and phonopy (no AiiDA). Frequencies in THz, imaginary modes as negative numbers (phonopy's
convention). At Γ the dynamical matrix sums the force constants over every periodic image, so a
supercell of any size gives the Γ modes of its primitive cell exactly up to the finite-difference
error; larger supercells only matter away from Γ. The descriptor is taken **without** the
non-analytical correction (docs/source/topics/descriptors.md, ``lowest_optical_frequency_meV``): at q → 0
the LO–TO splitting depends on the direction of approach, and the paper uses the analytical modes.
"""

from __future__ import annotations

import numpy as np

from .structural import ACOUSTIC_MODES, lowest_optical_frequency_meV


def gamma_frequencies_THz(phonon, symmetrize: bool = True) -> np.ndarray:
    """Return all Γ-point frequencies (THz, ascending, imaginary negative) of a phonopy object with forces.

    :param phonon: a ``phonopy.Phonopy`` holding the displacement dataset and the forces.
    :param symmetrize: impose the crystal symmetry and the acoustic sum rule on the force constants
        (phonopy's ``symmetrize_force_constants``) so the three acoustic modes are zero, not the
        residual of a finite difference.
    """
    phonon.nac_params = None
    phonon.produce_force_constants()
    if symmetrize:
        phonon.symmetrize_force_constants()
    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    return np.sort(np.asarray(phonon.get_qpoints_dict()['frequencies'][0], dtype=float))


def gamma_descriptors(frequencies_THz, imaginary_tolerance_THz: float = 0.05) -> dict:
    """Return the lowest optical Γ mode in meV and counts of the modes.

    :param imaginary_tolerance_THz: optical modes below −tolerance are counted as imaginary (a saddle point:
        the structure is not a minimum of the engine's energy).
    """
    frequencies = np.asarray(frequencies_THz, dtype=float)
    acoustic = np.argsort(np.abs(frequencies), kind='stable')[:ACOUSTIC_MODES]  # as lowest_optical_frequency_meV
    optical = np.delete(frequencies, acoustic)
    return {
        'lowest_optical_frequency_meV': lowest_optical_frequency_meV(frequencies),
        'gamma_modes': int(frequencies.size),
        'imaginary_optical_modes': int(np.sum(optical < -imaginary_tolerance_THz)),
        'largest_acoustic_frequency_THz': float(np.max(np.abs(frequencies[acoustic]))),
    }
