"""YAML protocols of the workchains and the mixin that reads them."""
