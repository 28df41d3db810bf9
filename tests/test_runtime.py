"""Runtime robustness: worker paths, the cache and its locks, worker limits, signals, file modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nclattice.tasks.md import MDSettings, run_nvt

TINY_MD = dict(equilibration_ps=0.2, production_ps=0.4, seed=11)


def test_md_runs_in_a_relative_work_folder_whose_name_has_a_space_and_an_accent(tmp_path, monkeypatch, nc, sw):
    home = tmp_path / "run dir é"
    home.mkdir()
    monkeypatch.chdir(home)
    traj = run_nvt(nc, sw, MDSettings(300, **TINY_MD), workdir="cal é/runs/md/key/work")
    assert traj.n_frames == 20 and np.isfinite(traj.positions_angstrom).all()
    assert (home / "cal é" / "runs" / "md" / "key" / "work" / "log.lammps").is_file()


RACE_SCRIPT = r"""
import hashlib, json, sys, time
from pathlib import Path
from nclattice.flows.mdruns import cached_md
from nclattice.potentials import load
from nclattice.structures import build_cdse_cds
from nclattice.tasks.md import MDSettings

root, me = Path(sys.argv[1]), sys.argv[2]
atoms, sw = build_cdse_cds(1.5, 1), load("zhou2013-sw")
(root / f"ready-{me}").touch()
while len(list(root.glob("ready-*"))) < 2:  # start both requests at the same moment
    time.sleep(0.01)
traj, directory, was_cached = cached_md(atoms, sw, MDSettings(300, equilibration_ps=0.5, production_ps=2, seed=5),
                                        root / "runs")
