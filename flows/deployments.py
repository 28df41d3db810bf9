"""Prefect flows of every capability, for deployments (prefect.yaml) and ``--prefect`` runs.

Each flow is a thin wrapper: it validates ``settings`` (option names as on the command line or
in a campaign's ``with:`` block) into the capability's settings model, checks the inputs, and
runs the same plain function the command line runs in-process. Importing this module imports
Prefect; callers set Prefect's environment first (``environment.configure_prefect``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from .registry import capability, preflight


def run_capability(name: str, settings: dict[str, Any] | None, out: str, *, structure: str | None = None,
                   data: list[str] | None = None, results: str | None = None) -> dict[str, Any]:
    cap = capability(name)
    parsed = cap.settings.parse(settings or {})
    preflight(cap, parsed, structure, data)
    return cap.run(parsed, Path(out), structure=structure, data=data, results=results)


@flow(name="calibration", log_prints=True)
def calibration_flow(structure: str, out: str, settings: dict[str, Any] | None = None,
                     results: str | None = None) -> dict[str, Any]:
    """MD temperature series -> Debye-Waller <u²>(T) calibration (OUT/calibration.json)."""
    return run_capability("calibrate", settings, out, structure=structure, results=results)


@flow(name="delta-t", log_prints=True)
def delta_t_flow(structure: str, out: str, settings: dict[str, Any] | None = None,
                 results: str | None = None) -> dict[str, Any]:
    """MD at T0 and T0 + ΔT -> ΔG(r) (OUT/delta_t.json, delta_g.csv)."""
    return run_capability("delta-t", settings, out, structure=structure, results=results)


@flow(name="phonons", log_prints=True)
def phonons_flow(structure: str, out: str, settings: dict[str, Any] | None = None,
                 results: str | None = None) -> dict[str, Any]:
    """Normal modes, DOS and lifetimes (OUT/phonons.json)."""
    return run_capability("phonons", settings, out, structure=structure, results=results)


@flow(name="spin-relax", log_prints=True)
def spin_relax_flow(structure: str, out: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Singlet and triplet relaxations and the displacement field (OUT/spin.json)."""
    return run_capability("spin-relax", settings, out, structure=structure)


@flow(name="diffraction", log_prints=True)
def diffraction_flow(structure: str, out: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Powder and 3D kinematic diffraction of one structure (OUT/result.json)."""
    return run_capability("diffract", settings, out, structure=structure)


@flow(name="polaron-diffraction", log_prints=True)
def polaron_diffraction_flow(out: str, settings: dict[str, Any]) -> dict[str, Any]:
    """ΔI around Bragg peaks for a polaron displacement model (OUT/peak_shifts.json)."""
    return run_capability("polaron-diffraction", settings, out)


@flow(name="ued-analyze", log_prints=True)
def ued_flow(data: list[str], out: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Debye-Waller analysis of UED time series, ΔT(t) with a calibration (OUT/ued.json)."""
    return run_capability("ued", settings, out, data=data)


@flow(name="kinetics", log_prints=True)
def kinetics_flow(model: str, out: str, settings: dict[str, Any]) -> dict[str, Any]:
    """One kinetic model: auger, trapping, occupation or state-filling (OUT/<model>.json)."""
    return run_capability(f"kinetics-{model}", settings, out)


@flow(name="campaign", log_prints=True)
def campaign_flow(spec: str, out: str) -> dict[str, Any]:
    """A campaign file (its items run as tasks of a sub-flow against the same API)."""
    from .campaign_run import run_campaign

    return run_campaign(spec, out)


FLOWS = {"calibrate": calibration_flow, "delta-t": delta_t_flow, "phonons": phonons_flow,
         "spin-relax": spin_relax_flow, "diffract": diffraction_flow,
         "polaron-diffraction": polaron_diffraction_flow, "ued": ued_flow}


def run_under_prefect(name: str, settings: dict[str, Any], out: str, *, structure: str | None = None,
                      data: list[str] | None = None, results: str | None = None) -> dict[str, Any]:
    """The capability as a Prefect flow run (tracked by the configured API)."""
    if name.startswith("kinetics-"):
        return kinetics_flow(model=name.removeprefix("kinetics-"), out=out, settings=settings)
    kwargs: dict[str, Any] = {"out": out, "settings": settings}
    if structure is not None:
        kwargs["structure"] = structure
    if data is not None:
        kwargs["data"] = data
    if capability(name).md_cache:
        kwargs["results"] = results
    return FLOWS[name](**kwargs)
