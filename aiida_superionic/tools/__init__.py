"""Tools over a profile: archives of studies."""
