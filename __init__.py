"""nclattice: nanocrystal simulations linked to ultrafast diffraction observables.

Layout (see README.md and docs/architecture.md): ``structures`` builds nanocrystals,
``potentials`` turns parameter files into LAMMPS commands, ``tasks`` holds the science
kernels, ``flows`` composes them into capabilities (plain functions; Prefect only for
``--prefect``, deployments and campaigns) and ``cli`` is the ``nclattice`` command.
"""

__version__ = "0.1.0"
