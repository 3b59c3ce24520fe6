"""Every console command of ``README.md`` and of every page under ``docs/source``, run as a user types it.

Each command runs as a subprocess through ``bash``, exactly as written on its page, from the root of a copy of this
checkout (its ``.venv`` linked), with the relative paths the page uses, on an AiiDA profile that
``aiida-superionic setup`` makes in a scratch ``AIIDA_PATH`` (what ``make demo`` does on a fresh machine), with the
virtual environment's ``bin`` first on ``PATH`` (``source .venv/bin/activate``, as the installation page says) and
the test-size switch on (``SUPERIONIC_TEST_SIZE=1``: every MD of an ``SseWorkChain`` is 100 steps).

A page's placeholders (``<pk>``) are filled with what the user reads off an earlier command's output; the files a
page assumes the user has (a folder of CIFs, a VASP run) are put where the page says before its commands run. A
command that cannot run on this machine is listed in :data:`NOT_HERE` with the reason; any other command runs, and
a command that fails fails the test, so a new command cannot go untested and an old one cannot rot. Nothing is
replayed through a Python call.
"""

from __future__ import annotations

import pathlib
import re
import shlex
import shutil
import time

import pytest
from user_session import ROOT, Session, user_session

#: The pages in the order a user reads them: the README and the guide first (the demo), whose results the later
#: pages use (the group ``my-study`` of the guide is the study that ``share_study`` archives).
PAGE_ORDER = ['README.md', 'docs/source/install.md', 'docs/source/getting_started.md']

#: The whole run's time on 2 cores (45 min; it took 30 on a clean clone beside the rest of the suite on 2026-12-08):
#: the suite must stay inside CI's limit even when a page hangs.
BUDGET_SECONDS = 2700

#: Pages whose Python blocks run too, each as a script of the user's with ``verdi run``: the landing page's
#: example and the guide's.
PAGES_WITH_PYTHON_RUN = ('docs/source/index.md', 'docs/source/getting_started.md')

#: Commands that cannot run here, each with the reason. Every other documented command runs.
NOT_HERE = {
    'make test': 'it is the command that runs this test',
    'git clone https://github.com/aiida-superionic/aiida-superionic.git': 'no network here; the test runs in a copy '
    'of this checkout',
    'cd aiida-superionic': 'the test runs in the copy of the checkout already',
    # The installation page's record of how the dependency ranges were checked: pip's resolver asks PyPI.
    'python3 -m venv /tmp/deps-venv && /tmp/deps-venv/bin/pip install -U pip': 'no network here',
    '/tmp/deps-venv/bin/pip install --dry-run --report /tmp/report.json --ignore-installed -e . '
    'aiida-quantumespresso atomate2': 'no network here; what it resolves is in the table under it',
    # The VASP how-to: a cluster, its SSH key and licensed POTCARs are not here. Its VASP path runs on mock-vasp
    # in tests/test_vasp_*.py and tests/test_zero_temperature_vasp.py.
    'verdi computer test hpc': 'needs the cluster of the page',
    "aiida-vasp potcar uploadfamily --path ~/potpaw_PBE.54 --name PBE.54 --description 'PBE PAW, release 54'": (
        'needs the licensed POTCAR files'
    ),
    'verdi run examples/vasp_hpc.py Li3PS4.cif --account my-project --group li-thiophosphates': 'needs the cluster '
    'and the POTCARs; the same workchains run on mock-vasp in tests/test_vasp_*.py',
    'verdi process status -c 4711     # the call tree, children named by role': 'pk of the VASP run of the page',
    'verdi process report 4711        # the log: every child, every restart, every handler': 'pk of the VASP run',
    "verdi calcjob gotocomputer <pk>  # a shell in a calculation's scratch folder": 'an interactive shell on the '
    'cluster',
    'aiida-superionic export table.csv -G li-thiophosphates --engine vasp': 'needs the VASP study of the page',
    # The scale how-to: a PostgreSQL profile of its own. The scale mode (tests/test_scale.py) makes the same
    # profile in a database of its own, runs the daemon and drops the database after.
    'verdi presto --use-postgres --postgres-hostname 127.0.0.1 --postgres-username postgres --profile-name study': (
        'would leave a database on the PostgreSQL server; tests/test_scale.py makes and drops one'
    ),
    'verdi daemon start 4': 'on the PostgreSQL profile of the page (tests/test_scale.py)',
    'aiida-superionic launch cifs/ --protocol balanced -G study': 'on the PostgreSQL profile (tests/test_scale.py)',
    'verdi process list -S waiting -S running': 'on the PostgreSQL profile (tests/test_scale.py)',
    'AIIDA_PATH=$(mktemp -d) python tests/scale_batch.py --backend sqlite --materials 3 --workers 1 --report '
    'report.json': 'the scale mode (tests/test_scale.py, part of make test) runs this harness on the embedded default '
    'with --backend sqlite --workers 1, 6 materials, in a scratch AIIDA_PATH, the faults included (5 min here again)',
}

