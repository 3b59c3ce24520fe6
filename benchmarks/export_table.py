"""Benchmark of the descriptor-table export from an AiiDA profile against a naive peer (issue 9).

One command (see ``benchmarks/README.md``)::

    python benchmarks/export_table.py [--rows 10000 --rows-per-workchain 6]

makes a throw-away AiiDA profile (SQLite storage, ``core.sqlite_dos``, in a temporary folder
that is deleted at the end; the user's own ``~/.aiida`` is neither read nor written), fills it
with ``--rows`` descriptor rows, and measures, in this process on the same database:

* **ours:** :func:`aiida_superionic.analysis.export.export_table` (three QueryBuilder queries, the
  rows' ``attributes`` projected whole, joined in pandas), best of ``--repeats``; also with a
  group filter (the group holding the workchains: every query runs twice, for the rows in the
  group and for the rows made by a workchain in it, and the two are united);
* **per-key projections:** the same row query with one ``attributes.<key>`` projection per
  column (62), the form the issue first asked for: why ours projects ``attributes`` whole;
* **naive peer:** what a script does without QueryBuilder projections: the rows' pks from a
  query, then ``orm.load_node(pk).get_dict()`` for each row (the rows only: the peer does not
  even look up the calling workchain and its structure, which ours does).

It prints the times, the ratios, the 5 s target, and checks that the peer's table equals ours.

**What is stored.** The first row is made the genuine way: ``merge_descriptors`` is run once, so
that the calcfunction node, its repository (the source file) and its attributes are the engine's
own. The rest are written in bulk (``StorageBackend.bulk_insert``, what ``verdi archive import``
uses) as copies of that node: the same ``node_type``, ``process_type``, attributes (process state,
exit status, sealed) and repository metadata, with new UUIDs and their own row values. Each row
has its ``identifiers`` ``Dict`` input (``input_calc``), its ``result`` ``Dict`` (``create``, the
54 descriptors and the 8 identifiers) and a calling ``WorkChainNode`` (``call_calc``, process type
``aiida.workflows:superionic.sse``, finished, exit status 0) shared by ``--rows-per-workchain``
rows (3 temperatures × 2 compositions per material), whose ``structure`` input
(``input_work``) is a ``StructureData`` of a 4-atom cell (a structure keeps everything in its
attributes: nothing is missing from it). Not stored: the descriptor ``Dict`` inputs of
``merge_descriptors`` other than ``identifiers`` (trajectory, structural, elastic), and the
workchains' other inputs and children: they are not on the export's query path.
"""

from __future__ import annotations

import argparse
import atexit
import os
import pathlib
import shutil
import sys
import tempfile
import time
import uuid