digest = hashlib.sha256(traj.positions_angstrom.astype("<f4").tobytes()).hexdigest()
print(json.dumps({"cached": was_cached, "digest": digest, "dir": str(directory)}))
"""


def test_two_processes_asking_for_one_md_key_compute_it_once(tmp_path):
    import json
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", RACE_SCRIPT, str(tmp_path), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sorted(r["cached"] for r in results) == [False, True]  # one computed, the other waited
    assert results[0]["digest"] == results[1]["digest"] and results[0]["dir"] == results[1]["dir"]
    assert len(list((tmp_path / "runs" / "md").glob("*/log.lammps"))) == 1


def test_a_corrupted_or_truncated_cached_md_run_is_recomputed_not_used(tmp_path, nc, sw):
    from nclattice.flows.mdruns import cached_md

    settings = MDSettings(300, **TINY_MD)
    first, directory, was_cached = cached_md(nc, sw, settings, tmp_path)
    assert not was_cached
    npz = directory / "trajectory.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    npz.write_bytes(bytes(data))
    again, _, was_cached = cached_md(nc, sw, settings, tmp_path)
    assert not was_cached and np.array_equal(first.positions_angstrom, again.positions_angstrom)
    (directory / "result.json").write_text('{"key": "trunc')
    third, _, was_cached = cached_md(nc, sw, settings, tmp_path)
    assert not was_cached and np.array_equal(first.positions_angstrom, third.positions_angstrom)
    assert cached_md(nc, sw, settings, tmp_path)[2]  # and now it is cached again


def test_cache_key_covers_the_version_and_canonical_numbers(monkeypatch):
    import nclattice.provenance as prov

    assert prov.input_key({"size_nm": 6}) == prov.input_key({"size_nm": 6.0})
    assert prov.input_key({"size_nm": 6}) != prov.input_key({"size_nm": 6.5})
    before = prov.input_key({"size_nm": 6})
    monkeypatch.setattr(prov, "__version__", "999.0")
    assert prov.input_key({"size_nm": 6}) != before


def test_cache_lock_makes_threads_wait_and_load_instead_of_recomputing(tmp_path):
    import json
    import threading

    from nclattice.cache import cached

    calls = []

    def compute(directory):
        calls.append(1)
        threading.Event().wait(0.3)
        (directory / "value.json").write_text(json.dumps({"v": 42}))
        return {"kind": "test"}

    def load_value(directory):
        return json.loads((directory / "value.json").read_text())["v"]

    out = []
    threads = [threading.Thread(target=lambda: out.append(cached(tmp_path, "t", "k", compute, load_value)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and [o[0] for o in out] == [42, 42, 42]
    assert sorted(o[2] for o in out) == [False, True, True]


def _worker_processes():
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "nclattice.tasks.lammps_worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def _max_concurrent_workers(nc, sw, limit):
    import threading

    settings = MDSettings(300, equilibration_ps=0.5, production_ps=2, seed=3)
    threads = [threading.Thread(target=run_nvt, args=(nc, sw, settings), kwargs={"max_workers": limit})
               for _ in range(2)]
    for t in threads:
        t.start()
    peak = 0
    while any(t.is_alive() for t in threads):
        peak = max(peak, len(_worker_processes()))
        threading.Event().wait(0.01)
    return peak


def test_a_worker_limit_of_one_serialises_concurrent_md_runs(tmp_path, monkeypatch, nc, sw):
    monkeypatch.setenv("NCLATTICE_RUNTIME_DIR", str(tmp_path))  # slots of this test alone
    assert _max_concurrent_workers(nc, sw, limit=2) == 2  # the probe sees overlap when allowed
    assert _max_concurrent_workers(nc, sw, limit=1) == 1
    monkeypatch.setenv("NCLATTICE_MAX_WORKERS", "0")
    with pytest.raises(Exception, match="NCLATTICE_MAX_WORKERS must be a positive"):
        run_nvt(nc, sw, MDSettings(300, **TINY_MD))


def test_a_worker_killed_by_a_signal_is_reported_as_such_not_as_a_timeout(nc, sw):
    import signal

    from nclattice.tasks.md import MDError

    def kill_worker(_line):
        for proc in _worker_processes():
            proc.send_signal(signal.SIGSEGV)

    with pytest.raises(MDError, match="killed by signal SIGSEGV"):
        run_nvt(nc, sw, MDSettings(300, equilibration_ps=0.5, production_ps=4, seed=3), timeout_s=300,
                progress=kill_worker)


def test_result_files_follow_the_umask(tmp_path):
    import os

    from nclattice.results import save_arrays, write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "result.json", {"a": 1})
        save_arrays(tmp_path / "a.npz", x=np.arange(3))
        os.umask(0o077)
        write_json(tmp_path / "private.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "result.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600


def test_sigterm_stops_the_whole_calibrate_tree_and_a_rerun_resumes(tmp_path, nc):
    """Relative --out in a folder named with a space and an accent; SIGTERM once a worker runs."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from nclattice.structio import write_structure

    home = tmp_path / "run dir é"
    home.mkdir()
    write_structure(nc, home / "cs.extxyz")
    cmd = [sys.executable, "-m", "nclattice", "calibrate", "cs.extxyz", "--temperatures", "150,300,450",
           "--equilibration-ps", "1", "--production-ps", "4", "--out", "cal"]
    env = dict(os.environ, NCLATTICE_MAX_WORKERS="1", NCLATTICE_RUNTIME_DIR=str(tmp_path / "slots"))
    proc = subprocess.Popen(cmd, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    main, deadline, tree = psutil.Process(proc.pid), time.monotonic() + 240, []
    while time.monotonic() < deadline and proc.poll() is None:
        tree = main.children(recursive=True)
        if any("lammps_worker" in " ".join(p.cmdline()) for p in tree if p.is_running()):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "calibrate ended before a worker started"
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # the fault: the main process lives on; clean up, then fail
        for p in [main, *main.children(recursive=True), *tree]:
            try:
                p.kill()
            except psutil.Error:
                pass
        raise
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM and not alive, (proc.returncode, alive)
    stop_lines = [ln for ln in err.splitlines() if ln.startswith("nclattice: stopped by SIGTERM")]
    assert len(stop_lines) == 1 and "nclattice calibrate cs.extxyz" in stop_lines[0]
    assert not (home / "cal" / "calibration.json").exists()
    assert not [p for p in home.rglob("*.part*")]  # no half-written file left behind
    rerun = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, timeout=400)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert (home / "cal" / "calibration.json").stat().st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    from nclattice.atomicio import current_umask

    return current_umask()


def _non_loopback_listeners(processes) -> set:
    import ipaddress

    import psutil

    found = set()
    for proc in processes:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and not ipaddress.ip_address(conn.laddr.ip).is_loopback:
                    found.add((proc.name(), conn.laddr.ip, conn.laddr.port))
        except psutil.Error:
            pass
    return found


