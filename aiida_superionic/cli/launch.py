"""``aiida-superionic launch``: one ``SseWorkChain`` per CIF file of a folder, submitted to the daemon."""

from __future__ import annotations

import pathlib

import click

from .launch_repeats import LAUNCH_KEY_EXTRA, earlier_launch, launch_key, reuse
from .order import REFUSED, cif_fate, echo_fates, order_protocol_inputs

#: The fate of a CIF whose run was launched before (see :mod:`.launch_repeats`).
ALREADY = 'already launched'


def structures_from_cifs(paths: list[pathlib.Path]) -> dict[str, object]:
    """Read each CIF (the first structure it holds) into a ``StructureData``, keyed by the file's stem.

    :raises click.ClickException: naming the file that pymatgen cannot read; nothing is submitted then.
    """
    from aiida import orm
    from pymatgen.core import Structure

    structures = {}
    for path in paths:
        try:
            structure = Structure.from_file(str(path))
        except Exception as exception:
            raise click.ClickException(f'{path}: not a readable CIF ({exception})') from exception
        structures[path.stem] = orm.StructureData(pymatgen=structure)
    return structures


def build_sse_builders(structures: dict, code, protocol: str, group_label: str, **builder_inputs) -> dict:
    """One ``SseWorkChain`` builder per structure from ``get_builder_from_protocol`` (on the engine of ``code``), all
    made (and so checked) before any is submitted: a structure without a mobile ion stops the launch, named, before
    anything runs. ``builder_inputs`` are the builder's keywords (``overrides``, ``model``, ``preset``, ...).
    """
    from aiida import orm

    from ..workflows.sse import SseWorkChain

    builders = {}
    for name, structure in structures.items():
        try:
            builder = SseWorkChain.get_builder_from_protocol(code, structure, protocol, **builder_inputs)
            SseWorkChain.spec().inputs.validate(builder._inputs(prune=True))  # what the launch would refuse
        except ValueError as exception:
            raise click.ClickException(f'{name}: {exception}') from exception
        builder.group_label = orm.Str(group_label)
        builder.metadata.label = name
        builders[name] = builder
    return builders


def engine_of_code_or_none(code) -> str | None:
    """The engine ``code`` runs, or None for a code of neither engine (the builder says why then)."""
    from ..workflows.protocols.builders import engine_of_code

    try:
        return engine_of_code(code)
    except ValueError:
        return None


def require_daemon(profile) -> None:
    """Refuse to submit when nothing would run it: with the embedded ZeroMQ broker the queue lives in the daemon.

    With RabbitMQ the work waits in the queue, so only a warning is printed.
    """
    from aiida.engine.daemon.client import get_daemon_client

    if get_daemon_client(profile.name).is_daemon_running:
        return
    if profile.process_control_backend == 'core.zeromq':
        raise click.ClickException('the daemon is not running: start it with `verdi daemon start`')
    click.echo('Warning: the daemon is not running: the work is queued until `verdi daemon start`.')


def submit_sse(structures: dict, code, protocol: str, group_label: str, **builder_inputs) -> dict:
    """Submit one ``SseWorkChain`` per structure (see :func:`build_sse_builders`); return the nodes by name."""
    from aiida import engine as aiida_engine
    from aiida.manage import get_manager

    builders = build_sse_builders(structures, code, protocol, group_label, **builder_inputs)
    require_daemon(get_manager().get_profile())
    nodes = {}
    for name, builder in builders.items():
        nodes[name] = aiida_engine.submit(builder)
        nodes[name].base.extras.set(LAUNCH_KEY_EXTRA, launch_key(builder))  # a later `launch` of it reuses it
    return nodes


def launch_fates(fates: list, code, protocol: str, group_label: str, mobile_species, **builder_inputs) -> None:
    """Build (and so check) an ``SseWorkChain`` per CIF that was not refused; a builder that fails refuses its CIF
    (``fate.detail`` says why) and the others go on. The builders are kept on the fates (``fate.builder``)."""
    from aiida import orm

    from ..workflows.sse import SseWorkChain

    for fate in fates:
        if fate.fate == REFUSED:
            continue
        try:
            structure = orm.StructureData(pymatgen=fate.structure)  # disordered as read: the workchain orders it
            builder = SseWorkChain.get_builder_from_protocol(
                code, structure, protocol, mobile_species=mobile_species, **builder_inputs
            )
            SseWorkChain.spec().inputs.validate(builder._inputs(prune=True))  # what the launch would refuse
        except ValueError as exception:
            fate.fate, fate.detail = REFUSED, str(exception)
            continue
        builder.group_label = orm.Str(group_label)
        builder.metadata.label = pathlib.Path(fate.name).stem
        fate.builder = builder


