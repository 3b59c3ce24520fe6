"""The ASE engine: ``AseCalculation`` runs ``runner.py`` with a potential registered in ``superionic.potentials``.

``runner`` and ``potentials`` import nothing from this package (they are copied into each job's folder), so
the helpers that need AiiDA live here.
"""

from __future__ import annotations

from aiida import orm

from .potentials import DEFAULT, DEVICES, installed_potentials, load_potential
from .runner import CALCULATORS

__all__ = ('CALCULATORS', 'DEVICES', 'get_model_node', 'installed_potentials', 'model_label')


def get_model_node(
    name: str = DEFAULT, *, device: str = 'cpu', threads: int | None = None, **calculator_kwargs
) -> orm.Dict:
    """Return an unstored ``Dict`` recording the potential: name, package and model versions, weights hash, device.

    It is the ``model`` input of ``AseCalculation``, what is asked for: the hash is computed here, on the machine
    that builds the inputs, and checked again by the job on the computer that runs it, which builds the
    calculator there and records what it ran with in its ``model_used`` output.

    :param name: a potential of the entry-point group ``superionic.potentials`` (``aiida-superionic potentials``
        lists them): ``chgnet`` (the default), ``sevenn`` (SevenNet-0), ``sevenn-mf`` (SevenNet-MF-0, ``modal``),
        ``emt``, ``lj``, or ``factory`` for your own ASE calculator (``factory='module:function'``).
    :param device: ``cpu``, ``cuda`` or ``auto`` (CUDA when the job's computer has it). A job asked for
        ``cuda`` on a computer without it fails with ``ERROR_DEVICE_UNAVAILABLE``; it never falls back.
    :param threads: torch's threads in the job; by default the job's ``num_cores_per_mpiproc`` (or
        ``num_mpiprocs_per_machine``) of ``metadata.options.resources``.
    :param calculator_kwargs: keyword arguments of the calculator, e.g. ``model_version='0.3.0'`` for CHGNet,
        ``modal='R2SCAN'`` for SevenNet-MF-0, ``sigma``/``epsilon``/``rc`` for Lennard-Jones, or
        ``factory='mypkg.calculators:make_calculator'`` and that function's arguments (a file named by an
        argument, such as a model file, is hashed into the identity).
    :raises ValueError: for an unknown potential or device, or a ``factory`` without ``module:function``.
    :raises ModuleNotFoundError: when the potential's package is not installed.
    """
    if device not in DEVICES:
        raise ValueError(f'unknown device {device!r}: choose one of {", ".join(DEVICES)}')
    if 'use_device' in calculator_kwargs:
        raise ValueError(f'give the device as device={calculator_kwargs["use_device"]!r}, not use_device')
    if threads is not None and not (isinstance(threads, int) and threads >= 1):
        raise ValueError(f'threads must be an integer >= 1, got {threads!r}')
    description = load_potential(name).describe(calculator_kwargs)
    description['device'] = device
    if threads is not None:
        description['threads'] = threads
    return orm.Dict(description)


def model_label(model) -> str:
    """The name of a model in the table's ``model`` column: the potential and its trained model (``chgnet 0.3.0``,
    ``sevenn 7net-0``, ``factory mace.calculators:mace_mp``); rows of two labels never pool silently."""
    model = model.get_dict() if hasattr(model, 'get_dict') else dict(model)
    version = model.get('model_version') or model.get('factory') or model.get('package_version') or ''
    return f'{model["name"]} {version}'.strip()


def resolve_model(engine: str, model: orm.Dict | None, potential: str | None, device: str | None) -> orm.Dict | None:
    """The ``model`` node of a protocol builder: ``model`` as given, or one made from ``potential`` and ``device``
    by name (CHGNet on the CPU when neither is given); None on VASP.

    :raises ValueError: for both ``model`` and ``potential``/``device``, or ``potential``/``device`` on VASP.
    """
    if engine != 'ase':
        if potential is not None or device is not None:
            raise ValueError('`potential` and `device` are ASE options; VASP takes potentials and INCAR settings')
        return model
    if model is not None:
        if potential is not None or device is not None:
            raise ValueError('give either a `model` node or `potential` and `device` by name, not both')
        return model
    return get_model_node(potential or DEFAULT, device=device or 'cpu')
