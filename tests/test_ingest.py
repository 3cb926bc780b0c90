"""Adding images: folders, metadata CSVs, bad files, duplicates, repeats and interrupted runs."""

from __future__ import annotations

import io
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from artlens import Collection, InputError
from artlens.pipeline.ingest import read_metadata

from conftest import WIKIART, count_artworks, read_labels, write_csv


def copy_paintings(dest: Path, n: int, start: int = 0) -> list[Path]:
    """Copy n real WikiArt paintings into a folder of the test's own (the tests may change them)."""
    dest.mkdir(parents=True, exist_ok=True)
    rows = read_labels(WIKIART)[start : start + n]
    out = []
    for r in rows:
        target = dest / Path(r["image"]).name
        shutil.copy(WIKIART / r["image"], target)
        out.append(target)
    return out


def test_add_a_folder_with_metadata(tmp_path: Path, collection_dir: Path) -> None:
    files = copy_paintings(tmp_path / "art", 12)
    write_csv(tmp_path / "art" / "labels.csv", [{"image": f.name, "style": "Baroque" if i % 2 else "Rococo", "room": ""} for i, f in enumerate(files)])
    col = Collection.create(collection_dir)
    report = col.add([tmp_path / "art"], metadata=tmp_path / "art" / "labels.csv")
    assert (report.added, report.failed, report.duplicates) == (12, [], 0)
    assert report.ignored == 1  # labels.csv itself, passed over while walking the folder
    assert report.metadata_rows == 12
    info = col.info()
    assert info.artworks == 12
    assert info.columns == ["style"]  # empty cells are not stored
    assert {f.name for f in info.facets} == {"joint", "content", "style", "color", "style_learned"}


def test_adding_the_same_files_again_changes_nothing(tmp_path: Path, collection_dir: Path) -> None:
    copy_paintings(tmp_path / "art", 8)
    col = Collection.create(collection_dir)
    col.add([tmp_path / "art"])
    before = (collection_dir / "vectors" / "state.json").read_text()
    again = col.add([tmp_path / "art"])
    assert (again.added, again.unchanged, again.duplicates, again.failed) == (0, 8, 0, [])
    assert (collection_dir / "vectors" / "state.json").read_text() == before  # no rebuild either
    assert col.info().artworks == 8


