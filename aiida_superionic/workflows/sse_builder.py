"""How the inputs of an ``SseWorkChain`` are built: from a protocol of ``sse.yaml`` (each child's inputs from its
own protocol), or from an earlier run to restart it; and the environment variable by which the user-facing entry
points ask for the test-size preset.
"""

from __future__ import annotations

import os

from aiida import orm

from ..common.structure_checks import is_disordered_node
from ..common.trust import protocol_label, pruned_overrides
from ..descriptors.diffusion import select_mobile_species
from .builder_checks import checked_builder_arguments, temperature_list
from .engines import refuse_structure
from .md import MdWorkChain
from .md_cost import check_md_cost, plan_md_cost
from .order import OrderWorkChain, planned_ordered_structure
from .phonons import supercell_for_length
from .protocols.builders import EngineInputs, engine_protocol_inputs, set_task_engine
from .protocols.utils import ProtocolMixin, overrides_of, recursive_merge, union
from .sse_restart import reusable_results
from .sse_roles import ZERO_TEMPERATURE

#: The environment variable of the user-facing entry points (``aiida-superionic launch``, ``examples/submit_sse.py``)
#: that asks them for the ``test_size`` preset of ``sse.yaml``: every MD cut to 100 steps on a supercell of at most
#: the ``fast`` protocol's 7 Å, the rows' protocol ``<name>+test-size`` so that they never pool with real ones. For
#: checking a command end to end in minutes (the documentation's tests run it so); the numbers are no measurement.
#: The builders never read it: a builder without ``preset`` is the production one whatever the environment says.
TEST_SIZE_VARIABLE = 'SUPERIONIC_TEST_SIZE'
TEST_SIZE_PRESET = 'test_size'


def preset_from_environment() -> str | None:
    """The preset an entry point asks for: ``test_size`` when ``SUPERIONIC_TEST_SIZE`` is set (not empty, not 0)."""
    return TEST_SIZE_PRESET if os.environ.get(TEST_SIZE_VARIABLE, '').strip() not in ('', '0') else None


