"""Shared fixtures: the real artworks in ../shared/data, and collections built from them once per session."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ARTLENS_TEST_DATA", ROOT.parent / "shared" / "data"))
WIKIART = DATA / "wikiart"
DEMO = ROOT / "demo"


def read_labels(folder: Path) -> list[dict[str, str]]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session", autouse=True)
def _real_data_present() -> None:
    if not (WIKIART / "labels.csv").is_file():
        pytest.exit(f"the real test data is missing: expected {WIKIART}/labels.csv (set ARTLENS_TEST_DATA)", returncode=2)


@pytest.fixture(scope="session")
def wikiart_labels() -> list[dict[str, str]]:
    return read_labels(WIKIART)


@pytest.fixture(scope="session")
def small_wikiart(tmp_path_factory: pytest.TempPathFactory, wikiart_labels: list[dict[str, str]]) -> tuple[Path, Path]:
    """A metadata CSV for 242 WikiArt paintings (22 per style), pointing at ../shared/data."""
    by_style: dict[str, list[dict[str, str]]] = {}
    for row in wikiart_labels:
        by_style.setdefault(row["style"], []).append(row)
    rows = [r for style in sorted(by_style) for r in by_style[style][:22]]
    folder = tmp_path_factory.mktemp("small-wikiart")
    csv_rows = [{"image": str(WIKIART / r["image"]), "style": r["style"], "artist": r["artist"], "genre": r["genre"]} for r in rows]
    return write_csv(folder / "labels.csv", csv_rows), folder


@pytest.fixture(scope="session")
def small_collection(tmp_path_factory: pytest.TempPathFactory, small_wikiart: tuple[Path, Path]):
    """A built collection of the 242 paintings in `small_wikiart`, shared by read-only tests."""
    from artlens import Collection

    csv_path, _ = small_wikiart
    col = Collection.create(tmp_path_factory.mktemp("collections") / "small")
    files = [line.split(",")[0] for line in csv_path.read_text().splitlines()[1:]]
    col.add(files, metadata=csv_path)
    yield col
    col.close()
