"""Figures of results, from the nodes the workchains output (matplotlib, non-interactive backend)."""

from __future__ import annotations

import pathlib

import numpy as np


def plot_msd(msd, descriptors, path: str | pathlib.Path, title: str | None = None) -> pathlib.Path:
    """Draw MSD(τ) of the mobile species per direction and in total, with the paper's fit over τmax/2..τmax,
    D ± σ(D) in the legend and the diffusivity verdict (with the hop count) in a corner, red when D is flagged.

    :param msd: the ``msd`` output (``ArrayData``: ``lag_time_ps``, ``msd_A2``, ``msd_xyz_A2``).
    :param descriptors: the ``descriptors`` output (``Dict``) of the same run.
    :param path: where to write the figure (the format follows the suffix, e.g. ``.png``).
    :return: the path written.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    lag = msd.get_array('lag_time_ps')
    total = msd.get_array('msd_A2')
    per_direction = msd.get_array('msd_xyz_A2')
    values = descriptors.get_dict()
    start, end = values['diffusion_fit_start_ps'], values['diffusion_fit_end_ps']
    slope = 6 * values['diffusion_coefficient_cm2_s'] / 1.0e-4  # Å²/ps
    window = np.linspace(start, end, 2)

    figure, axes = plt.subplots(figsize=(5.5, 4.0), layout='constrained')
    for index, label in enumerate('xyz'):
        axes.plot(lag, per_direction[:, index], lw=0.8, alpha=0.7, label=f'MSD$_{label}$')
    axes.plot(lag, total, color='k', lw=1.5, label='MSD')
    sigma = values.get('diffusion_coefficient_std_cm2_s')
    uncertainty = f' ± {sigma:.1e}' if sigma is not None else ''
    axes.plot(
        window,
        slope * window + values['diffusion_fit_intercept_A2'],
        color='C3',
        lw=2.5,
        ls='--',
        label=f'fit: D = ({values["diffusion_coefficient_cm2_s"]:.2e}{uncertainty}) cm$^2$/s',
    )
    verdict = values.get('diffusivity_verdict')
    if verdict is not None:
        # The verdict on the figure: a flagged D must not be read as a result from the picture either.
        hops = values.get('mobile_ion_hops')
        text = f'verdict: {verdict}' + (f' ({hops} hops)' if hops is not None else '')
        colour = 'darkgreen' if verdict == 'diffusive' else 'firebrick'
        axes.text(0.98, 0.04, text, transform=axes.transAxes, ha='right', va='bottom', color=colour, fontsize='small')
    axes.axvspan(start, end, color='C3', alpha=0.08, lw=0)
    axes.set_xlabel('lag time τ (ps)')
    axes.set_ylabel(f'MSD of {values["mobile_species"]} (Å$^2$)')
    axes.set_xlim(0, lag[-1])
    axes.set_ylim(bottom=0)
    axes.legend(frameon=False, fontsize='small')
    if title:
        axes.set_title(title, fontsize='medium')
    path = pathlib.Path(path)
    figure.savefig(path, dpi=150)
    plt.close(figure)
    return path