class SseBuilderMixin(ProtocolMixin):
    """Gives ``SseWorkChain`` its builders: ``get_builder_from_protocol`` (with the protocol methods of
    ``ProtocolMixin``) and ``get_builder_restart``."""

    #: The children whose protocols ``sse.yaml`` overrides under their names: kept apart from this workchain's own
    #: keys and checked by the children's own protocols (an unknown key named from here, ``md.stepz``).
    _CHILDREN = (*ZERO_TEMPERATURE, 'md', 'order')

    @classmethod
    def _merge_overrides(cls, inputs: dict, overrides: dict) -> dict:
        overrides = dict(overrides)
        child_overrides = {name: overrides.pop(name, {}) for name in cls._CHILDREN}
        merged = recursive_merge(inputs, overrides)
        for name in cls._CHILDREN:
            merged[name] = union(merged.get(name, {}), child_overrides[name])
        return merged

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structure: orm.StructureData,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
        *,
        preset: str | None = None,
        mobile_species: str | None = None,
        accept_cost: bool = False,
        **kwargs,
    ):
        """Return a builder of the whole protocol for ``structure`` on the engine of ``code``.

        A disordered ``structure`` (partial occupancies, from a CIF) is ordered first (``order``, the protocol of
        ``order.yaml``); its ordering is planned here (pure, no energies), so a structure that cannot be ordered
        within the budget, or without the mobile species, is refused now, and the children's supercells are
        those of the ordered cell.

        Each child's inputs come from its own protocol of the same name with the overrides under its key
        (``elastic``, ``phonons``, ``vacancy``, ``dielectric``, ``md``, ``order``); the keys of ``sse.yaml``
        (temperatures, vacancy fraction, MD supercell, ...) are overridden at the top level.

        :param code: the Python code of the ASE engine (``superionic.ase``), or the VASP code (``vasp_std``).
        :param protocol: ``fast``, ``balanced`` or ``stringent``; ``get_default_protocol()`` when None.
        :param options: ``metadata.options`` of every calculation, merged on the protocol's.
        :param preset: a preset of ``sse.yaml`` applied after the overrides (``get_available_presets()``):
            ``test_size`` cuts every MD to 100 steps on a supercell of at most 7 Å and runs the other steps as the
            ``fast`` protocol does, for checking a script; the rows' protocol says so (``balanced+test-size``).
        :param mobile_species: the mobile ion; by default the first of Li, Na, Ag, Cu, F, Cl, Br, I, O present. Named
            and absent (after ordering, for a disordered structure): refused.
        :param kwargs: the engine's options (:meth:`EngineInputs.from_code`): ``model`` (CHGNet by default), or
            ``potential`` and ``device``, on ASE; on VASP ``potential_family``, ``potential_mapping``, ``code_gamma``
            (a ``vasp_gam`` for the Γ-only MD) and the electronic options of every calculation ``dispersion``,
            ``hubbard_u``, ``spin_polarized``, recorded in the rows' ``model``.
        :param accept_cost: run an MD beyond the protocol's budget (``max_md_atoms``, ``max_md_core_hours``: see
            :mod:`.md_cost`), which is otherwise refused before anything runs.
        :raises ValueError: for a code of neither engine, an unknown protocol, override key or preset, options the
            engine cannot take, or an MD beyond the budget.
        """
        structure = checked_builder_arguments(structure, overrides, code, options, kwargs)
        engine = EngineInputs.from_code(code, **kwargs)
        refuse_structure(structure, engine.engine, engine.model)
        inputs = cls.get_protocol_inputs(protocol, overrides, preset)
        protocol = protocol or cls.get_default_protocol()
        # A preset may run every step but the MD at another protocol's sizes (test_size: fast).
        preset_values = cls.get_preset_overrides(preset) if preset else {}
        children_protocol = preset_values.get('children_protocol') or protocol
        # The relaxation uses the engine settings of the zero-temperature protocol (engines.yaml).
        builder = cls.get_builder()
        builder.structure = structure
        set_task_engine(builder, engine, engine_protocol_inputs(children_protocol), options)
        symbols = sorted(structure.get_symbols_set())
        if mobile_species and mobile_species not in symbols and not is_disordered_node(structure):
            raise ValueError(
                f'the mobile species {mobile_species!r} is not in the structure ({", ".join(symbols)}): name one it '
                'has, or none for the first present of Li, Na, Ag, Cu, F, Cl, Br, I, O'
            )
        if not inputs['md_supercell_min_length'] >= 0:  # NaN too
            raise ValueError(
                f'`md_supercell_min_length` must be a length in Å >= 0, got {inputs["md_supercell_min_length"]}'
            )
        species = mobile_species or select_mobile_species(symbols)
        builder.mobile_species = orm.Str(species)
        if is_disordered_node(structure):
            order = cls._child(OrderWorkChain, 'order', engine, structure, children_protocol, inputs, options)
            builder.order = _builder_inputs(order, exclude=('structure', 'engine', 'mobile_species'))
            structure = planned_ordered_structure(structure, order, species)  # the cell the children will see
        builder.temperatures = orm.List(temperature_list(inputs['temperatures']))  # a single number: one temperature
        builder.vacancy_fraction = orm.Float(inputs['vacancy_fraction'])
        builder.md_supercell_matrix = orm.List(supercell_for_length(structure, inputs['md_supercell_min_length']))
        builder.seed = orm.Int(inputs['seed'])
        builder.max_concurrent_md = orm.Int(inputs['max_concurrent_md'] if engine.engine == 'ase' else 0)
        builder.relax_max_force = orm.Float(inputs['relax_max_force'])
        builder.protocol = orm.Str(protocol_label(protocol, overrides, preset_label=preset_values.get('label')))
        if pruned_overrides(overrides):
            builder.protocol_overrides = orm.Dict(pruned_overrides(overrides))
        for name, (workchain, engines) in ZERO_TEMPERATURE.items():
            run = bool(inputs['run'][name]) and engine.engine in engines
            builder[f'run_{name}'] = orm.Bool(run)
            if run:
                child = cls._child(workchain, name, engine, structure, children_protocol, inputs, options)
                builder[name] = _builder_inputs(child, exclude=('structure', 'engine', 'mobile_species'))
        if builder.run_dielectric.value and builder.run_phonons.value:
            # The dielectric child's DFPT gives the rows' Born charges and ε∞; a second one for the phonons' NAC
            # data would cost as much and change no descriptor (the lowest optical mode is taken without NAC).
            builder.phonons.dielectric = orm.Bool(False)
        md = cls._child(MdWorkChain, 'md', engine, structure, protocol, inputs, options)
        builder.md = _builder_inputs(md, exclude=('structure', 'temperature', 'engine', 'mobile_species'))
        if engine.engine == 'ase' and not builder.max_concurrent_md.value:
            builder.max_concurrent_md = orm.Int(workstation_md_limit(code, md))
        md_steps = {name: md[name].value for name in ('steps', 'equilibration_steps', 'max_steps') if name in md}
        cost = plan_md_cost(
            len(structure.sites),
            builder.md_supercell_matrix.get_list(),
            builder.temperatures.get_list(),
            md_steps,
            engine.engine,
            engine.model.get_dict() if engine.model is not None else None,
        )
        check_md_cost(cost, inputs['max_md_atoms'], inputs['max_md_core_hours'], accept_cost)
        return builder

    @staticmethod
    def _child(workchain, name: str, engine: EngineInputs, structure, protocol: str, inputs: dict, options):
        """The builder of child ``name``: its protocol of the same name with the overrides under ``name``."""
        with overrides_of(name):
            child_inputs = workchain.get_protocol_inputs(protocol, inputs[name])
        return workchain._builder_from_inputs(engine, structure, child_inputs, options)

    @classmethod
    def get_builder_restart(cls, node: orm.WorkflowNode, **changes):
        """Return a builder with the inputs of ``node`` (an earlier ``SseWorkChain``, finished, failed or killed)
        and ``restart_from`` filled with what its children finished: the relaxed cell, the results of every
        zero-temperature child that finished, the descriptors of every MD run that gave a row, and the segments
        of the MD runs that did not (continued where they stopped).

        ``changes`` replace inputs, e.g. ``temperatures=orm.List([500, 700, 900, 1100])`` to add a temperature:
        only the new runs are computed. What is reused is taken as it is: change the supercell, the vacancy
        fraction, the seed or a child's settings and the reused results no longer match (start a new run then).
        """
        builder = node.get_builder_restart()
        builder.restart_from = reusable_results(node)
        for name, value in changes.items():
            builder[name] = value
        return builder


def workstation_md_limit(code: orm.AbstractCode, md) -> int:
    """How many MD runs of builder ``md`` fit at once on the computer of ``code``: with no queue (the direct scheduler
    on this machine) its cores over the threads of a run, at least one; 0 (no limit) where a queue schedules them.

    Runs beyond the cores do not only share them: torch's threads spin and contend, and six runs of two threads on
    two cores went ten times slower than one after the other.
    """
    computer = code.computer
    if computer is None or computer.scheduler_type != 'core.direct' or computer.transport_type != 'core.local':
        return 0
    resources = md.ase.metadata.options.resources
    threads = resources.get('num_cores_per_mpiproc') or resources.get('num_mpiprocs_per_machine') or 1
    return max(1, (os.cpu_count() or 1) // int(threads))


def _builder_inputs(builder, exclude: tuple[str, ...]) -> dict:
    """The inputs a child builder holds, without ``exclude`` (set by the parent at run time)."""
    inputs = builder._inputs(prune=True)
    return {key: value for key, value in inputs.items() if key not in exclude}
