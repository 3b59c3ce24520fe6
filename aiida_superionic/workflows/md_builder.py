"""How the inputs of an ``MdWorkChain`` are built: from a protocol of ``md.yaml`` on the ASE or VASP engine, or
from an earlier run whose finished segments the new one continues."""

from __future__ import annotations

from aiida import orm

from .builder_checks import checked_builder_arguments
from .engines import refuse_structure
from .protocols.utils import ProtocolMixin


class MdBuilderMixin(ProtocolMixin):
    """Gives ``MdWorkChain`` its builders: ``get_builder_from_protocol`` (and, from ``ProtocolMixin``,
    ``get_protocol_inputs``) and ``get_builder_restart``."""

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structure: orm.StructureData,
        temperature: float,
        protocol: str | None = None,
        overrides: dict | None = None,
        model: orm.Dict | None = None,
        options: dict | None = None,
        *,
        engine: str = 'ase',
        code_gamma: orm.AbstractCode | None = None,
        potential_family: str | None = None,
        potential_mapping: dict | None = None,
        potential: str | None = None,
        device: str | None = None,
    ):
        """Return a builder for an MD at ``temperature`` (K) from a protocol, on the ASE engine (default) or VASP.

        :param code: the Python code that runs ``AseCalculation`` (``aiida-superionic setup`` makes one), or the
            VASP code (``vasp_std``).
        :param structure: the simulation cell.
        :param temperature: thermostat temperature in K.
        :param protocol: ``fast``, ``balanced`` (default) or ``stringent``.
        :param overrides: inputs changed on top of the protocol (nested dict, same keys).
        :param model: ASE: the ``model`` node; CHGNet by default.
        :param potential: ASE: instead of ``model``, a potential by name (``aiida-superionic potentials``), e.g.
            ``sevenn``; ``device`` where it runs (``cpu``, the default, ``cuda`` or ``auto``).
        :param options: ``metadata.options`` of the calculations, merged on the protocol's.
        :param engine: ``ase`` or ``vasp``.
        :param code_gamma: VASP: a ``vasp_gam`` code for the Γ-point-only MD (the default k-points).
        :param potential_family: VASP: the POTCAR family; ``potential_mapping`` the POTCAR of each element.
        :raises ValueError: for an unknown protocol, override key or engine, or options the engine cannot take.
        """
        from ..engines.ase import resolve_model

        structure = checked_builder_arguments(structure, overrides, code)
        model = resolve_model(engine, model, potential, device)
        refuse_structure(structure, engine, model)
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.structure = structure
        builder.temperature = orm.Float(temperature)
        builder.timestep = orm.Float(inputs['timestep'])
        builder.steps = orm.Int(inputs['steps'])
        builder.equilibration_steps = orm.Int(inputs['equilibration_steps'])
        builder.write_interval = orm.Int(inputs['write_interval'])
        builder.seed = orm.Int(inputs['seed'])
        builder.thermostat_timescale = orm.Float(inputs['thermostat_timescale'])
        for name, node_class in (
            ('segment_steps', orm.Int),
            ('max_steps', orm.Int),
            ('target_relative_uncertainty', orm.Float),
        ):
            if inputs.get(name) is not None:  # null in the protocol: the workchain's default
                builder[name] = node_class(inputs[name])
        builder.max_energy_drift = orm.Float(inputs['max_energy_drift'])
        builder.max_lindemann_ratio = orm.Float(inputs['max_lindemann_ratio'])
        builder.analysis_settings = orm.Dict(inputs['analysis_settings'])
        builder.engine = orm.Str(engine)
        if engine == 'ase':
            if potential_family or potential_mapping or code_gamma:
                raise ValueError('potentials and `code_gamma` are VASP options; the ASE engine takes a model')
            builder.ase.code = code
            builder.ase.model = model
            builder.ase.metadata.options = {**inputs['ase']['metadata']['options'], **(options or {})}
        elif engine == 'vasp':
            if model is not None:
                raise ValueError('`model` is an ASE option; VASP takes potentials and INCAR settings')
            if not potential_family or not potential_mapping:
                raise ValueError('the VASP engine needs `potential_family` and `potential_mapping`')
            builder.vasp.code = code
            if code_gamma is not None:
                builder.vasp.code_gamma = code_gamma
            builder.vasp.potential_family = orm.Str(potential_family)
            builder.vasp.potential_mapping = orm.Dict(potential_mapping)
            builder.vasp.incar = orm.Dict(inputs['vasp']['incar'])
            builder.vasp.options = orm.Dict({**inputs['vasp']['options'], **(options or {})})
        else:
            raise ValueError(f'unknown engine {engine!r}: choose `ase` or `vasp`')
        return builder

    @classmethod
    def get_builder_restart(cls, node: orm.WorkflowNode, **changes):
        """Return a builder with the inputs of ``node`` (an earlier ``MdWorkChain``, finished or killed) that reuses
        its finished segments: the new run continues from the last of them.

        ``changes`` replace inputs, e.g. ``max_steps=orm.Int(50000)`` to extend a run.
        """
        builder = node.get_builder_restart()
        # The segments output holds every segment the run had, those it reused included.
        if 'segments' in node.outputs:
            builder.restart_from = dict(node.outputs.segments.items())
        for name, value in changes.items():
            builder[name] = value
        return builder
