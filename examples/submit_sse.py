#!/usr/bin/env runaiida
"""The demo: Li diffusion in Li3N with the bundled CHGNet potential, with full provenance.

Run with ``verdi run examples/submit_sse.py`` (``make demo`` sets everything up first). It builds
a 2×2×2 Li3N supercell (32 sites) with one Li vacancy so that Li hops, runs one NVT MD at 700 K
with the ``fast`` protocol of ``MdWorkChain`` (1 ps equilibration, 5 ps production, 2 fs steps),
and prints D of Li with its fit window and the number of Li hops.

Why 700 K: the potential is soft; at 1000 K it disorders the N framework, at 700 K the N atoms
stay on their sites while about half of the Li ions hop within 5 ps.

Options (after the script name): ``--temperature K``, ``--steps N`` and ``--equilibration-steps N``
(production and equilibration; small values make a quick check),
``--daemon`` to submit to a running daemon and follow it instead of running in this process,
``--plot PATH`` where to draw MSD(τ) with the fit (default ``li3n_msd.png``; ``''`` for none).
"""

from __future__ import annotations

import argparse
import getpass
import pathlib
import sys
import threading
import time

from aiida import engine, orm
from pymatgen.core import Lattice, Structure

from aiida_superionic.analysis.plots import plot_msd
from aiida_superionic.cli.setup import ensure_localhost_python_code
from aiida_superionic.engines.ase import get_model_node
from aiida_superionic.workflows.md import MdWorkChain

#: Li3N, P6/mmm, experimental lattice (a = 3.648 Å, c = 3.875 Å).
LI3N_LATTICE = (3.648, 3.875)


def li3n_with_vacancy() -> orm.StructureData:
    """Return a 2×2×2 Li3N supercell with one Li(2) (in-plane) site removed: Li23N8."""
    a, c = LI3N_LATTICE
    cell = Structure(
        Lattice.hexagonal(a, c),
        ['N', 'Li', 'Li', 'Li'],
        [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0]],
    )
    cell.make_supercell([2, 2, 2])
    in_plane_li = next(
        i for i, site in enumerate(cell) if site.specie.symbol == 'Li' and abs(site.frac_coords[2]) < 1e-6
    )
    cell.remove_sites([in_plane_li])
    return orm.StructureData(pymatgen=cell)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--temperature', type=float, default=700.0, help='temperature in K')
    parser.add_argument('--steps', type=int, default=None, help='production steps (default: the protocol)')
    parser.add_argument('--equilibration-steps', type=int, default=None, help='equilibration steps')
    parser.add_argument('--daemon', action='store_true', help='submit to the daemon and wait')
    parser.add_argument('--plot', default='li3n_msd.png', help='where to draw MSD(τ) with the fit ("" for none)')
    return parser.parse_args(argv)


def main(arguments: argparse.Namespace) -> orm.WorkflowNode:
    overrides = {}
    if arguments.steps is not None:
        overrides['steps'] = arguments.steps
    if arguments.equilibration_steps is not None:
        overrides['equilibration_steps'] = arguments.equilibration_steps
    builder = MdWorkChain.get_builder_from_protocol(
        code=ensure_localhost_python_code(),
        structure=li3n_with_vacancy(),
        temperature=arguments.temperature,
        protocol='fast',
        overrides=overrides,
        model=get_model_node('chgnet'),
    )
    builder.mobile_species = orm.Str('Li')
    builder.metadata.label = f'Li3N demo {arguments.temperature:g} K'

    if arguments.daemon:
        node = engine.submit(builder)
        print(f'Submitted MdWorkChain<{node.pk}>; following it (Ctrl-C stops following, not the work).')
        while not node.is_terminated:
            time.sleep(5)
            print(f'  {node.process_state.value}: {node.process_status or ""}', flush=True)
    else:
        workdir = pathlib.Path(builder.ase.code.computer.get_workdir().format(username=getpass.getuser()))
        stop = threading.Event()
        follower = threading.Thread(target=follow_md_progress, args=(workdir, time.time(), stop), daemon=True)
        follower.start()
        try:
            _, node = engine.run_get_node(builder)
        finally:
            stop.set()
            follower.join()
    return node


