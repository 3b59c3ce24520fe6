"""The elastic tensor from the stresses of strained cells (finite strains, fitted with pymatgen).

Pure numpy and pymatgen (no AiiDA). Stresses in GPa, **positive in tension** (σ = (1/V) ∂E/∂ε, the
sign of ASE and of pymatgen's ``ElasticTensor`` without its ``vasp`` flag); strains dimensionless.

The strain set is that of atomate2's elastic workflow: for each of the six independent Voigt
components i (xx, yy, zz, yz, xz, xy) and each magnitude δ, the symmetric Green–Lagrange strain with
ε_i = δ alone (a shear as the engineering strain γ = 2E_jk = δ), ``normal_strains`` for the normal
components and ``shear_strains`` for the shears, and the upper-triangular deformation gradient F whose
strain (FᵀF − 1)/2 is exactly that (pymatgen's ``convert_strain_to_deformation``). An exact single
component matters: ``ElasticTensor.from_independent_strains`` groups the cells by strain state, and the
second-order terms of a plain shear F = 1 + δ·e_ij would make every shear a mixed state. The fit is, for
each strained component i, the line of every stress component j against ε_i through the reference
(equilibrium) stress at zero strain: C_ij is its slope. With ions relaxed at each strain this is the
relaxed-ion tensor (what the paper uses and what VASP's IBRION = 6, ISIF = 3 reports as "TOTAL
ELASTIC MODULI").

The fitted C_ij and C_ji come from different cells (strain i read on stress j, and the other way round), so
the fit is symmetric only as far as the stresses are a smooth derivative of one energy. A machine-learned
potential in single precision is not quite that (CHGNet on Li3N: C12 and C21 15 GPa apart at ±1 % strain),
so the tensor used is (C + Cᵀ)/2, as the Materials Project's workflow does, with the largest asymmetry
recorded beside it as a measure of the fit's noise.
"""

from __future__ import annotations

import numpy as np

#: The Voigt components in order: normal xx, yy, zz, then the shears yz, xz, xy.
NORMAL_COMPONENTS = (0, 1, 2)
SHEAR_COMPONENTS = (3, 4, 5)


def strain_deformations(normal_strains, shear_strains) -> np.ndarray:
    """Return the deformation gradients F (n × 3 × 3) of the independent-strain set, component by component.

    :param normal_strains: magnitudes δ of the normal strains (e.g. ±0.5 %, ±1 %), none zero.
    :param shear_strains: magnitudes of the engineering shear strains γ.
    :raises ValueError: for an empty set, a zero or repeated magnitude, or one of 10 % or more.
    """
    from pymatgen.analysis.elasticity import Strain
    from pymatgen.analysis.elasticity.strain import convert_strain_to_deformation

    for name, given in (('normal_strains', normal_strains), ('shear_strains', shear_strains)):
        values = [float(value) for value in given]
        if not values:
            raise ValueError(f'`{name}` is empty: the fit needs at least one strain per component')
        if any(value == 0 or abs(value) >= 0.1 for value in values):
            raise ValueError(f'`{name}` must be non-zero magnitudes below 0.1 (10 %), got {values}')
        if len(set(values)) != len(values):
            raise ValueError(f'`{name}` repeats a magnitude: {values}')
    deformations = []
    for components, magnitudes in ((NORMAL_COMPONENTS, normal_strains), (SHEAR_COMPONENTS, shear_strains)):
        for component in components:
            for magnitude in magnitudes:
                strain = Strain.from_index_amount(component, float(magnitude))
                deformations.append(np.array(convert_strain_to_deformation(strain, shape='upper'), dtype=float))
    return np.array(deformations)


def deform_cell(cell, deformation) -> np.ndarray:
    """Return the cell (rows are lattice vectors, Å) deformed by F: each vector a → F a (fractional positions kept)."""
    return np.asarray(cell, dtype=float) @ np.asarray(deformation, dtype=float).T


def fit_elastic_tensor(deformations, stresses_GPa, reference_stress_GPa) -> np.ndarray:
    """Return the 6 × 6 Voigt elastic tensor in GPa fitted to the stresses of strained cells.

    :param deformations: deformation gradients F (n × 3 × 3), the set of :func:`strain_deformations`.
    :param stresses_GPa: stress of each strained cell (n × 3 × 3, GPa, positive in tension).
    :param reference_stress_GPa: the stress of the unstrained cell (3 × 3, GPa): the point at zero strain of
        every line. With strains symmetric about zero (as every protocol's) it does not change the slopes; with
        an asymmetric set it keeps a residual stress from tilting them.
    :raises ValueError: when the set lacks one of the six independent strain states, or shapes disagree.
    """
    from pymatgen.analysis.elasticity import Deformation, ElasticTensor, Stress

    deformations = np.asarray(deformations, dtype=float)
    stresses = np.asarray(stresses_GPa, dtype=float)
    if deformations.ndim != 3 or deformations.shape[1:] != (3, 3) or stresses.shape != deformations.shape:
        raise ValueError(
            f'need n deformations and n stresses, each 3 × 3; got {deformations.shape} and {stresses.shape}'
        )
    if not np.all(np.isfinite(stresses)):
        raise ValueError('a stress has non-finite (NaN or infinite) components')
    strains = [Deformation(gradient).green_lagrange_strain for gradient in deformations]
    tensor = ElasticTensor.from_independent_strains(
        strains,
        [Stress(stress) for stress in stresses],
        eq_stress=Stress(np.asarray(reference_stress_GPa, dtype=float)),
        vasp=False,
        tol=0.0,
    )
    return np.array(tensor.voigt, dtype=float)


def symmetrize_fitted_tensor(elastic_tensor_GPa) -> tuple[np.ndarray, float]:
    """Return ((C + Cᵀ)/2, max |C_ij − C_ji| in GPa) of a fitted 6 × 6 tensor."""
    tensor = np.asarray(elastic_tensor_GPa, dtype=float)
    return (tensor + tensor.T) / 2.0, float(np.max(np.abs(tensor - tensor.T)))
