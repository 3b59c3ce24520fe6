"""``aiida-superionic potentials``: the potentials of the ASE engine installed here, and what each can do."""

from __future__ import annotations

import click


def _elements_text(elements: list[str] | None) -> str:
    if elements is None:
        return 'any'
    from ase.data import atomic_numbers, chemical_symbols

    numbers = sorted(atomic_numbers[symbol] for symbol in elements)
    if numbers == list(range(1, len(numbers) + 1)):
        return f'{len(numbers)} (H-{chemical_symbols[numbers[-1]]})'
    return f'{len(numbers)} ({" ".join(chemical_symbols[number] for number in numbers)})'


@click.command('potentials')
@click.option('--elements', 'show_elements', is_flag=True, help='List every element each potential covers.')
def cmd_potentials(show_elements):
    """List the potentials of the ASE engine (entry points `superionic.potentials`): name, package and version,
    whether the weights ship with the package (runs offline), the elements covered and the devices available."""
    from ..engines.ase.potentials import installed_potentials

    header = f'{"name":<10} {"package":<22} {"weights":<18} {"elements":<16} {"devices":<16} description'
    click.echo(header)
    for name, potential in installed_potentials().items():
        info = potential.info()
        package = f'{info["package"] or "-"} {info["version"] or "(not installed)"}'
        if name == 'factory':
            weights, elements, devices = 'yours', 'yours', 'cpu, cuda*'
        elif not info['installed']:
            weights, elements, devices = '-', '-', '-'
        else:
            weights = 'bundled (offline)' if info['bundled_weights'] else 'not bundled'
            elements = _elements_text(info['elements'])
            devices = ', '.join(info['devices'])
        click.echo(f'{name:<10} {package:<22} {weights:<18} {elements:<16} {devices:<16} {info["title"]}')
        if show_elements and info.get('elements'):
            click.echo(f'{"":<10} elements: {" ".join(info["elements"])}')
        if info.get('error'):
            click.echo(f'{"":<10} not usable: {info["error"]}')
    click.echo(
        'Choose one with get_model_node(NAME, device=...) or `aiida-superionic launch --potential NAME --device ...`; '
        '*factory: cuda when your function takes `device`.'
    )
