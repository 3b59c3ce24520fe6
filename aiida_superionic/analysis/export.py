"""Read the descriptor table out of an AiiDA profile with QueryBuilder (the only AiiDA module of the analysis).

A row is the ``Dict`` that the calcfunction ``merge_descriptors`` (entry point
``superionic.merge_descriptors``) returns with the link label ``result``. Its attributes are the
54 descriptor keys and the identifiers, so one projection of ``attributes`` reads the table
without loading a node per row.

**Queries.** QueryBuilder has no outer join, and a row may or may not have been made inside a
workchain (``merge_descriptors`` called directly has no caller), whose ``structure`` input may or
may not exist. The table is therefore read with a few queries, each a single SQL statement with
projections only (no node is loaded), whatever the number of rows:

1. the rows: ``row.uuid`` and ``row.attributes``;
2. the rows that have a calling workflow: ``row.uuid``, ``caller.id`` and ``caller.uuid``;
3. those callers' inputs linked as ``structure``: ``caller.uuid`` and ``structure.uuid``, for the
   caller ids of query 2 (in chunks of ``CALLER_CHUNK`` ids);

joined in pandas (``workchain_uuid``/``structure_uuid`` are NaN where absent). Query 3 starts from
the callers' ids rather than joining the whole path row → calculation → caller → structure: on
SQLite that four-link join is planned badly (16 s for 10,000 rows, against 0.1 s this way).
The filters (mobile species, engine, model, temperature window) are filters of the query on the
row's attributes. A group filter keeps the rows that are in the group *or* whose calling workflow
is in it; QueryBuilder cannot join "either" in one statement, so queries 1 and 2 then run once per
case and the results are united.

Projecting ``attributes`` whole rather than one ``attributes.<key>`` per column is 2–2.5 times
faster on SQLite (one JSON document per row instead of 62 extractions) and exact: SQLite's
``json_extract`` changes most floats in their last bits (up to 5e-15 relative), Python's JSON
parser does not. See ``benchmarks/export_table.py``.
"""

from __future__ import annotations

import pandas as pd
from aiida import orm
from aiida.common.links import LinkType

from .table import INDEX_COLUMN, TABLE_COLUMNS, normalise_table

#: ``process_type`` of a ``merge_descriptors`` node.
MERGE_PROCESS_TYPE = 'aiida.calculations:superionic.merge_descriptors'
#: Link label of the row output, and of the workflow input taken as the material's structure.
ROW_LINK_LABEL = 'result'
STRUCTURE_LINK_LABEL = 'structure'


class NoDescriptorRowsError(LookupError):
    """No ``merge_descriptors`` row matches the profile, group and filters asked for."""


def export_table(
    group: orm.Group | str | int | None = None,
    mobile_species: str | None = None,
    engine: str | None = None,
    model: str | None = None,
    temperature_range: tuple[float | None, float | None] | None = None,
) -> pd.DataFrame:
    """The descriptor table of the loaded profile, indexed by ``row_uuid``.

    :param group: a group, or its label, pk or UUID: keeps the rows in it or whose calling workflow is in it.
    :param mobile_species: keep the rows of this mobile species (e.g. ``'Li'``).
    :param engine: keep the rows of this engine (e.g. ``'ase'``, ``'vasp'``).
    :param model: keep the rows of this model or functional.
    :param temperature_range: ``(t_min, t_max)`` in K, inclusive; either may be ``None`` (open).
    :return: the table of :mod:`.table` (identifiers, 54 descriptors, ``workchain_uuid``, ``structure_uuid``).
    :raises NoDescriptorRowsError: when no row matches, naming the profile, the group and the filters.
    :raises aiida.common.exceptions.NotExistent: for a group that does not exist.
    """
    if group is not None and not isinstance(group, orm.Group):
        group = orm.load_group(group)
    filters = _row_filters(mobile_species, engine, model, temperature_range)

    cases = ['row', 'caller'] if group is not None else [None]
    rows, callers = [], []
    for case in cases:
        rows += _query(filters, group, case).all()
        callers += _query(filters, group, case, with_caller=True).all()
    if not rows:
        raise NoDescriptorRowsError(_nothing_found(group, mobile_species, engine, model, temperature_range))

    attributes = dict(rows)
    frame = pd.DataFrame.from_records(list(attributes.values()), index=pd.Index(list(attributes), name=INDEX_COLUMN))
    caller_of_row = {row_uuid: caller_uuid for row_uuid, _, caller_uuid in callers}
    structure_of_caller = _structures(sorted({caller_id for _, caller_id, _ in callers}))
    frame['workchain_uuid'] = pd.Series(caller_of_row, dtype=object)
    frame['structure_uuid'] = frame['workchain_uuid'].map(structure_of_caller)
    # A key a row lacks (a row made before a key existed) becomes NaN; keys beyond the table's are not kept.
    frame = frame.reindex(columns=list(TABLE_COLUMNS))
    return normalise_table(frame.sort_index())


