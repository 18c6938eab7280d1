"""Provenance of a result: git commit, package versions, device, threads, peak memory."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
import threading
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("dfqbench", "torch", "timm", "numpy", "safetensors")
CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints.txt"  # in a checkout


def git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip() or "unknown"
    return f"{commit}-dirty" if dirty and commit != "unknown" else commit


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def read_constraints(path: Path | None = None) -> dict[str, str]:
    """``{normalised name: version}`` of a pip constraints file's ``name==version`` lines (default: the
    checkout's ``constraints.txt``)."""
    pins = {}
    for line in (path or CONSTRAINTS).read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            pins[normalise(name)] = version.strip()
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=1)
def constraints_record() -> dict:
    """The constraints file's hash and the installed packages that differ from its pins (none: the committed
    environment); empty outside a checkout, where the file is absent."""
    if not CONSTRAINTS.is_file():
        return {}
    off = {name: installed_version(name) for name, version in read_constraints().items()
           if installed_version(name) not in (version, None)}
    return {"constraints": hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()[:12], "off_constraints": off}


def package_versions() -> str:
    versions = {name: installed_version(name) for name in PACKAGES}
    return json.dumps({**versions, **constraints_record()}, sort_keys=True)


def processor(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU's model name (Linux ``/proc/cpuinfo``; else ``platform``)."""
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return cpu_model()


def cpuinfo_field(name: str) -> str | None:
    """The first value of ``name`` in Linux's ``/proc/cpuinfo`` (None elsewhere, or when absent)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    import platform

    return cpuinfo_field("model name") or platform.processor() or platform.machine() or "unknown"


def cpu_kind() -> str:
    """``VENDOR/CAPABILITY`` of this CPU (e.g. ``GenuineIntel/AVX512``): the vendor and torch's instruction set choose
    the kernels (oneDNN, MKL, torch's own), so results are bit-identical within a kind, not across kinds."""
    return f"{cpuinfo_field('vendor_id') or 'unknown'}/{torch.backends.cpu.get_cpu_capability()}"


def machine_record(device: torch.device) -> dict:
    """What a bug report needs beside the packages: Python, the processor, deterministic algorithms on or off."""
    import platform

    return {"python": platform.python_version(), "processor": processor(device),
            "deterministic": int(torch.are_deterministic_algorithms_enabled())}


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import resource

        return pages * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


class PeakMemory:
    """Peak memory while the block runs: CUDA's allocator peak, or the resident set sampled every 20 ms."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak_mb = device, 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak_mb = _rss_mb()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self.peak_mb, _rss_mb())