#: Commands of a page that only make sense after an earlier one of it on the VASP study that cannot run here.
NOT_HERE_ON_PAGE = {
    ('docs/source/howto/vasp_hpc.md', 'aiida-superionic analyze table.csv -o report'): 'the VASP table of the page',
    ('docs/source/howto/run_at_scale.md', 'aiida-superionic setup'): 'on the PostgreSQL profile of the page',
    (
        'docs/source/howto/analyse_table.md',
        'aiida-superionic analyze study.csv -o report-sigma --join conductivity.csv --on formula --target-column '
        'sigma_S_cm --log-target --keep-columns structure_label --models kernel_ridge,random_forest --folds 5',
    ): 'needs a table of many materials and their measured conductivities; tests/test_analysis_trust.py runs '
    'these options through the command on a planted table of 35 materials',
}


def pages() -> list[str]:
    found = ['README.md', *(str(path.relative_to(ROOT)) for path in sorted((ROOT / 'docs' / 'source').rglob('*.md')))]
    return [page for page in PAGE_ORDER if page in found] + [page for page in found if page not in PAGE_ORDER]


def documented_commands(page: str) -> list[str]:
    """The ``$ `` lines of every ``console`` block of ``page``, with their continuation lines, as written."""
    commands = []
    for body in re.findall(r'```console\n(.*?)```', (ROOT / page).read_text(), flags=re.DOTALL):
        lines = body.splitlines()
        index = 0
        while index < len(lines):
            if lines[index].startswith('$ '):
                command = lines[index][2:]
                while command.endswith('\\') and index + 1 < len(lines):
                    index += 1
                    command += '\n' + lines[index]
                commands.append(command.strip())
            index += 1
    return commands


def python_blocks(page: str) -> list[str]:
    return re.findall(r'```python\n(.*?)```', (ROOT / page).read_text(), flags=re.DOTALL)


# -- What the user has before a page's commands ---------------------------------------------------------------


def write_vasp_run(folder: pathlib.Path) -> None:
    """A VASP MD run folder as users bring one: the real Li6PS5Cl XDATCAR of kinisi's tests (416 atoms, 500 K,
    POTIM 2, NBLOCK 50) when the developers' data is here, else a random walk written in VASP's format."""
    from conftest import REALDATA_CANDIDATES

    folder.mkdir(parents=True, exist_ok=True)
    real = next((path / 'kinisi_XDATCAR' for path in REALDATA_CANDIDATES if (path / 'kinisi_XDATCAR').is_dir()), None)
    if real is not None:
        shutil.copyfile(real / 'example_XDATCAR.gz', folder / 'XDATCAR.gz')
        (folder / 'INCAR').write_text('IBRION = 0\nPOTIM = 2\nNBLOCK = 50\nTEBEG = 500\nMDALGO = 2\nSMASS = 0\n')
        return
    import numpy as np
    from vasp_files import random_md_frames, write_xdatcar

    counts = [24, 4, 20, 4]
    frames = random_md_frames(200, counts, seed=3)
    write_xdatcar(folder / 'XDATCAR', frames, 10.0 * np.eye(3), ['Li', 'P', 'S', 'Cl'], counts)
    (folder / 'INCAR').write_text('IBRION = 0\nPOTIM = 2\nNBLOCK = 10\nTEBEG = 600\nMDALGO = 2\nSMASS = 0\n')


def write_extxyz_run(path: pathlib.Path) -> None:
    """An extended-XYZ trajectory of the kind ASE and many MD codes write (Li on a random walk in a Ge frame)."""
    import numpy as np
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(11)
    box, walkers, frames = 8.0, 12, 400
    walk = np.cumsum(rng.normal(0.0, 0.05, (frames, walkers, 3)), axis=0) + rng.uniform(0, box, (walkers, 3))
    framework = rng.uniform(0, box, (4, 3))
    images = [
        Atoms(['Li'] * walkers + ['Ge'] * 4, positions=np.vstack([walk[i] % box, framework]), cell=[box] * 3, pbc=True)
        for i in range(frames)
    ]
    write(path, images, format='extxyz')


def copy_cifs(folder: pathlib.Path) -> None:
    """A folder of CIFs: the demo's Li3N."""
    from aiida_superionic.resources import LI3N_CIF

    folder.mkdir(exist_ok=True)
    shutil.copy(LI3N_CIF, folder / 'Li3N.cif')


