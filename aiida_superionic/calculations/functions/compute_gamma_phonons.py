"""Calcfunction: the Γ phonons of a finished finite-displacement set and the lowest optical mode."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from ...descriptors.phonons import gamma_descriptors, gamma_frequencies_THz
from .compute_structural_descriptors import FREQUENCIES_ARRAY


@calcfunction
def compute_gamma_phonons(phonopy_data) -> dict:
    """Return ``gamma_frequencies`` (array ``frequencies_THz``: every Γ mode of the primitive cell, THz,
    imaginary negative, without the non-analytical correction) and ``descriptors`` (the lowest optical mode
    in meV, the number of imaginary optical modes, the largest acoustic residual in THz).

    :param phonopy_data: aiida-phonopy's ``PhonopyData`` with the forces of every displaced supercell; residual
        forces of the undisplaced supercell, when it holds them, are subtracted.
    """
    phonon = phonopy_data.get_phonopy_instance(subtract_residual_forces=phonopy_data.residual_forces is not None)
    frequencies = gamma_frequencies_THz(phonon)
    array = orm.ArrayData()
    array.set_array(FREQUENCIES_ARRAY, np.asarray(frequencies))
    array.base.attributes.set('units', {FREQUENCIES_ARRAY: 'THz'})
    descriptors = gamma_descriptors(frequencies)
    descriptors['primitive_atoms'] = len(phonon.primitive)
    descriptors['supercell_atoms'] = len(phonon.supercell)
    return {'gamma_frequencies': array, 'descriptors': orm.Dict(descriptors)}
