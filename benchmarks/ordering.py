"""Benchmark of ``superionic.order`` (issue 20): the argyrodite Li6PS5Cl ordered at the ``fast`` budget (300 atoms),
its candidates ranked by CHGNet, in at most 3 minutes on 2 cores.

One command, from the repository root in the project's venv::

    python benchmarks/ordering.py [--protocol fast] [--candidates N]

It makes a throw-away AiiDA profile (``export_table.py``'s: SQLite storage in a temporary folder deleted at the
end; the user's ``~/.aiida`` is neither read nor written), a ``localhost`` Python code, and runs
``OrderWorkChain`` on ``tests/data/cifs/Li6PS5Cl.cif`` with the ASE engine and the bundled CHGNet, each job on
one thread (the protocol's). It prints the supercell, the wall time of the whole workchain and of each
candidate's jobs (its short relaxation and its static energy; candidates run concurrently), the energies, and
whether the 3-minute target was met.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from export_table import make_profile

TARGET_SECONDS = 180.0
CIF = pathlib.Path(__file__).resolve().parents[1] / 'tests' / 'data' / 'cifs' / 'Li6PS5Cl.cif'


def job_seconds(node) -> float:
    """Wall time of a finished process node, from its creation to its last modification (s)."""
    return (node.mtime - node.ctime).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--protocol', default='fast', choices=['fast', 'balanced', 'stringent'])
    parser.add_argument('--candidates', type=int, help="default: the protocol's")
    arguments = parser.parse_args()
    os.environ.setdefault('OMP_NUM_THREADS', '1')

    make_profile()
    from aiida import orm
    from aiida.common.links import LinkType
    from aiida.engine import run_get_node
    from pymatgen.core import Structure

    from aiida_superionic.cli.setup import ensure_localhost_python_code
    from aiida_superionic.engines.ase import get_model_node
    from aiida_superionic.workflows.order import OrderWorkChain

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        structure = orm.StructureData(pymatgen=Structure.from_file(str(CIF)))
    builder = OrderWorkChain.get_builder_from_protocol(
        ensure_localhost_python_code(), structure, arguments.protocol, model=get_model_node('chgnet')
    )
    if arguments.candidates:
        builder.candidates = orm.Int(arguments.candidates)
    start = time.perf_counter()
    results, node = run_get_node(builder)
    total = time.perf_counter() - start
    if not node.is_finished_ok:
        print(f'OrderWorkChain<{node.pk}> failed: exit status {node.exit_status} {node.exit_message}')
        return 1
    record = results['ordering'].get_dict()
    called = {link.link_label: link.node for link in node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()}
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, check=False)
    print(
        f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, commit {commit.stdout.strip()}, '
        f'load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, CHGNet on 1 thread per job'
    )
    print(
        f'Li6PS5Cl ({CIF.name}): {record["atoms"]}-atom {"×".join(map(str, record["supercell"]))} supercell, '
        f'{record["candidates"]} candidates ({record["method"]}), protocol {arguments.protocol}'
    )
    for index in range(record['candidates']):
        label = f'candidate_{index}'
        relax, static = called[f'relax_{label}'], called.get(label)  # a static only after an unconverged relax
        energy_job = f' + energy {job_seconds(static):5.1f} s' if static is not None else ' (converged)'
        print(
            f'  {label}: relax {job_seconds(relax):6.1f} s{energy_job}, '
            f'E = {record["energies_eV_per_atom"][index]:.5f} eV/atom'
            + ('  <- chosen' if index == record['chosen'] else '')
        )
    per_candidate = total / record['candidates']
    verdict = 'met' if total <= TARGET_SECONDS else 'NOT met'
    print(
        f'total {total:.1f} s ({per_candidate:.1f} s per candidate, candidates concurrent on the cores); '
        f'target <= {TARGET_SECONDS:.0f} s: {verdict}'
    )
    return 0 if total <= TARGET_SECONDS else 2


if __name__ == '__main__':
    sys.exit(main())
