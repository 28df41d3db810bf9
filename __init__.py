"""nclattice: nanocrystal simulations linked to ultrafast diffraction observables.

Layout (see README.md): ``structures`` builds nanocrystals, ``potentials`` turns
parameter files into LAMMPS commands, ``tasks`` holds the science kernels and
``flows`` composes them with Prefect and provides the command line.
"""

__version__ = "0.1.0"
