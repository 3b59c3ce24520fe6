"""What every ``get_builder_from_protocol`` shares: the engine inferred from the code, with the options that engine
takes (:class:`EngineInputs`), and the builders of the zero-temperature workchains on either engine.

Every builder has one signature, that of aiida-quantumespresso:
``get_builder_from_protocol(code, structure, protocol=None, overrides=None, options=None, **kwargs)``. The engine is
the code's: a code of ``superionic.ase`` jobs runs the ASE engine, a code of aiida-vasp (``vasp.*``) or of
``superionic.vasp.*`` runs VASP. The keyword arguments are the engine's: ``model`` (or ``potential`` and ``device``)
on ASE; ``potential_family``, ``potential_mapping``, ``code_gamma`` and the electronic options that depend on the
material rather than on the accuracy wanted (D3 dispersion, DFT+U, spin polarisation) on VASP.

A zero-temperature workchain's protocol is its own file (``elastic.yaml``, ``phonons.yaml``, ...) over the engine
settings of ``engines.yaml`` for the same protocol name; ``overrides`` change any of them, and an unknown key is
refused.
"""

from __future__ import annotations

import dataclasses

import yaml
from aiida import orm

from ..builder_checks import checked_builder_arguments
from .utils import PROTOCOL_FOLDER, ProtocolMixin, protocol_values, union

#: D3 dispersion corrections by name: VASP's IVDW (Grimme's D3 with zero damping, and with Becke–Johnson damping).
DISPERSION_IVDW = {'d3': 11, 'd3bj': 12}

#: The engine settings of the zero-temperature workchains, per protocol, under each workchain's own file.
ENGINES_PROTOCOL_FILE = PROTOCOL_FOLDER / 'engines.yaml'


def engine_protocol_inputs(protocol: str) -> dict:
    """The engine settings of ``protocol`` in ``engines.yaml`` (the ``ase`` and ``vasp`` namespaces of the tasks).

    :raises ValueError: for an unknown protocol name.
    """
    with open(ENGINES_PROTOCOL_FILE, encoding='utf-8') as handle:
        return protocol_values(yaml.safe_load(handle), protocol)


def engine_of_code(code: orm.AbstractCode) -> str:
    """The engine a code runs: ``ase`` for ``superionic.ase`` jobs, ``vasp`` for aiida-vasp's or ours.

    :raises ValueError: naming the code's plugin when it is neither.
    """
    plugin = code.default_calc_job_plugin or ''
    if plugin == 'superionic.ase':
        return 'ase'
    if plugin.startswith(('vasp.', 'superionic.vasp')):
        return 'vasp'
    raise ValueError(
        f'the code {code.full_label} runs `{plugin or "no default plugin"}` jobs: give a code of `superionic.ase` '
        '(the ASE engine; `aiida-superionic setup` makes one) or of VASP (`vasp.vasp`)'
    )


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


@dataclasses.dataclass(frozen=True)
class EngineInputs:
    """The engine of a builder, inferred from its code, with the options of that engine (checked once, here)."""

    engine: str
    code: orm.AbstractCode
    model: orm.Dict | None = None
    code_gamma: orm.AbstractCode | None = None
    potential_family: str | None = None
    potential_mapping: dict | None = None
    dispersion: str | None = None
    hubbard_u: dict | None = None
    spin_polarized: bool = False

    @classmethod
    def from_code(
        cls,
        code: orm.AbstractCode,
        *,
        model: orm.Dict | None = None,
        potential: str | None = None,
        device: str | None = None,
        code_gamma: orm.AbstractCode | None = None,
        potential_family: str | None = None,
        potential_mapping: dict | None = None,
        dispersion: str | None = None,
        hubbard_u: dict | None = None,
        spin_polarized: bool = False,
    ) -> EngineInputs:
        """The engine of ``code`` with its options.

        :param model: ASE: the ``model`` node, CHGNet by default.
        :param potential: ASE: instead of ``model``, a potential by name (``aiida-superionic potentials``), e.g.
            ``sevenn``; ``device`` where it runs (``cpu``, the default, ``cuda`` or ``auto``).
        :param code_gamma: VASP: a ``vasp_gam`` code for the Γ-only MD.
        :param potential_family: VASP: the POTCAR family uploaded to aiida-vasp; ``potential_mapping`` the POTCAR per
            element, e.g. ``{'Li': 'Li_sv', 'N': 'N'}``.
        :param dispersion: VASP: see :func:`electronic_options_incar` (also ``hubbard_u``, ``spin_polarized``).
        :raises ValueError: for a code of neither engine, or options the engine cannot take.
        """
        from ...engines.ase import resolve_model

        engine = engine_of_code(code)
        if engine == 'ase':
            if potential_family or potential_mapping or dispersion or hubbard_u or spin_polarized or code_gamma:
                raise ValueError(
                    'potentials, `code_gamma`, dispersion, DFT+U and spin polarisation are VASP options; '
                    'the ASE engine takes a model'
                )
        else:
            if model is not None:
                raise ValueError('`model` is an ASE option; VASP takes potentials and INCAR settings')
            if not potential_family or not potential_mapping:
                raise ValueError('the VASP engine needs `potential_family` and `potential_mapping`')
            if dispersion is not None and dispersion not in DISPERSION_IVDW:
                raise ValueError(f'unknown dispersion {dispersion!r}: choose one of {sorted(DISPERSION_IVDW)} or None')
        return cls(
            engine=engine,
            code=code,
            model=resolve_model(engine, model, potential, device),
            code_gamma=code_gamma,
            potential_family=potential_family,
            potential_mapping=potential_mapping,
            dispersion=dispersion,
            hubbard_u=hubbard_u,
            spin_polarized=spin_polarized,
        )

    def electronic_incar(self, structure: orm.StructureData, with_hubbard_u: bool = True) -> dict:
        """The INCAR tags of the material-dependent electronic options (none on ASE)."""
        if self.engine != 'vasp':
            return {}
        hubbard_u = self.hubbard_u if with_hubbard_u else None
        return electronic_options_incar(structure, self.dispersion, hubbard_u, self.spin_polarized)


