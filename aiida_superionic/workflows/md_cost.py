"""What the MD of a plan will cost, said before anything runs.

A screening user who sets a supercell length of 30 Å, or runs the ``stringent`` protocol on a workstation, learns
it from the builder, not after days. The estimate is simple and stated: atom-steps (atoms × steps, summed over
the runs) over the potential's throughput per CPU core, measured for the bundled potentials on a 2-core
workstation of the project's CI kind (one torch thread per run, NVT MD of Li3N supercells; ``benchmarks/
potentials.py`` measures it again). Where no throughput is known (VASP, a GPU, a calculator of the user's), only
the atom count is checked. The budget is two protocol settings, ``max_md_atoms`` and ``max_md_core_hours``; a
plan beyond either is refused with the figures, unless the caller accepts the cost.
"""

from __future__ import annotations

import dataclasses

#: Atom-steps per second per CPU core (one thread) of the bundled potentials of the ASE engine. CHGNet: 137 measured
#: on 2026-12-07 (32-atom Li3N, Nosé–Hoover, 0.234 s per step); SevenNet-0: 60-90 measured in an earlier session.
CPU_ATOM_STEPS_PER_SECOND = {'chgnet': 140.0, 'sevenn': 75.0, 'emt': 20000.0, 'lj': 50000.0}


@dataclasses.dataclass(frozen=True)
class MdCost:
    """The MD of a plan: ``runs`` runs of at most ``atoms`` atoms, each of ``steps`` (up to ``max_steps``) steps,
    equilibration included; ``core_hours`` (and ``max_core_hours`` at ``max_steps``) when a throughput is known."""

    atoms: int
    runs: int
    steps: int
    max_steps: int
    potential: str | None
    core_hours: float | None = None
    max_core_hours: float | None = None

    def describe(self) -> str:
        plan = f'{self.runs} MD runs of up to {self.atoms} atoms, {self.steps} steps each'
        if self.max_steps > self.steps:
            plan += f' (up to {self.max_steps} until D converges)'
        if self.core_hours is None:
            return plan
        cost = f'about {self.core_hours:,.1f} core-hours'
        if self.max_core_hours and self.max_core_hours > self.core_hours:
            cost += f' (up to {self.max_core_hours:,.1f})'
        rate = CPU_ATOM_STEPS_PER_SECOND[self.potential]
        return f'{plan}: {cost} with {self.potential} on the CPU ({rate:g} atom-steps/s per core)'


def estimate_md_cost(
    atoms: int, runs: int, steps: int, max_steps: int, engine: str, potential: str | None, device: str | None
) -> MdCost:
    """The cost of ``runs`` MD runs of ``atoms`` atoms and ``steps`` (up to ``max_steps``) steps each.

    :param potential: the ASE engine's potential by name (``None`` on VASP); ``device`` where it runs.
    """
    max_steps = max(steps, max_steps)
    known = engine == 'ase' and (device or 'cpu') == 'cpu' and potential in CPU_ATOM_STEPS_PER_SECOND
    if not known:
        return MdCost(atoms, runs, steps, max_steps, potential)
    seconds_per_step = atoms / CPU_ATOM_STEPS_PER_SECOND[potential]
    core_hours = runs * steps * seconds_per_step / 3600.0
    max_core_hours = runs * max_steps * seconds_per_step / 3600.0
    return MdCost(atoms, runs, steps, max_steps, potential, core_hours, max_core_hours)


def check_md_cost(cost: MdCost, max_atoms: int, max_core_hours: float, accept: bool = False) -> None:
    """Refuse a plan beyond the budget, in one line with the figures and the ways out; ``accept`` lets it pass.

    :raises ValueError: when ``cost`` exceeds ``max_atoms`` or (where it is known) ``max_core_hours``.
    """
    if accept:
        return
    over = []
    if cost.atoms > max_atoms:
        over.append(f'{cost.atoms} atoms is more than max_md_atoms = {max_atoms}')
    if cost.core_hours is not None and cost.core_hours > max_core_hours:
        over.append(f'{cost.core_hours:,.0f} core-hours is more than max_md_core_hours = {max_core_hours:g}')
    if over:
        raise ValueError(
            f'the MD would be {cost.describe()}; {" and ".join(over)}: shorten it (a smaller '
            '`md_supercell_min_length`, fewer temperatures or steps in `overrides`), raise the budget in `overrides`, '
            'or accept the cost (accept_cost=True; `launch --accept-cost`)'
        )


def plan_md_cost(
    cell_atoms: int, supercell: list, temperatures: list, md_inputs: dict, engine: str, model: dict | None
) -> MdCost:
    """The cost of an ``SseWorkChain``'s MD: a run per temperature for each of its two compositions (the vacancy
    supercell has one atom fewer or so), on ``supercell`` (a 3-vector or 3×3 matrix) of a cell of ``cell_atoms``.

    :param md_inputs: the MD protocol's inputs (``steps``, ``equilibration_steps``, ``max_steps``).
    :param model: the ASE engine's model (``name``, ``device``); None on VASP.
    """
    import numpy as np

    matrix = np.array(supercell, dtype=float)
    multiplicity = abs(np.linalg.det(np.diag(matrix) if matrix.ndim == 1 else matrix))
    steps = int(md_inputs['steps'])
    equilibration = int(md_inputs.get('equilibration_steps') or 0)
    max_steps = int(md_inputs.get('max_steps') or steps)
    return estimate_md_cost(
        round(float(cell_atoms * multiplicity)),
        2 * len(temperatures),
        equilibration + steps,
        equilibration + max_steps,
        engine,
        (model or {}).get('name'),
        (model or {}).get('device'),
    )
