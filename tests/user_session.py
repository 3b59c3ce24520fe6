"""A user's terminal for the tests of documented commands: a copy of this checkout and a profile of its own.

The copy holds the tracked files of the checkout, its ``.venv`` linked (the installed environment); the profile
is made by ``aiida-superionic setup`` in a scratch ``AIIDA_PATH``, as on a fresh machine; ``PATH`` starts with the
environment's ``bin`` (``source .venv/bin/activate``); the test-size switch is on.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_BIN = pathlib.Path(sys.executable).parent


@dataclasses.dataclass
class Session:
    """The user's terminal: a checkout, an environment, and what they have read so far (``<pk>``)."""

    checkout: pathlib.Path
    environment: dict
    seen: dict = dataclasses.field(default_factory=dict)
    daemon_started: bool = False

    def close(self) -> None:
        if self.daemon_started:
            self.run('verdi daemon stop', timeout=120)
        self.end_leftover_jobs()

    def end_leftover_jobs(self) -> None:
        """End the jobs a failed test leaves behind: stopping the daemon does not end the scheduler's jobs, and a
        dozen CHGNet jobs of a launch would go on for minutes beside the next tests."""
        import psutil

        from aiida_superionic.workflows.running import processes_working_in

        folders = (self.environment['AIIDA_PATH'], self.environment['HOME'], str(self.checkout))
        leftovers = processes_working_in(folders)
        for process in leftovers:
            try:
                process.kill()
            except psutil.Error:  # it ended meanwhile
                continue
        psutil.wait_procs(leftovers, timeout=10)

    def run(self, command: str, cwd: pathlib.Path | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
        """Type ``command`` in the terminal; after ``timeout`` everything it started is killed, and the test fails."""
        process = subprocess.Popen(
            ['bash', '-c', command],
            cwd=cwd or self.checkout,
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its own process group: a timeout ends the command and all it started
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
            pytest.fail(f'`{command}` did not end within {timeout} s:\n{stdout[-2000:]}\n{stderr[-2000:]}')
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def user_session(tmp_path_factory) -> Session:
    """A new terminal on a copy of the checkout, with a profile made by ``aiida-superionic setup``."""
    stamp = VENV_BIN.parent / '.superionic-installed'
    # What the Makefile's stamp depends on: `make` in the copy would reinstall the linked environment from the
    # copy, and leave it pointing there.
    for source in ('pyproject.toml', 'requirements/constraints.txt'):
        if not stamp.exists() or stamp.stat().st_mtime < (ROOT / source).stat().st_mtime:
            pytest.fail(f'the environment is older than {source}: run `make install` first')
    checkout = tmp_path_factory.mktemp('checkout')
    tracked = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.splitlines():
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)  # modification times kept: make sees the venv up to date
    for name in ('examples', 'docs', 'tests', 'aiida_superionic', 'benchmarks'):
        (checkout / name).mkdir(exist_ok=True)
    (checkout / '.venv').symlink_to(VENV_BIN.parent)
    aiida_path = tmp_path_factory.mktemp('aiida')
    home = tmp_path_factory.mktemp('home')  # the user's home: their ~/.ssh, and the localhost computer's job folders
    environment = {
        **os.environ,
        'AIIDA_PATH': str(aiida_path),
        'HOME': str(home),
        'PATH': f'{VENV_BIN}:{os.environ["PATH"]}',
        'SUPERIONIC_TEST_SIZE': '1',
        'PYTHONPATH': '',
        'OMP_NUM_THREADS': '1',
    }
    for name in ('PYTEST_CURRENT_TEST', 'PYTEST_XDIST_WORKER', 'VIRTUAL_ENV'):
        environment.pop(name, None)
    session = Session(checkout, environment)
    completed = session.run('aiida-superionic setup')
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return session