def _row_filters(mobile_species, engine, model, temperature_range) -> dict:
    filters = {}
    for key, value in (('mobile_species', mobile_species), ('engine', engine), ('model', model)):
        if value is not None:
            filters[f'attributes.{key}'] = value
    if temperature_range is not None:
        low, high = temperature_range
        bounds = [{'>=': float(low)}] if low is not None else []
        bounds += [{'<=': float(high)}] if high is not None else []
        if bounds:
            filters['attributes.temperature_K'] = {'and': bounds}
    return filters


def _query(filters: dict, group, case: str | None, with_caller: bool = False) -> orm.QueryBuilder:
    """Rows (``row.uuid``, ``row.attributes``), or with ``with_caller`` (``row.uuid``, ``caller.id``, ``caller.uuid``).

    ``case`` says where the group is looked for: ``'row'`` (the row is in it), ``'caller'`` (the
    calling workflow is in it) or ``None`` (no group). Link types are not filtered: a calculation's
    output is always a ``create`` link and a workflow's link to a calculation a ``call_calc`` one.
    """
    query = orm.QueryBuilder()
    query.append(orm.CalcFunctionNode, tag='merge', filters={'process_type': MERGE_PROCESS_TYPE})
    query.append(
        orm.Dict,
        tag='row',
        with_incoming='merge',
        edge_filters={'label': ROW_LINK_LABEL},
        filters=filters,
        project=['uuid'] if with_caller else ['uuid', 'attributes'],
    )
    if case == 'row':
        query.append(orm.Group, with_node='row', filters={'id': group.pk})
    if case == 'caller' or with_caller:
        query.append(
            orm.WorkflowNode, tag='caller', with_outgoing='merge', project=['id', 'uuid'] if with_caller else []
        )
    if case == 'caller':
        query.append(orm.Group, with_node='caller', filters={'id': group.pk})
    return query


#: Caller ids per query 3 (SQLite allows 32,766 bound parameters in a statement).
CALLER_CHUNK = 5000


def _structures(caller_ids: list[int]) -> dict[str, str]:
    """``{caller uuid: uuid of its input linked as structure}`` for these workflow ids."""
    found = {}
    for start in range(0, len(caller_ids), CALLER_CHUNK):
        query = orm.QueryBuilder()
        query.append(
            orm.WorkflowNode,
            tag='caller',
            filters={'id': {'in': caller_ids[start : start + CALLER_CHUNK]}},
            project='uuid',
        )
        query.append(
            orm.Node,
            with_outgoing='caller',
            edge_filters={'label': STRUCTURE_LINK_LABEL, 'type': LinkType.INPUT_WORK.value},
            project='uuid',
        )
        found.update(dict(query.all()))
    return found


def _nothing_found(group, mobile_species, engine, model, temperature_range) -> str:
    from aiida.manage import get_manager

    profile = get_manager().get_profile()
    where = f'profile {profile.name!r}' if profile is not None else 'the loaded profile'
    if group is not None:
        where += f', group {group.label!r} (rows in it or made by a workflow in it)'
    conditions = [
        f'{name}={value!r}'
        for name, value in (('mobile_species', mobile_species), ('engine', engine), ('model', model))
        if value is not None
    ]
    if temperature_range is not None and any(bound is not None for bound in temperature_range):
        low, high = temperature_range
        conditions.append(f'{low if low is not None else "-inf"} K <= T <= {high if high is not None else "inf"} K')
    with_filters = f' with {", ".join(conditions)}' if conditions else ''
    return f'no descriptor rows (`{ROW_LINK_LABEL}` outputs of superionic.merge_descriptors) in {where}{with_filters}'
