"""What runs on a Ray worker: one synthesis, one batch of a split synthesis, or one cell's calibration and
evaluation. Plain functions: :mod:`dfqbench.runner.ray_executor` wraps them as Ray tasks.

A task rebuilds its cell where it runs (the model from the zoo or timm, the plugins from the ``--plugin`` sources
the driver sent, the threads of ``--cpus-per-cell``) and checks that it computes the cell id the driver planned: a
node with another dfqbench, plugin or package version fails the cell with one line instead of storing a row
under an id it did not compute. Nothing here writes the store or the cache; sets and rows go back to the driver.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import tempfile
import time
from pathlib import Path

import torch

from dfqbench.api import SyntheticSet
from dfqbench.errors import UserError
from dfqbench.kit.iterative import concatenate
from dfqbench.runner.cache import MemoryCache
from dfqbench.runner.cell import RunSettings, cell_models, cell_row, synthetic_set
from dfqbench.runner.grid import Cell
from dfqbench.runner.plan import PlannedCell, plan_cell
from dfqbench.runner.split import batch_context
from dfqbench.runtime import denormals_flushed

PROGRESS_EVERY_S = 5.0


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What every task needs besides its cell: the run's settings, torch threads, the plugin files' sources."""

    settings: RunSettings
    threads: int
    plugins: tuple[tuple[str, str], ...] = ()  # (file name, source) of each --plugin file


@functools.cache
def load_plugin_source(name: str, source: str) -> None:
    """Register a ``--plugin`` file from its source, once per worker process."""
    from dfqbench.registry import load_plugin_file

    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"dfqbench-plugins-{digest}"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(source)
    load_plugin_file(path)


@functools.cache
def backbone_of(model: str, weights: Path | None = None):
    from dfqbench.zoo.backbones import load_backbone

    return load_backbone(model, weights)


def prepare(spec: WorkerSpec, cell: Cell, cell_id: str) -> PlannedCell:
    """This process set up for the cell (threads, allocator, plugins) and the cell planned here."""
    from dfqbench.runtime import tune_allocator

    tune_allocator()
    torch.set_num_threads(spec.threads)
    for name, source in spec.plugins:
        load_plugin_source(name, source)
    planned = plan_cell(cell, backbone_of(cell.model, spec.settings.weights_of(cell.model)), spec.settings)
    if planned.cell_id != cell_id:
        raise UserError(f"this worker computes cell id {planned.cell_id} for {cell.describe()}, the driver planned "
                        f"{cell_id}: the node runs another dfqbench, plugin or package version")
    return planned


def node_label() -> str:
    import ray

    return ray.util.get_node_ip_address()


def progress_poster(events, cell_id: str):
    """A stage-progress callback that posts to the driver's event board at most every ``PROGRESS_EVERY_S``."""
    last = [0.0]

    def post(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if events is not None and (now - last[0] >= PROGRESS_EVERY_S or done >= total):
            last[0] = now
            events.post.remote(("stage", cell_id, stage, done, total))
    return post


def announce(events, cell_id: str, what: str) -> None:
    if events is not None:
        events.post.remote(("start", cell_id, what, node_label()))


def synthesis_task(spec: WorkerSpec, cell: Cell, cell_id: str, events=None) -> tuple[SyntheticSet, dict, float]:
    """The synthetic set of ``cell``'s group, made here: ``(set on the CPU, cache metadata, seconds)``."""
    planned = prepare(spec, cell, cell_id)
    announce(events, cell_id, "synthesis")
    memory = MemoryCache()
    settings = dataclasses.replace(spec.settings, cache=memory)
    _, context = cell_models(planned, settings, progress_poster(events, cell_id))
    with denormals_flushed(settings.flush_denormal):
        synthetic, _ = synthetic_set(planned.synth, planned.set_key, planned.cell, settings, context, {})
    _, meta, seconds = memory.made[planned.set_key]
    return on_cpu(synthetic), meta, seconds


def batch_task(spec: WorkerSpec, cell: Cell, cell_id: str, index: int, events=None) -> tuple[SyntheticSet, float]:
    """Batch ``index`` of ``cell``'s split set: ``(batch on the CPU, seconds)``."""
    planned = prepare(spec, cell, cell_id)
    announce(events, cell_id, f"synthesis batch {index}")
    started = time.time()
    _, context = cell_models(planned, spec.settings, progress_poster(events, cell_id))
    with denormals_flushed(spec.settings.flush_denormal):
        part = planned.synth.synthesize_batch(batch_context(context("synthesis"), cell.seed, index), index)
    return on_cpu(part), time.time() - started


def cell_task(spec: WorkerSpec, cell: Cell, cell_id: str, made_for_it: bool, events, *parts) -> dict:
    """The cell's stored row, calibrated on the set in ``parts`` (one whole set with its metadata and seconds, or
    the batches of a split set with theirs; none for the fp row). ``made_for_it``: the set was made for this
    cell (the first of its group), so its row says not cached, as the in-process executor's does."""
    planned = prepare(spec, cell, cell_id)
    announce(events, cell_id, "calibration")
    held = {}
    if parts:
        synthetic = concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        seconds = [p[-1] for p in parts]  # a cached set made before its time was recorded has None
        held[planned.set_key] = (synthetic, None if None in seconds else sum(seconds))
    fresh = frozenset(held) if made_for_it else frozenset()
    settings = dataclasses.replace(spec.settings, cache=MemoryCache(held, made_for_this_cell=fresh))
    return cell_row(planned, settings, progress_poster(events, cell_id))


def on_cpu(synthetic: SyntheticSet) -> SyntheticSet:
    return SyntheticSet(synthetic.images.detach().cpu(),
                        None if synthetic.labels is None else synthetic.labels.detach().cpu())


class EventBoard:
    """Where tasks post what they do (``start`` with the node, ``stage`` progress); the driver drains it."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def post(self, event: tuple) -> None:
        self.events.append(event)

    def drain(self) -> list[tuple]:
        events, self.events = self.events, []
        return events
