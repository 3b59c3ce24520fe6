"""Share a study as an AiiDA archive: with its whole provenance, or only its table; never a POTCAR.

A *study* is a group of ``SseWorkChain`` (or ``MdWorkChain``) nodes. ``create_study_archive`` writes it with
aiida-core's ``create_archive`` in one of two forms:

- **with trajectories** (the default): the group and everything its workchains ran, as
  ``verdi archive create -G GROUP`` writes it. Every calculation, every trajectory, every link: the study can
  be re-analysed from the frames, restarted and extended after import.
- **without trajectories**: the table part of the study only: each row with the ``merge_descriptors``
  calculation that made it and that calculation's inputs (the descriptors of the zero-temperature children,
  of the structure and of the trajectory), plus the input structure of every workchain. AiiDA's archive always
  follows a workflow's CALL links and a calculation's CREATE links forward, so there is no archive of a
  workchain without its trajectories: this form leaves the workchains out, and the rows' ``workchain_uuid`` and
  ``structure_uuid`` are empty in a table exported from it. Rows keep their UUIDs and values.

In both forms the archive is checked after it is written (``potcar_content_in_archive``): aiida-vasp never
stores a POTCAR in a calculation's repository (it is in the provenance exclude list) and its ``PotcarData``
inputs hold metadata only, but a POTCAR copied into a retrieved folder, a ``PotcarFileData`` node in the
group or a POTCAR attached by hand would break VASP's licence once shared. A file with POTCAR content is
deleted and the reason raised.
"""

from __future__ import annotations

import pathlib
import sqlite3
import tempfile
import zipfile

from aiida import orm

from ..analysis.export import MERGE_PROCESS_TYPE, ROW_LINK_LABEL, STRUCTURE_LINK_LABEL

#: Section titles of a POTCAR's potential data (after its PSCTR header), none of which VASP writes to OUTCAR: two
#: of them in one file mean it holds a potential.
POTCAR_DATA_MARKERS = (
    b' local part',
    b'Non local Part',
    b'Reciprocal Space Part',
    b'Real Space Part',
    b'PAW radial sets',
)
#: ``node_type`` prefix of aiida-vasp's node that stores a POTCAR file.
POTCAR_FILE_NODE_TYPE = 'data.vasp.potcar_file.'


class PotcarInArchiveError(RuntimeError):
    """The archive would carry POTCAR content; it is deleted."""


def study_nodes(group: orm.Group) -> tuple[list[orm.Node], list[orm.Node]]:
    """Return ``(merge calculations, structures)`` of a study: the ``merge_descriptors`` calculations of the rows
    in the group or called by a workflow in it, and the ``structure`` inputs of the group's workflows."""
    merges = orm.QueryBuilder()
    merges.append(orm.Group, filters={'id': group.pk}, tag='group')
    merges.append(orm.WorkflowNode, with_group='group', tag='workflow')
    merges.append(orm.CalcFunctionNode, with_incoming='workflow', filters={'process_type': MERGE_PROCESS_TYPE})
    calculations = {node.pk: node for node in merges.all(flat=True)}
    direct = orm.QueryBuilder()
    direct.append(orm.Group, filters={'id': group.pk}, tag='group')
    direct.append(orm.Dict, with_group='group', tag='row')
    direct.append(
        orm.CalcFunctionNode,
        with_outgoing='row',
        edge_filters={'label': ROW_LINK_LABEL},
        filters={'process_type': MERGE_PROCESS_TYPE},
    )
    calculations.update({node.pk: node for node in direct.all(flat=True)})
    structures = orm.QueryBuilder()
    structures.append(orm.Group, filters={'id': group.pk}, tag='group')
    structures.append(orm.WorkflowNode, with_group='group', tag='workflow')
    structures.append(orm.StructureData, with_outgoing='workflow', edge_filters={'label': STRUCTURE_LINK_LABEL})
    return list(calculations.values()), list(structures.all(flat=True))


def create_study_archive(
    group: orm.Group | str, filename: str | pathlib.Path, trajectories: bool = True, overwrite: bool = False
) -> pathlib.Path:
    """Write the study ``group`` to the archive ``filename``; return its path.

    :param trajectories: the whole provenance graph (True), or the rows and their descriptors only (False).
    :raises ValueError: the group holds no descriptor row (without trajectories) or no node at all.
    :raises PotcarInArchiveError: the archive held POTCAR content (the file is deleted).
    """
    from aiida.tools.archive import create_archive

    group = orm.load_group(group) if isinstance(group, str) else group
    if not group.count():
        raise ValueError(f'the group {group.label!r} is empty: nothing to archive')
    filename = pathlib.Path(filename)
    if trajectories:
        create_archive([group], filename, overwrite=overwrite)
    else:
        calculations, structures = study_nodes(group)
        if not calculations:
            raise ValueError(f'the group {group.label!r} holds no descriptor row (merge_descriptors result)')
        create_archive(
            calculations + structures,
            filename,
            overwrite=overwrite,
            create_backward=False,
            call_calc_backward=False,
            call_work_backward=False,
        )
    found = potcar_content_in_archive(filename)
    if found:
        filename.unlink()
        raise PotcarInArchiveError(f'the archive of {group.label!r} would carry POTCAR content ({found}); not written')
    return filename


def potcar_content_in_archive(filename: str | pathlib.Path) -> str | None:
    """Return what in the archive looks like POTCAR content, or None: a repository file named ``POTCAR*``, a
    ``PotcarFileData`` node, or a stored file holding a POTCAR's potential sections."""
    with zipfile.ZipFile(filename) as archive:
        names = archive.namelist()
        database = next((name for name in names if name.endswith('.sqlite3')), None)
        if database is not None:
            with tempfile.TemporaryDirectory() as folder:
                path = archive.extract(database, folder)
                found = _potcar_nodes(path)
            if found:
                return found
        for name in names:
            if name.endswith('/') or name == database:
                continue
            with archive.open(name) as handle:
                content = handle.read()
            if sum(marker in content for marker in POTCAR_DATA_MARKERS) >= 2:
                return f'the stored object {name} holds the potential sections of a POTCAR'
    return None


def _potcar_nodes(database: str) -> str | None:
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute('SELECT uuid, node_type, repository_metadata FROM db_dbnode').fetchall()
    finally:
        connection.close()
    for uuid, node_type, repository_metadata in rows:
        if node_type.startswith(POTCAR_FILE_NODE_TYPE):
            return f'node {uuid} is a {node_type.rstrip(".")}'
        if repository_metadata and '"POTCAR' in str(repository_metadata):
            return f'node {uuid} stores a file named POTCAR'
    return None