def test_bad_files_are_recorded_and_the_run_goes_on(tmp_path: Path, collection_dir: Path) -> None:
    art = tmp_path / "art"
    good = copy_paintings(art, 5)
    (art / "empty.jpg").write_bytes(b"")
    (art / "notes.jpg").write_text("this is not a picture")
    data = good[0].read_bytes()
    (art / "cut.jpg").write_bytes(data[: len(data) // 2])
    (art / "README.txt").write_text("not an image type: ignored, not failed")
    col = Collection.create(collection_dir)
    report = col.add([art])
    assert report.added == 5
    assert report.failure_reasons() == {"empty": 1, "not-an-image": 1, "truncated": 1}
    assert report.ignored == 1
    failed = {Path(f.path).name: f.reason for f in col.info().failed}
    assert failed == {"empty.jpg": "empty", "notes.jpg": "not-an-image", "cut.jpg": "truncated"}
    # A failed file that has not changed is not decoded again but still reported as failed (not as
    # "unchanged"); once fixed, it is added.
    again = col.add([art])
    assert again.failure_reasons() == {"empty": 1, "not-an-image": 1, "truncated": 1} and again.unchanged == 5
    shutil.copy(WIKIART / read_labels(WIKIART)[100]["image"], art / "cut.jpg")
    fixed = col.add([art])
    assert fixed.added == 1 and col.info().failed == [f for f in col.info().failed if "cut.jpg" not in f.path]


def test_exact_duplicates_are_not_indexed_twice(tmp_path: Path, collection_dir: Path) -> None:
    art = tmp_path / "art"
    files = copy_paintings(art, 4)
    shutil.copy(files[0], art / "same-bytes.jpg")
    # Same pixels, different bytes: lossless PNGs of a JPEG painting, with other settings and metadata.
    Image.open(files[1]).save(art / "a.png")
    Image.open(files[1]).save(art / "b.png", compress_level=1, pnginfo=_text_chunk("note", "another copy"))
    col = Collection.create(collection_dir)
    report = col.add([art])
    assert report.added == 4 and report.duplicates == 3
    info = col.info()
    assert info.artworks == 4 and info.exact_duplicates == 3
    # Files are added in path order; whichever comes first is the original.
    found = {(frozenset({Path(d.path).name, Path(d.duplicate_of).name}), d.same) for d in col.duplicates().exact}
    assert found == {
        (frozenset({"a.png", files[1].name}), "pixels"),
        (frozenset({"b.png", "a.png"}), "pixels"),
        (frozenset({"same-bytes.jpg", files[0].name}), "bytes"),
    }


def test_a_camera_size_photo_is_added_upright_with_a_small_thumbnail(tmp_path: Path) -> None:
    # A 3000 x 2400 JPEG stored on its side (EXIF orientation 6), as cameras write them. libjpeg
    # decodes it at 1/8 scale; the catalog still records the upright size of the file itself.
    painting = copy_paintings(tmp_path / "art", 1)[0]
    photo = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.open(painting).convert("RGB").resize((3000, 2400), Image.Resampling.BICUBIC).save(photo, quality=90, exif=exif)
    col = Collection.create(tmp_path / "col")
    report = col.add([photo])
    assert (report.added, report.failed) == (1, [])
    art = col.artworks_by_path([photo])[str(photo)]
    assert (art.width, art.height, art.format) == (2400, 3000, "JPEG")
    thumbnail = col.thumbnail(art.id)
    assert thumbnail is not None
    with Image.open(io.BytesIO(thumbnail)) as thumb:
        assert thumb.size == (205, 256)  # upright, longest side 256, from the 300 x 375 decode


def test_copies_added_later_point_at_the_catalogued_original(tmp_path: Path, collection_dir: Path) -> None:
    files = copy_paintings(tmp_path / "art", 3)
    col = Collection.create(collection_dir)
    col.add(files)
    later = tmp_path / "later"
    later.mkdir()
    shutil.copy(files[2], later / "copy.jpg")
    Image.open(files[2]).save(later / "copy.png")
    report = col.add([later])
    assert report.added == 0 and report.duplicates == 2
    assert {Path(d.duplicate_of).name for d in col.duplicates().exact} == {files[2].name}
    assert col.info().artworks == 3


def _text_chunk(key: str, value: str):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(key, value)
    return info


def test_bad_csv_rows_are_reported_not_fatal(tmp_path: Path) -> None:
    files = copy_paintings(tmp_path / "art", 3)
    csv_path = tmp_path / "art" / "meta.csv"
    csv_path.write_text(
        "image,style\n"
        f"{files[0].name},Baroque\n"
        f"{files[1].name},Rococo,extra\n"
        ",Impressionism\n"
        f"{files[2].name},Ukiyo_e\n"
        f"{files[2].name},Rococo\n"
    )
    meta, problems = read_metadata(csv_path)
    assert meta[str(files[0].resolve())] == {"style": "Baroque"}
    assert meta[str(files[2].resolve())] == {"style": "Rococo"}
    assert str(files[1].resolve()) not in meta
    assert len(problems) == 3
    assert "line 3: 3 fields where the header has 2" in problems[0]
    assert "line 4: empty 'image' cell" in problems[1]
    assert "line 6" in problems[2] and "later line wins" in problems[2]


def test_unusable_csv_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "no-image-column.csv").write_text("file,style\na.jpg,Baroque\n")
    with pytest.raises(InputError, match="'image' column"):
        read_metadata(tmp_path / "no-image-column.csv")
    (tmp_path / "latin1.csv").write_bytes("image,title\na.jpg,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_metadata(tmp_path / "latin1.csv")
    with pytest.raises(InputError, match="not found"):
        read_metadata(tmp_path / "missing.csv")


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "col")
    with pytest.raises(InputError, match="no such file or folder"):
        col.add([tmp_path / "nowhere"])


def test_ctrl_c_keeps_finished_batches_and_a_rerun_completes(tmp_path: Path, collection_dir: Path) -> None:
    copy_paintings(tmp_path / "art", 40)
    col = Collection.create(collection_dir)
    calls = []

    def interrupt_after_two_batches(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 3:  # the first call reports 0 done
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        col.add([tmp_path / "art"], progress=interrupt_after_two_batches, batch_size=8)
    kept = count_artworks(collection_dir)
    assert 0 < kept == calls[-1] < 40  # exactly the batches reported done
    report = col.add([tmp_path / "art"], batch_size=8)
    assert (report.unchanged, report.added) == (kept, 40 - kept)
    assert count_artworks(collection_dir) == 40 and col.info().artworks == 40


def test_a_killed_add_continues_without_losing_or_duplicating(tmp_path: Path, collection_dir: Path) -> None:
    copy_paintings(tmp_path / "art", 200)
    cmd = [sys.executable, "-m", "artlens.cli", "add", str(collection_dir), str(tmp_path / "art")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and count_artworks(collection_dir) < 64:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = count_artworks(collection_dir)
    assert 64 <= partial < 200, "the kill should land mid-run"
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=True)
    import json

    report = json.loads(done.stdout)
    assert report["unchanged"] == partial and report["added"] == 200 - partial
    assert count_artworks(collection_dir) == 200
    info = json.loads(subprocess.run([sys.executable, "-m", "artlens.cli", "info", str(collection_dir), "--json"],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["artworks"] == 200 and info["failed"] == []


def test_batches_are_even_so_every_worker_finishes_together() -> None:
    from artlens.pipeline.ingest import _batches

    sizes = [len(b) for b in _batches(list(range(1000)), 32, workers=2)]
    assert sum(sizes) == 1000 and len(sizes) % 2 == 0 and max(sizes) <= 32 and max(sizes) - min(sizes) <= 1
    assert [len(b) for b in _batches(list(range(7)), 32, workers=2)] == [4, 3]
    assert _batches([], 32, workers=2) == []
