"""``--executor ray``: the grid's cells as tasks on a Ray cluster; the driver keeps the store and the cache.

The driver (this process) plans the grid, reads from its store the cells already finished and submits the rest:
per synthetic set (one ``set_key`` of the plan) one synthesis task, or with ``--split-synthesis`` one task per
batch, whose result reaches the cell tasks that use it through Ray's object store (a set already in the driver's
cache is put there instead); then one calibrate-and-evaluate task per cell. Nodes need no shared filesystem: the
driver alone writes the SQLite store (each row as it arrives) and the synthesis cache (each set as it arrives).

Faults: a worker that dies is retried by Ray (``max_retries``); a retry on the same machine resumes from the cell's
checkpoints (``--checkpoint-dir``, local to each node); a task's exception becomes the cell's failed row; Ctrl-C
cancels what is queued or running and keeps what finished; a killed driver loses nothing stored, and a rerun
computes only what is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from collections import defaultdict
from pathlib import Path

from dfqbench.errors import UserError
from dfqbench.runner.cell import RunSettings, failed_row, profile_of
from dfqbench.runner.plan import PlannedCell
from dfqbench.runner.ray_tasks import EventBoard, WorkerSpec, batch_task, cell_task, synthesis_task
from dfqbench.runner.run import GridReport, Reporter
from dfqbench.runner.split import batch_count
from dfqbench.store.sqlite import ResultStore

WAIT_S = 1.0
MAX_RETRIES = 3  # retries of a task whose worker died (Ray's default); a task's own exception is not retried


@dataclasses.dataclass(frozen=True)
class RayOptions:
    address: str | None = None   # None: start a local cluster with this machine's cores
    cpus_per_cell: int = 1       # each task's CPUs, and its torch threads
    gpus_per_cell: float = 0.0
    split_synthesis: bool = False


def require_ray():
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray, which is not installed: pip install 'dfqbench[ray]'") from None
    return ray


def start_ray(options: RayOptions):
    """Connect to ``options.address`` or start a local cluster; returns ``(ray, started here)``."""
    ray = require_ray()
    if ray.is_initialized():
        return ray, False
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        if options.address is None:
            # Ray runs its workers at nice 15, which behind any other busy process on the machine starves the
            # cells; on a cluster of its own a cell is the work, so the local cluster's workers run at nice 0
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(address="local", num_cpus=os.cpu_count(), **kwargs)  # "local": never a cluster left running
        else:
            ray.init(address=options.address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = options.address or "a local cluster"
        raise UserError(f"--executor ray: cannot connect to {where}: {str(exc).splitlines()[0]}") from None
    return ray, True


def plugin_sources(paths: list[str | Path]) -> tuple[tuple[str, str], ...]:
    return tuple((Path(p).name, Path(p).read_text()) for p in paths)


class Submitted:
    """The grid's tasks in flight: per set the refs of its parts, per cell its task."""

    def __init__(self) -> None:
        self.set_parts: dict[str, list] = {}           # set_key -> refs (one whole set, or its batches)
        self.waiting_sets: dict = {}                   # ref -> set_key, until every part of its set is in
        self.cells: dict = {}                          # ref -> index in the plan

    def pending(self) -> list:
        return list(self.waiting_sets) + list(self.cells)


def submit(ray, plan: list[PlannedCell], todo: list[int], settings: RunSettings, options: RayOptions,
           spec: WorkerSpec, events) -> Submitted:
    """One synthesis (or one task per batch) per set not in the driver's cache, then one task per cell."""
    resources = dict(num_cpus=options.cpus_per_cell, num_gpus=options.gpus_per_cell, max_retries=MAX_RETRIES)
    tasks = {task.__name__: ray.remote(task).options(**resources) for task in (synthesis_task, batch_task, cell_task)}
    submitted, groups = Submitted(), defaultdict(list)
    for index in todo:
        groups[plan[index].set_key].append(index)
    for key, members in groups.items():
        parts, made_here = set_source(ray, plan[members[0]], settings, tasks, spec, events)
        if made_here:
            submitted.set_parts[key] = parts
            submitted.waiting_sets.update({ref: key for ref in parts})
        for position, index in enumerate(members):
            planned = plan[index]
            ref = tasks["cell_task"].remote(spec, planned.cell, planned.cell_id, made_here and position == 0, events,
                                     *parts)
            submitted.cells[ref] = index
    return submitted


def set_source(ray, first: PlannedCell, settings: RunSettings, tasks: dict, spec: WorkerSpec,
               events) -> tuple[list, bool]:
    """``(refs, made here)``: the set of ``first``'s group as refs to its parts: none for the fp row; the driver's
    cached set; else one synthesis task, or with ``--split-synthesis`` one task per batch."""
    if first.synth is None:
        return [], False
    hit = settings.cache.load(first.set_key)
    if hit is not None:
        return [ray.put((hit.synthetic, hit.seconds))], False
    if first.cell.method.split:
        count = batch_count(profile_of(first.cell, settings))
        return [tasks["batch_task"].remote(spec, first.cell, first.cell_id, k, events) for k in range(count)], True
    return [tasks["synthesis_task"].remote(spec, first.cell, first.cell_id, events)], True


