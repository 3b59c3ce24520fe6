"""A study travels intact: ``aiida-superionic archive`` (``verdi archive create``), import into a fresh profile in
another process, the table exported again equal to the first (same UUIDs, same values), the links intact; and
never a POTCAR in the archive.

The study is a real one at test size: an ``SseWorkChain`` on the ASE engine with EMT (Cu3Au) and a VASP
calculation on aiida-vasp's ``mock-vasp`` whose POTCARs carry a potential body with a marker, which must not be
found anywhere in the archive.
"""

# The fixtures of ``test_vasp_md.py`` are imported by name, which pytest needs and ruff takes for redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from aiida import orm
from aiida.engine import run_get_node
from click.testing import CliRunner
from test_sse_workchain import sse_builder  # noqa: F401
from test_vasp_md import FAKE_POTCAR, OPTIONS, POTENTIAL_MAPPING, cu3au, vasp_code  # noqa: F401

from aiida_superionic.cli import cmd_root
from aiida_superionic.tools.archive import potcar_content_in_archive
from aiida_superionic.workflows.task import task_parameters
from aiida_superionic.workflows.vasp_task import VaspTaskWorkChain

#: A number that stands for the potential data of the POTCARs of this test: it must appear nowhere in an archive.
POTCAR_MARKER = '0.31415926535897E+02'

#: The tests' fake POTCAR with a body in VASP's layout (section titles, numbers) after its header; not a potential.
POTCAR_WITH_BODY = FAKE_POTCAR.replace(
    ' End of Dataset\n',
    """ local part
   98.5000000000000
  {marker}  0.27182818284590E+02  0.14142135623730E+02
 Non local Part
           2   2.30000000000000
 Reciprocal Space Part
  {marker}  0.17320508075688E+02
 Real Space Part
  {marker}  0.22360679774997E+01
 End of Dataset
""",
)
assert '{marker}' in POTCAR_WITH_BODY
POTCAR_FAMILY = 'archive-test-potcars'
PROFILE_SETUP = ['--email', 'collaborator@example.org', '--first-name', 'A', '--last-name', 'B', '--institution', 'C']


@pytest.fixture
def potcar_family_with_body(tmp_path_factory):
    from aiida_vasp.data.potcar import PotcarData

    if not orm.QueryBuilder().append(orm.Group, filters={'label': POTCAR_FAMILY}).count():
        folder = tmp_path_factory.mktemp('potcars-with-body')
        for symbol, mass in (('Cu', 63.546), ('Au', 196.967)):
            (folder / symbol).mkdir()
            text = POTCAR_WITH_BODY.format(symbol=symbol, mass=mass, marker=POTCAR_MARKER)
            (folder / symbol / 'POTCAR').write_text(text)
        PotcarData.upload_potcar_family(str(folder), POTCAR_FAMILY, 'POTCARs with a marked body (archive test)')
    return POTCAR_FAMILY


@pytest.fixture
def study(aiida_profile, sse_builder, vasp_code, cu3au, potcar_family_with_body):
    """The group ``archive-study``: an EMT SseWorkChain (relaxation, MD at one temperature, rows) and a VASP static
    task on mock-vasp."""
    group, _ = orm.Group.collection.get_or_create('archive-study')
    group.clear()
    builder = sse_builder(temperatures=[1300.0], run={'elastic': False, 'phonons': False, 'vacancy': False})
    _, sse = run_get_node(builder)
    assert sse.is_finished_ok, sse.exit_message

    vasp = VaspTaskWorkChain.get_builder()
    vasp.structure = cu3au
    vasp.parameters = orm.Dict(task_parameters('static'))
    vasp.vasp.code = vasp_code()
    vasp.vasp.potential_family = orm.Str(potcar_family_with_body)
    vasp.vasp.potential_mapping = orm.Dict(POTENTIAL_MAPPING)
    vasp.vasp.options = orm.Dict(OPTIONS)
    vasp.vasp.incar = orm.Dict({'encut': 250})
    vasp.vasp.kpoints_spacing = orm.Float(0.5)
    _, static = run_get_node(vasp)
    assert static.is_finished_ok, static.exit_message
    group.add_nodes([sse, static])
    return group, sse, static


