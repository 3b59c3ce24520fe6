"""Calcfunction: one descriptor row per (material, temperature, composition) with exactly the 54 keys."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...descriptors.keys import merge_descriptor_row

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300


@calcfunction
def merge_descriptors(
    identifiers: orm.Dict,
    trajectory: orm.Dict | None = None,
    structural: orm.Dict | None = None,
    elastic: orm.Dict | None = None,
) -> orm.Dict | ExitCode:
    """Merge the descriptors of one MD run, its structure and its elastic tensor into one table row.

    The row holds exactly the 54 descriptor keys of the design (``None`` where a calculation was
    not run or the engine cannot give the quantity: NaN in the table, never zero) and the
    identifiers (formula, mobile species and family, temperature, stoichiometric flag, engine,
    model or functional, protocol). One ``Dict`` per row means one QueryBuilder projection
    reads the whole table; the inputs link each number to the calculation that made it.
    """
    sources = {
        name: node.get_dict() if node is not None else None
        for name, node in (('trajectory', trajectory), ('structural', structural), ('elastic', elastic))
    }
    try:
        return orm.Dict(merge_descriptor_row(sources, identifiers.get_dict()))
    except ValueError as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')
