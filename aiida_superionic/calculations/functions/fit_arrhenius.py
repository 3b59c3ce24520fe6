"""Calcfunction: the Arrhenius law of one material and composition from the descriptors at several temperatures."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction

from ...descriptors.arrhenius import ROOM_TEMPERATURE_K
from ...descriptors.arrhenius import fit_arrhenius as fit_arrhenius_law
from ...descriptors.transport import drop_undefined

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300


@calcfunction
def fit_arrhenius(**descriptors: orm.Dict) -> orm.Dict | ExitCode:
    """Fit D = D0 exp(−Ea / k_B T) to the ``descriptors`` of MD runs at several temperatures.

    Every input is the ``descriptors`` output of an ``MdWorkChain`` (any link labels, e.g.
    ``T_500``, ``T_700``) of the same cell: ``temperature_K``, ``diffusion_coefficient_cm2_s``
    and, for a weighted fit, ``diffusion_coefficient_std_cm2_s``. Returns Ea (eV) and D0 (cm²/s)
    with their 1σ, and D and the Nernst–Einstein σ extrapolated to 300 K with 68 % intervals
    (``mobile_ions``, ``nominal_charge`` and ``cell_volume_A3`` of the runs; thermal expansion is
    neglected). Runs whose D is flagged (too few hops, non-linear MSD) are left out and listed.
    """
    rows = {label: node.get_dict() for label, node in sorted(descriptors.items())}
    used = {label: row for label, row in rows.items() if row.get('diffusivity_verdict', 'diffusive') == 'diffusive'}
    flagged = sorted(set(rows) - set(used))
    try:
        if len(used) < 2:
            raise ValueError(f'{len(used)} diffusive runs; the Arrhenius fit needs 2 (left out as flagged: {flagged})')
        temperatures = np.array([row['temperature_K'] for row in used.values()])
        values = np.array([row['diffusion_coefficient_cm2_s'] for row in used.values()])
        stds = [row.get('diffusion_coefficient_std_cm2_s') for row in used.values()]
        weighted = all(std is not None and std > 0 for std in stds)
        fit = fit_arrhenius_law(temperatures, values, np.array(stds, dtype=float) if weighted else None)
        cells = {(row['mobile_ions'], row['nominal_charge'], round(row['cell_volume_A3'], 3)) for row in used.values()}
        if len(cells) > 1:
            raise ValueError(f'the runs differ in mobile ions, charge or cell volume: {sorted(cells)}')
        ions, charge, volume = cells.pop()
    except (KeyError, ValueError) as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')
    result = fit.descriptors(ions=ions, charge=charge, volume_A3=volume, temperature_K=ROOM_TEMPERATURE_K)
    result.update(
        {
            'temperatures_K': temperatures.tolist(),
            'runs_used': list(used),
            'runs_flagged': flagged,
        }
    )
    return orm.Dict(drop_undefined(result))
