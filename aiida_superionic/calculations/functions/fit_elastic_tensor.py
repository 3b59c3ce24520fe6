"""Calcfunction: the elastic tensor fitted to the stresses of the strained cells."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...descriptors.elastic_fit import fit_elastic_tensor as fit
from ...descriptors.elastic_fit import symmetrize_fitted_tensor
from .compute_elastic_descriptors import ELASTIC_TENSOR_ARRAY
from .generate_strained_structures import DEFORMATIONS_ARRAY

#: The array of the unsymmetrised fit.
FITTED_ARRAY = 'fitted_elastic_tensor_GPa'

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300


@calcfunction
def fit_elastic_tensor(deformations: orm.ArrayData, reference_stress: orm.ArrayData, **stresses) -> orm.ArrayData:
    """Return the 6 × 6 Voigt elastic tensor fitted to the stresses: array ``elastic_tensor_GPa`` is the
    symmetrised fit (C + Cᵀ)/2, array ``fitted_elastic_tensor_GPa`` the fit as it came, and the attribute
    ``max_asymmetry_GPa`` their largest |C_ij − C_ji| (the noise of the stresses).

    :param deformations: the ``deformations`` output of ``generate_strained_structures``.
    :param reference_stress: array ``stress`` (3 × 3, GPa, positive in tension) of the unstrained cell.
    :param stresses: ``strained_NN``: array ``stress`` of each strained cell, NN its index in ``deformations``.
    """
    gradients = deformations.get_array(DEFORMATIONS_ARRAY)
    labels = [f'strained_{index:02d}' for index in range(len(gradients))]
    missing = sorted(set(labels) - set(stresses))
    if missing or set(stresses) - set(labels):
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: stresses of {missing} missing, or unknown labels')
    try:
        tensor = fit(
            gradients,
            np.array([stresses[label].get_array('stress') for label in labels]),
            reference_stress.get_array('stress'),
        )
    except ValueError as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')
    symmetric, asymmetry = symmetrize_fitted_tensor(tensor)
    node = orm.ArrayData()
    node.set_array(ELASTIC_TENSOR_ARRAY, symmetric)
    node.set_array(FITTED_ARRAY, tensor)
    node.base.attributes.set('units', {ELASTIC_TENSOR_ARRAY: 'GPa', FITTED_ARRAY: 'GPa'})
    node.base.attributes.set('max_asymmetry_GPa', asymmetry)
    node.base.attributes.set('voigt_order', 'xx, yy, zz, yz, xz, xy')
    return node
