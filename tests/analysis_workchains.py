"""A minimal workchain for the export tests: it calls ``merge_descriptors`` as the per-material workchain will.

It takes the material's structure as the input ``structure`` and makes one row, so the export can
be checked to find the calling workchain and its structure. (A module of its own: a workchain must
be importable by its module path.)
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import WorkChain

from aiida_superionic.calculations.functions.merge_descriptors import merge_descriptors


class RowWorkChain(WorkChain):
    """Merge one set of descriptors into a table row, as a workchain step (a CALL link to the calcfunction)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData)
        spec.input('identifiers', valid_type=orm.Dict)
        spec.input('descriptors', valid_type=orm.Dict)
        spec.output('row', valid_type=orm.Dict)
        spec.outline(cls.merge)

    def merge(self):
        self.out('row', merge_descriptors(identifiers=self.inputs.identifiers, trajectory=self.inputs.descriptors))
