"""Every command and option, from typer's own model of the app, fed bad values: one line on stderr naming the
problem, exit status 2, nothing computed, nothing stored or cached changed.

Each option has a description of its valid values (``KINDS``, by option name, with per-command exceptions in
``COMMAND_KINDS``); a new option without one fails ``test_every_option_has_a_description``. Read-only and full disks
are simulated by injecting EROFS / ENOSPC into the writability probe (tests run as root, whom permission bits do not
stop).
"""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest
from cli_helpers import run_cli, run_ok
from typer.main import get_command

from dfqbench.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ROOT / "results" / "testbed" / "windows_canvas56a.csv"

# the bad values of each kind of option; placeholders in capitals are made per test (see ``Places``)
BAD = {
    "names": ["", ",", "nonexistent"],
    "name": ["", "nonexistent"],
    "bits": ["", "1w1a", "x"],
    "seeds": ["", "x", "-1"],
    "int>=0": ["-1", "x"],
    "int>=1": ["0", "-1", "x"],
    "fraction": ["-0.5", "1.5", "x"],
    "choice": ["", "nope"],
    "key=value": ["x", "=1"],
    "shard": ["", "0/2", "3/2", "x"],
    "read file": ["MISSING", "FOLDER"],
    "read folder": ["MISSING", "FILE"],
    "read path": ["MISSING"],
    "write file": ["FOLDER", "UNDER_FILE", "READ_ONLY", "FULL"],
    "write folder": ["FILE", "UNDER_FILE", "READ_ONLY", "FULL"],
    "store": ["FOLDER", "UNDER_FILE", "READ_ONLY", "NOT_SQLITE"],
    "read store": ["FOLDER", "NOT_SQLITE"],
    "text": [],   # free text: a label, a title, an address
    "flag": [],
}

KINDS = {
    "--methods": "names", "--models": "names", "--calibrators": "names", "--evaluation": "names", "--model": "name",
    "--synthetic": "name",
    "--bits": "bits", "--seeds": "seeds", "--seed": "int>=0", "--profile": "choice", "--fallback": "choice",
    "--preset": "choice", "--device": "choice", "--executor": "choice", "--view": "choice", "--interval": "choice",
    "--format": "choice", "--bar": "choice", "--split": "choice", "--dtype": "choice", "kind": "choice",
    "--preset-set": "key=value", "--set": "key=value", "--shard": "shard",
    "--limit": "int>=1", "--cpus-per-cell": "int>=1", "--img-size": "int>=1", "--batch-size": "int>=1",
    "--steps": "seeds", "--images": "int>=1", "--per-class": "int>=1", "--scale": "int>=1",
    "--gpus-per-cell": "fraction", "--val-from-train": "fraction", "--mask-ratio": "fraction",
    "--plugin": "read file", "--tuning": "read file", "--from": "read file", "--claims": "read file",
    "--checkpoint": "read file", "--data-dir": "read folder", "--imagenet": "read folder",
    "--students": "read path", "students": "read path", "sources": "read path",
    "--store": "store", "--cache-dir": "write folder", "--checkpoint-dir": "write folder",
    "--save-models": "write folder", "--out-dir": "write folder", "--run-dir": "write folder",
    "--dest": "write folder", "--to": "write file", "--output": "write file", "--out": "write folder",
    "--label": "text", "--title": "text", "--ray-address": "text", "--url-base": "text", "pattern": "text",
    "name": "name", "key": "name", "dataset": "name",
    "--ablations": "flag", "--split-synthesis": "flag", "--reported": "flag", "--dry-run": "flag",
    "--summary": "flag", "--no-references": "flag", "--flush-denormal": "flag",
}
READS_STORE = {"table", "export", "report", "plot accuracy", "plot gap", "plot cost"}
COMMAND_KINDS = {
    **{(command, "--store"): "read store" for command in READS_STORE},
    **{(f"plot {name}", "--out"): "write file" for name in ("accuracy", "gap", "cost", "samples", "attention")},
    ("students pack", "--to"): "write folder",
    ("report", "--cache-dir"): "read folder",
    ("cache list", "--cache-dir"): "read folder",
    ("samples export", "--cache-dir"): "read folder",
    ("data list", "--cache-dir"): "write folder",
}


def commands():
    """(command path, click command) for every leaf command of the app."""
    def walk(command, path=()):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, (*path, name))
        else:
            yield " ".join(path), command
    return list(walk(get_command(app)))


def option_name(param) -> str:
    return max(param.opts, key=len) if param.opts else param.name


def kind_of(command: str, option: str) -> str | None:
    return COMMAND_KINDS.get((command, option), KINDS.get(option))


