"""The trust columns of a table row: what says whether its D (and its MD) can be believed.

Not among the 54 descriptors: they are the evidence beside them. Every row that
``merge_descriptors`` makes carries them (``None`` where the MD analysis did not give one), the
exported table has them as columns, and the analysis keeps a flagged D out of everything that
uses D unless asked (``aiida-superionic analyze --include-flagged``). Pure Python: the
calcfunction that writes the rows and the analysis that reads them both import it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

#: Trust column → the key of the trajectory descriptors (``compute_trajectory_descriptors``) it is copied from.
TRAJECTORY_TRUST_KEYS = {
    'diffusivity_verdict': 'diffusivity_verdict',
    'diffusivity_reason': 'diffusivity_reason',
    'diffusion_coefficient_std_cm2_s': 'diffusion_coefficient_std_cm2_s',
    'mobile_ion_hops': 'mobile_ion_hops',
    'md_analysed_ps': 'analysed_time_ps',
    'mobile_ions': 'mobile_ions',
    'kinetic_temperature_K': 'kinetic_temperature_K',
}

#: The overrides of the protocol the row's workchain was built with (JSON text; ``{}`` for none).
OVERRIDES_COLUMN = 'protocol_overrides'

#: Every trust column, in table order.
TRUST_COLUMNS = (*TRAJECTORY_TRUST_KEYS, OVERRIDES_COLUMN)

#: Trust columns holding text; the others are numbers.
TEXT_TRUST_COLUMNS = ('diffusivity_verdict', 'diffusivity_reason', OVERRIDES_COLUMN)

#: The verdict of a D that can be used as a measurement; every other verdict flags it.
TRUSTED_VERDICT = 'diffusive'

#: What each flagging verdict means (``descriptors.transport``), for the report.
VERDICT_MEANINGS = {
    'diffusive': 'enough hops, MSD linear in the fitted window: D is a measurement',
    'too_few_hops': 'fewer mobile-ion hops than the minimum: D is noise about zero',
    'non_linear': 'the MSD is not linear in the fitted window (sub-diffusive or ballistic): D is no diffusion '
    'coefficient',
    'implausible_frame_interval': 'the motion contradicts the stated frame interval or temperature (the kinetic '
    'temperature from finite differences is far off): D is scaled by a wrong time axis',
}


def pruned_overrides(overrides: Mapping | None) -> dict:
    """The overrides without empty namespaces (``{'md': {}}`` overrides nothing)."""
    pruned = {}
    for key, value in (overrides or {}).items():
        kept = pruned_overrides(value) if isinstance(value, Mapping) else value
        if isinstance(value, Mapping) and not kept:
            continue
        pruned[key] = kept
    return pruned


def overrides_text(overrides: Mapping | str | None) -> str:
    """The overrides as one canonical JSON text (sorted keys, empty namespaces left out), ``'{}'`` for none."""
    if isinstance(overrides, str):
        return overrides
    return json.dumps(pruned_overrides(overrides), sort_keys=True, default=str)


def protocol_label(
    protocol: str, overrides: Mapping | None, test_size: bool = False, preset_label: str | None = None
) -> str:
    """The protocol as a row records it: ``fast``, ``fast+overrides`` (any override), ``fast+test-size`` (a preset).

    A run whose MD was shortened by an override or a preset is not a run of the protocol: the label says so,
    so that it never pools with real ones unnoticed, and the overrides are stored with the row.
    """
    label = protocol
    if pruned_overrides(overrides):
        label += '+overrides'
    if test_size:
        preset_label = 'test-size'
    if preset_label:
        label += f'+{preset_label}'
    return label


def trust_values(trajectory: Mapping | None, overrides: Mapping | str | None) -> dict:
    """The trust columns of a row from its trajectory descriptors and the protocol overrides (``None``: absent)."""
    trajectory = trajectory or {}
    values = {column: trajectory.get(key) for column, key in TRAJECTORY_TRUST_KEYS.items()}
    values[OVERRIDES_COLUMN] = overrides_text(overrides)
    return values
