"""The getting-started guide, run as written: every console line and Python block of
``docs/source/getting_started.md``, in order, with the test-size switch (``SUPERIONIC_TEST_SIZE=1``).

A snippet this test does not know how to run fails it, so a new snippet cannot go untested and an old one cannot
rot. The demo runs once, as the guide's ``verdi run examples/submit_sse.py`` line; the snippets after it use its
workchain (``<pk>``, ``PK``) and a row of it (``<pk of a row>``); "your own structure" runs on the demo's CIF with
AiiDA's caching on, so that only its new MD runs.
"""

from __future__ import annotations

import pathlib
import re
import runpy
import shlex
import shutil

import pytest
from aiida import orm
from aiida.manage.caching import enable_caching
from click.testing import CliRunner

from aiida_superionic.workflows.sse import TEST_SIZE_VARIABLE

ROOT = pathlib.Path(__file__).resolve().parents[1]
GUIDE = ROOT / 'docs' / 'source' / 'getting_started.md'

#: The two commands of the README: this test suite is the one, and the demo runs as its own line below.
NOT_RUN_HERE = {'make demo', 'make test'}


def guide_snippets() -> list[tuple[str, str]]:
    """``(language, text)`` of every ``console`` command line and ``python`` block of the guide, in order."""
    snippets = []
    for language, body in re.findall(r'```(console|python)\n(.*?)```', GUIDE.read_text(), flags=re.DOTALL):
        if language == 'python':
            snippets.append(('python', body))
        else:
            snippets.extend(('console', line[2:].strip()) for line in body.splitlines() if line.startswith('$ '))
    return snippets


def _invoke(command, arguments: list[str]):
    result = CliRunner().invoke(command, arguments, catch_exceptions=False)
    assert result.exit_code == 0, f'{shlex.join(arguments)}\n{result.output}'
    return result.output


@pytest.mark.slow
@pytest.mark.chgnet
def test_the_getting_started_guide_runs_as_written(aiida_profile, aiida_localhost, monkeypatch, tmp_path, capsys):
    pytest.importorskip('chgnet')
    from aiida.cmdline.commands.cmd_verdi import verdi

    from aiida_superionic.cli import cmd_root

    monkeypatch.setenv(TEST_SIZE_VARIABLE, '1')
    monkeypatch.chdir(tmp_path)
    snippets = guide_snippets()
    assert ('console', 'make demo') in snippets  # the guide is the one this test knows
    state: dict = {}
    ran = []
    for language, text in snippets:
        if language == 'console' and text in NOT_RUN_HERE:
            continue
        if language == 'console':
            command = text
            for placeholder, key in (('<pk of a row>', 'row'), ('<pk>', 'pk')):
                command = command.replace(placeholder, state.get(key, placeholder))
            arguments = shlex.split(command.replace('.venv/bin/', ''))
            program, arguments = arguments[0], arguments[1:]
            if program == 'verdi' and arguments[:2] == ['run', 'examples/submit_sse.py']:
                monkeypatch.setattr('sys.argv', [str(ROOT / arguments[1]), *arguments[2:]])
                runpy.run_path(str(ROOT / arguments[1]), run_name='__main__')
                printed = capsys.readouterr().out
                node = (
                    orm.QueryBuilder()
                    .append(orm.WorkflowNode, filters={'process_type': 'aiida.workflows:superionic.sse'}, tag='sse')
                    .order_by({'sse': {'ctime': 'desc'}})
                    .first(flat=True)
                )
                assert f'SseWorkChain<{node.pk}> finished' in printed
                for expected in ('Material:   Li3N', 'Model:      chgnet', 'Elastic:', 'Γ phonons:', 'Vacancy:'):
                    assert expected in printed
                for label in ('stoichiometric_700K', 'stoichiometric_900K', 'vacancy_700K', 'vacancy_900K'):
                    assert label in printed
                assert (tmp_path / 'li3n_msd.png').read_bytes()[:4] == b'\x89PNG'  # the script's MSD figure
                assert node.is_finished_ok, node.exit_message
                assert (
                    node.inputs.protocol.value == 'fast+overrides+test-size'
                )  # overrides and the switch, in every row
                state['pk'] = str(node.pk)
                state['row'] = str(node.outputs.rows.stoichiometric_900K.pk)
            elif program == 'verdi' and arguments[:2] == ['node', 'graph']:
                if shutil.which('dot') is None:
                    pytest.fail('graphviz `dot` is missing: `make` installs it (make graphviz)')
                _invoke(verdi, arguments)
                assert (tmp_path / f'{state["row"]}.dot.png').read_bytes()[:4] == b'\x89PNG'
            elif program == 'verdi':
                output = _invoke(verdi, arguments)
                assert output.strip()
            elif program == 'aiida-superionic':
                output = _invoke(cmd_root, arguments)
                if arguments[0] == 'export':
                    assert 'Wrote 4 rows (1 materials' in output
                if arguments[0] == 'analyze':
                    assert (tmp_path / 'report' / 'index.html').is_file()
            else:
                pytest.fail(f'the guide has a command this test does not run: {text}')
        elif 'PK' in text:
            exec(compile(text.replace('PK', state['pk']), f'{GUIDE.name} (row and MSD)', 'exec'), {})
            assert (tmp_path / 'msd.png').read_bytes()[:4] == b'\x89PNG'
        elif 'my_electrolyte.cif' in text:
            # The demo's own CIF: with AiiDA's caching on, every calculation the demo already ran (relaxation,
            # elastic, phonons, vacancy) comes from the cache, and only the MD at the guide's temperatures runs.
            shutil.copy(ROOT / 'examples' / 'li3n.cif', tmp_path / 'my_electrolyte.cif')
            with enable_caching():
                exec(compile(text, f'{GUIDE.name} (your own structure)', 'exec'), {})
            own = orm.load_group('my-study').nodes
            sse = next(node for node in own if isinstance(node, orm.WorkflowNode))
            relaxation = sse.base.links.get_outgoing(link_label_filter='relax').one().node
            assert all(job.base.caching.is_created_from_cache for job in relaxation.called)
        else:
            pytest.fail(f'the guide has a Python block this test does not run:\n{text}')
        ran.append(text)
    assert len(ran) == len(snippets) - 2  # every snippet but the two README commands
