"""Running a campaign: items as Prefect tasks (threads here, or a Dask cluster), the index, the report.

Records. ``OUT/campaign.json`` is the campaign's index: one record per item (key, status, wall
time, the item's folder relative to OUT), rewritten atomically whenever an item finishes, so a
killed campaign keeps the records of what finished. Item folders hold only what the capability
itself writes (``OUT/items/NAME/``); nothing is deleted there, so a killed spin relaxation
resumes from its checkpoints. On a re-run an item is ``cached`` when its record carries the
same key and its result file still loads; anything else (changed inputs, a truncated file) is
recomputed, and MD runs still come from the shared cache ``OUT/runs/md/<key>/``.

Prefect. The items run inside one Prefect flow against one local server on loopback, started
for the run and killed with it (flows/prefect_server.py), unless ``PREFECT_API_URL`` names a
server already. A campaign whose items are all cached answers without starting Prefect.

One writer per OUT: the campaign holds the cache's lock of OUT (``OUT/.lock``, an flock holding
the writer's pid); a second campaign into the same OUT refuses with one line while it is held. The
OS releases it when the writer ends, however it ends, so there is no stale lock to clean.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from ..cache import LockHeld, key_lock
from ..environment import configure_prefect
from ..errors import NclatticeError
from ..provenance import input_key, provenance
from ..results import read_json, write_json
from ..structio import read_structure, write_structure
from .campaign import Campaign, Item, item_dir, item_key, item_settings, load_campaign, resolve
from .registry import capability, preflight
from .report import write_report


# ----------------------------------------------------------------------------- one writer per OUT
@contextmanager
def exclusive(out: Path):
    """Hold OUT's lock (:func:`nclattice.cache.key_lock`) for the block; refuse in one line if
    another campaign holds it. A killed campaign's lock is released by the OS."""
    try:
        with key_lock(out, wait=False):
            yield
    except LockHeld as held:
        pid = held.holder.split()[0] if held.holder else "unknown"
        raise NclatticeError(f"another campaign (pid {pid}) is writing to '{out}'; wait for it to finish "
                             "or use another --out.") from None


# ----------------------------------------------------------------------------- items
def _not_a_user_error(task, task_run, state) -> bool:
    """Retry infrastructure failures (a crashed worker), never a user error (it would fail again)."""
    try:
        state.result()
    except NclatticeError:
        return False
    except Exception:
        return True
    return False


