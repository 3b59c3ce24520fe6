"""Benchmark of the ASE engine's potentials (issue 21): speed, fixed cost of a job, and Li3N side by side.

One command (see ``benchmarks/README.md`` and ``docs/source/topics/potentials.md``)::

    python benchmarks/potentials.py [--potentials chgnet sevenn sevenn-mf emt lj] [--md-steps 600]

measures, in one run, on one torch thread:

* **MD throughput** (atom-steps per second) of each bundled potential at 32, 108 and 256 atoms: the
  calculator built by the plugin's own code (``potentials.load_potential(name).build``), NVT Nosé–Hoover
  chain steps as the runner takes them (ASE's ``NoseHooverChainNVT``, 2 fs, 600 K), after two warm-up
  steps; Li3N supercells (2×2×2, 3×3×3, 4×4×4 of the 4-atom cell), L1₂ Cu3Au for EMT (no Li in EMT);
* **the fixed cost of a job**: a fresh interpreter that runs the job's own program (``runner.py`` on
  a static task of the 4-atom cell, as ``AseCalculation`` runs it), timed from outside, with the time
  to import the runner and build the calculator (imports and model load) as the job reports it;
* **Li3N, CHGNet against SevenNet-0**: the cell relaxed (FIRE on ions and cell, 0.005 eV/Å); B and G
  (Voigt–Reuss–Hill) from the clamped-ion elastic tensor of ±0.5 %, ±1 % strains (the elastic
  protocol's strains, fitted by the plugin's ``fit_elastic_tensor``); the lowest optical mode at Γ
  (phonopy, 0.03 Å displacements, the 4-atom cell: at Γ exact); and from one NVT MD of the
  ``--md-repeat`` supercell (default 2×2×2) with one Li vacancy (31 atoms) at ``--temperature``
  (default 800 K), 2 fs steps, frames every 5 steps, the first 20 % discarded: the Li ⟨ω⟩
  (``analyse_vibrations``) and D with its block 1σ (``analyse_transport``, the paper's window).

The run is sized for a loaded 2-core machine (about 15 minutes); ``--md-steps`` and ``--md-repeat`` set
the Li3N MD, whose D is indicative (a ps or two of 31 atoms), its uncertainty printed beside it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from aiida_superionic.engines.ase import potentials, runner  # noqa: E402

SIZES = {32: 2, 108: 3, 256: 4}
GPA_PER_EV_A3 = 160.2176634
THZ_TO_MEV = 4.135667696


def li3n(repeat: int = 1):
    from ase import Atoms

    a, c = 3.648, 3.875
    atoms = Atoms(
        'NLi3',
        scaled_positions=[[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0]],
        cell=[[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]],
        pbc=True,
    )
    return atoms.repeat(repeat)


def cu3au(repeat: int = 1):
    from ase import Atoms

    atoms = Atoms(
        'AuCu3',
        scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
        cell=np.eye(3) * 3.75,
        pbc=True,
    )
    return atoms.repeat(repeat)


def build(name: str):
    potential = potentials.load_potential(name)
    calculator, used = potential.build({}, 'cpu', 1)
    return calculator, used


def throughput(name: str, steps: int) -> dict[int, float]:
    """Atom-steps per second of NVT MD at each size (same dynamics as the runner)."""
    from ase import units
    from ase.md.nose_hoover_chain import NoseHooverChainNVT
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    calculator, _ = build(name)
    result = {}
    for atoms_count, repeat in SIZES.items():
        atoms = cu3au(repeat) if name == 'emt' else li3n(repeat)
        assert len(atoms) == atoms_count
        atoms.calc = calculator
        thermalize_momenta(atoms, 600.0, rng=np.random.default_rng(0))
        Stationary(atoms)
        dynamics = NoseHooverChainNVT(atoms, timestep=2.0 * units.fs, temperature_K=600.0, tdamp=100 * units.fs)
        dynamics.run(2)  # warm-up: the first steps build neighbour lists and torch's kernels
        count = steps if name not in ('emt', 'lj') else 20 * steps
        start = time.perf_counter()
        dynamics.run(count)
        elapsed = time.perf_counter() - start
        result[atoms_count] = atoms_count * count / elapsed
        print(
            f'  {name:<10} {atoms_count:>4} atoms: {result[atoms_count]:9.1f} atom-steps/s ({elapsed:.1f} s)',
            flush=True,
        )
    return result


def fixed_cost(name: str) -> dict:
    """Wall time of a fresh job (runner.py on a 4-atom static task), from outside and as the runner reports it."""
    atoms = cu3au() if name == 'emt' else li3n()
    model = potentials.load_potential(name).describe({})
    model['device'] = 'cpu'
    payload = runner.task_payload(atoms, 'static', {}, model, threads=1)
    with tempfile.TemporaryDirectory() as temporary:
        folder = pathlib.Path(temporary)
        (folder / 'superionic_ase_runner.py').write_text(pathlib.Path(runner.__file__).read_text())
        (folder / 'superionic_ase_potentials.py').write_text(pathlib.Path(potentials.__file__).read_text())
        (folder / runner.INPUT_FILENAME).write_text(json.dumps(payload))
        environment = {**os.environ, 'OMP_NUM_THREADS': '1'}
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, 'superionic_ase_runner.py', runner.INPUT_FILENAME],
            cwd=folder,
            check=True,
            env=environment,
            capture_output=True,
        )
        total = time.perf_counter() - start
        output = json.loads((folder / runner.OUTPUT_FILENAME).read_text())
        start = time.perf_counter()
        subprocess.run([sys.executable, '-c', 'import numpy, ase'], check=True, env=environment)
        interpreter = time.perf_counter() - start
    assert output['status'] == 'finished', output
    return {'total_s': total, 'runner_s': output['wall_seconds'], 'interpreter_numpy_ase_s': interpreter}


def relax(atoms, calculator):
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    atoms = atoms.copy()
    atoms.calc = calculator
    FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=0.005, steps=1000)
    return atoms


def elastic_moduli(atoms, calculator) -> tuple[float, float]:
    from aiida_superionic.descriptors.elastic import mechanical_descriptors
    from aiida_superionic.descriptors.elastic_fit import (
        deform_cell,
        fit_elastic_tensor,
        strain_deformations,
        symmetrize_fitted_tensor,
    )

    deformations = strain_deformations([-0.01, -0.005, 0.005, 0.01], [-0.02, -0.01, 0.01, 0.02])

    def stress(structure):
        structure = structure.copy()
        structure.calc = calculator
        return structure.get_stress(voigt=False) * GPA_PER_EV_A3

    stresses = []
    for gradient in deformations:
        strained = atoms.copy()
        strained.set_cell(deform_cell(atoms.cell.array, gradient), scale_atoms=True)
        stresses.append(stress(strained))
    tensor, _ = symmetrize_fitted_tensor(fit_elastic_tensor(deformations, stresses, stress(atoms)))
    values = mechanical_descriptors(tensor, atoms.get_masses().sum() * 1.66053906660 / atoms.get_volume())
    return values['bulk_modulus_GPa'], values['shear_modulus_GPa']


def lowest_optical_meV(atoms, calculator) -> float:
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    from aiida_superionic.descriptors.phonons import gamma_descriptors, gamma_frequencies_THz

    unit = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array, positions=atoms.positions)
    phonon = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int))
    phonon.generate_displacements(distance=0.03)
    forces = []
    for supercell in phonon.supercells_with_displacements:
        from ase import Atoms

        displaced = Atoms(supercell.symbols, cell=supercell.cell, positions=supercell.positions, pbc=True)
        displaced.calc = calculator
        forces.append(displaced.get_forces())
    phonon.forces = forces
    return gamma_descriptors(gamma_frequencies_THz(phonon))['lowest_optical_frequency_meV']


def md_descriptors(atoms, calculator, temperature: float, steps: int, repeat: int) -> dict:
    from ase import units
    from ase.md.nose_hoover_chain import NoseHooverChainNVT
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    from aiida_superionic.descriptors.transport import analyse_transport
    from aiida_superionic.descriptors.vibrations import analyse_vibrations

    atoms = atoms.repeat(repeat)
    del atoms[next(atom.index for atom in atoms if atom.symbol == 'Li')]
    atoms.calc = calculator
    thermalize_momenta(atoms, temperature, rng=np.random.default_rng(1))
    Stationary(atoms)
    dynamics = NoseHooverChainNVT(atoms, timestep=2.0 * units.fs, temperature_K=temperature, tdamp=100 * units.fs)
    interval = 5
    positions, velocities = [], []
    start = time.perf_counter()
    for _ in range(steps // interval + 1):
        positions.append(atoms.get_positions())
        velocities.append(atoms.get_velocities() * 1000.0 * units.fs)  # Å/ps
        dynamics.run(interval)
    elapsed = time.perf_counter() - start
    positions, velocities = np.array(positions), np.array(velocities)
    times = np.arange(len(positions)) * interval * 2.0e-3
    symbols = atoms.get_chemical_symbols()
    masses = atoms.get_masses()
    cells = atoms.cell.array
    equilibration = 0.2 * times[-1]
    transport = analyse_transport(
        positions, cells, times, symbols, masses, 'Li', temperature, 1, equilibration_ps=equilibration
    )
    vibrations = analyse_vibrations(
        positions,
        cells,
        times,
        symbols,
        masses,
        'Li',
        temperature,
        velocities=velocities,
        equilibration_ps=equilibration,
    )
    return {
        'D_cm2_s': transport.diffusion_coefficient_cm2_s,
        'D_std_cm2_s': transport.diffusion_coefficient_std_cm2_s,
        'verdict': str(getattr(transport.verdict, 'verdict', transport.verdict)),
        'mean_frequency_meV_Li': vibrations.mean_frequency_meV_mobile,
        'md_seconds': elapsed,
        'md_ps': times[-1],
    }


def side_by_side(names: list[str], temperature: float, steps: int, repeat: int) -> dict:
    table = {}
    for name in names:
        calculator, _ = build(name)
        start = time.perf_counter()
        relaxed = relax(li3n(), calculator)
        bulk, shear = elastic_moduli(relaxed, calculator)
        optical = lowest_optical_meV(relaxed, calculator)
        zero_kelvin = time.perf_counter() - start
        md = md_descriptors(relaxed, calculator, temperature, steps, repeat)
        a, c = relaxed.cell.cellpar()[[0, 2]]
        table[name] = {'a_A': a, 'c_A': c, 'B_GPa': bulk, 'G_GPa': shear, 'lowest_optical_meV': optical, **md}
        table[name]['zero_kelvin_seconds'] = zero_kelvin
        print(f'  {name}: {json.dumps(table[name], default=float)}', flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--potentials', nargs='+', default=['chgnet', 'sevenn', 'sevenn-mf', 'emt', 'lj'])
    parser.add_argument('--steps', type=int, default=5, help='timed MD steps per size (x20 for emt, lj)')
    parser.add_argument('--md-steps', type=int, default=1000, help='steps of the Li3N MD (2 fs)')
    parser.add_argument('--md-repeat', type=int, default=2, help='supercell of the Li3N MD (n×n×n, one Li vacancy)')
    parser.add_argument('--temperature', type=float, default=800.0)
    parser.add_argument('--compare', nargs='+', default=['chgnet', 'sevenn'])
    arguments = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    commit = subprocess.run(
        ['git', 'rev-parse', '--short', 'HEAD'], cwd=REPOSITORY, capture_output=True, text=True, check=False
    )
    print(
        f'# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit.stdout.strip()}, '
        f'load {os.getloadavg()[0]:.1f}, torch {torch.__version__}, one thread; '
        + ', '.join(f'{p} {potentials.package_version(p)}' for p in ('chgnet', 'sevenn', 'ase')),
        flush=True,
    )
    print('MD throughput (atom-steps/s, NVT, one thread):', flush=True)
    speeds = {name: throughput(name, arguments.steps) for name in arguments.potentials}
    print('Fixed cost of a job (fresh interpreter, imports, model load, one 4-atom static):', flush=True)
    costs = {}
    for name in arguments.potentials:
        costs[name] = fixed_cost(name)
        print(f'  {name:<10} {json.dumps(costs[name], default=float)}', flush=True)
    atoms = 4 * arguments.md_repeat**3 - 1
    print(
        f'Li3N side by side ({arguments.temperature:.0f} K MD of {atoms} atoms, {arguments.md_steps} steps of 2 fs):',
        flush=True,
    )
    comparison = side_by_side(arguments.compare, arguments.temperature, arguments.md_steps, arguments.md_repeat)

    print('\n| potential | 32 atoms | 108 atoms | 256 atoms | job fixed cost (s) |')
    print('|---|---|---|---|---|')
    for name in arguments.potentials:
        row = ' | '.join(f'{speeds[name][size]:.0f}' for size in SIZES)
        print(f'| {name} | {row} | {costs[name]["total_s"]:.1f} |')
    print('\n| Li3N | ' + ' | '.join(arguments.compare) + ' |')
    print('|---|' + '---|' * len(arguments.compare))
    rows = (
        ('a, c (Å)', lambda v: f'{v["a_A"]:.3f}, {v["c_A"]:.3f}'),
        ('B (GPa)', lambda v: f'{v["B_GPa"]:.1f}'),
        ('G (GPa)', lambda v: f'{v["G_GPa"]:.1f}'),
        ('lowest optical mode at Γ (meV)', lambda v: f'{v["lowest_optical_meV"]:.1f}'),
        ('⟨ω⟩ of Li (meV)', lambda v: f'{v["mean_frequency_meV_Li"]:.1f}'),
        (
            f'D of Li at {arguments.temperature:.0f} K (cm²/s)',
            lambda v: f'{v["D_cm2_s"]:.2e} ± {v["D_std_cm2_s"]:.1e} ({v["verdict"]})',
        ),
        ('MD length (ps) / wall (s)', lambda v: f'{v["md_ps"]:.1f} / {v["md_seconds"]:.0f}'),
    )
    for label, text in rows:
        print(f'| {label} | ' + ' | '.join(text(comparison[name]) for name in arguments.compare) + ' |')


if __name__ == '__main__':
    main()
