"""Calcfunction: the outputs of an ``AseCalculation`` static or relax task in the engines' common units."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

#: 1 eV/Å³ in GPa (1.602176634e-19 J / 1e-30 m³ = 1.602176634e11 Pa).
EV_PER_A3_TO_GPA = 160.2176634


@calcfunction
def ase_task_outputs(
    output_parameters: orm.Dict, output_arrays: orm.ArrayData, parameters: orm.Dict, model: orm.Dict
) -> dict:
    """Return ``energy`` (Float, eV), ``forces`` (array ``forces``, eV/Å), ``output_parameters`` (engine, task,
    model and what the run reported) and, when the calculator gives it, ``stress`` (array ``stress``, 3 × 3
    in GPa, positive in tension: ASE's sign, σ = (1/V) ∂E/∂ε).

    :param output_parameters: the calculation's ``output_parameters``; ``output_arrays`` its forces and stress.
    :param parameters: the calculation's task parameters; ``model`` its model.
    """
    reported = output_parameters.get_dict()
    summary = {
        'engine': 'ase',
        'task': parameters['task'],
        'model': model['name'],
        **{key: reported[key] for key in ('energy_eV', 'max_force_eV_A', 'relax_steps') if key in reported},
    }
    outputs = {
        'energy': orm.Float(reported['energy_eV']),
        'forces': _array('forces', output_arrays.get_array('forces'), 'eV/Å'),
        'output_parameters': orm.Dict(summary),
    }
    if 'stress' in output_arrays.get_arraynames():
        outputs['stress'] = _array('stress', output_arrays.get_array('stress') * EV_PER_A3_TO_GPA, 'GPa')
    return outputs


def _array(name: str, values: np.ndarray, unit: str) -> orm.ArrayData:
    node = orm.ArrayData()
    node.set_array(name, np.asarray(values, dtype=float))
    node.base.attributes.set('units', {name: unit})
    return node
