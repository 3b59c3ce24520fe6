"""How the inputs of an ``SseWorkChain`` are built: from a protocol of ``sse.yaml`` (each child's inputs from its
own protocol), or from an earlier run to restart it; and the test-size switch that cuts every MD of a protocol.
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
from .protocols.builders import electronic_options_incar, load_protocol, union, zero_temperature_builder
from .protocols.utils import overrides_of, recursive_merge
from .sse_restart import reusable_results
from .sse_roles import ZERO_TEMPERATURE

#: The test-size switch: with this environment variable set (to anything but empty or 0), every MD of
#: ``get_builder_from_protocol`` is cut to ``TEST_SIZE_MD`` on a supercell of at most ``TEST_SIZE_SUPERCELL_LENGTH``
#: (that of the ``fast`` protocol: a screening protocol's 100-atom cells would take a 2-core machine a quarter of an
#: hour even for 100 steps), the zero-temperature children and the ordering run at the ``fast`` protocol's sizes,
#: and the rows record the protocol as ``<name>+test-size``,
#: so that they never pool with real ones. For checking a script end to end in minutes (the documentation's tests
#: run the getting-started guide this way); the numbers of such a run are no measurement.
TEST_SIZE_VARIABLE = 'SUPERIONIC_TEST_SIZE'
TEST_SIZE_MD = {'steps': 100, 'equilibration_steps': 0, 'segment_steps': 100, 'max_steps': 100}
TEST_SIZE_SUPERCELL_LENGTH = 7.0


def is_test_size() -> bool:
    """Whether the test-size switch (``SUPERIONIC_TEST_SIZE``) is on."""
    return os.environ.get(TEST_SIZE_VARIABLE, '').strip() not in ('', '0')


class SseBuilderMixin:
    """Gives ``SseWorkChain`` its builders: ``get_builder_from_protocol`` (with ``get_protocol_inputs`` and
    ``get_available_protocols``) and ``get_builder_restart``."""

    _protocol_name: str

    @classmethod
    def get_protocol_inputs(cls, protocol: str | None = None, overrides: dict | None = None) -> dict:
        """The inputs of a protocol of ``sse.yaml``; the children's overrides (keys ``elastic``, ``phonons``,
        ``vacancy``, ``dielectric``, ``md``) are kept apart and checked by the children's own protocols.

        :raises ValueError: for an unknown protocol or an unknown override key of this workchain.
        """
        data = load_protocol(cls._protocol_name)
        protocol = protocol or data['default_protocol']
        if protocol not in data['protocols']:
            raise ValueError(f'unknown protocol {protocol!r}: choose one of {sorted(data["protocols"])}')
        children = (*ZERO_TEMPERATURE, 'md', 'order')
        overrides = dict(overrides or {})
        child_overrides = {name: overrides.pop(name, {}) for name in children}
        own = {key: value for key, value in data['protocols'][protocol].items() if key != 'description'}
        inputs = recursive_merge(union(data['default_inputs'], own), overrides)
        for name in children:
            inputs[name] = union(inputs.get(name, {}), child_overrides[name])
        inputs['protocol'] = protocol
        if is_test_size():
            inputs['md'] = union(inputs['md'], TEST_SIZE_MD)
            inputs['md_supercell_min_length'] = min(inputs['md_supercell_min_length'], TEST_SIZE_SUPERCELL_LENGTH)
            for name in (*ZERO_TEMPERATURE, 'order'):
                # The children at the `fast` protocol's sizes too (13 strained cells, not 25; Γ-only phonons): a
                # screening protocol's zero-temperature work alone took a 2-core machine ten minutes. The caller's
                # own overrides of a child still win.
                fast = dict(load_protocol(name)['protocols']['fast'])
                fast.pop('description')
                inputs[name] = union(fast, inputs[name])
        return inputs

    @classmethod
    def get_available_protocols(cls) -> dict:
        data = load_protocol(cls._protocol_name)
        return {name: {'description': values['description']} for name, values in data['protocols'].items()}

    @classmethod
    def get_builder_from_protocol(
        cls,
        engine: str,
        structure: orm.StructureData,
        protocol: str | None = None,
        overrides: dict | None = None,
        *,
        code: orm.AbstractCode,
        model: orm.Dict | None = None,
        potential: str | None = None,
        device: str | None = None,
        code_gamma: orm.AbstractCode | None = None,
        potential_family: str | None = None,
        potential_mapping: dict | None = None,
        dispersion: str | None = None,
        hubbard_u: dict | None = None,
        spin_polarized: bool = False,
        mobile_species: str | None = None,
        accept_cost: bool = False,
    ):
        """Return a builder of the whole protocol for ``structure`` on ``engine`` (``ase`` or ``vasp``).

        A disordered ``structure`` (partial occupancies, from a CIF) is ordered first (``order``, the protocol of
        ``order.yaml``); its ordering is planned here (pure, no energies), so a structure that cannot be ordered
        within the budget, or without the mobile species, is refused now, and the children's supercells are
        those of the ordered cell.

        Each child's inputs come from its own ``get_builder_from_protocol`` with the same protocol name and the
        overrides under its key (``elastic``, ``phonons``, ``vacancy``, ``dielectric``, ``md``); the keys of
        ``sse.yaml`` (temperatures, vacancy fraction, MD supercell, ...) are overridden at the top level.

        :param code: the Python code of the ASE engine, or the VASP code (``vasp_std``).
        :param model: ASE: the model node (CHGNet by default).
        :param potential: ASE: instead of ``model``, a potential by name (``aiida-superionic potentials``), e.g.
            ``sevenn``; ``device`` where it runs (``cpu``, the default, ``cuda`` or ``auto``).
        :param code_gamma: VASP: a ``vasp_gam`` code for the Γ-only MD.
        :param potential_family: VASP: the POTCAR family; ``potential_mapping`` the POTCAR per element;
            ``dispersion``, ``hubbard_u``, ``spin_polarized`` the electronic options of every calculation (the
            zero-temperature tasks and the MD), recorded in the rows' ``model``.
        :param mobile_species: the mobile ion; by default the first of Li, Na, Ag, Cu, F, Cl, Br, I, O present. Named
            and absent (after ordering, for a disordered structure): refused.
        :param accept_cost: run an MD beyond the protocol's budget (``max_md_atoms``, ``max_md_core_hours``: see
            :mod:`.md_cost`), which is otherwise refused before anything runs.
        :raises ValueError: for an unknown protocol, override key or engine, options the engine cannot take, or an MD
            beyond the budget.
        """
        from ..engines.ase import resolve_model

        structure = checked_builder_arguments(structure, overrides, code)
        model = resolve_model(engine, model, potential, device)
        refuse_structure(structure, engine, model)
        inputs = cls.get_protocol_inputs(protocol, overrides)
        protocol = inputs['protocol']
        engine_inputs = {'code': code}
        if engine == 'ase':
            engine_inputs['model'] = model
        else:
            engine_inputs.update(
                potential_family=potential_family,
                potential_mapping=potential_mapping,
                dispersion=dispersion,
                hubbard_u=hubbard_u,
                spin_polarized=spin_polarized,
            )
        # The relaxation uses the engine settings of the zero-temperature protocol (engines.yaml).
        builder, _ = zero_temperature_builder(cls, engine, structure, protocol, None, **engine_inputs)
        species = mobile_species or select_mobile_species(sorted(structure.get_symbols_set()))
        builder.mobile_species = orm.Str(species)
        if is_disordered_node(structure):
            with overrides_of('order'):
                order = OrderWorkChain.get_builder_from_protocol(
                    engine, structure, protocol, inputs['order'], **engine_inputs
                )
            builder.order = _builder_inputs(order, exclude=('structure', 'engine', 'mobile_species'))
            structure = planned_ordered_structure(structure, order, species)  # the cell the children will see
        builder.temperatures = orm.List(temperature_list(inputs['temperatures']))  # a single number: one temperature
        builder.vacancy_fraction = orm.Float(inputs['vacancy_fraction'])
        builder.md_supercell_matrix = orm.List(supercell_for_length(structure, inputs['md_supercell_min_length']))
        builder.seed = orm.Int(inputs['seed'])
        # A limit for one workstation's cores (the ASE engine on localhost); a cluster's queue needs none.
        builder.max_concurrent_md = orm.Int(inputs['max_concurrent_md'] if engine == 'ase' else 0)
        builder.relax_max_force = orm.Float(inputs['relax_max_force'])
        builder.protocol = orm.Str(protocol_label(protocol, overrides, is_test_size()))
        if pruned_overrides(overrides):
            builder.protocol_overrides = orm.Dict(pruned_overrides(overrides))
        for name, (workchain, engines) in ZERO_TEMPERATURE.items():
            run = bool(inputs['run'][name]) and engine in engines
            builder[f'run_{name}'] = orm.Bool(run)
            if not run:
                continue
            with overrides_of(name):
                child = workchain.get_builder_from_protocol(engine, structure, protocol, inputs[name], **engine_inputs)
            builder[name] = _builder_inputs(child, exclude=('structure', 'engine', 'mobile_species'))
        if builder.run_dielectric.value and builder.run_phonons.value:
            # The dielectric child's DFPT gives the rows' Born charges and ε∞; a second one for the phonons' NAC
            # data would cost as much and change no descriptor (the lowest optical mode is taken without NAC).
            builder.phonons.dielectric = orm.Bool(False)
        with overrides_of('md'):
            md = MdWorkChain.get_builder_from_protocol(
                code,
                structure,
                temperature=1.0,
                protocol=protocol,
                overrides=inputs['md'],
                model=model if engine == 'ase' else None,
                engine=engine,
                code_gamma=code_gamma,
                potential_family=potential_family if engine == 'vasp' else None,
                potential_mapping=potential_mapping if engine == 'vasp' else None,
            )
        if engine == 'vasp':  # the MD with the same functional as the zero-temperature tasks
            options = electronic_options_incar(structure, dispersion, hubbard_u, spin_polarized)
            md.vasp.incar = orm.Dict({**md.vasp.incar.get_dict(), **options})
        builder.md = _builder_inputs(md, exclude=('structure', 'temperature', 'engine', 'mobile_species'))
        md_steps = {name: md[name].value for name in ('steps', 'equilibration_steps', 'max_steps') if name in md}
        cost = plan_md_cost(
            len(structure.sites),
            builder.md_supercell_matrix.get_list(),
            builder.temperatures.get_list(),
            md_steps,
            engine,
            model.get_dict() if engine == 'ase' else None,
        )
        check_md_cost(cost, inputs['max_md_atoms'], inputs['max_md_core_hours'], accept_cost)
        return builder

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


def _builder_inputs(builder, exclude: tuple[str, ...]) -> dict:
    """The inputs a child builder holds, without ``exclude`` (set by the parent at run time)."""
    inputs = builder._inputs(prune=True)
    return {key: value for key, value in inputs.items() if key not in exclude}
