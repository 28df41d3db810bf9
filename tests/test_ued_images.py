"""`ued images`: frames rendered from known profiles and a known geometry (tasks/synthetic_frames.py) back to
profiles, the geometry and Δ⟨u²⟩; bad input refused in one sentence with nothing written.

Small detectors (160×160) keep this fast; the full-size check (512×512, 3 scans × 25 delays) is
benchmarks/check_ued_images.py.
"""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

from nclattice.cli import main as cli
from nclattice.results import read_json
from nclattice.structio import read_structure, write_structure
from nclattice.structures import build
from nclattice.tasks import images as im
from nclattice.tasks import profiles as prof
from nclattice.tasks import synthetic_frames as sf
from nclattice.tasks.ring_geometry import check_geometry
from nclattice.tasks.scattering import Probe

SHAPE = (160, 160)
MEV = Probe("electron", 3000.0)
KEV = Probe("electron", 60.0)
DELAYS = np.array([-10.0, -5.0, -2.0, 2.0, 10.0, 30.0, 60.0])


def mev_geometry() -> im.Geometry:  # 0.045 Å⁻¹ per pixel near the edge: rings of 0.1 Å⁻¹ span ~2 px
    return im.Geometry(76.3, 88.9, 1900.0, 48.0, 48.0, im.wavelength_angstrom("electron", 3000.0))


def kev_geometry() -> im.Geometry:
    return im.Geometry(70.6, 81.2, 220.0, 55.0, 55.0, im.wavelength_angstrom("electron", 60.0))


@pytest.fixture(scope="module")
def crystal(tmp_path_factory):
    path = tmp_path_factory.mktemp("crystal") / "pbse.extxyz"
    write_structure(build("pbse", diameter_nm=2.5), path)
    return path


@pytest.fixture(scope="module")
def tiff_series(crystal, tmp_path_factory):
    """3 scans × 7 delays of MeV frames, one spoiled by a streak (frame 9 = scan 2, 2 ps)."""
    root = tmp_path_factory.mktemp("mev")
    scene = sf.scene_for(read_structure(crystal), mev_geometry(), SHAPE, DELAYS, MEV, fwhm_inv_angstrom=0.1,
                         peak_counts=4000.0, plateau_msd_angstrom2=0.008, seed=4, bad_frames={10: "streak"})
    sf.write_tiff_folder(scene, root / "frames", 3)
    scene.geometry.write_poni(root / "mev.poni", SHAPE)
    sf.write_mask(scene, root / "mask.tif")
    sf.write_dark(scene, root / "dark.tif")
    return root, scene


def test_integration_is_pyfai_and_recovers_the_rendered_profile():
    """Our per-frame sparse product equals pyFAI's integrate1d (with and without pixel splitting), ring areas equal
    the forward model's, and only pixel splitting correlates neighbouring bins."""
    g = kev_geometry()
    rings = (prof.Ring("a", (1, 1, 1), 8, 2.0, 1.0), prof.Ring("b", (2, 0, 0), 6, 3.2, 0.6))
    scene = sf.Scene(g, SHAPE, rings, np.array([-1.0]), fwhm_inv_angstrom=0.1, seed=1)
    clean = next(sf.clean_frames(scene, oversample=3))
    mask = sf.beam_stop(scene, 2.0)
    q_range = im.default_q_range(g, SHAPE, mask)
    for split, correlation in (("bbox", (0.2, 0.5)), ("no", (0.0, 1e-9))):
        integ = im.build_integrator(g, SHAPE, mask, q_range, im.default_bins(g, q_range), split)
        mine = integ.profile(clean)
        ref = g.integrator(SHAPE).integrate1d(clean, im.default_bins(g, q_range), unit="q_A^-1",
                                              radial_range=q_range, mask=mask.astype(np.int8),
                                              method=(split, "csr", "cython"))
        keep = ref.sum_normalization > 0
        assert np.allclose(mine, ref.intensity[keep], rtol=1e-5)
        assert correlation[0] <= integ.adjacent_bin_correlation() <= correlation[1]
    q = integ.q_inv_angstrom
    model = scene.peak_counts * sf.radial_intensity(scene, q, 0.0)
    for qr in (2.0, 3.2):  # ring areas above the background: pixel averaging moves intensity, it keeps the area
        win = np.abs(q - qr) < 0.4
        back = scene.peak_counts * scene.background_fraction * np.exp(-q[win] / 3.0)
        area = np.trapezoid(mine[win] - back, q[win])
        assert area == pytest.approx(np.trapezoid(model[win] - back, q[win]), rel=0.02)


