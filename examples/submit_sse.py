#!/usr/bin/env runaiida
"""The demo: Li3N through the whole protocol with the bundled CHGNet potential, with full provenance.

Run with ``verdi run examples/submit_sse.py`` (``make demo`` sets everything up first). It runs one
``SseWorkChain`` with the ``fast`` protocol on Li3N (P6/mmm, the experimental cell): the relaxation of cell
and ions; the elastic tensor, the Γ phonons and the Li vacancy formation energy; NVT MD at 700 and 900 K of a
2×2×2 supercell (32 atoms) and of the same supercell with one Li vacancy; a table row of the 54 descriptors
per (temperature, composition); and the Arrhenius law per composition. It prints the rows' headline numbers
and draws MSD(τ) of one run. About 7–8 minutes on a quiet 2-core machine.

Why these temperatures: the potential is soft; at 1000 K it disorders the N framework, at 700–900 K the N
atoms stay on their sites while Li hops.

Options (after the script name): ``--temperatures 700 900``, ``--md-steps N`` and ``--equilibration-steps N``
(small values make a quick check; ``SUPERIONIC_TEST_SIZE=1`` in the environment asks for the protocol's
``test_size`` preset, every MD 100 steps), ``--protocol fast|balanced|stringent`` (``fast`` here; the Python API's
default is ``balanced``), ``--daemon`` to submit to a running
daemon and follow it instead of running in this process, ``--plot PATH`` where to draw MSD(τ) with the fit
(default ``li3n_msd.png``; ``''`` for none), ``--group LABEL`` the group that receives the workchain and rows,
``--cif PATH`` another material than Li3N, ``--potential NAME`` another potential than CHGNet (e.g. ``sevenn``;
``aiida-superionic potentials`` lists them), ``--device cpu|cuda|auto``, ``--restart PK`` to continue an
interrupted run (finished children reused). Paths may be relative to the directory you run from; the script
itself runs from any directory.

One Ctrl-C stops the run: every unfinished process is killed, the finished ones are kept, and the last line says
how to continue.
"""

from __future__ import annotations

import argparse
import getpass
import pathlib
import sys
import threading
import time

from aiida import engine, orm
from pymatgen.core import Structure

from aiida_superionic.analysis.plots import plot_msd
from aiida_superionic.cli.setup import ensure_localhost_python_code
from aiida_superionic.resources import LI3N_CIF
from aiida_superionic.workflows.running import StillRunningError, end_orphaned_tree, run
from aiida_superionic.workflows.sse import SseWorkChain
from aiida_superionic.workflows.sse_builder import preset_from_environment


def read_structure(cif: pathlib.Path) -> orm.StructureData:
    """Return the unit cell of ``cif``, read as the guide reads a CIF of yours; the workchain makes the supercells
    and the vacancies."""
    return orm.StructureData(pymatgen=Structure.from_file(cif))


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--temperatures', type=float, nargs='+', default=None, help='MD temperatures in K')
    parser.add_argument('--md-steps', type=int, default=None, help='MD production steps (default: the protocol)')
    parser.add_argument('--equilibration-steps', type=int, default=None, help='MD equilibration steps')
    parser.add_argument(
        '--protocol', default='fast', help="fast (the demo's), balanced (the Python API's default) or stringent"
    )
    parser.add_argument('--daemon', action='store_true', help='submit to the daemon and wait')
    parser.add_argument('--group', default='superionic-demo', help='group of the workchain and its rows')
    parser.add_argument('--plot', default='li3n_msd.png', help='where to draw MSD(τ) with the fit ("" for none)')
    parser.add_argument('--cif', type=pathlib.Path, default=LI3N_CIF, help='the material (default: Li3N)')
    parser.add_argument('--restart', type=int, metavar='PK', help='continue the interrupted SseWorkChain PK')
    parser.add_argument(
        '--potential', default='chgnet', help='the potential by name, e.g. sevenn (`aiida-superionic potentials`)'
    )
    parser.add_argument(
        '--device', default='cpu', choices=['cpu', 'cuda', 'auto'], help='where it runs; cuda without a GPU fails (335)'
    )
    return parser.parse_args(argv)


def restart_builder(pk: int):
    """The builder that continues SseWorkChain ``pk``: its finished children reused, its unfinished MD continued.

    A run whose ``verdi run`` was killed left processes that nothing runs: they are ended first.
    """
    node = orm.load_node(pk)
    try:
        end_orphaned_tree(node, f'Killed: continued by a restart of {pk}')
    except StillRunningError as exception:
        sys.exit(f'Error: {exception}')
    return SseWorkChain.get_builder_restart(node)


def main(arguments: argparse.Namespace) -> orm.WorkflowNode:
    builder = restart_builder(arguments.restart) if arguments.restart else new_builder(arguments)
    started = time.time()
    if arguments.daemon:
        node = engine.submit(builder)
        print(f'Submitted SseWorkChain<{node.pk}>; following it (Ctrl-C stops following, not the work).')
        while not node.is_terminated:
            time.sleep(10)
            print(f'  {node.process_state.value}: {node.process_status or ""}', flush=True)
    else:
        workdir = pathlib.Path(builder.ase.code.computer.get_workdir().format(username=getpass.getuser()))
        stop = threading.Event()
        follower = threading.Thread(target=follow_md_progress, args=(workdir, time.time(), stop), daemon=True)
        follower.start()
        try:
            # On Ctrl-C: one line, every unfinished process killed, exit status 130 (RunInterruptedError).
            # sys.argv[0] is this script's path as the user typed it (``verdi run`` passes it on): the line says
            # what to type in the same directory.
            node = run(builder, continue_with=f'`verdi run {sys.argv[0]} --restart {{pk}}`')
        finally:
            stop.set()
            follower.join()
    print(f'\nSseWorkChain<{node.pk}> finished in {(time.time() - started) / 60:.1f} min')
    return node


