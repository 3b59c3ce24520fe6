#!/usr/bin/env runaiida
"""Screen a folder of CIFs with the bundled ML potential: one ``SseWorkChain`` per material, on the daemon.

    verdi daemon start 2
    verdi run examples/screen_cifs.py path/to/cifs --protocol fast --group my-screening
    verdi process list                     # follow
    aiida-superionic export table.csv -G my-screening
    aiida-superionic analyze table.csv -o report/

The same as ``aiida-superionic launch path/to/cifs``; this script shows the two calls it makes, for a user who
wants to change a builder before submitting (e.g. the temperatures of one material).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from aiida_superionic.cli.launch import structures_from_cifs, submit_sse
from aiida_superionic.cli.setup import ensure_localhost_python_code
from aiida_superionic.engines.ase import get_model_node
from aiida_superionic.workflows.sse_builder import preset_from_environment


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('folder', type=pathlib.Path, help='folder of *.cif files')
    parser.add_argument('--protocol', default='fast', help='fast, balanced or stringent')
    parser.add_argument('--group', default='superionic-screening', help='group of the workchains and rows')
    parser.add_argument('--temperatures', type=float, nargs='+', help='MD temperatures in K (default: the protocol)')
    arguments = parser.parse_args(argv)

    structures = structures_from_cifs(sorted(arguments.folder.glob('*.cif')))
    overrides = {'temperatures': arguments.temperatures} if arguments.temperatures else None
    nodes = submit_sse(
        structures,
        ensure_localhost_python_code(),  # the ASE engine: the code's plugin says which engine runs
        arguments.protocol,
        arguments.group,
        overrides=overrides,
        preset=preset_from_environment(),  # `test_size` with SUPERIONIC_TEST_SIZE=1, as `launch`
        model=get_model_node('chgnet'),
    )
    for name, node in nodes.items():
        print(f'{name:<30} SseWorkChain<{node.pk}>')
    print(f'Follow with `verdi process list`; then `aiida-superionic export table.csv -G {arguments.group}`.')


if __name__ == '__main__':
    main(sys.argv[1:])
