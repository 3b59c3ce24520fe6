"""Checks that an MD run is physically sound, before its descriptors are trusted. Pure numerics, no AiiDA."""

from __future__ import annotations

import numpy as np


def energy_drift_meV_atom_ps(times_ps: np.ndarray, conserved_energy_eV: np.ndarray, atoms: int) -> float:
    """Return the drift of the conserved energy: the least-squares slope in meV per atom per ps.

    The conserved quantity of the thermostatted dynamics (for a Nosé–Hoover chain, the potential
    and kinetic energy plus the thermostat's own energy) is constant for exact integration; a
    steady slope measures the integration error (a time step too long for the fastest motion, a
    potential that is not smooth). Its sign is kept; compare its magnitude with a threshold.

    :param times_ps: frame times in ps, shape ``(frames,)``.
    :param conserved_energy_eV: the conserved energy of each frame in eV, shape ``(frames,)``.
    :param atoms: number of atoms in the cell.
    :raises ValueError: with fewer than two frames, non-finite energies or no atoms.
    """
    times = np.asarray(times_ps, dtype=float)
    energies = np.asarray(conserved_energy_eV, dtype=float)
    if times.shape != energies.shape or times.size < 2:
        raise ValueError(f'an energy drift needs two or more frames with times and energies, got {energies.shape}')
    if not np.all(np.isfinite(energies)):
        raise ValueError('the conserved energy is not finite in every frame')
    if atoms < 1:
        raise ValueError('an energy drift per atom needs at least one atom')
    centred = times - times.mean()
    slope_eV_ps = float(np.dot(centred, energies - energies.mean()) / np.dot(centred, centred))
    return 1000.0 * slope_eV_ps / atoms
