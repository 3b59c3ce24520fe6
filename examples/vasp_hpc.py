#!/usr/bin/env runaiida
"""The paper's protocol with VASP on an HPC cluster (documented; not run in the tests: VASP is licensed).

One-time set-up, on your workstation (see docs/source/howto/vasp_hpc.md):

    verdi computer setup -n -L hpc -H login.hpc.example.org -T core.ssh -S core.slurm \\
        -w /scratch/{username}/aiida --mpirun-command 'srun' --mpiprocs-per-machine 128
    verdi computer configure core.ssh -n hpc --username me --key-filename ~/.ssh/id_ed25519
    verdi code create core.code.installed -n -L vasp_std --computer hpc -P vasp.vasp \\
        --filepath-executable /opt/vasp/6.4/bin/vasp_std --prepend-text 'module load vasp/6.4'
    verdi code create core.code.installed -n -L vasp_gam --computer hpc -P vasp.vasp \\
        --filepath-executable /opt/vasp/6.4/bin/vasp_gam --prepend-text 'module load vasp/6.4'
    aiida-vasp potcar uploadfamily --path ~/potpaw_PBE.54 --name PBE.54 --description 'PBE PAW 54'

Then, for one material (here Li3PS4 from a CIF):

    verdi run examples/vasp_hpc.py Li3PS4.cif --account my-project --group li-thiophosphates

The ``stringent`` protocol is the paper's: PBE with the POTCARs of most valence states, 750 eV, 0.15 Å⁻¹
k-spacing and forces to 0.005 eV/Å at 0 K; AIMD at the 0 K volume with a Γ-only vasp_gam, 1.5 fs steps,
supercells of at least 12 Å (200–300 atoms), 600–1200 K, stoichiometric and with ~2 % mobile-ion vacancies.
Add ``--d3`` for the halides the paper treated with D3 dispersion.
"""

from __future__ import annotations

import argparse
import sys

from aiida import engine, orm
from pymatgen.core import Structure

from aiida_superionic.workflows.sse import SseWorkChain

#: POTCARs with the most valence states (the Materials Project's choices for the usual SSE elements).
POTCARS = {
    'Li': 'Li_sv',
    'Na': 'Na_pv',
    'K': 'K_sv',
    'Ag': 'Ag',
    'Cu': 'Cu_pv',
    'O': 'O',
    'S': 'S',
    'Se': 'Se',
    'P': 'P',
    'Si': 'Si',
    'Ge': 'Ge_d',
    'Sn': 'Sn_d',
    'N': 'N',
    'F': 'F',
    'Cl': 'Cl',
    'Br': 'Br',
    'I': 'I',
    'B': 'B',
    'Al': 'Al',
    'Zr': 'Zr_sv',
    'La': 'La',
    'Ti': 'Ti_pv',
    'Y': 'Y_sv',
    'Ga': 'Ga_d',
    'In': 'In_d',
}


def main(argv: list[str]) -> orm.WorkflowNode:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('cif', help='the material')
    parser.add_argument('--code', default='vasp_std@hpc')
    parser.add_argument('--code-gamma', default='vasp_gam@hpc')
    parser.add_argument('--family', default='PBE.54', help='the POTCAR family')
    parser.add_argument('--account', help='the Slurm account of every job')
    parser.add_argument('--group', default='superionic-vasp')
    parser.add_argument('--d3', action='store_true', help='D3(BJ) dispersion in the zero-temperature tasks')
    arguments = parser.parse_args(argv)

    structure = orm.StructureData(pymatgen=Structure.from_file(arguments.cif))
    elements = sorted({site.specie.symbol for site in structure.get_pymatgen_structure()})
    builder = SseWorkChain.get_builder_from_protocol(
        orm.load_code(arguments.code),
        structure,
        'stringent',
        # every calculation of every child: the relaxation, the 0 K children, the MD
        options={'account': arguments.account} if arguments.account else None,
        code_gamma=orm.load_code(arguments.code_gamma),
        potential_family=arguments.family,
        potential_mapping={element: POTCARS.get(element, element) for element in elements},
        dispersion='d3bj' if arguments.d3 else None,
    )
    builder.group_label = orm.Str(arguments.group)
    builder.clean_workdir = orm.Bool(True)  # the results are in the database; scratch space is not
    node = engine.submit(builder)
    print(f'Submitted SseWorkChain<{node.pk}> for {structure.get_formula()}: `verdi process status {node.pk}`')
    return node


if __name__ == '__main__':
    main(sys.argv[1:])
