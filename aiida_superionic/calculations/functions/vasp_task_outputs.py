"""Calcfunctions: the outputs of a VASP task in the engines' common units, and a relaxed structure with its kinds.

``vasp_task_outputs`` turns what aiida-vasp's parser made of the last ``VaspCalculation`` of a task (``misc``,
and where the task has them ``born_charges``, ``dielectrics``, ``bands``, ``trajectory``) into the nodes of the
task interface (``workflows/task.py``); ``vasp_relaxed_structure`` gives aiida-vasp's output structure back the
kinds of the input, so that the POTCAR mapping keeps working for a continuation and for whoever uses it next.
The conventions (which energy, the stress's sign, what the gap is, the elastic moduli's order and units) are in
``engines.vasp.tasks``.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from aiida.orm.nodes.data.structure import Site

from ...engines.vasp.tasks import VASP_ELASTIC_ORDER, band_gap, elastic_tensors_gpa, stress_gpa, total_energy


@calcfunction
def vasp_task_outputs(
    misc: orm.Dict,
    summary: orm.Dict,
    born_charges: orm.ArrayData | None = None,
    dielectrics: orm.ArrayData | None = None,
    bands: orm.BandsData | None = None,
    trajectory: orm.TrajectoryData | None = None,
) -> dict:
    """Return ``energy``, ``forces``, ``stress``, ``output_parameters``, and ``nac_parameters``, ``band_gap``,
    ``elastic_tensor`` if given.

    :param misc: aiida-vasp's ``misc`` of the task's last calculation: ``total_energies`` (eV), ``forces``
        (atoms × 3, eV/Å, in the order of POSCAR, which is the order of the sites), ``stress`` (3 × 3, kbar,
        VASP's sign), ``run_status``, ``version``.
    :param summary: what the workchain knows (task, jobs, k-points, NELECT, ...): copied into
        ``output_parameters``.
    :param born_charges: aiida-vasp's ``born_charges`` (array ``born_charges``, atoms × 3 × 3, e, vasprun.xml's
        layout, which phonopy reads unchanged).
    :param dielectrics: aiida-vasp's ``dielectrics``: ``epsilon`` (ion-clamped ε∞ with local field effects,
        vasprun.xml's ``epsilon``, OUTCAR's "MACROSCOPIC STATIC DIELECTRIC TENSOR (including local field
        effects in DFT)") and ``epsilon_ion`` (the ionic part, reported only).
    :param bands: aiida-vasp's ``bands`` (eigenvalues and occupations of every k-point).
    :param trajectory: aiida-vasp's ``trajectory`` (every configuration of vasprun.xml): when given, the energy,
        forces and stress are its **first** configuration's, not ``misc``'s last one. For IBRION = 6 that is the
        undistorted input; the others are VASP's finite-difference displacements and distortions.

    ``misc['elastic_moduli']`` (aiida-vasp's ``elastic_moduli`` quantity, OUTCAR's moduli in kbar), when it has
    the "TOTAL ELASTIC MODULI", gives ``elastic_tensor``: arrays ``elastic_tensor_GPa`` (relaxed ions) and
    ``clamped_ion_elastic_tensor_GPa`` (rigid ions, "SYMMETRIZED ELASTIC MODULI"), in the project's Voigt order
    (``engines.vasp.tasks.elastic_moduli_gpa``).

    Outputs: ``energy`` (Float, eV, σ→0), ``forces`` (array ``forces``, eV/Å), ``stress`` (array ``stress``,
    GPa, positive in tension), ``nac_parameters`` (arrays ``born_charges`` and ``dielectric``) when both DFPT
    arrays are given, ``band_gap`` (Float, eV) when the bands have empty states, ``elastic_tensor`` with the
    relaxed-ion moduli, and ``output_parameters``.
    """
    values = misc.get_dict()
    if trajectory is not None:
        values.update(_first_configuration(trajectory))
    energy, energy_source = total_energy(values['total_energies'])
    forces = np.asarray(values['forces'], dtype=float)
    parameters = {
        **summary.get_dict(),
        'energy_eV': energy,
        'energy_source': energy_source,
        'energy_free_eV': values['total_energies'].get('energy_free'),
        'max_force_eV_A': float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0,
        'vasp_version': values.get('version'),
        'run_status': values.get('run_status'),
    }
    outputs = {'energy': orm.Float(energy), 'forces': _array('forces', forces, 'eV/Å')}
    if values.get('stress') is not None:
        stress = stress_gpa(values['stress'])
        outputs['stress'] = _array('stress', stress, 'GPa')
        parameters['pressure_GPa'] = float(-np.trace(stress) / 3.0)
    if born_charges is not None and dielectrics is not None and 'epsilon' in dielectrics.get_arraynames():
        nac = orm.ArrayData()
        nac.set_array('born_charges', np.asarray(born_charges.get_array('born_charges'), dtype=float))
        nac.set_array('dielectric', np.asarray(dielectrics.get_array('epsilon'), dtype=float))
        nac.base.attributes.set('units', {'born_charges': 'e', 'dielectric': 'dimensionless (ε∞, ion-clamped)'})
        outputs['nac_parameters'] = nac
        if 'epsilon_ion' in dielectrics.get_arraynames():
            parameters['epsilon_ion'] = dielectrics.get_array('epsilon_ion').tolist()
    tensors = elastic_tensors_gpa(values.get('elastic_moduli'))
    if 'elastic_tensor_GPa' in tensors:
        elastic = orm.ArrayData()
        for name, tensor in tensors.items():
            elastic.set_array(name, tensor)
        elastic.base.attributes.set('units', dict.fromkeys(tensors, 'GPa'))
        elastic.base.attributes.set('voigt_order', 'xx, yy, zz, yz, xz, xy')
        elastic.base.attributes.set(
            'source',
            "VASP's OUTCAR (IBRION = 6, ISIF = 3): elastic_tensor_GPa from TOTAL ELASTIC MODULI, "
            'clamped_ion_elastic_tensor_GPa from SYMMETRIZED ELASTIC MODULI; kbar × 0.1, VASP order '
            + ' '.join(VASP_ELASTIC_ORDER)
            + ' reordered',
        )
        outputs['elastic_tensor'] = elastic
        parameters['elastic_moduli_source'] = 'OUTCAR TOTAL ELASTIC MODULI (relaxed ions)'
    if bands is not None:
        eigenvalues, occupations = bands.get_bands(also_occupations=True)
        gap = band_gap(eigenvalues, occupations)
        if gap is None:
            parameters['band_gap_missing'] = 'no empty (or no occupied) state: raise NBANDS for a band gap'
        else:
            outputs['band_gap'] = orm.Float(gap['band_gap'])
            parameters.update(
                {
                    'band_gap_eV': gap['band_gap'],
                    'direct_gap_eV': gap['direct_gap'],
                    'vbm_eV': gap['vbm'],
                    'cbm_eV': gap['cbm'],
                    'vbm_kpoint': gap['vbm_kpoint'],
                    'cbm_kpoint': gap['cbm_kpoint'],
                    'is_metal': gap['is_metal'],
                }
            )
    outputs['output_parameters'] = orm.Dict(parameters)
    return outputs


@calcfunction
def vasp_relaxed_structure(structure: orm.StructureData, template: orm.StructureData) -> orm.StructureData:
    """``structure`` (cell and positions, aiida-vasp's output) with the kinds and site order of ``template``.

    aiida-vasp names the kinds of its output structure after the elements; the task's input may have others
    (``Li1``, ``Li2`` with different POTCARs or moments). The sites are in the same order (POSCAR keeps the
    order of the sites); a different element at any site is an error.
    """
    symbols = [structure.get_kind(site.kind_name).symbol for site in structure.sites]
    expected = [template.get_kind(site.kind_name).symbol for site in template.sites]
    if symbols != expected:
        raise ValueError(f'the relaxed structure has the elements {symbols}, the input {expected}')
    relaxed = orm.StructureData(cell=np.asarray(structure.cell).tolist(), pbc=template.pbc)
    for kind in template.kinds:
        relaxed.append_kind(kind)
    for site, new in zip(template.sites, structure.sites, strict=True):
        relaxed.append_site(Site(kind_name=site.kind_name, position=[float(value) for value in new.position]))
    return relaxed


def _first_configuration(trajectory: orm.TrajectoryData) -> dict:
    """``total_energies``, ``forces`` and ``stress`` of the first configuration of aiida-vasp's ``trajectory``,
    in the layout of ``misc`` (energies in eV; the energy types are the arrays of the same names)."""
    names = set(trajectory.get_arraynames())
    energies = {
        name: float(np.asarray(trajectory.get_array(name)).ravel()[0])
        for name in (
            'energy_extrapolated',
            'energy_free',
            'energy_extrapolated_electronic',
            'energy_free_electronic',
        )
        if name in names
    }
    if 'energy_extrapolated' not in energies:
        raise ValueError(f'the trajectory has no `energy_extrapolated` array (arrays: {sorted(names)})')
    return {
        'total_energies': energies,
        'forces': np.asarray(trajectory.get_array('forces')[0], dtype=float).tolist(),
        'stress': np.asarray(trajectory.get_array('stress')[0], dtype=float).tolist(),
    }


def _array(name: str, values: np.ndarray, unit: str) -> orm.ArrayData:
    node = orm.ArrayData()
    node.set_array(name, np.asarray(values, dtype=float))
    node.base.attributes.set('units', {name: unit})
    return node
