#!/usr/bin/env runaiida
"""Redraw the docs' figures from a demo run with the current code: ``verdi run docs/regenerate_figures.py PK``.

PK is the demo's ``SseWorkChain`` (``make demo`` prints it). Writes ``docs/source/_static/li3n_msd.png`` (MSD(τ) of
Li in the stoichiometric run at the lowest temperature, drawn by ``plot_msd``) and
``docs/source/_static/sse_row_provenance.png`` (``verdi node graph generate -l data -a 3 -d 0`` of the row
``stoichiometric_900K``). Run from the repository root.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile

from aiida import orm

from aiida_superionic.analysis.plots import plot_msd

STATIC = pathlib.Path('docs/source/_static')

node = orm.load_node(int(sys.argv[1]))
runs = [link.node for link in node.base.links.get_outgoing(link_label_filter='md_stoichiometric_%').all()]
md = min(runs, key=lambda run: run.inputs.temperature.value)
row = node.outputs.rows.stoichiometric_900K
title = f'{md.inputs.structure.get_formula()}, {md.inputs.temperature.value:g} K, {row["model"]}'
print(plot_msd(md.outputs.msd, md.outputs.descriptors, STATIC / 'li3n_msd.png', title=title))
with tempfile.TemporaryDirectory() as folder:
    verdi = pathlib.Path(sys.executable).parent / 'verdi'
    command = [str(verdi), 'node', 'graph', 'generate', '-l', 'data', '-a', '3', '-d', '0', '-f', 'png', str(row.pk)]
    subprocess.run(command, cwd=folder, check=True)
    shutil.copy(pathlib.Path(folder) / f'{row.pk}.dot.png', STATIC / 'sse_row_provenance.png')
print(STATIC / 'sse_row_provenance.png')
