"""What every benchmark prints around its numbers: when, on what load, at which commit, and each target's verdict.

The machine may be shared, so each benchmark states the load (as ``uptime`` gives it) at its start and end,
and the commit measured (with ``+changes`` when the work tree differs from it), so that a figure pasted
into ``benchmarks/README.md`` says where it came from.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import subprocess

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent


def _git(*arguments: str) -> str:
    try:
        completed = subprocess.run(
            ['git', *arguments], cwd=REPOSITORY, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return ''
    return completed.stdout.strip()


def commit() -> str:
    """The commit of the work tree, ``+changes`` appended when tracked files differ from it."""
    head = _git('rev-parse', '--short', 'HEAD') or 'unknown commit'
    return head + ('+changes' if _git('status', '--porcelain', '--untracked-files=no') else '')


def load() -> str:
    """The load averages over 1, 5 and 15 minutes and the cores, as ``uptime`` reports them."""
    one, five, fifteen = os.getloadavg()
    return f'load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores'


def header(name: str) -> None:
    """The first line of a benchmark: its name, the date (UTC), the load and the commit."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    print(f'== {name}: {now}, {load()}, commit {commit()}')


def footer(name: str) -> None:
    """The last line: the load at the end (a load that rose during the run makes its times pessimistic)."""
    print(f'== {name} done: {load()}')


def target(description: str, value: float, limit: float, unit: str = '', at_least: bool = False) -> bool:
    """Print one target as ``target: <description> <= limit: met|NOT met (value)`` and return whether it holds."""
    holds = value >= limit if at_least else value <= limit
    relation = '>=' if at_least else '<='
    print(f'  target: {description} {relation} {limit:g}{unit}: {"met" if holds else "NOT met"} ({value:.3g}{unit})')
    return holds