def cases():
    for command, click_command in commands():
        for param in click_command.params:
            option = option_name(param)
            for value in BAD.get(kind_of(command, option) or "", []):
                yield pytest.param(command, option, param.param_type_name == "argument", value,
                                   id=f"{command}:{option}={value or 'EMPTY'}")


def test_every_option_has_a_description():
    missing = [f"{command} {option_name(p)}" for command, c in commands() for p in c.params
               if kind_of(command, option_name(p)) is None]
    assert not missing, f"describe the valid values of these options in KINDS: {missing}"


class Computed(BaseException):
    """Raised where a command would start computing (a bad value must be refused before)."""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A store with rows, a cache with one set, a student, and the paths the placeholders stand for."""
    top = tmp_path_factory.mktemp("bad-input")
    store, cache = top / "store.sqlite", top / "cache"
    run_ok(["--threads", "1", "run", "--methods", "noise", "--no-references", "--models", "canvas56a_vit",
            "--profile", "smoke", "--limit", "20", "--store", str(store), "--cache-dir", str(cache), "--save-models",
            str(top / "models"), "--out", str(top / "out")])
    (student,) = (top / "models").glob("*.safetensors")
    (key,) = [p.stem for p in cache.glob("*.safetensors")]
    (top / "a-folder").mkdir()
    (top / "a-file").write_text("not what any option wants\n")
    (top / "read-only").mkdir()
    (top / "full").mkdir()
    return dict(top=top, store=store, cache=cache, student=student, key=key)


def base_args(command: str, w: dict) -> list[str]:
    """A valid invocation of ``command`` (the option under test replaces its own value)."""
    store, cache, out = str(w["store"]), str(w["cache"]), w["top"] / "outputs"
    grid = ["--models", "canvas56a_vit", "--profile", "smoke", "--limit", "20", "--store", store, "--cache-dir", cache]
    figures = ["--from", str(WINDOWS)]
    return {
        "run": ["--methods", "noise", *grid, "--out", str(out / "run")],
        "tune": ["--methods", "sardfq", *grid, "--out-dir", str(out / "tune")],
        "table": ["--store", store],
        "export": ["--to", str(out / "x.csv"), "--store", store],
        "import": ["--from", str(WINDOWS), "--store", store],
        "prune": ["--store", store, "--dry-run"],
        "list": ["methods"],
        "eval": ["--model", "canvas56a_vit", "--limit", "20"],
        "report": ["-o", str(out / "r.html"), *figures],
        "zoo list": [],
        "zoo margin": [*figures, "--models", "canvas56a_vit"],
        "zoo train": ["canvas56a_vit", "--run-dir", str(out / "zoo"), "--out-dir", str(out / "weights")],
        "zoo probe": ["--models", "canvas56a_vit", "--seeds", "0", "--steps", "1", "--images", "2"],
        "cache list": ["--cache-dir", cache],
        "cache clear": ["--cache-dir", cache],
        "samples export": [w["key"], "--out", str(out / "png"), "--cache-dir", cache],
        "data fetch": ["fashion-mnist", "--dest", str(out / "data")],
        "data list": [],
        "data show": ["canvas56-a", "-o", str(out / "grid.png")],
        "plot accuracy": ["-o", str(out / "a.png"), *figures],
        "plot gap": ["-o", str(out / "g.png"), "--from", str(ROOT / "results" / "bench_4w4a.csv")],
        "plot cost": ["-o", str(out / "c.png"), *figures],
        "plot samples": ["-o", str(out / "s.png"), "--methods", "noise", "--profile", "smoke", "--fallback", "smoke",
                         "--cache-dir", cache],
        "plot attention": [str(w["student"]), "-o", str(out / "att.png"), "--synthetic", "none"],
        "students pack": [str(w["student"]), "--to", str(out / "packed")],
    }[command]


def placeholder(value: str, w: dict) -> str:
    top = w["top"]
    return {"MISSING": str(top / "missing" / "x"), "FOLDER": str(top / "a-folder"), "FILE": str(top / "a-file"),
            "UNDER_FILE": str(top / "a-file" / "x"), "READ_ONLY": str(top / "read-only" / "x"),
            "FULL": str(top / "full" / "x"), "NOT_SQLITE": str(top / "a-file")}.get(value, value)


def with_value(args: list[str], option: str, is_argument: bool, value: str, command: str) -> list[str]:
    """``args`` with ``option`` set to ``value`` (an argument replaces the first positional value)."""
    if is_argument:
        positional = [i for i, a in enumerate(args)
                      if not a.startswith("-") and (i == 0 or not args[i - 1].startswith("-"))]
        if positional:
            return [*args[:positional[0]], value, *args[positional[0] + 1:]]
        return [value, *args]
    out, i = [], 0
    names = {option, *({"-o"} if option in ("--output", "--out") else set())}
    while i < len(args):
        if args[i] in names:
            i += 2
            continue
        out.append(args[i])
        i += 1
    return [*out, option, value]


def snapshot(w: dict) -> str:
    """A hash of the store's bytes and the cache's files: what a refused command must leave as it was."""
    digest = hashlib.sha256(w["store"].read_bytes())
    for path in sorted(w["cache"].rglob("*")):
        digest.update(str(path).encode() + (path.read_bytes() if path.is_file() else b""))
    return digest.hexdigest()


def inject_disk_faults(monkeypatch, w: dict) -> None:
    """Writes under read-only/ fail with EROFS, under full/ with ENOSPC (in the writability probe)."""
    import dfqbench.cli.path_kinds as kinds

    def fault(path: Path) -> None:
        path = Path(path).resolve()
        for folder, code in (("read-only", errno.EROFS), ("full", errno.ENOSPC)):
            if (w["top"] / folder).resolve() in (path, *path.parents):
                raise OSError(code, "Read-only file system" if code == errno.EROFS else "No space left on device")

    probe_folder, probe_file = kinds.probe_folder, kinds.probe_file
    monkeypatch.setattr(kinds, "probe_folder", lambda p: (fault(p), probe_folder(p)))
    monkeypatch.setattr(kinds, "probe_file", lambda p: (fault(p), probe_file(p)))


def forbid_computation(monkeypatch) -> None:
    """Where each command starts its work: reaching one of these with a bad value is a failure."""
    import dfqbench.cli.data_cmd
    import dfqbench.cli.run_cmd
    import dfqbench.cli.tune_cmd
    import dfqbench.evaluate
    import dfqbench.plots.sample_sets
    import dfqbench.zoo.probe
    import dfqbench.zoo.train

    def computed(*args, **kwargs):
        raise Computed
    for module, name in ((dfqbench.cli.run_cmd, "run_with_display"), (dfqbench.cli.tune_cmd, "run_with_display"),
                         (dfqbench.evaluate, "evaluate"), (dfqbench.zoo.train, "train_zoo_model"),
                         (dfqbench.zoo.probe, "probe_zoo_model"), (dfqbench.plots.sample_sets, "synthetic_images"),
                         (dfqbench.cli.data_cmd, "fetch_fashion_mnist")):
        monkeypatch.setattr(module, name, computed)


PLACEHOLDERS = ("MISSING", "FOLDER", "FILE", "UNDER_FILE", "READ_ONLY", "FULL", "NOT_SQLITE")


def names_the_problem(line: str, option: str, value: str) -> bool:
    """The line names the option, or quotes the bad value (an empty one as '' or 'empty')."""
    if option in line:
        return True
    if value == "":
        return "''" in line or "empty" in line
    return value not in PLACEHOLDERS and value in line


@pytest.mark.parametrize(("command", "option", "is_argument", "value"), list(cases()))
def test_a_bad_value_is_one_line_exit_2_and_changes_nothing(world, command, option, is_argument, value, capsys,
                                                           monkeypatch):
    inject_disk_faults(monkeypatch, world)
    forbid_computation(monkeypatch)
    monkeypatch.chdir(world["top"])
    args = with_value(base_args(command, world), option, is_argument, placeholder(value, world), command)
    before = snapshot(world)
    try:
        code, out, err = run_cli([*command.split(), *args], capsys, monkeypatch)
    except Computed:
        pytest.fail(f"{command} {option}={value!r}: computation started before the value was refused")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}; stderr: {err[-500:]}; stdout: {out[-300:]}"
    assert len(lines) == 1 and "Traceback" not in err, lines
    assert names_the_problem(lines[0], option, value), lines[0]
    assert snapshot(world) == before, "the store or the cache changed"


def test_the_root_option_threads_is_checked(capsys, monkeypatch):
    for value in ("0", "-1", "x"):
        code, _, err = run_cli(["--threads", value, "list", "methods"], capsys, monkeypatch)
        if value == "0":  # 0: all cores, the default
            assert code == 0
            continue
        assert code == 2 and len(err.strip().splitlines()) == 1 and "--threads" in err, err



def test_an_import_of_a_bad_csv_leaves_no_store_behind(tmp_path, capsys, monkeypatch):
    rows = (ROOT / "results" / "bench_4w4a.csv").read_text().splitlines()
    header, first = rows[0].split(","), rows[1].split(",")
    first[header.index("status")] = "weird"
    (tmp_path / "bad.csv").write_text("\n".join([rows[0], ",".join(first)]) + "\n")
    store = tmp_path / "new.sqlite"
    code, _, err = run_cli(["import", "--from", str(tmp_path / "bad.csv"), "--store", str(store)], capsys, monkeypatch)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "line 2:" in err, err
    assert not store.exists()
