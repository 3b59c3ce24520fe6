"""Do the stated frame interval and temperature of a trajectory agree with its motion?

Every time-dependent descriptor (D, σ, the VDOS) scales with the time between frames Δt, and an imported run
states Δt only through its labels (POTIM × NBLOCK of VASP, or ``--frame-interval-fs``): a wrong label scales D
silently. The atoms' own motion tells Δt, through the kinetic temperature.

**The finite-difference temperature.** With ``v = Δr / Δt`` between consecutive frames (unwrapped positions),
``T_fd = Σ m ⟨Δr²⟩ / (3 N k_B Δt²)``, per species and over all atoms. Its relation to the true kinetic
temperature T follows from ``Δr = ∫ v dt`` over the interval: ``⟨Δr²⟩ / Δt² = (1/Δt²) ∫∫ ⟨v(t)·v(t')⟩ dt dt'``,
and by the Cauchy–Schwarz inequality ``|⟨v(t)·v(t')⟩| ≤ ⟨v²⟩`` in a stationary run, so

    T_fd ≤ T   for every Δt (equality when the motion between frames is ballistic, Δt → 0).

For a vibration of angular frequency ω, ``T_fd / T = sinc²(ωΔt / 2)``: ≈ 1 while Δt is well below the period,
small once frames are a period apart; for diffusion, ``T_fd ∝ 1/Δt``. So coarse frames (the kinisi argyrodite
at 100 fs per frame gives ~ T/3) *underestimate* T, physically, and a low T_fd alone proves nothing.

**The ballistic fraction** ``b = ⟨Δr(2Δt)²⟩ / (4 ⟨Δr(Δt)²⟩)`` (mass-weighted) says, from the trajectory
alone and independent of any label, whether frames are close enough for T_fd to be near T: b = 1 for ballistic
motion, ``cos²(ωΔt/2)`` for a vibration, 1/2 for diffusion and 1/4 for motion that has stopped growing. b ≥
``BALLISTIC_FRACTION_MIN`` (0.8) means ωΔt/2 ≤ 0.46 for the modes that carry the motion, where
``T_fd / T = sinc²`` ≥ 0.93.

**A stated Δt that is wrong** by a factor s (true interval Δt_true = Δt_stated / s) multiplies T_fd by s²: the
estimate with the stated label is ``s² T_fd(Δt_true)``. Hence the rule (:func:`assess_frame_interval`), with
the ratio ρ = T_fd / T_stated:

- ρ > factor: a contradiction whatever the frame spacing (T_fd cannot exceed T): the frames are further apart
  than stated (or the stated temperature is too low);
- ρ < 1 / factor **and** b ≥ 0.8: a contradiction, since near-ballistic frames give T_fd ≈ T: the frames are
  closer than stated (the real LGPS run labelled 20 fs, which moves like 2 fs: ρ ≈ 0.01, b ≈ 1.0);
- ρ < 1 / factor with coarse frames (b < 0.8): no contradiction (the physics of coarse frames).

Real runs: pymatgen's LGPS (600 K, labelled 20 fs) gives T_fd = 5.9 K with b = 0.997, and 587 K at 2 fs;
pymatgen's cubic Na3PS4 (800 K, 20 fs) gives 742 K with b = 0.84, so 20 fs frames of a sulfide are still near
ballistic; kinisi's argyrodite (500 K, 100 fs) gives 170 K with b = 0.43, coarse, no contradiction. A single
vibration sampled at almost exactly its period would fool b (it looks still: b → 1, T_fd → 0); the broad
spectrum of a real solid does not.

The implied frame interval, the Δt that would make T_fd equal the stated T, is ``Δt_stated · √ρ``. With
near-ballistic frames it is the true interval; in the first case with coarse frames it is a lower bound (T_fd
underestimates T). A factor of 3 in T is a factor √3 ≈ 1.7 in Δt: every error by a factor 2 or more in POTIM,
NBLOCK or the frame interval is caught (a factor 4 in T), while the sampling noise of T_fd (a few per cent over
a run), a thermostat's fluctuations and a TEBEG that is not quite the run's temperature stay well inside.

Pure numerics (no AiiDA); positions in Å, times in fs, masses in amu.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from ase.data import atomic_masses, atomic_numbers

from .constants import AMU_A2_PER_PS2_TO_eV, BOLTZMANN_eV_K
from .msd import UNWRAP_FRAME_CHUNK, _minimum_image_step_chunks

#: T_fd / T_stated beyond this factor (above, or below with near-ballistic frames) contradicts the labels.
DEFAULT_PLAUSIBILITY_FACTOR = 3.0

#: Ballistic fraction b from which frames count as close enough for T_fd ≈ T (module docstring).
BALLISTIC_FRACTION_MIN = 0.8

FS_PER_PS = 1000.0

#: The diffusivity verdict of a run whose labels contradict its motion: its D is no measurement.
IMPLAUSIBLE_FRAME_INTERVAL = 'implausible_frame_interval'


@dataclasses.dataclass(frozen=True)
class FiniteDifferenceTemperature:
    """The kinetic temperature of a trajectory from finite differences of its positions.

    :ivar temperature_K: over all atoms, Σ m ⟨Δr²⟩ / (3 N k_B Δt²).
    :ivar species_temperatures_K: the same per species.
    :ivar ballistic_fraction: ⟨Δr(2Δt)²⟩ / (4 ⟨Δr(Δt)²⟩), mass-weighted: 1 for ballistic motion between
        frames, ≤ 1/2 for coarse frames; NaN with fewer than three frames.
    :ivar frame_interval_fs: the Δt used.
    """

    temperature_K: float
    species_temperatures_K: dict[str, float]
    ballistic_fraction: float
    frame_interval_fs: float


@dataclasses.dataclass(frozen=True)
class FrameIntervalPlausibility:
    """Whether a stated frame interval and temperature agree with the motion (rule: module docstring).

    :ivar plausible: False when the labels contradict the motion.
    :ivar temperature_ratio: T_fd / T_stated.
    :ivar implied_frame_interval_fs: the Δt that would make T_fd equal T_stated, Δt_stated · √ratio.
    :ivar direction: ``'further_apart'`` (T_fd far above T_stated), ``'closer'`` (far below, near-ballistic
        frames) or ``''`` when plausible.
    """

    plausible: bool
    stated_frame_interval_fs: float
    stated_temperature_K: float
    kinetic_temperature_fd_K: float
    temperature_ratio: float
    implied_frame_interval_fs: float
    ballistic_fraction: float
    factor: float
    direction: str

    def message(self, setting: str) -> str:
        """One line naming ``setting`` (e.g. ``'POTIM × NBLOCK'``) and the implied frame interval; '' if plausible."""
        if self.plausible:
            return ''
        looks = 'at least ' if self.direction == 'further_apart' else ''
        return (
            f'the motion does not fit {self.stated_frame_interval_fs:g} fs per frame at '
            f'{self.stated_temperature_K:g} K: finite differences give a kinetic temperature of '
            f'{self.kinetic_temperature_fd_K:.3g} K ({self.temperature_ratio:.3g} × the stated one); '
            f'{setting} looks like {looks}{self.implied_frame_interval_fs:.2g} fs, not '
            f'{self.stated_frame_interval_fs:g} fs, so D would be off by ~{self._d_factor():.2g}× '
            f'(D is flagged: diffusivity_verdict {IMPLAUSIBLE_FRAME_INTERVAL})'
        )

    def _d_factor(self) -> float:
        """How far D computed with the stated interval is from D with the implied one (D ∝ 1/Δt)."""
        return max(self.stated_frame_interval_fs, self.implied_frame_interval_fs) / min(
            self.stated_frame_interval_fs, self.implied_frame_interval_fs
        )


def finite_difference_temperature(
    positions: np.ndarray,
    symbols: list[str],
    frame_interval_fs: float,
    cells: np.ndarray | None = None,
    masses: np.ndarray | None = None,
) -> FiniteDifferenceTemperature:
    """Return the kinetic temperature from finite differences of positions between consecutive frames.

    Valid as an estimate of the true temperature only when the motion between frames is nearly ballistic
    (``ballistic_fraction`` near 1); coarser frames underestimate it (module docstring).

    :param positions: Cartesian positions in Å, shape ``(frames, atoms, 3)``, frames ≥ 2: unwrapped, or wrapped
        with ``cells`` given (the steps are then the minimum images, as ``msd.unwrap_positions`` takes them,
        chunk by chunk: no unwrapped copy of the run is held).
    :param symbols: element of every atom.
    :param frame_interval_fs: the stated time between frames in fs, > 0.
    :param cells: cell vectors as rows in Å, ``(frames, 3, 3)`` or ``(3, 3)``, for wrapped positions.
    :param masses: atomic masses in amu; by default those of ``ase.data``.
    :raises ValueError: for fewer than two frames, a non-positive interval or mismatched shapes.
    """
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 3 or positions.shape[0] < 2 or positions.shape[2] != 3:
        raise ValueError(f'positions must have shape (frames >= 2, atoms, 3), got {positions.shape}')
    if len(symbols) != positions.shape[1]:
        raise ValueError(f'{len(symbols)} symbols for {positions.shape[1]} atoms')
    if not (math.isfinite(frame_interval_fs) and frame_interval_fs > 0):
        raise ValueError(f'the frame interval must be a finite time > 0 fs, got {frame_interval_fs}')
    if masses is None:
        masses = np.array([atomic_masses[atomic_numbers[symbol]] for symbol in symbols])
    masses = np.asarray(masses, dtype=float)
    per_atom_one, per_atom_two = _mean_squared_steps(positions, cells)
    dt_ps = frame_interval_fs / FS_PER_PS
    # ½ m v² per atom averages 3/2 k_B T: T = m ⟨Δr²⟩ / (3 k_B Δt²)
    energy_scale = AMU_A2_PER_PS2_TO_eV / (3.0 * BOLTZMANN_eV_K * dt_ps**2)
    weighted_one = masses * per_atom_one
    species = np.array(symbols)
    species_temperatures = {
        symbol: float(weighted_one[species == symbol].mean() * energy_scale) for symbol in dict.fromkeys(symbols)
    }
    ballistic = math.nan
    if per_atom_two is not None and weighted_one.sum() > 0:
        ballistic = float((masses * per_atom_two).sum() / (4.0 * weighted_one.sum()))
    return FiniteDifferenceTemperature(
        temperature_K=float(weighted_one.mean() * energy_scale),
        species_temperatures_K=species_temperatures,
        ballistic_fraction=ballistic,
        frame_interval_fs=float(frame_interval_fs),
    )


def assess_frame_interval(
    estimate: FiniteDifferenceTemperature,
    stated_temperature_K: float,
    factor: float = DEFAULT_PLAUSIBILITY_FACTOR,
    ballistic_fraction_min: float = BALLISTIC_FRACTION_MIN,
) -> FrameIntervalPlausibility:
    """Return whether ``estimate`` (at the stated frame interval) agrees with ``stated_temperature_K``.

    One-sided where the physics is: far above is always a contradiction, far below only with near-ballistic
    frames (``estimate.ballistic_fraction`` ≥ ``ballistic_fraction_min``); module docstring.

    :raises ValueError: for a stated temperature or a factor that is not a finite number > 0 (> 1).
    """
    if not (math.isfinite(stated_temperature_K) and stated_temperature_K > 0):
        raise ValueError(f'the stated temperature must be > 0 K, got {stated_temperature_K}')
    if not (math.isfinite(factor) and factor > 1):
        raise ValueError(f'the factor must be a finite number > 1, got {factor}')
    ratio = estimate.temperature_K / stated_temperature_K
    near_ballistic = estimate.ballistic_fraction >= ballistic_fraction_min  # False for NaN
    direction = ''
    if ratio > factor:
        direction = 'further_apart'
    elif ratio < 1.0 / factor and near_ballistic:
        direction = 'closer'
    return FrameIntervalPlausibility(
        plausible=not direction,
        stated_frame_interval_fs=estimate.frame_interval_fs,
        stated_temperature_K=float(stated_temperature_K),
        kinetic_temperature_fd_K=estimate.temperature_K,
        temperature_ratio=float(ratio),
        implied_frame_interval_fs=float(estimate.frame_interval_fs * math.sqrt(ratio)),
        ballistic_fraction=estimate.ballistic_fraction,
        factor=float(factor),
        direction=direction,
    )


def _mean_squared_steps(positions: np.ndarray, cells: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """⟨Δr²⟩ over one frame and over two frames, per atom (Å²); the second None with fewer than three frames.

    From the steps between consecutive frames, a chunk of frames at a time: a two-frame displacement is the sum
    of two consecutive steps (the last step of a chunk is kept for the first of the next).
    """
    frames, atoms = positions.shape[:2]
    one, two = np.zeros(atoms), np.zeros(atoms)
    chunks = _minimum_image_step_chunks(positions, cells) if cells is not None else _plain_step_chunks(positions)
    previous = None
    for _, _, steps in chunks:
        one += np.einsum('tnk,tnk->n', steps, steps)
        pairs = steps[1:] + steps[:-1]
        two += np.einsum('tnk,tnk->n', pairs, pairs)
        if previous is not None:
            pair = previous + steps[0]
            two += np.einsum('nk,nk->n', pair, pair)
        previous = steps[-1]
    return one / (frames - 1), (two / (frames - 2) if frames >= 3 else None)


def _plain_step_chunks(positions: np.ndarray, chunk: int = UNWRAP_FRAME_CHUNK):
    """Yield ``(start, stop, steps)`` like ``msd._minimum_image_step_chunks``, for positions already unwrapped."""
    for start in range(1, positions.shape[0], chunk):
        stop = min(start + chunk, positions.shape[0])
        yield start, stop, positions[start:stop] - positions[start - 1 : stop - 1]