# A throw-away AiiDA configuration folder, set before the first `import aiida` (read at import time).
_AIIDA_PATH = tempfile.mkdtemp(prefix='superionic-bench-aiida-')
(pathlib.Path(_AIIDA_PATH) / '.aiida').mkdir()
os.environ['AIIDA_PATH'] = _AIIDA_PATH
atexit.register(shutil.rmtree, _AIIDA_PATH, ignore_errors=True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import footer, header, target  # noqa: E402

TARGET_SECONDS = 5.0
FAMILIES = {'Li': 'Li', 'Na': 'Na', 'Ag': 'Ag/Cu', 'Cu': 'Ag/Cu', 'F': 'halide', 'Cl': 'halide', 'O': 'O'}
TEMPERATURES_K = (600.0, 800.0, 1000.0)


def make_profile():
    """Create and load a SQLite profile in the temporary configuration folder."""
    from aiida import load_profile
    from aiida.manage.configuration import create_profile, get_config

    config = get_config(create=True)
    create_profile(
        config,
        storage_backend='core.sqlite_dos',
        storage_config={'filepath': str(pathlib.Path(_AIIDA_PATH) / 'storage')},
        name='export-benchmark',
        email='benchmark@localhost',
    )
    config.set_default_profile('export-benchmark', overwrite=True)
    config.store()
    return load_profile('export-benchmark', allow_switch=True)


def row_values(rng, index: int, rows_per_workchain: int) -> dict:
    """One row: the 54 descriptors (some None, as an ML engine leaves them) and the identifiers."""
    from aiida_superionic.descriptors.keys import DESCRIPTOR_KEYS

    material = index // rows_per_workchain
    species = list(FAMILIES)[material % len(FAMILIES)]
    values = {key: float(value) for key, value in zip(DESCRIPTOR_KEYS, rng.uniform(0.1, 100.0, 54), strict=True)}
    for key in ('band_gap_eV', 'born_charge', 'dielectric_constant', 'crystal_polarizability_A3'):
        values[key] = None
    values['space_group'] = int(rng.choice([62, 139, 166, 194, 225]))
    stoichiometric = bool(index % 2)
    values.update(
        formula=f'{species}{material:05d}X',
        mobile_species=species,
        mobile_family=FAMILIES[species],
        temperature_K=TEMPERATURES_K[(index // 2) % len(TEMPERATURES_K)],
        stoichiometric=stoichiometric,
        engine='ase',
        model='chgnet 0.3.0',
        protocol='fast',
    )
    return values


def fill(rows: int, rows_per_workchain: int, seed: int = 11):
    """Store ``rows`` rows (see the module docstring); return the group of the workchains."""
    from aiida import orm
    from aiida.manage import get_manager
    from aiida.orm.entities import EntityTypes

    from aiida_superionic.calculations.functions.merge_descriptors import merge_descriptors

    rng = np.random.default_rng(seed)
    first = row_values(rng, 0, rows_per_workchain)
    identifier_keys = ('formula', 'mobile_species', 'mobile_family', 'temperature_K', 'stoichiometric', 'engine')
    identifiers = {key: first[key] for key in (*identifier_keys, 'model', 'protocol')}
    descriptors = {key: value for key, value in first.items() if key not in identifiers}
    _, genuine = merge_descriptors.run_get_node(identifiers=orm.Dict(identifiers), trajectory=orm.Dict(descriptors))
    assert genuine.is_finished_ok
    template = genuine.backend_entity.bare_model
    storage = get_manager().get_profile_storage()
    user_id = orm.User.collection.get_default().pk

    def node(node_type: str, attributes: dict, process_type: str | None = None, repository_metadata=None) -> dict:
        return {
            'uuid': str(uuid.uuid4()),
            'node_type': node_type,
            'process_type': process_type,
            'attributes': attributes,
            'extras': {},
            'repository_metadata': repository_metadata or {},
            'user_id': user_id,
        }

    structure = orm.StructureData(cell=np.eye(3) * 3.8)
    for position, symbol in (((0, 0, 0), 'N'), ((0, 0, 1.9), 'Li'), ((1.9, 1.9, 0), 'Li'), ((1.9, 0, 1.9), 'Li')):
        structure.append_atom(position=position, symbols=symbol)
    workchain_attributes = {
        'process_state': 'finished',
        'exit_status': 0,
        'sealed': True,
        'process_label': 'SseWorkChain',
    }
    group = orm.Group(label='benchmark-workchains').store()

    start = time.perf_counter()
    workchains = -(-(rows - 1) // rows_per_workchain)
    with storage.transaction():
        structure_ids = storage.bulk_insert(
            EntityTypes.NODE,
            [node('data.core.structure.StructureData.', structure.base.attributes.all) for _ in range(workchains)],
            allow_defaults=True,
        )
        workchain_ids = storage.bulk_insert(
            EntityTypes.NODE,
            [
                node(
                    'process.workflow.workchain.WorkChainNode.', workchain_attributes, 'aiida.workflows:superionic.sse'
                )
                for _ in range(workchains)
            ],
            allow_defaults=True,
        )
        values = [row_values(rng, index, rows_per_workchain) for index in range(1, rows)]
        identifier_ids = storage.bulk_insert(
            EntityTypes.NODE,
            [node('data.core.dict.Dict.', {key: row[key] for key in identifiers}) for row in values],
            allow_defaults=True,
        )
        calculation_ids = storage.bulk_insert(
            EntityTypes.NODE,
            [
                node(template.node_type, dict(template.attributes), template.process_type, template.repository_metadata)
                for _ in values
            ],
            allow_defaults=True,
        )
        row_ids = storage.bulk_insert(
            EntityTypes.NODE, [node('data.core.dict.Dict.', row) for row in values], allow_defaults=True
        )
        links = []
        for position in range(workchains):
            links.append(
                {
                    'input_id': structure_ids[position],
                    'output_id': workchain_ids[position],
                    'label': 'structure',
                    'type': 'input_work',
                }
            )
        for position, (identifier, calculation, row) in enumerate(
            zip(identifier_ids, calculation_ids, row_ids, strict=True)
        ):
            caller = workchain_ids[position // rows_per_workchain]
            links += [
                {'input_id': identifier, 'output_id': calculation, 'label': 'identifiers', 'type': 'input_calc'},
                {'input_id': calculation, 'output_id': row, 'label': 'result', 'type': 'create'},
                {'input_id': caller, 'output_id': calculation, 'label': 'CALL', 'type': 'call_calc'},
            ]
        storage.bulk_insert(EntityTypes.LINK, links, allow_defaults=True)
        storage.bulk_insert(EntityTypes.GROUP_NODE, [{'dbgroup_id': group.pk, 'dbnode_id': pk} for pk in workchain_ids])
    print(
        f'stored {rows} rows ({rows - 1} in bulk + 1 by merge_descriptors), {workchains} workchains with a '
        f'structure each, {5 * (rows - 1) + 2 * workchains} nodes in all, in {time.perf_counter() - start:.1f} s'
    )
    return group


def best_time(function, repeats: int):
    best, result = float('inf'), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def per_key_projections():
    """The row query with one ``attributes.<key>`` projection per column."""
    from aiida import orm

    from aiida_superionic.analysis.export import MERGE_PROCESS_TYPE
    from aiida_superionic.analysis.table import TABLE_COLUMNS

    keys = [column for column in TABLE_COLUMNS if not column.endswith('_uuid')]
    query = orm.QueryBuilder()
    query.append(orm.CalcFunctionNode, tag='merge', filters={'process_type': MERGE_PROCESS_TYPE})
    query.append(
        orm.Dict,
        with_incoming='merge',
        edge_filters={'label': 'result'},
        project=['uuid', *(f'attributes.{key}' for key in keys)],
    )
    return pd.DataFrame(query.all(), columns=['row_uuid', *keys]).set_index('row_uuid')


def naive_peer():
    """Load every row node and read its dict."""
    from aiida import orm

    from aiida_superionic.analysis.export import MERGE_PROCESS_TYPE

    query = orm.QueryBuilder()
    query.append(orm.CalcFunctionNode, tag='merge', filters={'process_type': MERGE_PROCESS_TYPE})
    query.append(orm.Dict, with_incoming='merge', edge_filters={'label': 'result'}, project='id')
    records = {}
    for (pk,) in query.iterall():
        node = orm.load_node(pk)
        records[node.uuid] = node.get_dict()
    return pd.DataFrame.from_dict(records, orient='index')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=10_000)
    parser.add_argument('--rows-per-workchain', type=int, default=6)
    parser.add_argument('--repeats', type=int, default=3, help='timing runs of ours (the best is kept)')
    parser.add_argument('--no-peer', action='store_true', help='skip the naive peer')
    args = parser.parse_args()

    header(f'descriptor-table export, {args.rows} rows')
    import aiida

    from aiida_superionic.analysis.export import export_table
    from aiida_superionic.analysis.table import DESCRIPTOR_ONLY_KEYS

    print(
        f'machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; aiida-core {aiida.__version__}, '
        f'pandas {pd.__version__}, Python {sys.version.split()[0]}; storage core.sqlite_dos in {_AIIDA_PATH}'
    )
    make_profile()
    group = fill(args.rows, args.rows_per_workchain)

    ours_seconds, table = best_time(export_table, args.repeats)
    assert len(table) == args.rows, len(table)
    assert table['workchain_uuid'].notna().sum() == args.rows - 1  # the genuine row was made without a caller
    assert table['structure_uuid'].notna().sum() == args.rows - 1
    print(
        f'  ours (export_table)            {ours_seconds:7.3f} s (best of {args.repeats}) for {len(table)} rows, '
        f'{1e6 * ours_seconds / len(table):.0f} us/row'
    )
    target(f'export of {len(table)} rows', ours_seconds, TARGET_SECONDS, ' s')
    group_seconds, grouped = best_time(lambda: export_table(group=group), args.repeats)
    assert len(grouped) == args.rows - 1
    print(f'  ours with a group filter       {group_seconds:7.3f} s (best of {args.repeats}), {len(grouped)} rows')

    keys_seconds, by_key = best_time(per_key_projections, 1)
    print(
        f'  per-key projections (62)       {keys_seconds:7.3f} s (rows only, once): ours is '
        f'{keys_seconds / ours_seconds:.1f}x faster and also finds the workchains and structures'
    )
    by_key = by_key.loc[table.index, list(DESCRIPTOR_ONLY_KEYS)].astype(float)
    difference = (by_key - table.loc[:, list(DESCRIPTOR_ONLY_KEYS)]).abs() / table.loc[
        :, list(DESCRIPTOR_ONLY_KEYS)
    ].abs()
    print(
        f'    its values differ from ours in {int((difference > 0).sum().sum())} of {difference.notna().sum().sum()} '
        f"numbers, by up to {difference.max().max():.1e} relative (SQLite's json_extract does not round-trip floats)"
    )

    if not args.no_peer:
        peer_seconds, peer = best_time(naive_peer, 1)
        print(
            f'  naive peer (load_node+get_dict) {peer_seconds:7.3f} s (rows only, once): ours is '
            f'{peer_seconds / ours_seconds:.1f}x faster'
        )
        peer = peer.loc[table.index, list(DESCRIPTOR_ONLY_KEYS)].astype(float)
        pd.testing.assert_frame_equal(peer, table.loc[:, list(DESCRIPTOR_ONLY_KEYS)], check_names=False)
        print("  the peer's table equals ours (every descriptor of every row)")
    footer('descriptor-table export')


if __name__ == '__main__':
    main()
