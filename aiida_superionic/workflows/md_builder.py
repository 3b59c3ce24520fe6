"""How the inputs of an ``MdWorkChain`` are built: from a protocol of ``md.yaml`` on the engine of the code, or
from an earlier run whose finished segments the new one continues."""

from __future__ import annotations

from aiida import orm

from .builder_checks import checked_builder_arguments
from .engines import refuse_structure
from .protocols.builders import EngineInputs
from .protocols.utils import ProtocolMixin


class MdBuilderMixin(ProtocolMixin):
    """Gives ``MdWorkChain`` its builders: ``get_builder_from_protocol`` (and, from ``ProtocolMixin``,
    ``get_protocol_inputs``) and ``get_builder_restart``."""

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structure: orm.StructureData,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
        *,
        temperature: float | None = None,
        **kwargs,
    ):
        """Return a builder for an MD at ``temperature`` (K) from a protocol, on the engine of ``code``.

        :param code: the Python code that runs ``AseCalculation`` (``aiida-superionic setup`` makes one): the ASE
            engine; or a VASP code (``vasp_std``): the VASP engine.
        :param structure: the simulation cell.
        :param protocol: ``fast``, ``balanced`` or ``stringent``; ``get_default_protocol()`` when None.
        :param overrides: inputs changed on top of the protocol (nested dict, same keys).
        :param options: ``metadata.options`` of the calculations, merged on the protocol's.
        :param temperature: thermostat temperature in K (required, a keyword).
        :param kwargs: the engine's options (:meth:`EngineInputs.from_code`): ``model`` (CHGNet by default), or
            ``potential`` and ``device``, on ASE; ``potential_family``, ``potential_mapping``, ``code_gamma`` (a
            ``vasp_gam`` for the Γ-point-only MD) and ``dispersion``, ``hubbard_u``, ``spin_polarized`` on VASP.
        :raises ValueError: for no temperature, a code of neither engine, an unknown protocol or override key, or
            options the engine cannot take.
        """
        if isinstance(protocol, int | float) and not isinstance(protocol, bool):
            raise ValueError(
                f'`protocol` is a protocol name, got the number {protocol!r}: the temperature is a keyword, '
                f'get_builder_from_protocol(code, structure, temperature={protocol!r})'
            )
        if temperature is None:
            raise ValueError('`temperature` is missing: give the MD temperature in K, e.g. temperature=700.0')
        structure = checked_builder_arguments(structure, overrides, code, options, kwargs)
        engine = EngineInputs.from_code(code, **kwargs)
        builder = cls._builder_from_inputs(engine, structure, cls.get_protocol_inputs(protocol, overrides), options)
        builder.temperature = orm.Float(temperature)
        return builder

    @classmethod
    def _builder_from_inputs(cls, engine: EngineInputs, structure: orm.StructureData, inputs: dict, options=None):
        """A builder from protocol ``inputs`` already merged, without the temperature (the ``SseWorkChain`` sets one
        per run)."""
        refuse_structure(structure, engine.engine, engine.model)
        builder = cls.get_builder()
        builder.structure = structure
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
        builder.engine = orm.Str(engine.engine)
        if engine.engine == 'ase':
            builder.ase.code = engine.code
            builder.ase.model = engine.model
            builder.ase.metadata.options = {**inputs['ase']['metadata']['options'], **(options or {})}
        else:
            builder.vasp.code = engine.code
            if engine.code_gamma is not None:
                builder.vasp.code_gamma = engine.code_gamma
            builder.vasp.potential_family = orm.Str(engine.potential_family)
            builder.vasp.potential_mapping = orm.Dict(engine.potential_mapping)
            # The MD with the same functional as the zero-temperature tasks (DFT+U made for the MD cell here).
            builder.vasp.incar = orm.Dict({**inputs['vasp']['incar'], **engine.electronic_incar(structure)})
            builder.vasp.options = orm.Dict({**inputs['vasp']['options'], **(options or {})})
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
