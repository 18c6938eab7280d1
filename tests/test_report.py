"""``dfqbench report``: its sections and stated gaps, the same bytes for the same inputs, the committed report, and
the page opened in a real headless browser (Debian's chromium through chromedriver)."""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli, run_ok

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ROOT / "results" / "testbed" / "windows_canvas56a.csv"
SECTIONS = ["leaderboard", "claims", "figures", "samples", "attention", "ablations", "provenance"]


def report(args: list[str], out: Path, capsys, monkeypatch) -> str:
    code, _, err = run_cli(["report", *args, "-o", str(out)], capsys, monkeypatch)
    assert code == 0, err
    return out.read_text(encoding="utf-8")


def test_a_report_has_every_section_and_states_what_it_lacks(tmp_path, capsys, monkeypatch):
    page = report(["--from", str(WINDOWS)], tmp_path / "r.html", capsys, monkeypatch)
    assert re.findall(r'<section id="([a-z]+)">', page) == SECTIONS
    assert re.findall(r'<img alt="([a-z]+)"', page) == ["accuracy", "cost"]
    assert "No gap view" in page  # fp, noise and real only: no crossing to place a method between
    assert "The papers&#x27; claims: not drawn from these results (no claim has both of its rows" in page \
        or "The papers' claims: not drawn from these results (no claim has both of its rows" in page
    assert "Attention maps: no calibrated students given" in page
    assert "Synthetic images: not shown" in page and "No ablation rows" in page
    assert "windows_canvas56a.csv" in page and "canvas56a_swin" in page
    assert "http" not in page.replace('lang="en"', "")  # nothing fetched: no external resource
    assert "<script" not in page


def test_the_same_inputs_give_the_same_bytes(tmp_path, capsys, monkeypatch):
    pages = [report(["--from", str(WINDOWS)], tmp_path / f"{n}.html", capsys, monkeypatch) for n in "ab"]
    assert pages[0] == pages[1]


@pytest.mark.parametrize(("args", "pattern"), [
    (["-o", "report.txt"], "--output must end in .html"),
    (["--from", "missing.csv", "-o", "r.html"], "missing.csv"),
    (["--claims", "nope.csv", "-o", "r.html"], "--claims: no file at"),
])
def test_report_bad_input_is_one_line(args, pattern, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["report", *args], capsys, monkeypatch)
    assert_one_line_error(code, err, pattern)


def test_the_committed_report_is_what_its_command_makes(tmp_path, capsys, monkeypatch):
    """The command in results/README regenerates results/report.html byte for byte."""
    readme = (ROOT / "results" / "README.md").read_text()
    (command,) = re.findall(r"^dfqbench report (.+) -o results/report\.html$", readme, re.MULTILINE)
    monkeypatch.chdir(ROOT)
    page = report(command.split(), tmp_path / "report.html", capsys, monkeypatch)
    assert page == (ROOT / "results" / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """A report with every figure: a smoke grid of MaskAQ and MimiQ on the canvas ViT, its students and cache."""
    folder = tmp_path_factory.mktemp("report")
    common = ["--store", str(folder / "s.sqlite")]
    runs = [["--threads", "1", "run", "--methods", "fp,noise,real,maskaq,mimiq", "--models", "canvas56a_vit",
             "--profile", "smoke", "--limit", "20", "--seeds", "0,1", "--cache-dir", str(folder / "cache"),
             "--save-models", str(folder / "models"), "--out", str(folder / "out"), *common],
            ["report", "--students", str(folder / "models"), "--cache-dir", str(folder / "cache"),
             "-o", str(folder / "report.html"), *common]]
    for args in runs:
        run_ok(args)
    return folder / "report.html"


def test_a_report_with_students_and_a_cache_shows_their_figures(full_report):
    page = full_report.read_text(encoding="utf-8")
    alts = re.findall(r'<img alt="([a-z]+)"', page)
    assert alts == ["accuracy", "gap", "cost", "samples", "attention"]
    assert "not shown" not in page and "no calibrated students" not in page


def chrome():
    """A headless chromium through chromedriver; None when either is missing outside CI (in CI: a failure)."""
    driver = shutil.which("chromedriver")
    if driver is None or shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail("chromium or chromedriver missing in CI: .ci/bootstrap installs them")
        pytest.skip("chromium and chromedriver not installed (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1600"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(driver))


def non_background_share(png: bytes) -> float:
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png), format="png")[..., :3]
    return float((abs(pixels - 1.0).sum(-1) > 0.05).mean())  # the page is white


@pytest.mark.slow
def test_the_report_opens_in_a_headless_browser(full_report):
    browser = chrome()
    try:
        browser.get(full_report.as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
        sections = browser.execute_script("return Array.from(document.querySelectorAll('section')).map(s => s.id)")
        headings = browser.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        screenshot = browser.get_screenshot_as_png()
    finally:
        browser.quit()
    assert [alt for alt, _, _ in images] == ["accuracy", "gap", "cost", "samples", "attention"]
    assert all(complete and width > 0 for _, complete, width in images), images
    assert sections == SECTIONS
    assert "Leaderboard" in headings and "Provenance" in headings
    assert non_background_share(screenshot) > 0.01


def test_the_committed_students_draw_the_attention_section_without_a_cache(tmp_path, capsys, monkeypatch):
    """results/students (one seed of each method on the canvas ViT) without --cache-dir: real images only,
    said so."""
    students = ROOT / "results" / "students"
    assert {"maskaq", "mimiq", "psaq-vit", "psaq-vit-v2"} <= {p.name.split("_")[0]
                                                             for p in students.glob("*.safetensors")}
    page = report(["--from", str(WINDOWS), "--students", str(students)], tmp_path / "r.html", capsys, monkeypatch)
    assert '<img alt="attention"' in page and "Real test images only" in page
    assert "No calibrated student of" not in page  # windows_canvas56a.csv has no method rows
