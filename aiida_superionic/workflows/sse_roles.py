"""The roles of an ``SseWorkChain`` and how its runs and rows are keyed.

The zero-temperature children and what is kept of each, the two compositions of every material, the link label
of each MD run, the MD exit statuses that still give a row, the children's input namespaces, the checks of the
inputs those roles imply, and the identifiers every row carries.
"""

from __future__ import annotations

from aiida import orm

from ..common.structure_checks import is_disordered_node
from ..common.trust import OVERRIDES_COLUMN
from ..descriptors.structural import mobile_family
from .dielectric import DielectricWorkChain
from .elastic import ElasticWorkChain
from .engines import check_engine_inputs, mobile_species_of
from .md import MdWorkChain
from .order import OrderWorkChain
from .phonons import PhononsWorkChain
from .vacancy import VacancyWorkChain

#: The zero-temperature children: namespace → (workchain, the engines that can run it).
ZERO_TEMPERATURE = {
    'elastic': (ElasticWorkChain, ('ase', 'vasp')),
    'phonons': (PhononsWorkChain, ('ase', 'vasp')),
    'vacancy': (VacancyWorkChain, ('ase', 'vasp')),
    'dielectric': (DielectricWorkChain, ('vasp',)),
}

#: The outputs of each zero-temperature child kept by the workchain: (the child's output, the key here).
ZERO_TEMPERATURE_OUTPUTS = {
    'elastic': (('descriptors', 'elastic_descriptors'), ('elastic_tensor', 'elastic_tensor')),
    'phonons': (('gamma_frequencies', 'gamma_frequencies'), ('descriptors', 'phonon_descriptors')),
    'vacancy': (('descriptors', 'vacancy_descriptors'),),
    'dielectric': (('nac_parameters', 'nac_parameters'), ('band_gap', 'band_gap')),
}

#: The two compositions of every material: the label in the rows' link names and the ``stoichiometric`` flag.
COMPOSITIONS = {'stoichiometric': True, 'vacancy': False}

#: MdWorkChain exit statuses that still give a row, flagged: too few hops (412), MSD not linear (413), D not
#: converged to the target (414), no hop at all (417: a material that does not conduct at that temperature is
#: a result too). The verdict is in the row's source descriptors (`diffusivity_verdict`).
MD_FLAGGED_STATUSES = (412, 413, 414, 417)


def md_label(composition: str, temperature: float) -> str:
    """The link label of one MD run and of its row, e.g. ``stoichiometric_700K``."""
    return f'{composition}_{temperature:g}K'.replace('.', 'p')


def expose_children_inputs(spec) -> None:
    """Give ``spec`` a namespace of inputs per child: ``order``, the zero-temperature ones and ``md``, each without
    what the ``SseWorkChain`` sets itself at run time (the structure, the engine, the mobile species, ...)."""
    spec.expose_inputs(
        OrderWorkChain,
        namespace='order',
        exclude=('structure', 'engine', 'mobile_species'),
        namespace_options={
            'required': False,
            'populate_defaults': False,
            'validator': None,
            'help': 'Inputs of the `OrderWorkChain` that orders a disordered structure (its engine namespace '
            'included); unused for an ordered one.',
        },
    )
    for name, (workchain, _) in ZERO_TEMPERATURE.items():
        spec.expose_inputs(
            workchain,
            namespace=name,
            exclude=('structure', 'engine', 'mobile_species'),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'validator': None,
                'help': f'Inputs of the `{workchain.__name__}` (its own engine namespace included).',
            },
        )
    spec.expose_inputs(
        MdWorkChain,
        namespace='md',
        exclude=('structure', 'temperature', 'engine', 'mobile_species', 'restart_from'),
        namespace_options={
            'required': False,
            'populate_defaults': False,
            'validator': None,
            'help': 'Inputs of every `MdWorkChain` (its own engine namespace included).',
        },
    )


def validate_fraction(node: orm.Float, _) -> str | None:
    if not 0 < node.value < 0.5:
        return f'`vacancy_fraction` must be between 0 and 0.5, got {node.value}'
    return None


def validate_inputs(inputs, _) -> str | None:
    message = check_engine_inputs(inputs, ('relax',))
    if message:
        return message
    species, message = mobile_species_of(inputs)
    if species is None:
        return message
    engine = inputs['engine'].value
    for name, (_, engines) in ZERO_TEMPERATURE.items():
        if inputs[f'run_{name}'].value and engine not in engines:
            return (
                f'`run_{name}` is true but the {engine} engine cannot run it: set it false '
                '(its descriptors are then absent from the rows)'
            )
        if inputs[f'run_{name}'].value and not inputs.get(name):
            return f'`run_{name}` is true but the `{name}` namespace is empty'
    if not inputs.get('md'):
        return 'the `md` namespace is empty: the MD settings and engine'
    if is_disordered_node(inputs['structure']) and not inputs.get('order'):
        return 'the structure is disordered and the `order` namespace is empty: its budget and engine'
    return None


def run_identifiers(relaxed: orm.StructureData, species: str, inputs) -> dict:
    """The identifiers of every row of a run: formula, mobile species and family, engine, model and protocol.

    :param inputs: the inputs of the ``SseWorkChain``.
    """
    from pymatgen.core import Composition

    formula = Composition(relaxed.get_formula()).reduced_formula
    if inputs.engine.value == 'ase':
        from ..engines.ase import model_label

        model_name = model_label(inputs.md.ase.model)
    else:
        incar = inputs.md.vasp.incar.get_dict() if 'incar' in inputs.md.vasp else {}
        functional = incar.get('gga') or 'PBE'
        # Options that change the numbers are part of the identity: rows with and without D3 never pool.
        for tag, name in (('ivdw', '+D3'), ('ldau', '+U'), ('ispin', ' spin-polarised')):
            if incar.get(tag) and not (tag == 'ispin' and incar[tag] == 1):
                functional += name
        model_name = f'{functional} ({inputs.md.vasp.potential_family.value})'
    return {
        'formula': formula,
        'mobile_species': species,
        'mobile_family': mobile_family(species),
        'engine': inputs.engine.value,
        'model': model_name,
        'protocol': inputs.protocol.value,
        OVERRIDES_COLUMN: inputs.protocol_overrides.get_dict() if 'protocol_overrides' in inputs else {},
    }
