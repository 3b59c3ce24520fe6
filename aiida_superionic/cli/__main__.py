"""``python -m aiida_superionic.cli``: the ``aiida-superionic`` command."""

from . import cmd_root

if __name__ == '__main__':
    cmd_root()