def ase_model_node(potentials: tuple[str, ...], model: str | None, device: str):
    """The ``model`` node of the ASE engine from ``--potential NAME`` (or the former ``--model``) and ``--device``."""
    from ..engines.ase import get_model_node

    names = [*potentials, *([model] if model else [])]
    if len(names) > 1 or any('=' in name for name in names):
        raise click.BadParameter(
            f'{list(names)}: the ASE engine takes one potential by name, e.g. --potential sevenn '
            '(ELEMENT=POTCAR is for --engine vasp)',
            param_hint='--potential',
        )
    try:
        return get_model_node(names[0] if names else 'chgnet', device=device)
    except ValueError as exception:
        listing = '`aiida-superionic potentials` lists them and what each needs'
        raise click.BadParameter(f'{exception}; {listing}', param_hint='--potential') from exception
    except (ModuleNotFoundError, FileNotFoundError) as exception:
        raise click.BadParameter(str(exception), param_hint='--potential') from exception


@click.command('launch')
@click.argument('folder', type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path))
@click.option('-p', '--profile', 'profile_name', help='AiiDA profile (default: the default profile).')
@click.option(
    '--protocol',
    default='fast',
    show_default=True,
    type=click.Choice(['fast', 'balanced', 'stringent']),
    help="The command's default is the demo's `fast`, a first look; the Python API's is `balanced` (screening).",
)
@click.option('--engine', default='ase', show_default=True, type=click.Choice(['ase', 'vasp']))
@click.option(
    '-G', '--group', 'group_label', default='superionic-screening', show_default=True, help='Group of the results.'
)
@click.option(
    '-X',
    '--code',
    'code_label',
    help="Code: the Python of the ASE engine (default: `aiida-superionic setup`'s) or VASP.",
)
@click.option('--model', hidden=True, help='ASE engine: the potential (the former name of --potential).')
@click.option('--potential-family', help='VASP: the POTCAR family.')
@click.option(
    '--potential',
    'potentials',
    multiple=True,
    help='ASE: the potential, e.g. --potential sevenn (default chgnet; `aiida-superionic potentials` lists them). '
    'VASP: ELEMENT=POTCAR, e.g. --potential Li=Li_sv (repeat).',
)
@click.option(
    '--device',
    type=click.Choice(['cpu', 'cuda', 'auto']),
    default='cpu',
    show_default=True,
    help='ASE: where the potential runs; a job asked for cuda where there is none fails (never falls back).',
)
@click.option('--code-gamma', 'code_gamma_label', help='VASP: a vasp_gam code for the Γ-only MD.')
@click.option(
    '--mobile-species', help='The mobile ion of every CIF; a CIF without it (after ordering) is refused, named.'
)
@click.option(
    '--dry-run',
    is_flag=True,
    help='Read and order every CIF (candidates ranked by electrostatics only, no engine) and print the table; '
    'submit nothing. Needs no profile.',
)
@click.option(
    '--force',
    is_flag=True,
    help='Submit a CIF again although an earlier launch with the same structure, protocol, engine and potential '
    'finished well or still runs (without it, that run is reused).',
)
@click.option(
    '--accept-cost',
    is_flag=True,
    help="Run MD beyond the protocol's budget (max_md_atoms, max_md_core_hours), which is otherwise refused.",
)
def cmd_launch(folder, mobile_species, dry_run, force, **options):
    """Submit one SseWorkChain per *.cif in FOLDER to the daemon (start it with `verdi daemon start`).

    Every CIF gets a line in one table: ordered as given, ordered from disordered (the supercell and the
    composition change), or refused and why; a refused file does not stop the others. A disordered CIF is
    ordered by the workchain itself (superionic.order, candidates ranked by the engine); the table shows the
    ordering planned here, ranked by electrostatics. A CIF launched before with the same protocol, engine and
    potential is not run twice: the earlier run is reused (its rows filed in the group) unless --force.
    """
    paths = sorted(folder.glob('*.cif'))
    if not paths:
        raise click.ClickException(f'no *.cif file in {folder}')
    settings = order_protocol_inputs(options['protocol'])
    ordering = (settings['max_atoms'], settings['occupancy_tolerance'], settings['candidates'], settings['seed'])
    fates = [cif_fate(path, *ordering, mobile_species) for path in paths]
    if not dry_run:
        submit_fates(fates, mobile_species=mobile_species, force=force, **options)
    echo_fates(fates)
    if dry_run:
        click.echo(
            'Dry run: nothing submitted; candidates ranked by electrostatics only (the workchain ranks them by '
            'the engine).'
        )
    refused = [fate.name for fate in fates if fate.fate == REFUSED]
    if refused:
        others = f'; the others were {"checked" if dry_run else "submitted"}' if len(refused) < len(fates) else ''
        raise click.ClickException(f'{len(refused)} of {len(fates)} CIFs refused (see the table){others}')
    repeated = sum(fate.fate == ALREADY for fate in fates)
    if repeated:
        click.echo(f'{repeated} of {len(fates)} CIFs launched before: not submitted again (--force runs them again).')
    if not dry_run:
        click.echo(
            'Follow with `verdi process list`; the table: '
            f'`aiida-superionic export table.csv -G {options["group_label"]}`.'
        )


