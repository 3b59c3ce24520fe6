"""The profile of a command, loaded with one line of advice when there is none."""

from __future__ import annotations

import click


def load_profile_or_exit(profile_name: str | None):
    """Load ``profile_name`` (the default profile when ``None``) and return it; a missing one is a click error."""
    from aiida import load_profile
    from aiida.common.exceptions import MissingConfigurationError, ProfileConfigurationError

    try:
        return load_profile(profile_name, allow_switch=True)
    except (MissingConfigurationError, ProfileConfigurationError) as exception:
        raise click.ClickException(f'{exception}; make a profile with `aiida-superionic setup`') from exception