def test_single_rank_lammps_listens_on_no_network_port(nc, sw, monkeypatch):
    """The MD worker while it runs, and an in-process LAMMPS (phonons), open no external port."""
    import subprocess
    import sys
    import threading

    import psutil

    for name in ("MPIR_CVAR_CH4_NETMOD", "FI_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    seen, done = set(), threading.Event()

    def watch():
        while not done.is_set():
            seen.update(_non_loopback_listeners(_worker_processes()))
            done.wait(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_nvt(nc, sw, MDSettings(300, equilibration_ps=0.5, production_ps=3, seed=2))
    finally:
        done.set()
        watcher.join()
    assert not seen
    code = ("import os, sys; from nclattice.tasks.lammps_env import load_lammps; "
            "lmp = load_lammps()(cmdargs=['-log', 'none', '-screen', 'none']); "
            "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.readline()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert not _non_loopback_listeners([psutil.Process(proc.pid)])
    finally:
        proc.communicate("\n", timeout=60)


def test_git_commit_is_recorded_only_for_nclattice_own_checkout(tmp_path):
    import shutil
    import subprocess

    import nclattice
    from nclattice.provenance import git_commit

    package = Path(nclattice.__file__).parent
    if (package / ".git").exists():  # a source checkout: its own commit is recorded
        assert len(git_commit(package).split("-")[0]) == 40
    outer = tmp_path / "lab-analysis"  # an installed copy inside someone else's repository
    copy = outer / "site-packages" / "nclattice"
    copy.mkdir(parents=True)
    shutil.copy(package / "pyproject.toml", copy / "pyproject.toml")
    (outer / "notes.txt").write_text("x")
    git = ["git", "-C", str(outer), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    assert git_commit(copy) is None
    other = tmp_path / "other"  # the top of a work tree, but not nclattice
    other.mkdir()
    (other / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    subprocess.run(["git", "-C", str(other), "init", "-q"], check=True)
    assert git_commit(other) is None


def test_figures_leave_the_matplotlib_backend_and_pyplot_alone(tmp_path):
    import subprocess
    import sys

    code = """
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
from nclattice.results import pyplot, save_figure
fig, ax = pyplot().subplots(1, 2, figsize=(4, 3), sharey=True)
ax[0].plot([0, 1], [0, 1])
save_figure(fig, sys.argv[1])
print(matplotlib.get_backend(), len(plt.get_fignums()))
"""
    out = subprocess.run([sys.executable, "-c", "import sys\n" + code, str(tmp_path / "f.png")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["svg", "0"]
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def _damaged_files(folder: Path, nc) -> dict[str, bytes]:
    from nclattice.structio import write_structure

    good_xyz = write_structure(nc, folder / "good.extxyz").read_bytes()
    good_data = write_structure(nc, folder / "good.data").read_bytes()
    cut_data = good_data[:good_data.index(b"Atoms")] + b"Atoms\n\n1 1 0.0 0.0 0.0\n"
    return {
        "empty.extxyz": b"", "blank.extxyz": b"\n \n", "truncated.extxyz": good_xyz[:len(good_xyz) // 2],
        "header-only.extxyz": good_xyz[:good_xyz.index(b"\n", good_xyz.index(b"\n") + 1) + 1],
        "binary.extxyz": bytes(range(256)) * 8, "text.extxyz": b"hello world\nnot a structure\n",
        "bad-utf8.extxyz": good_xyz[:120] + b"\xff\xfe" + good_xyz[122:],
        "empty.data": b"", "truncated.data": good_data[:len(good_data) // 2], "cut-atoms.data": cut_data,
        "binary.data": bytes(range(256)) * 8,
    }


def test_empty_truncated_or_corrupt_structure_files_give_one_sentence(tmp_path, nc):
    from nclattice.errors import NclatticeError
    from nclattice.structio import read_structure

    for name, content in _damaged_files(tmp_path, nc).items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(NclatticeError) as info:
            read_structure(path)
        message = str(info.value)
        assert name in message and "\n" not in message and message.isprintable(), message
        assert len(message.replace(str(tmp_path), "")) < 200, message
        assert "hello" not in message and "None" not in message, message
    assert len(read_structure(tmp_path / "good.extxyz")) == len(nc)
    assert len(read_structure(tmp_path / "good.data")) == len(nc)


def test_hkl_boxes_of_wurtzite_cdse_use_a_and_c(tmp_path):
    """(002) at 2π/(c/2) and (100) at 4π/(√3 a), where the crystal's own Bragg peaks are."""
    from nclattice.structio import read_structure, write_structure
    from nclattice.structures import build_cdse
    from nclattice.tasks.diffraction import box_around, crystal_cell

    atoms = read_structure(write_structure(build_cdse(3.0), tmp_path / "cdse.extxyz"))
    a, c = atoms.info["a_angstrom"], atoms.info["c_angstrom"]
    cell = crystal_cell(atoms.info)
    g002 = np.array(box_around((0, 0, 2), cell, 0.1, 5).center_inv_angstrom)
    g100 = np.array(box_around((1, 0, 0), cell, 0.1, 5).center_inv_angstrom)
    assert np.linalg.norm(g002) == pytest.approx(2 * np.pi / (c / 2), rel=1e-9)
    assert np.linalg.norm(g002) == pytest.approx(1.79, abs=0.01)
    assert np.linalg.norm(g100) == pytest.approx(4 * np.pi / (np.sqrt(3) * a), rel=1e-9)
    cd = atoms.positions[np.array(atoms.get_chemical_symbols()) == "Cd"]
    for g in (g002, g100):  # the Cd sublattice's intensity peaks at the box centre (±1 %)
        scale = np.linspace(0.9, 1.1, 201)
        intensity = [abs(np.exp(1j * cd @ (s * g)).sum()) ** 2 for s in scale]
        assert scale[int(np.argmax(intensity))] == pytest.approx(1.0, abs=0.01)
    assert np.allclose(crystal_cell({"a_angstrom": 6.1, "lattice": "zincblende"}), 6.1 * np.eye(3))


def test_a_peak_shift_beyond_its_box_is_flagged_not_reported_silently():
    from nclattice.tasks.diffraction import QBox, peak_shift

    box = QBox((2.0, 0.0, 0.0), 0.3, 21, label="200")
    q = box.vectors() - np.array(box.center_inv_angstrom)
    dark = np.exp(-(q**2).sum(-1) / (2 * 0.05**2))
    d_along = np.gradient(dark, box.step_inv_angstrom)[0]
    for delta, flagged in ((0.01, False), (-0.2, False), (-3.0, True)):
        pumped = dark - delta * d_along  # exactly the linear model of a rigid shift by delta
        result = peak_shift(box, dark, pumped)
        assert result["shift_inv_angstrom"] == pytest.approx(delta, rel=1e-9)
        assert bool(result["warning"]) is flagged, result["warning"]
    assert "200" in result["warning"] and "-3 1/Å" in result["warning"]


def test_polaron_diffraction_prints_and_stores_the_warning(tmp_path, capsys):
    import json

    from nclattice.cli import main
    from nclattice.structio import write_structure
    from nclattice.structures import build_cspbbr3_cube

    singlet = build_cspbbr3_cube(3, "tetra")
    triplet = singlet.copy()
    triplet.positions = 1.3 * singlet.positions  # 30 % expansion: the peaks leave their boxes
    write_structure(singlet, tmp_path / "spin" / "singlet.extxyz")
    write_structure(triplet, tmp_path / "spin" / "triplet.extxyz")
    out = tmp_path / "out"
    assert main(["polaron-diffraction", "--model", "dft", "--spin-dir", str(tmp_path / "spin"), "--points", "11",
                 "--half-width", "0.3", "--hkl", "200", "--out", str(out)]) == 0
    summary = json.loads((out / "result.json").read_text())
    assert summary["warnings"] and summary["peak_shifts"]["200"]["warning"]
    assert json.loads((out / "peak_shifts.json").read_text())["200"]["warning"]
    assert "warning: (200)" in capsys.readouterr().out


def test_a_species_that_did_not_move_is_not_coloured_by_noise():
    from nclattice.tasks.spin import plot_displacement

    rng = np.random.default_rng(1)
    coords = rng.normal(size=(40, 3)) * 5
    u = np.zeros((40, 3))
    u[:20, 0] = rng.normal(size=20) * 2e-6  # Cs: numerical noise only
    u[20:, 0] = coords[20:, 0] * 1e-3  # Pb: a real expansion
    fig = plot_displacement(coords, u, ["Cs"] * 20 + ["Pb"] * 20)
    panels = fig.axes[:4] if len(fig.axes) == 4 else [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 1  # Pb's panel only
    assert any("no displacement" in t.get_text() for ax in panels for t in ax.texts)


def test_a_worker_ends_when_its_parent_is_killed_with_sigkill(tmp_path):
    import subprocess
    import sys
    import time

    import psutil

    code = ("from nclattice.potentials import load; from nclattice.structures import build_cdse_cds;"
            "from nclattice.tasks.md import MDSettings, run_nvt;"
            "run_nvt(build_cdse_cds(1.5, 1), load('zhou2013-sw'),"
            "        MDSettings(300, equilibration_ps=300, production_ps=1))")
    parent = subprocess.Popen([sys.executable, "-c", code])
    deadline, workers = time.monotonic() + 120, []
    while not workers and time.monotonic() < deadline and parent.poll() is None:
        workers = [p for p in psutil.Process(parent.pid).children()
                   if "lammps_worker" in " ".join(p.cmdline())]
        time.sleep(0.05)
    assert workers, "the worker did not start"
    parent.kill()
    parent.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)  # no output to fail on: only the kill ends it
    for proc in alive:
        proc.kill()
    assert not alive