def set_task_engine(builder, engine: EngineInputs, inputs: dict, options: dict | None = None) -> None:
    """Fill ``engine`` and its namespace of a workchain that runs tasks (``TaskEngineMixin``) from the protocol
    ``inputs`` (those of ``engines.yaml``), with ``options`` merged on the protocol's ``metadata.options``."""
    builder.engine = orm.Str(engine.engine)
    if engine.engine == 'ase':
        builder.ase.code = engine.code
        builder.ase.model = engine.model
        builder.ase.metadata.options = {**inputs['ase']['metadata']['options'], **(options or {})}
        return
    vasp = inputs['vasp']
    builder.vasp.code = engine.code
    if engine.hubbard_u:  # made per calculation by the task, for the species of each cell
        builder.vasp.hubbard_u = orm.Dict(engine.hubbard_u)
    builder.vasp.potential_family = orm.Str(engine.potential_family)
    builder.vasp.potential_mapping = orm.Dict(engine.potential_mapping)
    builder.vasp.incar = orm.Dict({**vasp['incar'], **engine.electronic_incar(builder.structure, False)})
    builder.vasp.kpoints_spacing = orm.Float(vasp['kpoints_spacing'])
    builder.vasp.options = orm.Dict({**vasp['options'], **(options or {})})


class ZeroTemperatureProtocolMixin(ProtocolMixin):
    """``get_builder_from_protocol`` of a zero-temperature workchain: its protocol file over ``engines.yaml``.

    The workchain names its file in ``get_protocol_filepath`` and sets its own ports from the protocol's values in
    ``_apply_protocol(builder, inputs)``.
    """

    @classmethod
    def _protocol_values(cls, protocol: str) -> dict:
        return union(engine_protocol_inputs(protocol), super()._protocol_values(protocol))

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structure: orm.StructureData,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
        **kwargs,
    ):
        """Return a builder for ``structure`` on the engine of ``code`` from a protocol (``fast``, ``balanced``,
        ``stringent``; ``get_default_protocol()`` when None).

        :param code: the Python code of ``AseCalculation`` (``aiida-superionic setup`` makes one) or the VASP code.
        :param overrides: any protocol value changed (nested, same keys as the YAML files).
        :param options: ``metadata.options`` of the calculations, merged on the protocol's.
        :param kwargs: the engine's options, those of :meth:`EngineInputs.from_code`: ``model`` (or ``potential``
            and ``device``) on ASE; ``potential_family``, ``potential_mapping``, ``dispersion``, ``hubbard_u``,
            ``spin_polarized`` on VASP.
        :raises ValueError: for a code of neither engine, an unknown protocol or override key, or options the engine
            cannot take.
        """
        structure = checked_builder_arguments(structure, overrides, code, options, kwargs)
        engine = EngineInputs.from_code(code, **kwargs)
        return cls._builder_from_inputs(engine, structure, cls.get_protocol_inputs(protocol, overrides), options)

    @classmethod
    def _builder_from_inputs(cls, engine: EngineInputs, structure: orm.StructureData, inputs: dict, options=None):
        """A builder from protocol ``inputs`` already merged (the ``SseWorkChain`` builds its children this way)."""
        from ..engines import refuse_structure

        refuse_structure(structure, engine.engine, engine.model)
        builder = cls.get_builder()
        builder.structure = structure
        set_task_engine(builder, engine, inputs, options)
        cls._apply_protocol(builder, inputs)
        return builder

    @classmethod
    def _apply_protocol(cls, builder, inputs: dict) -> None:
        raise NotImplementedError
