"""The profile and the codes of a command, loaded with one line of advice when one does not exist."""

from __future__ import annotations

import click


def load_profile_or_exit(profile_name: str | None):
    """Load ``profile_name`` (the default profile when ``None``) and return it; a missing one is a click error."""
    from aiida import load_profile
    from aiida.common.exceptions import MissingConfigurationError, ProfileConfigurationError

    try:
        return load_profile(profile_name, allow_switch=True)
    except (MissingConfigurationError, ProfileConfigurationError) as exception:
        raise click.ClickException(
            f'{exception}: `verdi profile list` lists the profiles; make one with `aiida-superionic setup`'
        ) from exception


def load_code_or_exit(label: str, option: str = '--code'):
    """Load the code ``label`` (LABEL@COMPUTER, LABEL or pk) of the loaded profile; one that does not exist, or
    a label several codes share, is a click error on ``option`` saying how to list them."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent
    from aiida.manage import get_manager

    listing = "`verdi code list` lists them; `aiida-superionic setup` makes the ASE engine's Python code"
    try:
        return orm.load_code(label)
    except NotExistent:
        profile = get_manager().get_profile().name
        raise click.BadParameter(f'no code {label!r} in profile {profile!r}: {listing}', param_hint=option) from None
    except MultipleObjectsError:
        raise click.BadParameter(
            f'several codes are labelled {label!r}: give LABEL@COMPUTER or the pk; {listing}', param_hint=option
        ) from None
