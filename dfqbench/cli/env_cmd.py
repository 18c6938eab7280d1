"""``dfqbench env``: what a bug report needs, as each result row records it."""

from __future__ import annotations

from dfqbench.cli.console import console


def env_command() -> None:
    """Print the versions, commit, Python, processor, GPUs, threads and determinism this process would record in
    a result row (paste it into a bug report).

    Example: dfqbench env
    """
    import json

    import torch

    from dfqbench.runner.provenance import cpu_kind, git_commit, machine_record, package_versions

    cpu = machine_record(torch.device("cpu"))
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    lines = [("git commit", git_commit()), ("python", cpu["python"]), ("cpu", cpu["processor"]),
             ("cpu kind", f"{cpu_kind()} (results are bit-identical within a kind)"),
             ("gpus", ", ".join(gpus) or "none"), ("torch threads", str(torch.get_num_threads())),
             ("deterministic algorithms", "on" if cpu["deterministic"] else "off")]
    lines += [(name, str(value)) for name, value in json.loads(package_versions()).items()]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        console.print(f"{name:<{width}}  {value}", highlight=False, markup=False)