def copy_test_cif(path: pathlib.Path) -> None:
    """A disordered CIF of the user's: one of the test CIFs written from a published refinement."""
    shutil.copy(ROOT / 'tests' / 'data' / 'cifs' / path.name, path)


def write_ssh_key(path: pathlib.Path) -> None:
    """The user's SSH key for the cluster (the command only records its path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key: the cluster is not here\n')
    path.chmod(0o600)


def copy_li3n_cif(path: pathlib.Path) -> None:
    """A CIF of the user's own: Li3N."""
    from aiida_superionic.resources import LI3N_CIF

    shutil.copy(LI3N_CIF, path)


#: What a page assumes the user has, made before its commands run: (path in the checkout, how to make it).
GIVEN = {
    'README.md': [('path/to/vasp/run', write_vasp_run)],
    'docs/source/howto/import_runs.md': [('path/to/run', write_vasp_run), ('md.extxyz', write_extxyz_run)],
    'docs/source/howto/screen_cifs.md': [('cifs', copy_cifs), ('Li6PS5Cl.cif', copy_test_cif)],
    'docs/source/howto/vasp_hpc.md': [('~/.ssh/id_ed25519', write_ssh_key)],
    'docs/source/index.md': [('my_electrolyte.cif', copy_li3n_cif)],
    'docs/source/getting_started.md': [('my_electrolyte.cif', copy_li3n_cif)],
}


# -- Placeholders, filled from what the user read ---------------------------------------------------------------


def fill(command: str, session: Session) -> str:
    for placeholder, key in (('<pk of a row>', 'row'), ('<pk>', 'pk')):
        if placeholder in command:
            if key not in session.seen:
                pytest.fail(f'{command!r}: no earlier command printed the {placeholder} it needs')
            command = command.replace(placeholder, session.seen[key])
    return command


def read_output(command: str, output: str, session: Session) -> None:
    """Remember what a user reads off an output: the pk of a workchain, the pk of a row."""
    finished = re.findall(r'SseWorkChain<(\d+)> finished', output)
    if finished:
        session.seen['pk'] = finished[-1]
    if command.startswith('verdi process show'):
        row = re.search(r'stoichiometric_900K\s+(\d+)\s+Dict', output)
        if row:
            session.seen['row'] = row.group(1)