def new_builder(arguments: argparse.Namespace):
    """The demo's builder: the protocol with the script's options as overrides."""
    overrides = {'md': {}}
    if arguments.temperatures:
        overrides['temperatures'] = arguments.temperatures
    if arguments.md_steps is not None:
        overrides['md']['steps'] = arguments.md_steps
    if arguments.equilibration_steps is not None:
        overrides['md']['equilibration_steps'] = arguments.equilibration_steps
    builder = SseWorkChain.get_builder_from_protocol(
        ensure_localhost_python_code(),
        read_structure(arguments.cif.expanduser().absolute()),
        arguments.protocol,
        overrides=overrides,
        preset=preset_from_environment(),  # `test_size` with SUPERIONIC_TEST_SIZE=1: a check in minutes
        potential=arguments.potential,
        device=arguments.device,
    )
    builder.group_label = orm.Str(arguments.group)
    builder.metadata.label = f'{builder.structure.get_formula()} demo'
    return builder


def follow_md_progress(workdir: pathlib.Path, since: float, stop: threading.Event, every: float = 20.0) -> None:
    """Echo the newest progress line of each running MD from ``aiida.out`` in its job folder on this machine.

    Reads files only (no AiiDA calls from this thread).
    """
    while not stop.wait(every):
        for path in sorted(workdir.glob('??/??/*/aiida.out')):
            if path.stat().st_mtime < since or time.time() - path.stat().st_mtime > every:
                continue
            lines = [line for line in path.read_text().splitlines() if line.startswith('step')]
            if lines:
                print(f'  MD {path.parent.name[:8]}: {lines[-1]}', flush=True)


def print_summary(node: orm.WorkflowNode, plot: str) -> None:
    print(
        f'Material:   {node.inputs.structure.get_formula()}, engine {node.inputs.engine.value}, '
        f'protocol {node.inputs.protocol.value}'
    )
    if 'rows' not in node.outputs or not node.outputs.rows:
        print(f'No rows: exit status {node.exit_status}: {node.exit_message}')
        print(f'See `verdi process report {node.pk}`.')
        sys.exit(1)
    rows = {label: row.get_dict() for label, row in node.outputs.rows.items()}
    first = next(iter(rows.values()))
    print(f'Model:      {first["model"]}')
    print(f'Elastic:    B = {_number(first["bulk_modulus_GPa"])} GPa, G = {_number(first["shear_modulus_GPa"])} GPa')
    print(f'Γ phonons:  lowest optical mode {_number(first["lowest_optical_frequency_meV"])} meV (imaginary < 0)')
    print(f'Vacancy:    E_vac = {_number(first["vacancy_formation_energy_eV"])} eV')
    print()
    print(f'{"run":<22} {"T (K)":>6} {"D (cm²/s)":>11} {"verdict":<14} {"⟨ω⟩ Li (meV)":>12} {"Lindemann":>9}')
    for label, row in sorted(rows.items(), key=lambda item: (not item[1]['stoichiometric'], item[1]['temperature_K'])):
        verdict = node.outputs.md[label]['diffusivity_verdict'] if label in node.outputs.md else ''
        print(
            f'{label:<22} {row["temperature_K"]:>6g} {_number(row["diffusion_coefficient_cm2_s"], ".2e"):>11} '
            f'{verdict:<14} {_number(row["mean_frequency_meV_mobile"], ".1f"):>12} '
            f'{_number(row["lindemann_ratio"], ".3f"):>9}'
        )
    arrhenius = dict(node.outputs.arrhenius.items()) if 'arrhenius' in node.outputs else {}
    if not arrhenius:
        print('Arrhenius:  not fitted: it needs two temperatures whose D is diffusive (see the verdicts above)')
    for composition, fit in arrhenius.items():
        values = fit.get_dict()
        print(
            f'Arrhenius ({composition}): Ea = {values["activation_energy_eV"]:.3f} ± '
            f'{values.get("activation_energy_std_eV", float("nan")):.3f} eV'
        )
    print(f'\nWorkchain:  pk {node.pk}, exit status {node.exit_status} {node.exit_message or ""}')
    print(f'Inspect:    verdi process status -c {node.pk}   |   verdi process report {node.pk}')
    print(f'Table:      aiida-superionic export table.csv -G {node.inputs.group_label.value}')
    if plot:
        md = _first_md(node)
        if md is not None and 'msd' in md.outputs:
            title = f'{md.inputs.structure.get_formula()}, {md.inputs.temperature.value:g} K, {first["model"]}'
            print(f'MSD figure: {plot_msd(md.outputs.msd, md.outputs.descriptors, plot, title=title)}')
    if node.exit_status != 0:
        sys.exit(1)


def _first_md(node):
    """The stoichiometric MD run at the lowest temperature."""
    runs = [
        link.node
        for link in node.base.links.get_outgoing(link_label_filter='md_stoichiometric_%').all()
        if isinstance(link.node, orm.WorkflowNode)
    ]
    return min(runs, key=lambda run: run.inputs.temperature.value, default=None)


def _number(value, spec: str = '.3g') -> str:
    return 'n/a' if value is None else format(value, spec)


if __name__ == '__main__':
    ARGUMENTS = parse_arguments(sys.argv[1:])
    print_summary(main(ARGUMENTS), ARGUMENTS.plot)