@pytest.mark.parametrize("offset", [(0.0, 0.0), (3.0, 0.0), (-2.0, 2.5)])
def test_geometry_check_finds_the_beam_centre(crystal, offset):
    """A centre given off by 3 px is reported and the refined centre is within 0.1 px of the truth."""
    g = kev_geometry()
    atoms = read_structure(crystal)
    scene = sf.scene_for(atoms, g, SHAPE, np.array([-1.0]), KEV, fwhm_inv_angstrom=0.1, peak_counts=20000.0, seed=2)
    frame = next(sf.render(scene))[2] - sf.dark_frame(scene)
    mask = sf.beam_stop(scene, 2.0)
    rings = prof.rings_from_cell(prof.cell_from_atoms(atoms), KEV, 1.0, 6.0, 0.1, 0.02)
    given = g.moved(g.center_x_px + offset[0], g.center_y_px + offset[1], g.distance_mm)
    check = check_geometry(frame, mask, given, np.array([r.q_inv_angstrom for r in rings]), [r.label for r in rings])
    assert check.needs_correction == (offset != (0.0, 0.0))
    assert check.refined.center_x_px == pytest.approx(g.center_x_px, abs=0.1)
    assert check.refined.center_y_px == pytest.approx(g.center_y_px, abs=0.1)
    assert check.refined.distance_mm == pytest.approx(g.distance_mm, rel=2e-3)


def test_rejection_and_errors_from_the_scatter():
    """One spoiled frame of 30 is rejected; the pooled error is σ/√n of the Gaussian noise put in."""
    rng = np.random.default_rng(0)
    delays = np.repeat(np.arange(10.0), 3)
    sigma = 0.5 + 0.01 * np.arange(200)
    profiles = 100 + np.arange(10.0)[:, None].repeat(3, 0) + sigma * rng.standard_normal((30, 200))
    profiles[7] *= 1.02  # a beam fluctuation of 2 % on one shot, 4σ per point
    scores = im.outlier_scores(profiles, delays)
    rejected, _ = im.reject(scores, 6.0)
    assert np.flatnonzero(rejected).tolist() == [7]
    avg = im.average_by_delay(profiles[~rejected], delays[~rejected])
    ratio = avg.error[avg.n_frames == 3] / (sigma / np.sqrt(3))
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)



def test_q_window_normalisation_and_dark_folder(tmp_path):
    """Frames scaled by known factors come back to one scale; a dark folder is the mean of its frames."""
    from nclattice.tasks.frames import read_dark

    g = kev_geometry()
    scene = sf.Scene(g, SHAPE, (prof.Ring("a", (1, 1, 1), 8, 2.0, 1.0),), np.array([-1.0]), seed=3)
    clean = next(sf.clean_frames(scene))
    q_range = im.default_q_range(g, SHAPE, None)
    integ = im.build_integrator(g, SHAPE, None, q_range, 80)
    scale = np.array([0.8, 1.0, 1.3])
    profiles = np.array([integ.profile(clean * k) for k in scale])
    factors = im.normalization_factors(profiles, integ, "q-window", (1.0, 3.0))
    assert factors * scale == pytest.approx(np.full(3, (factors * scale)[0]), rel=1e-9)
    for k in range(2):
        tifffile.imwrite(tmp_path / f"d{k}.tif", np.full(SHAPE, 10.0 + 4 * k, np.float32))
    dark, n = read_dark(tmp_path, SHAPE)
    assert n == 2 and np.allclose(dark, 12.0)

def test_tiff_folder_end_to_end(tiff_series, crystal, tmp_path, capsys):
    """PONI, mask, dark, --structure: the streak frame is listed, Δ⟨u²⟩ follows the truth with calibrated errors."""
    root, scene = tiff_series
    out = tmp_path / "out"
    rc = cli(["ued", "images", str(root / "frames"), "--delay-pattern", "delay_{delay}ps.tif", "--poni",
              str(root / "mev.poni"), "--mask", str(root / "mask.tif"), "--dark", str(root / "dark.tif"),
              "--structure", str(crystal), "--out", str(out)])
    assert rc == 0
    r = read_json(out / "images.json")
    assert [f["frame"] for f in r["rejected"]] == ["scan_02/delay_+0002.000ps.tif"]
    assert not r["geometry_check"]["needs_correction"]
    ued = read_json(out / "ued.json")
    msd, err = np.array(ued["delta_msd_angstrom2"]), np.array(ued["delta_msd_stderr"])
    truth = scene.delta_msd()
    late = DELAYS >= 30
    assert msd[late].mean() == pytest.approx(scene.plateau_msd_angstrom2, rel=0.2)
    z = (msd - truth)[DELAYS > 0] / err[DELAYS > 0]
    assert np.all(np.abs(z) < 4)
    with h5py.File(out / "profiles.h5") as h:  # the layout `ued profiles` reads, with errors
        assert h["intensity"].shape == h["error"].shape == (DELAYS.size, h["q_inv_angstrom"].size)
        assert h["frames_per_delay"][()].tolist() == [3, 3, 3, 2, 3, 3, 3]
    assert (out / "images_qa.png").stat().st_size > 10_000
    assert "1 frame(s) rejected: scan_02/delay_+0002.000ps.tif" in capsys.readouterr().out