def wait_for_the_daemon(session: Session, timeout: float = 1500) -> None:
    """What a user does after a launch: follow ``verdi process list`` until nothing is left running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = session.run('verdi process list -r')
        if listing.returncode == 0 and not listing.stdout.strip():
            return
        time.sleep(10)
    pytest.fail(f'the launched workchains did not finish in {timeout} s:\n{session.run("verdi process list").stdout}')


# -- The session ------------------------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def session(tmp_path_factory) -> Session:
    session = user_session(tmp_path_factory)
    # Caching on for the plugin's calculations, as topics/sse_workchain.md shows: what the demo computed is not
    # computed again when a later page runs the same calculation (the guide runs the demo twice).
    completed = session.run("verdi config set caching.enabled_for 'aiida.calculations:superionic.*'")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    yield session
    session.close()


def test_every_documented_command_is_known():
    """Placeholders aside, a command is either run or listed here with the reason it cannot run."""
    listed = {command for page in pages() for command in documented_commands(page)}
    assert 'make demo' in listed
    assert 'make test' in listed
    unused = set(NOT_HERE) - listed
    assert not unused, f'NOT_HERE lists commands no page has any more: {unused}'


@pytest.mark.slow
@pytest.mark.chgnet
def test_every_documented_command_runs_as_typed(session):
    pytest.importorskip('chgnet')
    failures = []
    ran = 0
    deadline = time.monotonic() + BUDGET_SECONDS
    for page in pages():
        commands = documented_commands(page)
        blocks = python_blocks(page) if page in PAGES_WITH_PYTHON_RUN else []
        if not commands and not blocks:
            continue
        for path, make in GIVEN.get(page, []):
            where = (
                pathlib.Path(session.environment['HOME']) / path[2:]
                if path.startswith('~/')
                else session.checkout / path
            )
            if not where.exists():
                make(where)
        for command in commands:
            if command in NOT_HERE or (page, command) in NOT_HERE_ON_PAGE:
                continue
            if command.startswith('aiida-superionic export') and session.daemon_started:
                wait_for_the_daemon(session, timeout=max(60.0, deadline - time.monotonic()))
            typed = fill(command, session)
            left = deadline - time.monotonic()
            if left <= 0:
                failures.append(f'out of the {BUDGET_SECONDS} s budget before {page}: `{typed}`')
                break
            completed = session.run(typed, timeout=left)
            ran += 1
            output = completed.stdout + completed.stderr
            if completed.returncode != 0 or 'Traceback (most recent call last)' in output:
                failures.append(f'{page}: `{typed}` exited {completed.returncode}\n{output[-3000:]}')
                continue
            session.daemon_started |= command.startswith('verdi daemon start')
            read_output(command, completed.stdout, session)
            check_output(page, command, completed.stdout, session)
            if command == 'verdi process show <pk>' and 'row' not in session.seen:
                failures.append(f'{page}: `{typed}` lists no row stoichiometric_900K')
        for index, block in enumerate(blocks):
            # A block of the guide is what a user pastes into a script of theirs and runs with `verdi run`.
            script = session.checkout / f'guide_block_{index}.py'
            script.write_text(block.replace('PK', session.seen.get('pk', 'PK')))
            completed = session.run(f'verdi run {script.name}', timeout=max(60.0, deadline - time.monotonic()))
            ran += 1
            if completed.returncode != 0:
                failures.append(
                    f'{page}: Python block {index} exited {completed.returncode}\n{completed.stderr[-3000:]}'
                )
    assert not failures, '\n\n'.join(failures)
    assert ran > 30


def check_output(page: str, command: str, output: str, session: Session) -> None:
    """What a page says a command prints, where it says it."""
    checkout = session.checkout
    if command == 'make demo':
        for expected in ('Material:   Li3N, engine ase, protocol fast+test-size', 'Model:      chgnet', 'Elastic:'):
            assert expected in output, output[-3000:]
        for label in ('stoichiometric_700K', 'stoichiometric_900K', 'vacancy_700K', 'vacancy_900K'):
            assert label in output
        assert (checkout / 'li3n_msd.png').read_bytes()[:4] == b'\x89PNG'
        assert_same_shape(readme_demo_output(), demo_summary(output))
    if command.startswith('verdi node graph generate'):
        assert (checkout / f'{session.seen["row"]}.dot.png').read_bytes()[:4] == b'\x89PNG'
    if command.endswith('export table.csv -G superionic-demo'):
        # Four rows per run of the demo in the group (the pages run it more than once, as a reader of them does).
        rows = re.search(r'Wrote (\d+) rows \(1 materials', output)
        assert rows, output
        assert int(rows.group(1)) % 4 == 0, output
    if ' analyze ' in command:
        words = shlex.split(command)
        folder = words[words.index('-o') + 1]  # the option's value, wherever other options stand
        assert (checkout / folder / 'index.html').is_file(), command
    if command.startswith('aiida-superionic archive'):
        assert (checkout / command.rsplit(maxsplit=1)[-1]).stat().st_size > 0


def readme_demo_output() -> list[str]:
    """The demo's summary as the README shows it (the ``text`` block after ``make demo``)."""
    text = (ROOT / 'README.md').read_text()
    return re.search(r'```text\n(Material:.*?)```', text, flags=re.DOTALL).group(1).splitlines()


def demo_summary(output: str) -> list[str]:
    """The summary the demo prints, from ``Material:`` to its ``MSD figure:`` line (make's own lines aside)."""
    lines = output[output.index('Material:') :].splitlines()
    return lines[: next(index for index, line in enumerate(lines) if line.startswith('MSD figure:')) + 1]


def assert_same_shape(documented: list[str], printed: list[str]) -> None:
    """The README's sample and a real run's summary have the same lines, numbers and pks aside."""

    def shape(line: str) -> str:
        line = re.sub(r'fast\+test-size', 'fast', line)
        line = re.sub(r'-?\d+(\.\d+)?(e[-+]\d+)?', '#', line)
        line = re.sub(r'\b(diffusive|too_few_hops|non_linear|n/a)\b', 'V', line)
        return re.sub(r'\s+', ' ', line).strip()

    def keyed(lines: list[str]) -> list[str]:
        return [shape(line) for line in lines if line.strip() and not line.startswith('Arrhenius')]

    assert keyed(documented) == keyed(printed), (documented, printed)


@pytest.mark.parametrize('where', ['root', 'examples', 'elsewhere'])
def test_every_example_starts_from_any_directory(tmp_path_factory, where):
    """``verdi run`` gives a script its bare name as ``__file__``: no example may look for files beside it."""
    session = user_session(tmp_path_factory)
    cwd = {
        'root': session.checkout,
        'examples': session.checkout / 'examples',
        'elsewhere': tmp_path_factory.mktemp('x'),
    }
    for script in sorted((session.checkout / 'examples').glob('*.py')):
        typed = {'root': f'examples/{script.name}', 'examples': script.name, 'elsewhere': str(script)}[where]
        completed = session.run(f'verdi run {typed} -- --help', cwd=cwd[where])
        assert completed.returncode == 0, completed.stdout + completed.stderr
        assert 'usage:' in completed.stdout
    session.close()
