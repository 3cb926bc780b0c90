"""`artlens eval`: every labelled artwork queries the rest; scores per facet."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from artlens import Collection, InputError
from artlens.cli import app
from artlens.evaluation.evaluate import RetrievalTask, evaluate_retrieval, ranked_neighbours


def test_a_perfect_facet_and_a_useless_one() -> None:
    # Four artworks, two styles. "good" puts each work next to its twin; "bad" next to the other style.
    meta = [{"style": "a", "artist": "x"}, {"style": "a", "artist": "y"}, {"style": "b", "artist": "x"}, {"style": "b", "artist": "y"}]
    good = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    bad = np.array([[1, 0], [0, 1], [0.9, 0.1], [0.1, 0.9]], np.float32)
    good /= np.linalg.norm(good, axis=1, keepdims=True)
    bad /= np.linalg.norm(bad, axis=1, keepdims=True)
    result = evaluate_retrieval({"good": good, "bad": bad}, meta, RetrievalTask(labels=("style",), group="artist", k=3))
    assert result["facets"]["good"]["style"]["P@1"] == 1.0
    assert result["facets"]["good"]["style"]["mAP"] == 1.0
    assert result["facets"]["bad"]["style"]["P@1"] == 0.0
    # bad: for works 0 and 1 the one same-style work comes 3rd of 3 (AP 1/3); for works 2 and 3
    # it comes 2nd (AP 1/2), so mAP = (1/3 + 1/3 + 1/2 + 1/2) / 4 = 5/12.
    assert result["facets"]["bad"]["style"]["mAP"] == pytest.approx(5 / 12)
    # By artist "good" is wrong first (same style, other artist), then right: P@1 = 0.
    assert result["facets"]["good"]["group:artist"]["P@1"] == 0.0


def test_the_query_never_finds_itself() -> None:
    mat = np.eye(5, dtype=np.float32)
    ranked = ranked_neighbours(mat, np.arange(5), depth=4)
    assert all(i not in ranked[i] for i in range(5))


def test_eval_retrieval_on_wikiart_paintings(small_collection: Collection) -> None:
    result = small_collection.evaluate_retrieval(labels=["style", "genre"], group="artist")
    assert set(result["facets"]) == {"joint", "content", "style", "color", "style_learned"}
    style = {f: result["facets"][f]["style"] for f in result["facets"]}
    assert set(style["joint"]) == {"P@1", "P@5", "P@10", "P@60", "mAP", "queries"}
    assert style["joint"]["P@10"] > 2 * (1 / 11)  # well above chance with 11 styles
    assert style["color"]["mAP"] < style["style"]["mAP"]
    assert set(result["facets"]["joint"]["graded"]) >= {"P@60", "AP@60", "nDCG@60"}
    assert set(result["facets"]["joint"]["group:artist"]) >= {"P@1", "P@5", "P@10"}


def test_eval_retrieval_command(small_collection: Collection) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "retrieval", str(small_collection.directory), "--label", "style", "--facet", "style", "--facet", "color", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data["facets"]) == ["style", "color"]
    table = runner.invoke(app, ["eval", "retrieval", str(small_collection.directory), "--label", "style"])
    assert table.exit_code == 0
    assert "best for style:" in table.stdout


def test_eval_errors(small_collection: Collection) -> None:
    with pytest.raises(InputError, match="unknown metadata column museum"):
        small_collection.evaluate_retrieval(labels=["museum"])
    with pytest.raises(InputError, match="at least one label"):
        small_collection.evaluate_retrieval(labels=[])
    with pytest.raises(InputError, match="min-shared"):
        small_collection.evaluate_retrieval(labels=["style", "genre"], min_shared=3)


def knn_predictions(col: Collection, k: int = 10) -> list[dict[str, str]]:
    """A real classifier for the tests: the styles of each painting's 10 nearest neighbours, as scores."""
    from artlens.store import catalog

    vecs = col.vectors
    with col.catalog.engine.connect() as conn:
        rows = catalog.artworks_by_id(conn, vecs.ids)
    mat = np.asarray(vecs.matrices["joint"])
    ranked = ranked_neighbours(mat, np.arange(len(mat)), depth=k)
    out = []
    for i, nbrs in enumerate(ranked):
        styles = [rows[int(vecs.ids[j])].meta["style"] for j in nbrs]
        scores = {s: styles.count(s) / k for s in set(styles)}
        me = rows[int(vecs.ids[i])]
        out.append({
            "image": me.path,
            "style_predicted": max(scores, key=lambda s: (scores[s], s)),
            "style_scores": json.dumps(scores),
            "ukiyo": "yes" if me.meta["style"] == "Ukiyo_e" else "no",
            "ukiyo_predicted": "yes" if scores.get("Ukiyo_e", 0) >= 0.5 else "no",
            "ukiyo_scores": json.dumps({"yes": scores.get("Ukiyo_e", 0.0), "no": 1 - scores.get("Ukiyo_e", 0.0)}),
        })
    return out


