"""The quick-look commands of ``benchmarks/README.md``, run as typed: each benchmark runs, states when, on what load
and at which commit it ran, and gives every target a verdict (the figures themselves are ``make bench``'s)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
README = (REPOSITORY / 'benchmarks' / 'README.md').read_text()

#: The quick-look commands of the README (the benchmarks at a small size), without the prompt.
QUICK_LOOKS = {
    'trajectory_descriptors': 'python benchmarks/trajectory_descriptors.py --frames 5000 --no-peers --repeats 1',
    'parsing': 'python benchmarks/parsing.py --frames 2000 --vasprun-frames 2000 --no-peers --no-rss',
    'export_table': 'python benchmarks/export_table.py --rows 300 --no-peer --repeats 1',
}


@pytest.mark.parametrize('name', sorted(QUICK_LOOKS))
def test_benchmark_quick_look_gives_every_target_a_verdict(name):
    command = QUICK_LOOKS[name]
    assert f'$ {command}' in README, f'the README no longer shows `{command}`'
    completed = subprocess.run(
        [sys.executable, *command.split()[1:]], check=False, cwd=REPOSITORY, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.splitlines()
    assert re.match(r'== .*: \d{4}-\d\d-\d\d \d\d:\d\d UTC, load average [\d.]+, [\d.]+, [\d.]+ .*commit \w+', lines[0])
    assert lines[-1].startswith('== ')
    assert ' done: load average ' in lines[-1]
    targets = [line for line in lines if line.strip().startswith('target: ')]
    assert targets, completed.stdout
    for line in targets:
        assert re.search(r': (met|NOT met) \(', line), line


def test_make_bench_runs_every_benchmark_script():
    completed = subprocess.run(
        ['make', '-n', 'bench'],
        check=False,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    scripts = sorted(path.name for path in (REPOSITORY / 'benchmarks').glob('*.py') if not path.name.startswith('_'))
    for script in scripts:
        assert re.search(rf'\b{script}\b', completed.stdout), (script, completed.stdout)
    assert 'trajectory_descriptors.py --frames 5000 --no-peers' in completed.stdout
