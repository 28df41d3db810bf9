"""Displacement-field models and the XFEL paper's qualitative findings."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nclattice.errors import NclatticeError
from nclattice.structures import build_cspbbr3_cube, build_cspbbr3_superellipsoid
from nclattice.tasks import diffraction as dif
from nclattice.tasks import models
from nclattice.tasks.alignment import displacement_field
from nclattice.tasks.scattering import Probe

XRAY = Probe("xray", 13.6)
PEAKS = ("200", "110", "111", "400")


def _boxes(points=21, half_width=0.3):
    return [dif.box_around(dif.parse_hkl(h), 5.9, half_width, points) for h in PEAKS]


def _shifts(members, points=21):
    ens = dif.ensemble_intensity(members, _boxes(points), XRAY)
    return {h: v["shift_inv_angstrom"] for h, v in ens.peak_shifts().items()}


def test_given_field_is_recovered_after_rigid_motion():
    singlet = build_cspbbr3_cube(3, "tetra")
    r = singlet.positions
    u = 0.01 * r * np.where(np.array(singlet.get_chemical_symbols()) == "Br", -1, 1)[:, None]
    triplet = singlet.copy()
    rotation = Rotation.from_euler("xyz", [20, -35, 50], degrees=True)
    triplet.positions = rotation.apply(r + u) + np.array([3.0, -1.0, 7.0])
    recovered = displacement_field(singlet, triplet)[1]
    # a radial field has no rigid rotation (r × u = 0); only its mass-weighted mean is removed
    m = singlet.get_masses()
    expected = u - (m @ u) / m.sum()
    assert np.abs(recovered - expected).max() < 1e-6
    assert np.allclose(models.apply_displacement(singlet, recovered), r + expected, atol=1e-6)
    with pytest.raises(NclatticeError, match="same atoms"):
        displacement_field(singlet, build_cspbbr3_cube(3, None))


def test_hole_positions_follow_the_l5_bias():
    rng = np.random.default_rng(0)
    norm = lambda r: (np.abs(r) ** 5).sum(1) ** 0.2  # noqa: E731
    uniform = models.hole_positions(rng, 4000, "uniform")
    surface = models.hole_positions(rng, 4000, "surface")
    assert norm(uniform).max() <= 1 and norm(surface).max() <= 1
    assert np.allclose(models.hole_positions(rng, 3, "center"), 0)
    # r -> r |r|^0.1/|r| maps the l5 norm n to n^0.1: n^0.1 < 0.8 needs n < 0.107, i.e. ~0.1 % of draws
    assert np.median(norm(surface)) > 0.97 and np.mean(norm(surface) < 0.8) < 0.01
    assert np.median(norm(uniform)) == pytest.approx(0.5 ** (1 / 3), abs=0.03)


def test_field_pushes_cations_out_and_br_in_around_a_central_hole():
    atoms = build_cspbbr3_superellipsoid(3.5, 5)
    new, hole = models.random_hole_displacement(atoms, 35.0, np.random.default_rng(0), "center")
    d = new - atoms.positions
    radial = (d * atoms.positions).sum(1)
    sym = np.array(atoms.get_chemical_symbols())
    inner = np.linalg.norm(atoms.positions, axis=1) < 12
    assert np.all(hole == 0)
    assert np.all(radial[inner & (sym != "Br")] >= 0) and np.all(radial[inner & (sym == "Br")] <= 0)
    # Pb (2+) moves twice as far as Cs (1+) for equal k; Br (k = 5) four times as far per charge
    assert 0.001 < np.abs(d).max() < 0.2


def test_central_hole_never_shifts_110_outward():
    """Shen et al. (CsPbBr3 exciton polaron), S5 / Fig. S11: scanning the restoring constants on a sphere never gives an
    outward (110) shift for a central hole; Br weak enough makes (200) shift outward."""
    crystals = [build_cspbbr3_superellipsoid(L, 5) for L in (3.5, 5.0)]
    scan = [(1, 1, 1), (1, 1, 0.2), (0.2, 1, 1), (1, 0.2, 1), (0.2, 0.2, 1), (1, 0.2, 0.2), (0.2, 1, 0.2)]
    shift_200 = []
    for k in scan:
        k = 20 * np.array(k) / np.linalg.norm(k) * np.sqrt(3)
        model = models.HoleModel(dict(zip(("Cs", "Pb", "Br"), k, strict=True)))
        members = [(a.positions, a.get_chemical_symbols(),
                    models.random_hole_displacement(a, L * 10, np.random.default_rng(0), "center", model)[0]
                    - a.positions) for a, L in zip(crystals, (3.5, 5.0), strict=True)]
        shifts = _shifts(members)
        assert shifts["110"] < 0, k
        shift_200.append(shifts["200"])
    assert shift_200[1] > 0  # Br restrained 5x more weakly than Cs and Pb: (200) outward


@pytest.mark.parametrize("electron_field", ["paper", "sphere"])
def test_surface_biased_holes_with_weak_br_shift_200_in_and_110_out(electron_field):
    """Shen et al. (CsPbBr3 polaron), Fig. 5c: surface-biased holes, Br more weakly restrained than Cs and Pb."""
    rng = np.random.default_rng(1)
    model = models.HoleModel({"Cs": 20.0, "Pb": 20.0, "Br": 5.0}, electron_field=electron_field)

    def members():
        for size in (3.5, 5.0):
            atoms = build_cspbbr3_superellipsoid(size, 5)
            for _ in range(6):
                new, _ = models.random_hole_displacement(atoms, size * 10, rng, "surface", model)
                yield atoms.positions, atoms.get_chemical_symbols(), new - atoms.positions

    shifts = _shifts(members())
    assert shifts["200"] < 0 and shifts["400"] < 0  # inward, as measured
    assert shifts["110"] > 0  # outward, as measured


def test_orthorhombic_t_model_changes_intensities_without_shifting_peaks():
    cubic = build_cspbbr3_superellipsoid(3.5, 5)
    ortho = build_cspbbr3_superellipsoid(3.5, 5, phase="orthorhombic")
    t = models.orthorhombic_t(cubic.positions, 0.8)
    assert t.min() == pytest.approx(0.8, abs=0.01) and t.max() == pytest.approx(1.0)
    assert np.allclose(models.orthorhombic_t_model(cubic, ortho, 1.0), ortho.positions)
    relaxed = models.orthorhombic_t_model(cubic, ortho, 0.8)
    width = 2 * np.pi / 35.0  # peak width of a 3.5 nm crystal, Å⁻¹
    tilt = dif.EnsembleIntensity.empty(_boxes())
    dif.accumulate_member(tilt, (ortho.positions, ortho.get_chemical_symbols(), relaxed - ortho.positions), XRAY)
    strain = dif.EnsembleIntensity.empty(_boxes())  # contrast: a pure 0.1 % expansion
    dif.accumulate_member(strain, (ortho.positions, ortho.get_chemical_symbols(), 1e-3 * ortho.positions), XRAY)
    for h in PEAKS:
        a, b = tilt.peak_shifts()[h], strain.peak_shifts()[h]
        # tilt relaxation: integrated change >= 10x the shift in units of the peak width
        assert abs(a["integrated_change"]) > 0.01
        assert abs(a["integrated_change"]) > 10 * abs(a["shift_inv_angstrom"]) / width, h
        # expansion: the opposite balance
        assert abs(b["integrated_change"]) < 0.3 * abs(b["shift_inv_angstrom"]) / width, h
    with pytest.raises(NclatticeError, match="same atoms"):
        models.orthorhombic_t_model(cubic, build_cspbbr3_superellipsoid(4.0, 5, phase="orthorhombic"))


def test_localized_surface_distortion_costs_more_intensity_at_high_q():
    atoms = build_cspbbr3_cube(4, None)
    rng = np.random.default_rng(1)
    new = models.localized_surface_distortion(atoms, rng, 0.15)
    moved = np.linalg.norm(new - atoms.positions, axis=1)
    assert np.allclose(moved[moved > 0], 0.15) and 3 <= np.count_nonzero(moved) <= 15
    boxes = [dif.box_around((h, 0, 0), 5.9, 0.4, 15) for h in (2, 4, 6)]
    ens = dif.EnsembleIntensity.empty(boxes)
    for _ in range(8):
        new = models.localized_surface_distortion(atoms, rng, 0.15)
        dif.accumulate_member(ens, (atoms.positions, atoms.get_chemical_symbols(), new - atoms.positions), XRAY)
    loss = [-v["integrated_change"] for v in ens.peak_shifts().values()]
    # Debye–Waller-like: the Bragg loss grows with Q (∝ Q² for small u: 1 : 4 : 9)
    assert 0 < loss[0] < loss[1] < loss[2] and loss[2] > 3 * loss[0]
    with pytest.raises(NclatticeError, match="not a surface atom"):
        models.localized_surface_distortion(atoms, rng, 0.15, site=int(np.flatnonzero(~atoms.arrays["surface"])[0]))


def test_bad_model_parameters():
    with pytest.raises(NclatticeError, match="restoring constant"):
        models.HoleModel({"Cs": 1.0, "Pb": -1.0, "Br": 1.0})
    with pytest.raises(NclatticeError, match="hole bias"):
        models.hole_positions(np.random.default_rng(0), 2, "edge")
    with pytest.raises(NclatticeError, match="restoring constant for"):
        models.field_displacement(["Cs", "Cd"], np.zeros((2, 3)))
