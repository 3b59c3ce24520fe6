"""Calcfunction: one descriptor row per (material, temperature, composition) with exactly the 54 keys."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...common.trust import OVERRIDES_COLUMN, trust_values
from ...descriptors.keys import merge_descriptor_row

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300


@calcfunction
def merge_descriptors(
    identifiers: orm.Dict,
    trajectory: orm.Dict | None = None,
    structural: orm.Dict | None = None,
    elastic: orm.Dict | None = None,
    ordering: orm.Dict | None = None,
) -> orm.Dict | ExitCode:
    """Merge the descriptors of one MD run, its structure and its elastic tensor into one table row.

    The row holds exactly the 54 descriptor keys of the table (``descriptors.keys``; ``None`` where a calculation was
    not run or the engine cannot give the quantity: NaN in the table, never zero) and the
    identifiers (formula, mobile species and family, temperature, stoichiometric flag, engine,
    model or functional, protocol), and the trust columns of :mod:`aiida_superionic.common.trust`
    (the diffusivity verdict and its reason, σ(D), hops, the analysed MD length, the number of
    mobile ions, the kinetic temperature, from ``trajectory``; the protocol overrides from the
    optional identifier ``protocol_overrides``). One ``Dict`` per row means one QueryBuilder projection
    reads the whole table; the inputs link each number to the calculation that made it.

    With ``ordering`` (the record of ``superionic.order``: the material's structure was disordered), the row also
    records ``ordered_from_disordered`` (True), ``ordering_supercell`` (of the CIF's cell) and
    ``composition_change`` (element → relative change of its number of atoms); these are beside the table's
    columns, which the export reads by name.
    """
    sources = {
        name: node.get_dict() if node is not None else None
        for name, node in (('trajectory', trajectory), ('structural', structural), ('elastic', elastic))
    }
    values = identifiers.get_dict()
    try:
        row = merge_descriptor_row(sources, values)
        if ordering is not None:
            record = ordering.get_dict()
            row['ordered_from_disordered'] = bool(record['ordered_from_disordered'])
            row['ordering_supercell'] = record['supercell']
            row['composition_change'] = record.get('composition_change', {})
        return orm.Dict({**row, **trust_values(sources['trajectory'], values.get(OVERRIDES_COLUMN))})
    except ValueError as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')
