"""Prefect flows of every capability, for deployments (prefect.yaml) and ``--prefect`` runs.

One flow per entry of the registry, made here from the registry (nothing to keep in step by
hand): ``<flow name>_flow`` with the flow name of the capability, e.g. ``calibration_flow``,
``ued_analyze_flow``, ``kinetics_auger_flow``. Each is a thin wrapper: it validates ``settings``
(option names as on the command line or in a campaign's ``with:`` block) into the capability's
settings model, checks the inputs, and runs the same plain function the command line runs
in-process. Besides them: ``campaign_flow`` (a campaign file) and ``polaron_models_flow`` /
``polaron_ensemble_flow`` (several spin relaxations side by side). Importing this module imports
Prefect; callers set Prefect's environment first (``environment.configure_prefect``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from .outcomes import PolaronEnsembleOutcome
from .registry import CAPABILITIES, Capability, capability, preflight


def run_capability(name: str, settings: dict[str, Any] | None, out: str, *, structure: str | None = None,
                   data: list[str] | None = None, results: str | None = None) -> Any:
    cap = capability(name)
    parsed = cap.settings.parse(settings or {})
    inputs = preflight(cap, parsed, structure, data)
    return cap.run(parsed, Path(out), inputs=inputs, results=results)


def _signature(cap: Capability) -> Callable[..., Any]:
    """A function with the parameters a deployment of ``cap`` takes (Prefect builds its schema from them)."""
    name = cap.name
    if cap.inputs == "structure" and cap.md_cache:
        def run(structure: str, out: str, settings: dict[str, Any] | None = None, results: str | None = None):
            return run_capability(name, settings, out, structure=structure, results=results)
    elif cap.inputs == "structure":
        def run(structure: str, out: str, settings: dict[str, Any] | None = None):
            return run_capability(name, settings, out, structure=structure)
    elif cap.inputs == "data":
        def run(data: list[str], out: str, settings: dict[str, Any] | None = None):
            return run_capability(name, settings, out, data=data)
    else:
        def run(out: str, settings: dict[str, Any] | None = None):
            return run_capability(name, settings, out)
    run.__name__ = run.__qualname__ = attribute(cap)
    run.__doc__ = cap.help[:1].upper() + cap.help[1:] + "."
    return run


def attribute(cap: Capability) -> str:
    """The module attribute of the capability's flow (the ``entrypoint`` of its deployment)."""
    return cap.prefect_name.replace("-", "_") + "_flow"


FLOWS = {name: flow(name=cap.prefect_name, log_prints=True)(_signature(cap)) for name, cap in CAPABILITIES.items()}
_BY_ATTRIBUTE = {attribute(CAPABILITIES[name]): f for name, f in FLOWS.items()}


def __getattr__(name: str) -> Any:  # the entrypoints nclattice.flows.deployments:<flow name>_flow
    try:
        return _BY_ATTRIBUTE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted([*globals(), *_BY_ATTRIBUTE])


@flow(name="campaign", log_prints=True)
def campaign_flow(spec: str, out: str) -> dict[str, Any]:
    """A campaign file (its items run as tasks of a sub-flow against the same API)."""
    from .campaign_run import run_campaign

    return run_campaign(spec, out)


# ----------------------------------------------------------------------------- polaron ensembles
@flow(name="polaron-models", task_runner=ThreadPoolTaskRunner(max_workers=8), log_prints=True)
def polaron_ensemble_flow(structures: dict[str, str], out: str, backend: str = "xtb",
                          backend_settings: dict[str, Any] | None = None, fmax: float = 0.05,
                          max_steps: int = 500, charge: int = 0) -> PolaronEnsembleOutcome:
    """Named structures relaxed concurrently (one Prefect task each) into OUT/<name>/, averaged in
    OUT/polaron_models.json."""
    from .polaron import relax_model, summarize_models

    one = task(relax_model, name="spin-relax", cache_policy=NO_CACHE)
    futures = {name: one.submit(path, str(Path(out) / name), backend, backend_settings, fmax, max_steps, charge)
               for name, path in structures.items()}
    summary = summarize_models({name: f.result() for name, f in futures.items()})
    summary.to_json(Path(out))
    return summary


@flow(name="polaron-vacancy-models", log_prints=True)
def polaron_models_flow(cells: int = 5, vacancies: tuple[str, ...] = ("tetra", "box", "facet4"),
                        out: str = "results/polaron_models", backend: str = "xtb",
                        backend_settings: dict[str, Any] | None = None, fmax: float = 0.05,
                        max_steps: int = 500, charge: int = 0) -> PolaronEnsembleOutcome:
    """Several Cs-vacancy models of one CsPbBr3 cube relaxed side by side; relaxation energies averaged."""
    from .polaron import write_vacancy_models

    paths = write_vacancy_models(cells, vacancies, Path(out))
    return polaron_ensemble_flow(paths, out, backend, backend_settings, fmax, max_steps, charge)


def run_under_prefect(name: str, settings: dict[str, Any], out: str, *, structure: str | None = None,
                      data: list[str] | None = None, results: str | None = None) -> Any:
    """The capability as a Prefect flow run (tracked by the configured API)."""
    cap = capability(name)
    kwargs: dict[str, Any] = {"out": out, "settings": settings}
    if cap.inputs == "structure":
        kwargs["structure"] = structure
    if cap.inputs == "data":
        kwargs["data"] = data
    if cap.md_cache:
        kwargs["results"] = results
    return FLOWS[name](**kwargs)
