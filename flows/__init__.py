"""Prefect flows and the command line.

Importing this package points Prefect at the project's own home (``.prefect/`` in the
checkout) with analytics off, before Prefect itself is imported; values the user set in
the environment are kept. This is the package's one deliberate import-time effect.
"""

from ..environment import configure_prefect

configure_prefect()