def _cli(*arguments: str) -> str:
    result = CliRunner().invoke(cmd_root, list(arguments), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _fresh_profile(tmp_path, name: str) -> dict:
    """A new SQLite profile in its own AIIDA_PATH, made by `verdi` in another process; return that environment."""
    environment = {**os.environ, 'AIIDA_PATH': str(tmp_path / name)}
    setup = ['profile', 'setup', 'core.sqlite_dos', '-n', '--profile-name', name, '--broker', 'none']
    subprocess.run(
        [sys.executable, '-m', 'aiida', *setup, '--filepath', str(tmp_path / name / 'storage'), *PROFILE_SETUP],
        env=environment,
        check=True,
        capture_output=True,
    )
    return environment


def _in_profile(environment: dict, *command: str) -> str:
    completed = subprocess.run(list(command), env=environment, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


#: Prints, as JSON, every link among the nodes of the loaded profile: (source uuid, target uuid, type, label).
LINKS_SCRIPT = """
import json
from aiida import load_profile, orm
load_profile()
query = orm.QueryBuilder().append(orm.Node, tag='source', project='uuid')
query.append(orm.Node, with_incoming='source', project='uuid', edge_project=['type', 'label'])
print(json.dumps(sorted(query.all())))
"""


def _links_among(uuids: set[str]) -> list[list[str]]:
    query = orm.QueryBuilder().append(orm.Node, tag='source', project='uuid', filters={'uuid': {'in': list(uuids)}})
    query.append(orm.Node, with_incoming='source', project='uuid', edge_project=['type', 'label'])
    return sorted(row for row in query.all() if row[1] in uuids)


def _archive_uuids(path) -> set[str]:
    from aiida.tools.archive.abstract import get_format

    with get_format().open(path, 'r') as reader:
        return set(reader.querybuilder().append(orm.Node, project='uuid').all(flat=True))


def _archive_node_types(path) -> set[str]:
    from aiida.tools.archive.abstract import get_format

    with get_format().open(path, 'r') as reader:
        return set(reader.querybuilder().append(orm.Node, project='node_type').all(flat=True))


@pytest.mark.slow
def test_a_study_travels_intact_and_without_potcars(study, tmp_path):
    group, sse, static = study
    before = tmp_path / 'before.csv'
    _cli('export', str(before), '-G', group.label)
    table_before = pd.read_csv(before, index_col=0)
    assert len(table_before) == 2  # stoichiometric and vacancy at 1300 K

    # With trajectories: the whole provenance graph.
    full = tmp_path / 'study.aiida'
    output = _cli('archive', group.label, str(full))
    assert 'no POTCAR content' in output
    uuids = _archive_uuids(full)
    assert {sse.uuid, static.uuid} | {node.uuid for node in sse.called_descendants} <= uuids
    assert 'data.core.array.trajectory.TrajectoryData.' in _archive_node_types(full)

    # It is what `verdi archive create -G` writes: the same nodes.
    from aiida.cmdline.commands.cmd_archive import create

    plain = tmp_path / 'verdi.aiida'
    result = CliRunner().invoke(create, [str(plain), '-G', group.label], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert _archive_uuids(plain) == uuids

    # No POTCAR content, ever: the marker of the POTCAR bodies is nowhere, in no stored object nor the database.
    for path in (full, plain):
        assert potcar_content_in_archive(path) is None
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                assert POTCAR_MARKER.encode() not in archive.read(name), name
    # ... though the VASP calculation ran with them (its inputs name the POTCARs; their content stayed home).
    calculation = next(node for node in static.called if node.process_label == 'VaspCalculation')
    assert {link.link_label for link in calculation.base.links.get_incoming().all()} >= {'potential__Cu'}

    # A collaborator imports it into a fresh profile (another process, another AIIDA_PATH) and exports the table.
    collaborator = _fresh_profile(tmp_path, 'collaborator')
    _in_profile(collaborator, sys.executable, '-m', 'aiida', 'archive', 'import', '--no-import-group', str(full))
    after = tmp_path / 'after.csv'
    _in_profile(collaborator, sys.executable, '-m', 'aiida_superionic.cli', 'export', str(after), '-G', group.label)
    pd.testing.assert_frame_equal(pd.read_csv(after, index_col=0), table_before)
    assert before.read_bytes() == after.read_bytes()  # the same file, byte for byte
    links = json.loads(_in_profile(collaborator, sys.executable, '-c', LINKS_SCRIPT))
    assert sorted(map(list, links)) == [list(row) for row in _links_among(uuids)]

    # Without trajectories: the rows with their descriptors and the structures; no trajectory, no workchain.
    light = tmp_path / 'study-table.aiida'
    output = _cli('archive', group.label, str(light), '--no-trajectories')
    assert 'rows and descriptors only' in output
    types = _archive_node_types(light)
    assert not any('Trajectory' in node_type or 'WorkflowNode' in node_type for node_type in types), types
    assert light.stat().st_size < full.stat().st_size
    reader = _fresh_profile(tmp_path, 'reader')
    _in_profile(reader, sys.executable, '-m', 'aiida', 'archive', 'import', '--no-import-group', str(light))
    table = tmp_path / 'light.csv'
    _in_profile(reader, sys.executable, '-m', 'aiida_superionic.cli', 'export', str(table))
    light_table = pd.read_csv(table, index_col=0)
    assert set(light_table.index) == set(table_before.index)  # the rows keep their UUIDs
    assert light_table['workchain_uuid'].isna().all()  # no workchain in this form
    columns = [column for column in table_before.columns if column not in ('workchain_uuid', 'structure_uuid')]
    pd.testing.assert_frame_equal(light_table.loc[table_before.index, columns], table_before[columns])


def test_potcar_content_is_found_and_the_archive_refused(aiida_profile, tmp_path):
    """The check must fail on a POTCAR: a file named POTCAR, or one holding a POTCAR's potential sections."""
    from aiida_superionic.tools.archive import PotcarInArchiveError, create_study_archive

    body = POTCAR_WITH_BODY.format(symbol='Cu', mass=63.546, marker=POTCAR_MARKER)
    for filename in ('POTCAR', 'notes.txt'):
        folder = orm.FolderData()
        folder.base.repository.put_object_from_bytes(body.encode(), filename)
        folder.store()
        group, _ = orm.Group.collection.get_or_create(f'archive-with-{filename}')
        group.add_nodes(folder)
        path = tmp_path / f'{filename}.aiida'
        with pytest.raises(PotcarInArchiveError, match='POTCAR'):
            create_study_archive(group, path)
        assert not path.exists()
        assert orm.load_node(folder.pk).base.repository.get_object_content(filename) == body  # nothing lost
