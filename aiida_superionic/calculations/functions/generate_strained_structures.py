"""Calcfunction: the strained cells of an elastic-tensor calculation."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...descriptors.elastic_fit import deform_cell, strain_deformations

#: The array of the ``deformations`` output (n × 3 × 3 deformation gradients).
DEFORMATIONS_ARRAY = 'deformations'


@calcfunction
def generate_strained_structures(structure: orm.StructureData, strains: orm.Dict) -> dict:
    """Return ``deformations`` (array ``deformations``, n × 3 × 3) and the strained cells ``strained_NN``.

    :param strains: ``normal_strains`` and ``shear_strains`` (see
        :func:`~aiida_superionic.descriptors.elastic_fit.strain_deformations`); each cell keeps the
        fractional positions of ``structure`` and has its lattice vectors deformed by F.
    """
    deformations = strain_deformations(strains['normal_strains'], strains['shear_strains'])
    node = orm.ArrayData()
    node.set_array(DEFORMATIONS_ARRAY, deformations)
    outputs = {'deformations': node}
    atoms = structure.get_ase()
    for index, gradient in enumerate(deformations):
        strained = atoms.copy()
        strained.set_cell(deform_cell(atoms.cell.array, gradient), scale_atoms=True)
        outputs[f'strained_{index:02d}'] = orm.StructureData(ase=strained)
    return outputs