def test_hdf5_stack_with_refinement_and_monitor(crystal, tmp_path):
    """keV stack, explicit geometry 3 px off: --refine-geometry puts the centre back; monitor normalisation."""
    g = kev_geometry()
    scene = sf.scene_for(read_structure(crystal), g, SHAPE, DELAYS[[0, 1, 3, 6]], KEV, fwhm_inv_angstrom=0.1,
                         peak_counts=4000.0, seed=6)
    sf.write_hdf5_stack(scene, tmp_path / "stack.h5", 2)
    with h5py.File(tmp_path / "stack.h5", "a") as h:
        h["monitor"] = np.linspace(0.9, 1.1, h["images"].shape[0])
    sf.write_mask(scene, tmp_path / "mask.tif")
    out = tmp_path / "out"
    rc = cli(["ued", "images", str(tmp_path / "stack.h5"), "--center", f"{g.center_x_px + 3}", f"{g.center_y_px}",
              "--distance-mm", f"{g.distance_mm}", "--pixel-um", f"{g.pixel_x_um}", "--energy-kev", "60",
              "--mask", str(tmp_path / "mask.tif"), "--structure", str(crystal), "--refine-geometry",
              "--normalize", "monitor", "--monitor", "monitor", "--scans", "scans", "--out", str(out)])
    assert rc == 0
    r = read_json(out / "images.json")
    assert r["geometry_check"]["needs_correction"]
    assert r["geometry"]["center_px"] == pytest.approx([g.center_x_px, g.center_y_px], abs=0.1)
    assert not r["geometry_check_after_refinement"]["needs_correction"]
    assert r["normalization"]["factor_range"] == pytest.approx([1 / 1.1, 1 / 0.9], rel=1e-6)


# ---------------------------------------------------------------- bad input: one sentence, exit 2, nothing written
def _spoil(kind: str, root, tmp_path):
    frames = tmp_path / "frames"
    import shutil

    shutil.copytree(root / "frames", frames)
    args = [str(frames), "--delay-pattern", "delay_{delay}ps.tif", "--poni", str(root / "mev.poni")]
    first = sorted(frames.rglob("*.tif"))[0]
    if kind == "shape":
        tifffile.imwrite(first, np.zeros((SHAPE[0], SHAPE[1] - 1), np.uint16))
    elif kind == "pattern":
        args[2] = "frame_{delay}fs.tif"
    elif kind == "poni":
        (tmp_path / "bad.poni").write_text("# just a note\nwavelength = 1\n")
        args[4] = str(tmp_path / "bad.poni")
    elif kind == "mask":
        np.save(tmp_path / "mask.npy", np.zeros((10, 10)))
        args += ["--mask", str(tmp_path / "mask.npy")]
    elif kind == "nan":
        tifffile.imwrite(first, np.where(np.eye(*SHAPE) > 0, np.nan, 5.0).astype(np.float32))
    return args


@pytest.mark.parametrize("kind, words", [("shape", "has shape"), ("pattern", "matches no TIFF file"),
                                         ("poni", "is not a PONI file"), ("mask", "--mask"),
                                         ("nan", "NaN or infinite pixels")])
