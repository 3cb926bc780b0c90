"""Creating and opening collections: options, and folders that are not collections."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from artlens import Collection, CollectionError, InputError

from conftest import WIKIART, read_labels


def some_paintings(dest: Path, n: int = 6) -> Path:
    dest.mkdir()
    for r in read_labels(WIKIART)[::400][:n]:
        shutil.copy(WIKIART / r["image"], dest)
    return dest


def test_lite2_backbone_with_gram_style_statistics(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "col", backbone="lite2", style="gram")
    col.add([some_paintings(tmp_path / "art")])
    info = col.info()
    assert (info.model.backbone, info.model.input_size, info.model.style) == ("lite2", 260, "gram")
    assert info.artworks == 6
    query = next((tmp_path / "art").iterdir())
    assert len(col.search(images=[query], facet="style", k=3)) == 3


def test_a_collection_keeps_its_model(tmp_path: Path) -> None:
    Collection.create(tmp_path / "col").close()
    with pytest.raises(CollectionError, match="made with backbone lite0-art-int8 and style adain"):
        Collection.create(tmp_path / "col", backbone="lite2")
    with pytest.raises(InputError, match="unknown backbone"):
        Collection.create(tmp_path / "other", backbone="resnet")


def test_folders_that_are_not_collections(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(CollectionError, match="not an ArtLens collection; choose a new or empty folder"):
        Collection.create(tmp_path / "photos")
    with pytest.raises(CollectionError, match="no artlens.db"):
        Collection.open(tmp_path / "photos")
    (tmp_path / "file").write_text("")
    with pytest.raises(CollectionError, match="is a file"):
        Collection.create(tmp_path / "file")


def test_an_empty_collection_says_so(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "col")
    with pytest.raises(CollectionError, match="no search index yet"):
        col.search(images=[WIKIART / read_labels(WIKIART)[0]["image"]])
    assert col.info().artworks == 0


def test_a_copied_collection_directory_still_works(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "col")
    art = some_paintings(tmp_path / "art", 4)
    col.add([art])
    col.close()
    shutil.copytree(tmp_path / "col", tmp_path / "copy")
    copy = Collection.open(tmp_path / "copy")
    assert copy.info().artworks == 4
    assert len(copy.search(images=[next(art.iterdir())], k=2)) == 2
