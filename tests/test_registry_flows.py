"""Every capability of the registry runs as a Prefect flow (``--prefect``) and is deployable: the
loop is over ``registry.CAPABILITIES`` itself, so a new capability without a tiny input here fails.

One local Prefect server for the module; inputs are tiny (seconds of work each). The full
deployment round trip (``prefect deploy``, a process worker) is tests/test_deployments.py; here
each flow's deployment entrypoint is loaded with Prefect's own loader, its parameter schema built
(what ``prefect deploy`` does) and the tiny parameters validated against it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nclattice.flows.registry import CAPABILITIES
from nclattice.structio import write_structure
from nclattice.structures import build_cdse, build_cdse_cds

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MD = {"equilibration-ps": 0.1, "production-ps": 0.2, "sample-every-fs": 20, "anneal-ps": 0.2}


def tiny_parameters(tmp: Path) -> dict[str, dict]:
    """Per capability: the parameters of its flow (inputs written under ``tmp``)."""
    small = str(write_structure(build_cdse(1.2), tmp / "cdse.extxyz"))
    crystal = str(write_structure(build_cdse_cds(2.0, 1), tmp / "cs.extxyz"))
    cal = str(EXAMPLES / "calibration_synthetic.json")
    profiles = [str(EXAMPLES / "cdse_cds_profiles_510nm.csv")]
    frames = EXAMPLES / "ued_frames"
    return {
        "calibrate": {"structure": small, "settings": {"temperatures": "200,300,400", **MD}},
        "delta-t": {"structure": small, "settings": MD},
        "phonons": {"structure": small, "settings": {"equilibration-ps": 0.1, "md-ps": 0.2, "window-ps": 0.1,
                                                     "anneal-ps": 0.2, "fmax": 1e-3}},
        "spin-relax": {"structure": str(EXAMPLES / "cs4pbbr6.extxyz"), "settings": {"fmax": 0.1}},
        "diffract": {"structure": small, "settings": {"powder": True, "q-points": 50}},
        "polaron-diffraction": {"settings": {"model": "orthorhombic", "sizes": "fixed:3", "samples": 1,
                                             "points": 9, "probe": "electron"}},
        "ued": {"data": [str(EXAMPLES / "cdse_cds_510nm_heating.csv")], "settings": {"calibration": cal}},
        "ued-profiles": {"data": profiles, "settings": {"structure": crystal, "calibration": cal}},
        "ued-decompose": {"data": profiles, "settings": {"structure": crystal, "calibration": cal}},
        "ued-images": {"data": [str(frames)], "settings": {"delay-pattern": "delay_{delay}ps.tif",
                                                           "poni": str(frames / "mev.poni"),
                                                           "mask": str(frames / "mask.tif")}},
        "kinetics-auger": {"settings": {"mean-excitons": 21, "tau-auger-ps": 625, "n-nc": 200, "n-times": 21}},
        "kinetics-trapping": {"settings": {"mean-excitons": 20, "tau-auger-ps": 625, "tau-trap-ps": 5,
                                           "n-nc": 100, "n-times": 21}},
        "kinetics-occupation": {"settings": {"gamma0-t": 1}},
        "kinetics-state-filling": {"settings": {"mean-excitations": 7.1, "p-trap": 0.15}},
    }


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    from nclattice.flows.prefect_server import local_prefect_server

    tmp = tmp_path_factory.mktemp("registry")
    with local_prefect_server() as url:
        yield url, tmp, tiny_parameters(tmp)


@pytest.mark.parametrize("name", list(CAPABILITIES))
def test_capability_runs_under_prefect_and_is_deployable(prefect_api, name):
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema

    from nclattice.flows import deployments as dep

    _, tmp, tiny = prefect_api
    cap = CAPABILITIES[name]
    assert name in tiny, f"add a tiny input for '{name}' to tiny_parameters"
    params = {**tiny[name], "out": str(tmp / name)}
    if cap.md_cache:
        params["results"] = str(tmp / "runs")
    flow = load_flow_from_entrypoint(f"nclattice.flows.deployments:{dep.attribute(cap)}")
    assert flow is dep.FLOWS[name] and flow.name == cap.prefect_name
    schema = parameter_schema(flow).model_dump()
    assert set(schema["properties"]) == set(params) | {"settings"}
    flow.validate_parameters(params)
    # what `nclattice <command> ... --prefect` calls
    dep.run_under_prefect(name, params["settings"], params["out"], structure=params.get("structure"),
                          data=params.get("data"), results=params.get("results"))
    cap.load(tmp / name)  # the result file is complete and loads as the capability's outcome


def test_every_flow_of_prefect_yaml_is_a_registry_flow():
    import yaml

    from nclattice.flows import deployments as dep

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    registry = {f"nclattice.flows.deployments:{dep.attribute(c)}" for c in CAPABILITIES.values()}
    extra = {"nclattice.flows.deployments:campaign_flow"}
    assert {d["entrypoint"] for d in spec["deployments"]} <= registry | extra