def cache_set(ray, key: str, refs: list, plan_by_key: dict, settings: RunSettings) -> None:
    """Write a set that arrived to the driver's cache (a set whose task failed is left to its cells' rows)."""
    from dfqbench.kit.iterative import concatenate

    try:
        parts = ray.get(refs)
    except Exception:  # noqa: BLE001 - the cells that needed it fail with the reason
        return
    planned = plan_by_key[key]
    if planned.cell.method.split:  # the batches, each (images, seconds)
        synthetic, seconds = concatenate([p[0] for p in parts]), sum(p[1] for p in parts)
        meta = {"synthesizer": planned.synth.name, "version": planned.synth.version, "model": planned.cell.model,
                "seed": planned.cell.seed, "profile": settings.profile.name, "mode": "split",
                "bits": str(planned.cell.bits) if planned.synth.needs_quantized_model else None}
    else:  # one whole set: (images, cache metadata, seconds)
        synthetic, meta, seconds = parts[0]
    settings.cache.save(key, synthetic, meta, seconds=seconds)


def task_error(exc: BaseException) -> str:
    """One line for a task that raised: the cause's type and first line, or Ray's reason."""
    cause = getattr(exc, "cause", None)
    if cause is not None:
        text = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".rstrip(": ")


def run_plan_on_ray(plan: list[PlannedCell], settings: RunSettings, store: ResultStore, options: RayOptions,
                    reporter: Reporter | None = None, plugins: list[str | Path] = ()) -> GridReport:
    """Run the plan's unfinished cells on a Ray cluster; store each row as it arrives (see the module's doc)."""
    import torch

    reporter = reporter or Reporter()
    report = GridReport()
    reporter.grid_start(len(plan))
    finished = {row["cell_id"]: row for row in store.rows(cell_id=[p.cell_id for p in plan], status="ok")}
    todo = []
    for index, planned in enumerate(plan):
        if planned.cell_id in finished:
            report.skipped.append(finished[planned.cell_id])
            reporter.cell_end(index, planned.cell, finished[planned.cell_id], skipped=True)
        else:
            todo.append(index)
    if not todo:
        return report
    ray, started = start_ray(options)
    try:
        events = ray.remote(EventBoard).options(num_cpus=0).remote()
        spec = WorkerSpec(dataclasses.replace(settings, cache=None), torch.get_num_threads(), plugin_sources(plugins))
        submitted = submit(ray, plan, todo, settings, options, spec, events)
        plan_by_key = {p.set_key: p for p in plan}
        by_id = {p.cell_id: i for i, p in enumerate(plan)}
        reporter.cells_queued(len(todo))
        try:
            with interrupt_flag() as interrupted:
                while submitted.pending() and not interrupted.is_set():
                    ready, _ = ray.wait(submitted.pending(), num_returns=1, timeout=WAIT_S)
                    for event in ray.get(events.drain.remote()):
                        relay(event, plan, by_id, reporter)
                    for ref in ready:
                        if ref in submitted.waiting_sets:
                            set_arrived(ray, ref, submitted, plan_by_key, settings)
                        else:
                            cell_arrived(ray, ref, submitted, plan, settings, store, report, reporter)
            report.interrupted = interrupted.is_set()
        except KeyboardInterrupt:
            report.interrupted = True
        if report.interrupted:
            for ref in submitted.pending():
                ray.cancel(ref, force=True)
    finally:
        if started:
            ray.shutdown()
    return report


@contextlib.contextmanager
def interrupt_flag():
    """An event set by Ctrl-C while the block runs (in the main thread; elsewhere one that is never set). The
    driver polls it: a KeyboardInterrupt raised inside Ray's own calls can be lost there, a flag cannot."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def relay(event: tuple, plan: list[PlannedCell], by_id: dict, reporter: Reporter) -> None:
    kind, cell_id, *rest = event
    index = by_id.get(cell_id)
    if index is None:
        return
    if kind == "start":
        what, node = rest
        reporter.cell_running(index, plan[index].cell, what, node)
    elif kind == "stage":
        stage, done, total = rest
        reporter.cell_stage(index, stage, done, total)


def set_arrived(ray, ref, submitted: Submitted, plan_by_key: dict, settings: RunSettings) -> None:
    key = submitted.waiting_sets.pop(ref)
    if not any(k == key for k in submitted.waiting_sets.values()):
        cache_set(ray, key, submitted.set_parts.pop(key), plan_by_key, settings)


def cell_arrived(ray, ref, submitted: Submitted, plan: list[PlannedCell], settings: RunSettings,
                 store: ResultStore, report: GridReport, reporter: Reporter) -> None:
    index = submitted.cells.pop(ref)
    planned = plan[index]
    try:
        row = ray.get(ref)
    except Exception as exc:  # noqa: BLE001 - the task's error (or its set's) is the cell's failure
        row = failed_row(planned, settings, task_error(exc))  # the worker's time is not known here
    store.put(row)
    settings.checkpoints(planned.cell_id).clear()
    (report.done if row["status"] == "ok" else report.failed).append(row)
    reporter.cell_end(index, planned.cell, row, skipped=False)
