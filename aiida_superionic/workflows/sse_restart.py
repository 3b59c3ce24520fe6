"""Restarting an ``SseWorkChain`` from an earlier run, and the group that holds the runs and their rows.

``restart_from`` is one flat namespace of the results a new run reuses instead of computing them (filled by
:meth:`SseWorkChain.get_builder_restart <aiida_superionic.workflows.sse.SseWorkChain.get_builder_restart>` with
:func:`reusable_results`); its keys are ``relaxed_structure``, the zero-temperature results
(``ZERO_TEMPERATURE_OUTPUTS``), ``md_<label>`` and ``md_segments_<label>_<segment>``. A restart that lands in a
group takes the place of the runs it continues there (:func:`file_in_group`), so that no row is there twice.
"""

from __future__ import annotations

from aiida import orm
from aiida.common.links import LinkType

from .sse_roles import MD_FLAGGED_STATUSES, ZERO_TEMPERATURE_OUTPUTS

#: The ``restart_from`` keys that stand for each zero-temperature child: all present, the child is not run.
REUSED_RESULTS = {
    'elastic': ('elastic_descriptors',),
    'phonons': ('gamma_frequencies',),
    'vacancy': ('vacancy_descriptors',),
    'dielectric': ('nac_parameters', 'band_gap'),
}


def reusable_results(node: orm.WorkflowNode) -> dict:
    """What an earlier ``SseWorkChain`` (finished, failed or killed) gives a new run, as ``restart_from``: the
    relaxed cell, the results of every zero-temperature child that finished, the descriptors of every MD run that
    gave a row, and the segments of the MD runs that did not."""
    reuse = {}
    children = {link.link_label: link.node for link in node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()}
    relax = children.get('relax')
    if relax is not None and relax.is_finished_ok:
        reuse['relaxed_structure'] = relax.outputs.structure
    elif 'relaxed_structure' in node.outputs:  # itself reused by that run
        reuse['relaxed_structure'] = node.outputs.relaxed_structure
    if 'zero_temperature' in node.outputs:
        reuse.update(dict(node.outputs.zero_temperature.items()))
    for name, outputs in ZERO_TEMPERATURE_OUTPUTS.items():
        child = children.get(name)
        if child is not None and child.is_finished_ok:
            reuse.update({key: child.outputs[output] for output, key in outputs if output in child.outputs})
    if 'md' in node.outputs:  # runs reused by that run, and finished ones
        reuse.update({f'md_{label}': value for label, value in node.outputs.md.items()})
    for link_label, child in children.items():
        if not link_label.startswith('md_'):
            continue
        label = link_label.removeprefix('md_')
        gave_row = child.is_finished_ok or child.exit_status in MD_FLAGGED_STATUSES
        if gave_row and 'descriptors' in child.outputs:
            reuse[f'md_{label}'] = child.outputs.descriptors
            continue
        reuse.pop(f'md_{label}', None)  # failed: computed again, from its segments when it has them
        if 'segments' in child.outputs:
            for segment, trajectory in child.outputs.segments.items():
                reuse[f'md_segments_{label}_{segment}'] = trajectory
    return reuse


def stored_segments(reuse: dict, label: str) -> dict:
    """The trajectory segments of ``restart_from`` for the MD run ``label``, by segment label."""
    return {
        key.removeprefix(f'md_segments_{label}_'): node
        for key, node in reuse.items()
        if key.startswith(f'md_segments_{label}_')
    }


def superseded_runs(workchain, group: orm.Group) -> list[orm.WorkflowNode]:
    """The ``SseWorkChain`` runs of ``group`` whose results ``workchain`` reuses: those that computed a node of
    ``restart_from`` (it is in their call tree) or took it as their own ``restart_from`` (a chain of restarts)."""
    runs = set()
    for node in workchain.inputs.get('restart_from', {}).values():  # a flat namespace of data nodes
        process = node.creator
        while process is not None:
            if process.process_type == workchain.node.process_type:
                runs.add(process.pk)
            process = process.caller
        for link in node.base.links.get_outgoing(link_type=LinkType.INPUT_WORK).all():
            if link.node.process_type == workchain.node.process_type:
                runs.add(link.node.pk)
    runs.discard(workchain.node.pk)
    if not runs:
        return []
    query = orm.QueryBuilder().append(orm.Group, filters={'id': group.pk}, tag='group')
    query.append(orm.WorkflowNode, with_group='group', filters={'id': {'in': sorted(runs)}})
    return query.all(flat=True)


def file_in_group(workchain, group_label: str, rows: list[orm.Dict]) -> None:
    """Add ``workchain`` and its ``rows`` to the group ``group_label`` (created if absent), in place of the runs
    it continues."""
    group, _created = orm.Group.collection.get_or_create(group_label)
    superseded = superseded_runs(workchain, group)
    for run in superseded:  # a restart takes the place of the run it continues: no row twice
        old_rows = list(run.outputs.rows.values()) if 'rows' in run.outputs else []
        group.remove_nodes([run, *old_rows])
        workchain.report(f'took the run <{run.pk}> it continues and its {len(old_rows)} rows out of the group')
    group.add_nodes([workchain.node, *rows])
    workchain.report(f'added the workchain and {len(rows)} rows to the group `{group.label}`')
