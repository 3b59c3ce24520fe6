"""Files the package ships: the demo's Li3N cell, read wherever a script runs from."""

from __future__ import annotations

import importlib.resources
import pathlib

#: Li3N, P6/mmm, the experimental lattice (a = 3.648 Å, c = 3.875 Å), 4 atoms.
LI3N_CIF = pathlib.Path(str(importlib.resources.files(__name__) / 'li3n.cif'))