def test_bad_folder_input(tiff_series, tmp_path, capsys, kind, words):
    root, _ = tiff_series
    args = _spoil(kind, root, tmp_path)
    out = tmp_path / "out"
    assert cli(["ued", "images", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not out.exists()


def test_missing_hdf5_dataset(tmp_path, capsys):
    with h5py.File(tmp_path / "s.h5", "w") as h:
        h["data"] = np.zeros((2, 20, 20))
        h["delays_ps"] = [-1.0, 1.0]
    out = tmp_path / "out"
    rc = cli(["ued", "images", str(tmp_path / "s.h5"), "--images", "entry/data", "--center", "10", "10",
              "--distance-mm", "200", "--pixel-um", "50", "--energy-kev", "60", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--images 'entry/data' is not a dataset" in err[0]
    assert not out.exists()


def test_plain_help_does_not_import_pyfai():
    code = ("import sys; from nclattice.cli import main; main(['--help']); main(['ued', 'images', '--help']); "
            "print('pyFAI' in sys.modules, 'fabio' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().endswith("False False")


def test_campaign_item(tiff_series, crystal, tmp_path):
    """`run: ued-images` in a campaign: validated by the settings model, keyed on the frames' contents."""
    import shutil

    from nclattice.flows.campaign import item_key, item_settings, load_campaign
    from nclattice.flows.registry import capability
    from nclattice.flows.settings import UedImagesSettings

    root, _ = tiff_series
    shutil.copytree(root, tmp_path / "data")
    shutil.copy(crystal, tmp_path / "pbse.extxyz")
    spec = tmp_path / "c.yaml"
    spec.write_text("name: frames\nstructures:\n  pbse: {file: pbse.extxyz}\nanalyses:\n  - run: ued-images\n"
                    "    name: images\n    args: [data/frames]\n    with: {delay-pattern: 'delay_{delay}ps.tif', "
                    "poni: data/mev.poni, mask: data/mask.tif, reject-threshold: 0}\n")
    c = load_campaign(spec)
    it = c.items[0]
    key = item_key(c, it, {})
    first = sorted((tmp_path / "data" / "frames").rglob("*.tif"))[0]
    tifffile.imwrite(first, tifffile.imread(first) + 1)
    assert item_key(c, it, {}) != key
    settings = UedImagesSettings.parse(item_settings(c, it, tmp_path / "out"))
    r = capability("ued-images").run(settings, tmp_path / "out", data=[str(tmp_path / "data" / "frames")])
    assert r["n_frames"] == 21 and r["n_rejected"] == 0
    assert capability("ued-images").load(tmp_path / "out").headline().startswith("21 frames integrated into 7 delays")


def test_index_csv_without_structure(tiff_series, tmp_path):
    """Delays and scans from an index CSV (files relative to it); no structure: profiles only."""
    root, _ = tiff_series
    files = sorted((root / "frames").rglob("*.tif"))
    lines = ["file,delay_ps,scan,monitor"]
    for k, f in enumerate(files):
        lines.append(f"{f.relative_to(root).as_posix()},{float(f.stem.split('_')[1].removesuffix('ps')):g},"
                     f"{f.parent.name},{1 + 0.01 * k}")
    (root / "index.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    rc = cli(["ued", "images", str(root / "frames"), "--index", str(root / "index.csv"), "--poni",
              str(root / "mev.poni"), "--mask", str(root / "mask.tif"), "--normalize", "monitor", "--out", str(out)])
    assert rc == 0
    r = read_json(out / "images.json")
    assert r["delays_ps"] == pytest.approx(DELAYS.tolist()) and r["n_frames"] == 21
    assert r["geometry_check"] is None and not (out / "ued.json").exists()
    assert r["normalization"]["factor_range"][1] / r["normalization"]["factor_range"][0] == pytest.approx(1.2)


def test_delays_share_the_reference_error():
    """Every −ln(I/I0) holds the same +ln I0: with equal relative errors σ at each delay and σ0 in I0,
    two delays' Δ⟨u²⟩ correlate by σ0²/(σ² + σ0²) (analytic), and Monte-Carlo draws agree."""
    from nclattice.tasks import ued

    q = np.array([1.5, 2.0, 2.5, 3.0, 3.5])
    truth = np.exp(-q**2 * 0.006 / 3)
    sigma, sigma0, n_draws = 0.02, 0.01, 1500
    rng = np.random.default_rng(3)
    cov_one = np.diag((truth * np.hypot(sigma, sigma0)) ** 2)
    msd = np.empty((n_draws, 2))
    for k in range(n_draws):
        ln_i0 = rng.normal(0, sigma0, q.size)
        ratios = truth * np.exp(rng.normal(0, sigma, (2, q.size)) - ln_i0)
        series = ued.UedSeries(np.array([1.0, 2.0]), tuple("abcde"), q, ratios, np.sqrt(np.diag(cov_one)) + 0 * ratios,
                               covariance=np.array([cov_one, cov_one]))
        dw = ued.analyze_series(series, q2_max_fit=20.0)
        msd[k] = dw.column("delta_msd_angstrom2")
    cov = ued.delay_covariance(series, dw, np.eye(q.size) * sigma0**2)
    rho = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    assert rho == pytest.approx(sigma0**2 / (sigma**2 + sigma0**2), abs=0.02)
    assert np.corrcoef(msd.T)[0, 1] == pytest.approx(rho, abs=0.08)          # 1500 draws: ±0.025 (1σ)
    assert np.sqrt(cov[0, 0]) == pytest.approx(msd[:, 0].std(), rel=0.1)
    white = np.array([ued.whitened_residuals(m - 0.006, cov) for m in msd])
    assert np.cov(white.T) == pytest.approx(np.eye(2), abs=0.12)
    _, err = ued.correlated_mean(msd[0], cov)
    assert err**2 == pytest.approx((cov[0, 0] * cov[1, 1] - cov[0, 1] ** 2) / (cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))
    assert err**2 > (cov[0, 0] ** -1 + cov[1, 1] ** -1) ** -1  # more than if the two were independent
