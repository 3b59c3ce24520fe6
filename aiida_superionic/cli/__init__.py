"""The ``aiida-superionic`` command."""

from __future__ import annotations

import click

from .analysis import cmd_analyze, cmd_export
from .archive import cmd_archive
from .importer import cmd_import
from .launch import cmd_launch
from .order import cmd_order
from .potentials import cmd_potentials
from .setup import cmd_setup
from .stop import cmd_stop


@click.group('aiida-superionic')
@click.version_option(package_name='aiida-superionic')
def cmd_root():
    """aiida-superionic: ion-transport descriptors of solid-state electrolytes with AiiDA."""


cmd_root.add_command(cmd_setup)
cmd_root.add_command(cmd_import)
cmd_root.add_command(cmd_export)
cmd_root.add_command(cmd_analyze)
cmd_root.add_command(cmd_launch)
cmd_root.add_command(cmd_order)
cmd_root.add_command(cmd_archive)
cmd_root.add_command(cmd_stop)
cmd_root.add_command(cmd_potentials)