def submit_fates(
    fates,
    *,
    profile_name,
    protocol,
    engine,
    group_label,
    code_label,
    model,
    potential_family,
    potentials,
    device,
    code_gamma_label,
    mobile_species,
    accept_cost=False,
    force=False,
) -> None:
    """The engine's inputs, a builder per CIF not refused (:func:`launch_fates`), the runs launched before found
    (reused unless ``force``), then the submissions, each marked with its launch key.

    ``SUPERIONIC_TEST_SIZE=1`` in the environment asks for the ``test_size`` preset of every builder (the
    documentation's tests run the command so); the builders themselves never read the environment.
    """
    from aiida.engine import submit as engine_submit

    from ..workflows.sse_builder import preset_from_environment
    from .profiles import load_code_or_exit, load_profile_or_exit

    profile = load_profile_or_exit(profile_name)
    inputs: dict = {'preset': preset_from_environment(), 'accept_cost': accept_cost}
    if engine == 'ase':
        from .setup import ensure_localhost_python_code

        code = load_code_or_exit(code_label) if code_label else ensure_localhost_python_code()
        inputs['model'] = ase_model_node(potentials, model, device)
    else:
        if not code_label or not potential_family or not potentials:
            raise click.ClickException(
                'the VASP engine needs --code, --potential-family and --potential ELEMENT=POTCAR'
            )
        code = load_code_or_exit(code_label)
        inputs['potential_family'] = potential_family
        malformed = [item for item in potentials if '=' not in item]
        if malformed:
            raise click.BadParameter(f'{malformed}: write ELEMENT=POTCAR, e.g. Li=Li_sv', param_hint='--potential')
        inputs['potential_mapping'] = dict(item.split('=', 1) for item in potentials)
        if code_gamma_label:
            inputs['code_gamma'] = load_code_or_exit(code_gamma_label, '--code-gamma')
    if (plugin := code.default_calc_job_plugin) and engine_of_code_or_none(code) != engine:
        raise click.ClickException(
            f'--code {code.full_label} runs `{plugin}` jobs, not those of --engine {engine}: give a code of that engine'
        )
    launch_fates(fates, code, protocol, group_label, mobile_species, **inputs)
    keys = {}
    for fate in fates:
        if fate.fate == REFUSED:
            continue
        keys[fate.name] = launch_key(fate.builder)
        earlier = earlier_launch(keys[fate.name])
        if earlier is not None and not force:
            fate.fate, fate.detail = ALREADY, reuse(earlier, group_label)
    to_submit = [fate for fate in fates if fate.fate not in (REFUSED, ALREADY)]
    if to_submit:
        require_daemon(profile)
    for fate in to_submit:
        node = engine_submit(fate.builder)
        node.base.extras.set(LAUNCH_KEY_EXTRA, keys[fate.name])
        fate.detail = f'SseWorkChain<{node.pk}>' + (f'; {fate.detail}' if fate.detail else '')
