"""``aiida-superionic potentials``: the potentials of the ASE engine installed here, and what each can do."""

from __future__ import annotations

import click


def _elements_text(elements: list[str] | None) -> str:
    """``any``, or the count and the runs of consecutive atomic numbers: ``89: H-Bi Ac-Pu``."""
    if elements is None:
        return 'any'
    from ase.data import atomic_numbers, chemical_symbols

    numbers = sorted(atomic_numbers[symbol] for symbol in elements)
    runs, start = [], numbers[0]
    for previous, number in zip(numbers, [*numbers[1:], None], strict=True):
        if number is None or number != previous + 1:  # a run ends at ``previous``
            first, last = chemical_symbols[start], chemical_symbols[previous]
            runs.append(first if start == previous else f'{first}-{last}')
            start = number
    return f'{len(numbers)}: {" ".join(runs)}'


@click.command('potentials')
@click.option('--elements', 'show_elements', is_flag=True, help='List every element each potential covers.')
def cmd_potentials(show_elements):
    """List the potentials of the ASE engine (entry points `superionic.potentials`): name, package and version,
    whether the weights ship with the package (runs offline), the elements covered and the devices available."""
    from ..engines.ase.potentials import installed_potentials

    click.echo(f'{"name":<10} {"package":<16} {"weights":<18} {"devices":<12} elements')
    for name, potential in installed_potentials().items():
        info = potential.info()
        package = f'{info["package"] or "-"} {info["version"] or "(not installed)"}'
        if name == 'factory':
            package, weights, devices, elements = '-', 'yours', 'cpu, cuda*', 'yours'
        elif not info['installed']:
            weights, devices, elements = '-', '-', '-'
        else:
            if potential.weights_file(potential.resolve_kwargs({})) is None:
                weights = 'none (analytic)'
            else:
                weights = 'bundled (offline)' if info['bundled_weights'] else 'not bundled'
            devices = ', '.join(info['devices'])
            elements = _elements_text(info['elements'])
        click.echo(f'{name:<10} {package:<16} {weights:<18} {devices:<12} {elements}')
        click.echo(f'{"":<10} {info["title"]}')
        if show_elements and info.get('elements'):
            click.echo(f'{"":<10} elements: {" ".join(info["elements"])}')
        if info.get('error') and name != 'factory':
            click.echo(f'{"":<10} not usable: {info["error"]}')
    click.echo(
        'Choose one with get_model_node(NAME, device=...) or `aiida-superionic launch --potential NAME --device ...`; '
        '*factory: cuda when your function takes `device`.'
    )
