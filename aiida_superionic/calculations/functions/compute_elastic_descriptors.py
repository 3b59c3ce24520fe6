"""Calcfunction: the 13 mechanical–elastic descriptors of one structure from its elastic tensor."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...descriptors.elastic import MechanicallyUnstableError, mechanical_descriptors

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300

#: Exit status of a tensor failing the mechanical stability criteria.
ERROR_MECHANICALLY_UNSTABLE = 310

#: Name of the array holding the 6×6 Voigt matrix in GPa in the ``elastic_tensor`` input.
ELASTIC_TENSOR_ARRAY = 'elastic_tensor_GPa'


@calcfunction
def compute_elastic_descriptors(elastic_tensor: orm.ArrayData, structure: orm.StructureData) -> orm.Dict | ExitCode:
    """Compute the mechanical–elastic descriptors of the table (``descriptors.keys``) from the elastic tensor of
    ``structure``.

    ``elastic_tensor`` holds the array ``elastic_tensor_GPa``: the 6×6 Voigt matrix C in GPa (Voigt
    order xx, yy, zz, yz, xz, xy, in the Cartesian frame of ``structure``). The density ρ (g/cm³)
    is pymatgen's ``Structure.density`` of ``structure``; the crystal system of the Born criteria
    is recognised from the pattern of C (see
    :func:`~aiida_superionic.descriptors.elastic.check_mechanical_stability`).

    Returns the 13 keys of :data:`~aiida_superionic.descriptors.elastic.MECHANICAL_DESCRIPTOR_KEYS`
    plus ``density_g_cm3`` and ``mechanically_stable`` (always ``True``: an unstable tensor gives
    exit status 310 with the failed criteria and the eigenvalues; bad input gives 300).
    """
    try:
        if ELASTIC_TENSOR_ARRAY not in elastic_tensor.get_arraynames():
            raise ValueError(
                f'the elastic_tensor input has no array {ELASTIC_TENSOR_ARRAY!r} '
                f'(arrays: {sorted(elastic_tensor.get_arraynames())})'
            )
        tensor = elastic_tensor.get_array(ELASTIC_TENSOR_ARRAY)
        density = float(structure.get_pymatgen_structure().density)
        result = mechanical_descriptors(tensor, density)
    except MechanicallyUnstableError as exception:
        return ExitCode(ERROR_MECHANICALLY_UNSTABLE, f'ERROR_MECHANICALLY_UNSTABLE: {exception.stability.message()}')
    except ValueError as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')
    result.update({'density_g_cm3': density, 'mechanically_stable': True})
    return orm.Dict(result)
