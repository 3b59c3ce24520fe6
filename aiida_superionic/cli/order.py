"""``aiida-superionic order``: one CIF, disordered or not, to an ordered supercell; and the fate of each CIF, the table
that ``launch`` prints too.

Here the candidates are ranked by their Ewald (point-charge) energy only: no engine runs. ``superionic.order``
(and so ``launch`` without ``--dry-run``) ranks the same candidates by the energy of the MD's potential after a
short relaxation, and may choose another one.
"""

from __future__ import annotations

import dataclasses
import pathlib
import warnings

import click

#: The three fates of a CIF.
AS_GIVEN, ORDERED, REFUSED = 'ordered as given', 'ordered from disordered', 'refused'


@dataclasses.dataclass
class Fate:
    """What happens to one CIF: its fate, and the ordered structure (pymatgen) when it is not refused."""

    name: str
    fate: str
    mobile_species: str = ''
    supercell: str = ''
    atoms: int | None = None
    detail: str = ''
    structure: object = None
    result: object = None
    builder: object = None


def composition_change_text(record: dict) -> str:
    """``Li 55.97→56 (+0.06%)``-style text of every element whose count changed; ``none`` when none did."""
    changes = []
    for element, before in record['composition_before'].items():
        after = record['composition_after'][element]
        if abs(after - before) > 1e-9:
            changes.append(f'{element} {before:g}→{after} ({record["composition_change"][element]:+.1%})')
    return ', '.join(changes) or 'none'


def read_cif(path: pathlib.Path):
    """The first structure of a CIF (pymatgen), or ``ValueError`` naming why it cannot be read."""
    from pymatgen.core import Structure

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # pymatgen warns about every rounded occupancy and site merge
            return Structure.from_file(str(path))
    except Exception as exception:  # pymatgen raises many types for a bad file
        raise ValueError(f'not a readable CIF ({str(exception).strip() or type(exception).__name__})') from exception


def cif_fate(
    path: pathlib.Path, max_atoms: int, tolerance: float, candidates: int, seed: int, mobile_species: str | None
) -> Fate:
    """Read and order one CIF; a refusal is a ``Fate`` that says why, never an exception."""
    from ..structures.ordering import order_structure

    name = path.name
    try:
        structure = read_cif(path)
        result = order_structure(structure, max_atoms, tolerance, candidates, seed, mobile_species)
    except ValueError as exception:  # OrderingError included
        return Fate(name, REFUSED, detail=str(exception))
    record = result.as_dict()
    if not result.ordered_from_disordered:
        return Fate(name, AS_GIVEN, result.mobile_species, '1×1×1', record['atoms'], '', structure, result)
    method = record['method'].split(' (')[0]
    detail = f'composition change: {composition_change_text(record)}; {record["candidates"]} candidate(s), {method}'
    supercell = '×'.join(map(str, record['supercell']))
    return Fate(name, ORDERED, result.mobile_species, supercell, record['atoms'], detail, structure, result)


def echo_fates(fates: list[Fate]) -> None:
    """One table: a line per CIF, in the order given."""
    width = max(len('CIF'), *(len(fate.name) for fate in fates))
    click.echo(f'{"CIF":<{width}}  {"fate":<23}  {"mobile":<6}  {"supercell":<9}  {"atoms":>5}  detail')
    for fate in fates:
        atoms = '' if fate.atoms is None else str(fate.atoms)
        click.echo(
            f'{fate.name:<{width}}  {fate.fate:<23}  {fate.mobile_species:<6}  {fate.supercell:<9}  {atoms:>5}  '
            f'{fate.detail}'
        )


def order_protocol_inputs(protocol: str) -> dict:
    """The ordering settings of a protocol (``order.yaml``)."""
    from ..workflows.order import OrderWorkChain

    return OrderWorkChain.get_protocol_inputs(protocol)


@click.command('order')
@click.argument('cif', type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.option('-o', '--output', type=click.Path(dir_okay=False, path_type=pathlib.Path), required=True)
@click.option('--protocol', default='fast', show_default=True, type=click.Choice(['fast', 'balanced', 'stringent']))
@click.option('--max-atoms', type=click.IntRange(min=1), help="The atom budget (default: the protocol's).")
@click.option('--tolerance', type=click.FloatRange(min=0, min_open=True), help='Largest occupancy change.')
@click.option('--candidates', type=click.IntRange(min=1), help="Configurations drawn (default: the protocol's).")
@click.option('--seed', type=int, help="Seed of the random draws (default: the protocol's).")
@click.option('--mobile-species', help='The mobile ion: refused if the ordered structure has none.')
def cmd_order(cif, output, protocol, max_atoms, tolerance, candidates, seed, mobile_species):
    """Order one CIF in the smallest supercell within the atom budget and write the lowest-Ewald-energy candidate.

    No engine runs: the candidates are ranked by electrostatics only (superionic.order, which `launch` runs,
    ranks them by the MD potential's energy after a short relaxation).
    """
    settings = order_protocol_inputs(protocol)
    fate = cif_fate(
        cif,
        max_atoms or settings['max_atoms'],
        tolerance or settings['occupancy_tolerance'],
        candidates or settings['candidates'],
        settings['seed'] if seed is None else seed,
        mobile_species,
    )
    echo_fates([fate])
    if fate.fate == REFUSED:
        raise click.ClickException(f'{cif}: {fate.detail}')
    result = fate.result
    energies = [energy for energy in result.ewald_energies_eV if energy is not None]
    if energies:
        click.echo('Ewald energies of the candidates (eV): ' + ', '.join(f'{energy:.3f}' for energy in energies))
    result.candidates[0].to(filename=str(output), fmt='cif')
    click.echo(f'wrote {output} ({result.candidates[0].composition.formula}, seed {result.seed})')
