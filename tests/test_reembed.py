"""Moving a collection to another backbone: `Collection.reembed` / `artlens reembed`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from artlens import Collection
from artlens.errors import CollectionError

from conftest import DEMO_IMAGES


@pytest.fixture
def art(tmp_path: Path) -> Path:
    folder = tmp_path / "art"
    folder.mkdir()
    for path in DEMO_IMAGES[:8]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture
def imagenet_collection(tmp_path: Path, art: Path) -> Collection:
    col = Collection.create(tmp_path / "col", backbone="lite0")
    col.add([art])
    return col


def test_a_new_collection_records_the_int8_art_backbone_and_its_version(tmp_path: Path, art: Path) -> None:
    col = Collection.create(tmp_path / "new")
    assert (col.backbone_name, col.backbone_version) == ("lite0-art-int8", "art-v1/taps-v1/int8-v2")
    info = col.info().model
    assert (info.backbone, info.version) == ("lite0-art-int8", "art-v1/taps-v1/int8-v2")
    assert col.feature_space == "lite0-art"  # the float backbone's default models serve it


def test_float_and_int8_share_their_models_across_a_reembed(tmp_path: Path, art: Path) -> None:
    col = Collection.create(tmp_path / "col", backbone="lite0-art")
    col.add([art])
    assert set(col.label_models()) >= {"style", "genre"}
    report = col.reembed("lite0-art-int8")
    assert report.retrain == [] and col.feature_space == "lite0-art"


def test_reembed_switches_every_artwork_and_search_works(imagenet_collection: Collection, art: Path) -> None:
    col = imagenet_collection
    ids_before, before = col.catalog.features("content", 1280)
    report = col.reembed("lite0-art")
    assert (report.backbone, report.embedded, report.kept) == ("lite0-art", 8, 0)
    ids_after, after = col.catalog.features("content", 1280)
    assert np.array_equal(ids_before, ids_after) and not np.allclose(before, after, atol=1e-2)
    again = Collection.open(col.directory)
    assert (again.backbone_name, again.backbone_version) == ("lite0-art", "art-v1/taps-v1")
    assert not again.is_stale()
    assert again.search(images=[DEMO_IMAGES[0]], k=1, include_self=True)[0].path.endswith(DEMO_IMAGES[0].name)
    again.add([art])  # the new backbone adds without complaint
    assert again.reembed("lite0-art").embedded == 0  # already there: nothing to do


def test_an_interrupted_reembed_continues_and_never_mixes(imagenet_collection: Collection) -> None:
    col = imagenet_collection

    def stop_after_first_batch(done: int, total: int) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        col.reembed("lite0-art", progress=stop_after_first_batch, batch_size=2)
    half = Collection.open(col.directory)
    assert half.backbone_name == "lite0"  # still the old backbone, whole
    report = half.reembed("lite0-art", batch_size=2)
    assert report.kept > 0 and report.kept + report.embedded == 8


def test_a_missing_file_blocks_the_switch_and_says_which(imagenet_collection: Collection, art: Path) -> None:
    col = imagenet_collection
    gone = sorted(art.iterdir())[0]
    gone.rename(gone.with_suffix(".bak"))
    with pytest.raises(CollectionError, match=gone.name):
        col.reembed("lite0-art")
    assert Collection.open(col.directory).backbone_name == "lite0"
    gone.with_suffix(".bak").rename(gone)
    report = Collection.open(col.directory).reembed("lite0-art")
    assert report.kept == 7 and report.embedded == 1  # the others were done the first time


def test_adding_with_another_backbone_is_refused_with_the_way_out(imagenet_collection: Collection, art: Path) -> None:
    with pytest.raises(CollectionError, match="artlens reembed"):
        Collection.create(imagenet_collection.directory, backbone="lite0-art")
    Collection.create(imagenet_collection.directory).add([art])  # no backbone named: the collection's own


@pytest.mark.parametrize(("backbone", "older"), [("lite0", "imagenet/taps-v0"),
                                                 ("lite0-art-int8", "art-v1/taps-v1/int8")])  # as the first INT8 file recorded it
def test_a_collection_of_an_older_backbone_version_still_searches_but_asks_to_reembed(
        tmp_path: Path, art: Path, backbone: str, older: str) -> None:
    col = Collection.create(tmp_path / "col", backbone=backbone)
    col.add([art])
    col.catalog.set_settings({"backbone_version": older})
    old = Collection.open(col.directory)
    assert old.search(ids=[1], k=2)  # stored vectors still search
    with pytest.raises(CollectionError, match=f"artlens reembed .* --backbone {backbone}`"):  # its own, not the default
        old.add([art])
    report = old.reembed(backbone)
    assert (report.backbone, report.embedded) == (backbone, 8)
    Collection.open(col.directory).add([art])


def test_cli_reembed(imagenet_collection: Collection) -> None:
    from typer.testing import CliRunner

    from artlens.cli import app

    result = CliRunner().invoke(app, ["reembed", str(imagenet_collection.directory), "--json"])
    assert result.exit_code == 0, result.output
    assert '"backbone": "lite0-art-int8"' in result.output  # the default


@pytest.mark.data
def test_own_models_of_another_feature_space_are_listed_to_retrain(tmp_path: Path, small_wikiart: tuple[Path, Path]) -> None:
    """A collection's own style space and label head learned on ImageNet features stop applying on the
    art backbone: the report lists them, the default space of the new backbone takes over, labels stay."""
    csv_path, _ = small_wikiart
    col = Collection.create(tmp_path / "col", backbone="lite0")
    col.add([line.split(",")[0] for line in csv_path.read_text().splitlines()[1:]], metadata=csv_path)
    col.learn_style("artist", epochs=2)
    col.train_label("genre", name="my_genre")
    assert "my_genre" in col.label_models()
    report = col.reembed("lite0-art")
    assert report.retrain == ["my_genre", "style_learned"]
    assert "my_genre" not in col.label_models()  # trained on other features: not applied
    space = col.style_space()
    assert space is not None and "this collection" not in space.meta["trained_on"]  # the shipped one
