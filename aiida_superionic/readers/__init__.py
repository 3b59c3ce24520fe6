"""Readers of MD output written by other codes (VASP, anything ASE reads): files in, time-contiguous arrays out.

Pure numerics like ``descriptors/`` (no AiiDA): the calcfunction ``superionic.import_trajectory``
wraps them and stores the source files as its inputs.
"""