def run_item(entry: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    """Run one capability of the campaign (here or on a Dask worker); returns its index record."""
    t0 = time.perf_counter()
    cap = capability(entry["analysis"])
    print(f"[{entry['name']}] started: {entry['analysis']}", flush=True)
    if call.get("campaign"):
        from .cluster import name_this_job

        name_this_job(call["campaign"], entry["name"])
    settings = cap.settings.parse(call["settings"])
    inputs = preflight(cap, settings, call.get("structure"), call.get("data"))
    cap.run(settings, Path(call["out"]), inputs=inputs, results=call.get("results"))
    return {**entry, "status": "completed", "wall_s": round(time.perf_counter() - t0, 2)}


def _call(c: Campaign, it: Item, out: Path) -> dict[str, Any]:
    """The arguments of an item's flow call, with every path resolved inside OUT or the spec's folder."""
    call: dict[str, Any] = {"settings": item_settings(c, it, out), "out": str(item_dir(out, it)), "campaign": c.name}
    if it.structure:
        call["structure"] = str(out / "structures" / f"{it.structure}.extxyz")
    if it.data:
        call["data"] = [resolve(d, c, out) for d in it.data]
    if it.capability.md_cache:
        call["results"] = str(out / "runs")
    return call


class Index:
    """campaign.json, rewritten (atomically) whenever an item finishes."""

    def __init__(self, path: Path, campaign: Campaign):
        self.path, self.lock = path, threading.Lock()
        self.entries: dict[str, dict] = {}
        self.campaign = campaign

    def set(self, name: str, entry: dict) -> None:
        with self.lock:
            self.entries[name] = entry
            order = [it.name for it in self.campaign.items]
            write_json(self.path, {"campaign": self.campaign.name, "spec": str(self.campaign.path),
                                   "schema_version": 2,
                                   "items": [self.entries[n] for n in order if n in self.entries]})


def _previous_records(out: Path) -> dict[str, dict]:
    """Records of the last run; an unreadable or truncated index counts as none."""
    try:
        return {r["name"]: r for r in read_json(out / "campaign.json")["items"] if isinstance(r, dict)}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _still_valid(out: Path, it: Item) -> bool:
    """The item's result file loads and holds its keys (a truncated or foreign file does not)."""
    try:
        it.capability.load(item_dir(out, it))
        return True
    except NclatticeError:
        return False


def _prepare(c: Campaign, out: Path) -> tuple[dict[str, str], dict[str, dict]]:
    """Write the structures; compute every item's key; collect the items already done."""
    for sname, atoms in c.atoms.items():
        target = out / "structures" / f"{sname}.extxyz"
        try:
            same = target.exists() and input_key(read_structure(target)) == input_key(atoms)
        except (NclatticeError, OSError, ValueError, StopIteration):
            same = False
        if not same:
            write_structure(atoms, target)
    keys: dict[str, str] = {}
    cached: dict[str, dict] = {}
    before = _previous_records(out)
    for it in c.items:
        keys[it.name] = item_key(c, it, keys)
        record = before.get(it.name, {})
        if record.get("key") == keys[it.name] and record.get("status") in ("completed", "cached") \
                and _still_valid(out, it):
            cached[it.name] = {k: record[k] for k in ("name", "analysis", "structure", "key", "result", "wall_s")
                               if k in record} | {"status": "cached"}
    return keys, cached


def _entry(it: Item, key: str) -> dict[str, Any]:
    return {"name": it.name, "analysis": it.analysis, "structure": it.structure, "key": key,
            "result": f"items/{it.name}"}


def _finish(c: Campaign, out: Path, index: Index, t_start: float) -> dict[str, Any]:
    result = {"campaign": c.name, "items": [index.entries[it.name] for it in c.items],
              "wall_s": round(time.perf_counter() - t_start, 2)}
    write_json(out / "campaign.json", {**result, "spec": str(c.path), "schema_version": 2,
                                       "provenance": provenance()})
    write_report(out, c.name, str(c.path), result, c)
    return result


# ----------------------------------------------------------------------------- the Prefect flow
def _flow_objects(task_runner=None):
    """The campaign flow and its item task (Prefect imported here, when a campaign really runs)."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.futures import as_completed
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect.tasks import exponential_backoff

    from ..tasks.md import cpu_count

    item_task = task(run_item, name="campaign-item", cache_policy=NO_CACHE, retries=2,
                     retry_delay_seconds=exponential_backoff(backoff_factor=5),
                     retry_condition_fn=_not_a_user_error)

    def body(spec: str, out: str) -> dict[str, Any]:
        t_start = time.perf_counter()
        c = load_campaign(spec)
        out_dir = Path(out).resolve()
        keys, cached = _prepare(c, out_dir)
        index = Index(out_dir / "campaign.json", c)
        futures: dict[str, Any] = {}
        for it in c.items:
            if it.name in cached:
                index.set(it.name, cached[it.name])
                print(f"[{len(index.entries)}/{len(c.items)}] {it.name}: cached", flush=True)
                continue
            waits = [futures[n] for n in it.needs if n in futures]
            futures[it.name] = item_task.submit(_entry(it, keys[it.name]), _call(c, it, out_dir), wait_for=waits)
        names = {id(f): n for n, f in futures.items()}
        for future in as_completed(list(futures.values())):
            it = next(i for i in c.items if i.name == names[id(future)])
            try:
                entry = future.result()
            except Exception as exc:
                entry = {**_entry(it, keys[it.name]), "status": "failed", "error": _one_line(exc)}
            index.set(it.name, entry)
            print(f"[{len(index.entries)}/{len(c.items)}] {it.name}: {entry['status']}"
                  + (f" ({entry['error']})" if entry["status"] == "failed" else f" in {entry['wall_s']} s"),
                  flush=True)
        return _finish(c, out_dir, index, t_start)

    runner = task_runner or ThreadPoolTaskRunner(max_workers=max(2, cpu_count()))
    return flow(body, name="campaign", task_runner=runner)


def _all_cached(c: Campaign, out: Path) -> dict[str, Any] | None:
    """A finished campaign needs no orchestration: answer from the records without starting Prefect."""
    t_start = time.perf_counter()
    _, cached = _prepare(c, out)
    if len(cached) < len(c.items):
        return None
    index = Index(out / "campaign.json", c)
    for i, it in enumerate(c.items, start=1):
        index.set(it.name, cached[it.name])
        print(f"[{i}/{len(c.items)}] {it.name}: cached", flush=True)
    return _finish(c, out, index, t_start)


def _one_line(exc: Exception) -> str:
    text = " ".join(line.strip() for line in str(exc).strip().splitlines())
    return text or type(exc).__name__


def _slurm_job(c: Campaign, profile):
    """The job each Slurm worker asks for; Slurm is asked now whether it accepts it (before any work)."""
    from .cluster import check_submission, item_resources, job_resources

    needs = {it.name: item_resources(it.settings, len(c.atoms[it.structure]) if it.structure else None)
             for it in c.items}
    job = job_resources(profile, needs)
    check_submission(profile, job)
    return job


def _slurm_runner(c: Campaign, profile, job, out: Path, stack: ExitStack):
    """Start the SLURMCluster (after the Prefect server: its jobs inherit PREFECT_API_URL)."""
    from prefect_dask import DaskTaskRunner

    from ..runtime import exit_now
    from .cluster import StartWatch, slurm_cluster

    log_dir = out / "slurm-logs"
    cluster = stack.enter_context(slurm_cluster(profile, job, c.name, log_dir))

    def give_up(message: str) -> None:  # from the watcher's thread: the flow itself is waiting on Dask
        try:
            cluster.close(timeout=30)  # scancels the campaign's jobs
        except Exception:  # ending anyway: a job left in the queue has no scheduler to join
            pass
        exit_now(f"error: {message}", 2)

    stack.enter_context(StartWatch(log_dir, f"ncl-{c.name}", give_up))
    print(f"Slurm: jobs of {job.cores} cores, {job.memory_gb:g} GB, walltime {round(job.walltime_s / 60)} min, "
          f"{profile.min_jobs}-{profile.max_jobs} at once; logs in {log_dir}", flush=True)
    return DaskTaskRunner(address=cluster.scheduler_address)


def run_campaign(spec: str, out: str, dask_address: str | None = None, cluster: str | None = None) -> dict[str, Any]:
    """Validate, take OUT's lock, and run: answered from the records, or as a Prefect flow (threads here,
    a Dask scheduler at ``dask_address``, or Slurm jobs from ``cluster`` (a profile file) or the
    campaign's own ``slurm:`` section)."""
    c = load_campaign(spec)
    out_dir = Path(out).resolve()
    profile = c.slurm
    if cluster:
        from .cluster import load_profile

        profile = load_profile(cluster)
    # Slurm is asked before anything is written: a refused job is one sentence and an untouched OUT
    job = _slurm_job(c, profile) if profile is not None and not dask_address else None
    with exclusive(out_dir), ExitStack() as stack:
        finished = _all_cached(c, out_dir)
        if finished is not None:
            return finished
        configure_prefect()
        if not os.environ.get("PREFECT_API_URL"):
            from .prefect_server import local_prefect_server

            stack.enter_context(local_prefect_server())
        runner = None
        if dask_address:
            from prefect_dask import DaskTaskRunner

            runner = DaskTaskRunner(address=dask_address)
        elif job is not None:
            runner = _slurm_runner(c, profile, job, out_dir, stack)
        return _flow_objects(runner)(spec=spec, out=str(out_dir))
