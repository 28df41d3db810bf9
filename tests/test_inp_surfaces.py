"""Bare zinc-blende InP cores with the Vashishta set of Branicio et al. (2009).

The {111}-faceted octahedron (the default cut) has three-coordinated facet atoms and keeps every
atom on its site at 300 K; the sphere cut's {100}-like and stepped patches of two-coordinated
atoms leave their sites within picoseconds (interior atoms follow).
"""

import numpy as np
import pytest

from nclattice.errors import StructureError
from nclattice.potentials import load
from nclattice.structures import build_inp_znse_zns
from nclattice.tasks.md import MDSettings, run_nvt


def _md(shape: str):
    atoms = build_inp_znse_zns(2.0, (0, 0), shape=shape)
    settings = MDSettings(300, equilibration_ps=1.0, production_ps=3.0, sample_every_fs=20, seed=3)
    return atoms, run_nvt(atoms, load("branicio2009-inp-vashishta"), settings)


def test_octahedron_has_three_coordinated_facets_and_the_spheres_volume():
    octa, sphere = build_inp_znse_zns(2.5, (0, 0)), build_inp_znse_zns(2.5, (0, 0), shape="sphere")
    assert octa.info["shape"] == "octahedron" and sphere.info["shape"] == "sphere"
    two_fold = {k: float(np.mean(a.arrays["coordination"] == 2)) for k, a in (("o", octa), ("s", sphere))}
    # measured: 12 of 265 (only edges and vertices) vs 49 of 318
    assert two_fold["o"] < 0.06 < 0.12 < two_fold["s"]
    # every atom lies within the octahedron |x|+|y|+|z| <= sqrt(3) h, h = 12.5 Å x 0.806
    assert np.abs(octa.positions - octa.positions.mean(0)).sum(1).max() <= np.sqrt(3) * 12.5 * 0.8061 + 1.0
    with pytest.raises(StructureError, match="shape"):
        build_inp_znse_zns(2.5, (0, 0), shape="cube")


def test_octahedral_core_keeps_its_sites_at_300_k_where_the_sphere_does_not():
    _, octa = _md("octahedron")
    sphere_atoms, sphere = _md("sphere")
    assert octa.minimization["max_displacement_angstrom"] < 0.6
    assert octa.site_drift["n_drifting"] == 0
    assert sphere.site_drift["n_drifting"] > 0.1 * len(sphere_atoms)
