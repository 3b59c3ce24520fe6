"""A launch that was made before: the same structure, protocol, engine and potential as an earlier ``SseWorkChain``.

``launch`` of the same folder twice would run and export everything twice. Each submitted ``SseWorkChain`` carries
in its extras a key computed from the inputs that decide its results (the structure, the protocol and its
overrides, the engine and its model or POTCARs, the temperatures, ...; not the code, the labels or the group,
which do not change a number). A later launch with the same key finds the earlier run: a finished one is reused
(added, with its rows, to the group asked for), a running one is left to finish; a failed or killed one is run
again. ``--force`` submits anyway.
"""

from __future__ import annotations

import hashlib
import json

#: The extra of a launched ``SseWorkChain`` that holds its key.
LAUNCH_KEY_EXTRA = 'superionic_launch_key'

#: Inputs that do not change a result: where it runs, what it is called, where it is filed.
NOT_IN_THE_KEY = frozenset({'metadata', 'code', 'code_gamma', 'group_label'})


def _content(value):
    """What an input holds, as JSON-able data: a data node's attributes, a namespace's contents by name."""
    from aiida import orm

    if isinstance(value, orm.AbstractCode):
        return None  # which code runs it does not change the result (a code under a namespace, e.g. ase.code)
    if isinstance(value, orm.Data):
        return {'type': value.node_type, 'attributes': value.base.attributes.all}
    if isinstance(value, dict) or hasattr(value, 'items'):
        return {key: _content(item) for key, item in sorted(value.items()) if key not in NOT_IN_THE_KEY}
    return value


def launch_key(builder) -> str:
    """The key of the run ``builder`` would make: a hash of every input that decides its results."""
    inputs = builder._inputs(prune=True)
    payload = json.dumps(_content(inputs), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def earlier_launch(key: str):
    """The newest ``SseWorkChain`` launched with ``key`` that finished well or still runs; None when there is none
    (a failed, excepted or killed one does not count: it is run again)."""
    from aiida import orm

    from ..workflows.sse import SseWorkChain

    query = orm.QueryBuilder().append(SseWorkChain, filters={f'extras.{LAUNCH_KEY_EXTRA}': key}, project='*', tag='run')
    query.order_by({'run': {'ctime': 'desc'}})
    for node in query.all(flat=True):
        if node.is_finished_ok or not node.is_terminated:
            return node
    return None


def reuse(node, group_label: str) -> str:
    """File a finished run ``node`` and its rows in ``group_label`` (created if absent); return what was done."""
    from aiida import orm

    if not node.is_terminated:
        return f'still running as SseWorkChain<{node.pk}>: not submitted again'
    group, _created = orm.Group.collection.get_or_create(group_label)
    rows = list(node.outputs.rows.values()) if 'rows' in node.outputs else []
    group.add_nodes([node, *rows])  # adding a node a group holds already is a no-op
    return f'ran as SseWorkChain<{node.pk}>: reused, its {len(rows)} rows in the group `{group_label}`'
