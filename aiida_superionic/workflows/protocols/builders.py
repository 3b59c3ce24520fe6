"""Builders of the zero-temperature workchains from a protocol, on either engine.

A workchain's protocol is its own file (``elastic.yaml``, ``phonons.yaml``, ``vacancy.yaml``) over the
engine settings of ``engines.yaml`` for the same protocol name; ``overrides`` change any of them, and
an unknown key is refused. The electronic options that depend on the material rather than on the
accuracy wanted (D3 dispersion, DFT+U, spin polarisation) are arguments, VASP only.
"""

from __future__ import annotations

import copy

import yaml
from aiida import orm

from ..builder_checks import checked_builder_arguments
from .utils import PROTOCOL_FOLDER, ProtocolMixin, recursive_merge

#: D3 dispersion corrections by name: VASP's IVDW (Grimme's D3 with zero damping, and with Becke–Johnson damping).
DISPERSION_IVDW = {'d3': 11, 'd3bj': 12}


def union(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` merged in recursively, new keys allowed (two protocol files into one)."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = union(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _protocol_values(data: dict, protocol: str) -> dict:
    if protocol not in data['protocols']:
        raise ValueError(f'unknown protocol {protocol!r}: choose one of {sorted(data["protocols"])}')
    changes = {key: value for key, value in data['protocols'][protocol].items() if key != 'description'}
    return union(data['default_inputs'], changes)


def load_protocol(name: str) -> dict:
    with open(PROTOCOL_FOLDER / f'{name}.yaml', encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def zero_temperature_protocol_inputs(workchain_protocol: str, protocol: str | None, overrides: dict | None) -> dict:
    """Return the inputs of ``protocol`` for a zero-temperature workchain: its file over ``engines.yaml``.

    :raises ValueError: for an unknown protocol or an unknown override key (named with its dotted path).
    """
    own = load_protocol(workchain_protocol)
    protocol = protocol or own['default_protocol']
    inputs = union(_protocol_values(load_protocol('engines'), protocol), _protocol_values(own, protocol))
    return recursive_merge(inputs, overrides or {})


def electronic_options_incar(
    structure: orm.StructureData,
    dispersion: str | None = None,
    hubbard_u: dict | None = None,
    spin_polarized: bool = False,
) -> dict:
    """INCAR tags (lower case) of the material-dependent electronic options.

    :param dispersion: ``'d3'`` (IVDW = 11) or ``'d3bj'`` (IVDW = 12), as the paper used for some halides.
    :param hubbard_u: DFT+U (Dudarev, LDAUTYPE = 2) as ``{element: [orbital, U]}``, e.g. ``{'Fe': ['d', 5.3]}``;
        the LDAUL/LDAUU/LDAUJ lists follow aiida-vasp's POTCAR order (its ``get_ldau_keys``).
    :param spin_polarized: ISPIN = 2 with VASP's default MAGMOM (1 μB per atom) unless the INCAR gives one.
    :raises ValueError: for an unknown dispersion name.
    """
    incar: dict = {}
    if dispersion is not None:
        if dispersion not in DISPERSION_IVDW:
            raise ValueError(f'unknown dispersion {dispersion!r}: choose one of {sorted(DISPERSION_IVDW)} or None')
        incar['ivdw'] = DISPERSION_IVDW[dispersion]
    if hubbard_u:
        from aiida_vasp.utils.ldau import get_ldau_keys

        incar.update({key.lower(): value for key, value in get_ldau_keys(structure, mapping=hubbard_u).items()})
    if spin_polarized:
        incar['ispin'] = 2
    return incar


def zero_temperature_builder(
    process_class,
    engine: str,
    structure: orm.StructureData,
    protocol: str | None = None,
    overrides: dict | None = None,
    *,
    code: orm.AbstractCode,
    model: orm.Dict | None = None,
    potential_family: str | None = None,
    potential_mapping: dict | None = None,
    dispersion: str | None = None,
    hubbard_u: dict | None = None,
    spin_polarized: bool = False,
):
    """Return ``(builder, inputs)``: a builder of ``process_class`` with the structure and the engine filled in,
    and the protocol inputs for the workchain's own ports (the caller sets those).

    :param engine: ``ase`` or ``vasp``.
    :param code: the Python code of ``AseCalculation`` (``aiida-superionic setup`` makes one) or the VASP code.
    :param model: ASE only: the ``model`` node, CHGNet by default.
    :param potential_family: VASP only: the POTCAR family uploaded to aiida-vasp.
    :param potential_mapping: VASP only: POTCAR per element, e.g. ``{'Li': 'Li_sv', 'N': 'N'}``.
    :param dispersion: VASP only, see :func:`electronic_options_incar` (also ``hubbard_u``, ``spin_polarized``).
    :raises ValueError: for an unknown engine, protocol or override key, or options the engine cannot take.
    """
    from ..engines import refuse_structure

    refuse_structure(structure, engine, model)
    inputs = zero_temperature_protocol_inputs(process_class._protocol_name, protocol, overrides)
    builder = process_class.get_builder()
    builder.structure = structure
    builder.engine = orm.Str(engine)
    if engine == 'ase':
        if potential_family or potential_mapping or dispersion or hubbard_u or spin_polarized:
            raise ValueError(
                'potentials, dispersion, DFT+U and spin polarisation are VASP options; the ASE engine takes a model'
            )
        from ...engines.ase import get_model_node

        builder.ase.code = code
        builder.ase.model = model if model is not None else get_model_node('chgnet')
        builder.ase.metadata.options = inputs['ase']['metadata']['options']
    elif engine == 'vasp':
        if model is not None:
            raise ValueError('`model` is an ASE option; VASP takes potentials and INCAR settings')
        if not potential_family or not potential_mapping:
            raise ValueError('the VASP engine needs `potential_family` and `potential_mapping`')
        vasp = inputs['vasp']
        incar = {**vasp['incar'], **electronic_options_incar(structure, dispersion, None, spin_polarized)}
        builder.vasp.code = code
        if hubbard_u:  # made per calculation by the task, for the species of each cell
            builder.vasp.hubbard_u = orm.Dict(hubbard_u)
        builder.vasp.potential_family = orm.Str(potential_family)
        builder.vasp.potential_mapping = orm.Dict(potential_mapping)
        builder.vasp.incar = orm.Dict(incar)
        builder.vasp.kpoints_spacing = orm.Float(vasp['kpoints_spacing'])
        builder.vasp.options = orm.Dict(vasp['options'])
    else:
        raise ValueError(f'unknown engine {engine!r}: choose `ase` or `vasp`')
    return builder, inputs


class ZeroTemperatureProtocolMixin(ProtocolMixin):
    """``get_builder_from_protocol(engine, structure, protocol, overrides, ...)`` for a zero-temperature workchain.

    The workchain names its file in ``_protocol_name`` and sets its own ports from the protocol's values in
    ``_apply_protocol(builder, inputs)``.
    """

    @classmethod
    def get_protocol_inputs(cls, protocol: str | None = None, overrides: dict | None = None) -> dict:
        return zero_temperature_protocol_inputs(cls._protocol_name, protocol, overrides)

    @classmethod
    def get_builder_from_protocol(
        cls,
        engine: str,
        structure: orm.StructureData,
        protocol: str | None = None,
        overrides: dict | None = None,
        **engine_inputs,
    ):
        """Return a builder for ``structure`` on ``engine`` from a protocol (``fast``, ``balanced``, ``stringent``).

        ``engine_inputs`` are those of :func:`zero_temperature_builder`: ``code`` and, on ASE, ``model``; on VASP,
        ``potential_family``, ``potential_mapping`` and the electronic options ``dispersion``, ``hubbard_u``,
        ``spin_polarized``. ``overrides`` change any protocol value (nested, same keys as the YAML files).

        :raises ValueError: for an unknown engine, protocol or override key, or options the engine cannot take.
        """
        structure = checked_builder_arguments(structure, overrides, engine_inputs.get('code'))
        builder, inputs = zero_temperature_builder(cls, engine, structure, protocol, overrides, **engine_inputs)
        cls._apply_protocol(builder, inputs)
        return builder

    @classmethod
    def _apply_protocol(cls, builder, inputs: dict) -> None:
        raise NotImplementedError
