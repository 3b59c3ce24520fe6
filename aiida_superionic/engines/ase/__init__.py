"""The ASE engine: ``AseCalculation`` runs ``runner.py`` with a calculator chosen by name.

``runner`` imports nothing from this package (it is copied into each job's folder), so the
helpers that need AiiDA live here.
"""

from __future__ import annotations

from aiida import orm

from .runner import CALCULATORS, describe_model

__all__ = ('CALCULATORS', 'get_model_node')


def get_model_node(name: str = 'chgnet', **calculator_kwargs) -> orm.Dict:
    """Return an unstored ``Dict`` recording the calculator: name, package and model versions, weights hash.

    It is the ``model`` input of ``AseCalculation``: the hash is computed here, on the machine that
    builds the inputs, and checked again by the runner on the computer that runs the job.

    :param name: ``chgnet`` (the bundled universal potential, default), ``emt`` or ``lj``.
    :param calculator_kwargs: keyword arguments of the calculator, e.g. ``model_version='0.3.0'``
        for CHGNet or ``sigma``/``epsilon``/``rc`` for Lennard-Jones.
    :raises ValueError: for an unknown calculator name.
    :raises ModuleNotFoundError: when CHGNet is asked for but not installed.
    """
    return orm.Dict(describe_model(name, calculator_kwargs))
