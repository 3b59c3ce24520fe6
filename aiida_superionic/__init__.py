"""aiida-superionic: ion-transport descriptors of solid-state electrolytes with AiiDA provenance.

The top-level package imports nothing heavy, so ``aiida_superionic.descriptors`` stays usable
without AiiDA (see the layering in the documentation).
"""

__version__ = '0.1.0'