def follow_md_progress(workdir: pathlib.Path, since: float, stop: threading.Event, every: float = 10.0) -> None:
    """Echo the progress lines the MD writes to ``aiida.out`` in its job folder on this machine.

    Reads files only (no AiiDA calls from this thread): the newest ``aiida.out`` under the
    computer's work directory that changed after ``since``.
    """
    printed = 0
    while not stop.wait(every):
        recent = [
            path
            for path in workdir.glob('??/??/*/aiida.out')
            if path.stat().st_mtime > since and path.parent.stat().st_mtime > since - 60
        ]
        if not recent:
            continue
        lines = max(recent, key=lambda path: path.stat().st_mtime).read_text().splitlines()
        for line in lines[printed:]:
            if line.startswith('step'):
                print(f'  MD {line}', flush=True)
        printed = len(lines)


def print_summary(node: orm.WorkflowNode, plot: str) -> None:
    print()
    if 'descriptors' not in node.outputs:
        print(f'MdWorkChain<{node.pk}> ended with exit status {node.exit_status}: {node.exit_message}')
        print(f'See `verdi process report {node.pk}`.')
        sys.exit(1)
    values = node.outputs.descriptors.get_dict()
    print(f'Material:      {node.inputs.structure.get_formula()} (mobile species {values["mobile_species"]})')
    print(f'Temperature:   {node.inputs.temperature.value:g} K')
    print(f'Model:         {node.inputs.ase.model["name"]} {node.inputs.ase.model["model_version"]}')
    std = values.get('diffusion_coefficient_std_cm2_s', float('nan'))
    print(f'D:             {values["diffusion_coefficient_cm2_s"]:.3e} ± {std:.1e} cm²/s (1σ, block averaging)')
    print(
        f'Fit window:    {values["diffusion_fit_start_ps"]:.2f}–{values["diffusion_fit_end_ps"]:.2f} ps '
        f'of {values["analysed_time_ps"]:.2f} ps analysed (τmax/2..τmax), R² = {values["diffusion_fit_r_squared"]:.3f}'
    )
    print(
        f'Hops:          {values["mobile_ion_hops"]} ({values["mobile_ions_that_hopped"]} of '
        f'{values["mobile_ions"]} ions moved > {values["hop_distance_A"]:.2f} Å)'
    )
    verdict = values['diffusivity_verdict']
    print(
        f'Verdict:       {verdict}'
        + ('' if verdict == 'diffusive' else f' (D is flagged: {values["diffusivity_reason"]})')
    )
    if 'mean_frequency_meV_all' in values:
        print(
            f'Vibrations:    <ω> = {values["mean_frequency_meV_framework"]:.1f} meV (framework), '
            f'{values["mean_frequency_meV_mobile"]:.1f} meV ({values["mobile_species"]}); '
            f'Lindemann ratio {values["lindemann_ratio"]:.3f}'
        )
    if 'energy_drift_meV_atom_ps' in values:
        print(f'Energy drift:  {values["energy_drift_meV_atom_ps"]:.3g} meV/atom/ps (of the conserved energy)')
    print(f'Workchain:     pk {node.pk}, uuid {node.uuid}, exit status {node.exit_status}')
    print(f'Inspect with:  verdi process show {node.pk}   |   verdi process report {node.pk}')
    if plot:
        model = node.inputs.ase.model['name']
        title = f'{node.inputs.structure.get_formula()}, {node.inputs.temperature.value:g} K, {model}'
        print(f'MSD figure:    {plot_msd(node.outputs.msd, node.outputs.descriptors, plot, title=title)}')
    flagged = (MdWorkChain.exit_codes.ERROR_TOO_FEW_HOPS.status, MdWorkChain.exit_codes.ERROR_NO_HOPS.status)
    if node.exit_status not in (0, *flagged):
        sys.exit(1)  # a flagged D of a short run is still a result; anything else is a failure


if __name__ == '__main__':
    ARGUMENTS = parse_arguments(sys.argv[1:])
    print_summary(main(ARGUMENTS), ARGUMENTS.plot)