@pytest.fixture(scope="module")
def predicted_collection(small_collection: Collection, tmp_path_factory: pytest.TempPathFactory) -> Collection:
    import shutil

    from conftest import write_csv

    folder = tmp_path_factory.mktemp("predicted")
    shutil.copytree(small_collection.directory, folder / "col")
    col = Collection.open(folder / "col")
    rows = knn_predictions(col)
    col.add([r["image"] for r in rows], metadata=write_csv(folder / "predictions.csv", rows))
    return col


def test_eval_labels_multiclass(predicted_collection: Collection) -> None:
    r = predicted_collection.evaluate_labels("style", "style_predicted", scores="style_scores")
    assert r["items"] == 242
    assert len(r["labels"]) == 11 and len(r["confusion_matrix"]) == 11
    assert sum(map(sum, r["confusion_matrix"])) == 242
    assert 1 / 11 < r["top1_accuracy"] <= r["top3_accuracy"] <= 1
    assert -1 <= r["mcc"] <= 1 and 0 < r["macro_f1"] < 1
    assert "average_precision" not in r  # not a binary label


def test_eval_labels_binary_with_curve(predicted_collection: Collection, tmp_path) -> None:
    from PIL import Image

    runner = CliRunner()
    png = tmp_path / "pr.png"
    result = runner.invoke(app, ["eval", "labels", str(predicted_collection.directory), "--label", "ukiyo", "--predicted", "ukiyo_predicted",
                                 "--scores", "ukiyo_scores", "--curve", str(png), "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["positive"] == "yes"
    assert 22 / 242 < r["average_precision"] <= 1  # above the share of positives
    assert Image.open(png).size == (600, 480)
    table = runner.invoke(app, ["eval", "labels", str(predicted_collection.directory), "-l", "ukiyo", "-p", "ukiyo_predicted"])
    assert "top-3 n/a (needs --scores)" in table.stdout
    assert "confusion matrix" in table.stdout


def test_eval_boxes_on_people_art(tmp_path) -> None:
    import csv

    from conftest import DATA

    rows = list(csv.DictReader(open(DATA / "peopleart" / "labels.csv", newline="", encoding="utf-8")))[:40]
    truth = tmp_path / "truth.csv"
    with open(truth, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "boxes_json"])
        for r in rows:
            w.writerow([r["image"], r["boxes_json"]])
    # Predictions: every true box found (shifted 2 px), plus one false box per image at low score.
    preds = tmp_path / "preds.csv"
    n_true = 0
    with open(preds, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "class", "score", "xmin", "ymin", "xmax", "ymax"])
        for r in rows:
            for name, x0, y0, x1, y1, difficult in json.loads(r["boxes_json"]):
                w.writerow([r["image"], name, 0.9, x0 + 2, y0 + 2, x1 + 2, y1 + 2])
                n_true += 0 if difficult else 1
            w.writerow([r["image"], "person", 0.1, 0, 0, 5, 5])
        w.writerow(["broken-row", "person", "high", 1, 2, 3, 4])
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "boxes", "--truth", str(truth), "--predictions", str(preds), "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert n_true > 0
    # Every true box is found before any false one: AP 1 at IoU 0.5. At 0.75 the 2 px shift pushes
    # the smallest figures below the threshold, so AP drops, but not far.
    assert r["AP@0.5"]["per_class"] == {"person": 1.0}
    assert 0.8 < r["AP@0.75"]["mean"] < 1.0
    assert len(r["problems"]) == 1 and "line" in r["problems"][0]
