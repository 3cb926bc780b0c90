"""Evaluation metrics: hand-computed examples (arithmetic in the comments) and scikit-learn cross-checks."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from artlens.evaluation.metrics import (
    average_precision,
    binary_average_precision,
    classification_report,
    detection_ap,
    graded_retrieval_scores,
    group_precision,
    group_query_mask,
    iou,
    iou_matrix,
    mean_ap,
    missing_mask,
    ndcg_at_k,
    other_members,
    precision_at_k,
    precision_recall_curve,
    retrieval_scores,
    shared_label_counts,
    topk_accuracy,
    voc_average_precision,
)

approx = pytest.approx


# --------------------------------------------------------------------------- P@k, AP, nDCG of one list

# One query's results, best first: relevant at ranks 1, 3 and 6; the collection has 4 relevant items.
RANKED = np.array([1, 0, 1, 0, 0, 1])


def test_precision_at_k():
    assert precision_at_k(RANKED, 1) == 1.0  # 1 / 1
    assert precision_at_k(RANKED, 5) == approx(2 / 5)  # ranks 1, 3
    assert precision_at_k(RANKED.astype(bool), 3) == approx(2 / 3)
    # Fewer than k results: still divided by k (3 hits among 6 results, k = 10).
    assert precision_at_k(RANKED, 10) == approx(3 / 10)
    assert precision_at_k(np.array([], dtype=bool), 5) == 0.0


def test_average_precision():
    # P at the relevant ranks: 1/1, 2/3, 3/6; one relevant item never retrieved counts 0.
    assert average_precision(RANKED, n_relevant=4) == approx((1 + 2 / 3 + 3 / 6) / 4)  # 13/24
    # Default n_relevant = the 3 relevant items in the list.
    assert average_precision(RANKED) == approx((1 + 2 / 3 + 3 / 6) / 3)
    # DeepArt AP@k: hits within the top 3 are ranks 1 and 3, divided by min(k=3, n=4) = 3.
    assert average_precision(RANKED, n_relevant=4, k=3) == approx((1 + 2 / 3) / 3)
    # min(k, n) lets a perfect top k score 1 although 10 relevant items exist.
    assert average_precision(np.ones(5), n_relevant=10, k=5) == 1.0
    # With k larger than n_relevant the denominator is n_relevant.
    assert average_precision(RANKED, n_relevant=3, k=60) == approx((1 + 2 / 3 + 3 / 6) / 3)


def test_average_precision_edge_cases():
    assert average_precision(np.zeros(4)) == 0.0  # no relevant item: 0, callers skip the query
    assert average_precision(np.array([], dtype=bool), n_relevant=0) == 0.0
    assert average_precision(np.zeros(4), n_relevant=2) == 0.0  # relevant items exist, none retrieved
    with pytest.raises(ValueError):
        average_precision(RANKED, n_relevant=2)  # 3 relevant in the list cannot be out of 2
    with pytest.raises(ValueError):
        average_precision(RANKED, k=0)
    with pytest.raises(ValueError):
        precision_at_k(RANKED, 0)
    with pytest.raises(ValueError):
        precision_at_k(np.ones((2, 3)), 1)  # one list at a time


def test_average_precision_matches_sklearn_on_complete_rankings():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, size=30)
        y[0] = 1
        scores = rng.random(30)  # distinct, so the ranking has no ties
        ranked = y[np.argsort(-scores)]
        assert average_precision(ranked) == approx(skm.average_precision_score(y, scores))


def test_ndcg_hand_computed():
    gains = np.array([2, 0, 1])
    # Exponential gain 2^g - 1: DCG = 3/log2(2) + 0/log2(3) + 1/log2(4) = 3 + 0 + 0.5 = 3.5;
    # ideal order [2, 1, 0]: 3 + 1/log2(3) = 3.6309.
    assert ndcg_at_k(gains, 3) == approx(3.5 / (3 + 1 / math.log2(3)))  # 0.9639
    # Linear gain g: DCG = 2 + 1/2 = 2.5; ideal 2 + 1/log2(3) = 2.6309.
    assert ndcg_at_k(gains, 3, gain="linear") == approx(2.5 / (2 + 1 / math.log2(3)))  # 0.9502
    # The collection holds another item of gain 2 that was not retrieved: ideal [2, 2, 1]
    # gives 3 + 3/log2(3) + 1/2 = 5.3928.
    ideal = np.array([2, 2, 1, 0, 0])
    assert ndcg_at_k(gains, 3, ideal_gains=ideal) == approx(3.5 / (3 + 3 / math.log2(3) + 0.5))
    assert ndcg_at_k(gains, 1) == 1.0  # the best item is first
    assert ndcg_at_k(np.array([0, 0, 0]), 3) == 0.0  # nothing has any gain
    with pytest.raises(ValueError):
        ndcg_at_k(gains, 3, gain="log")
    with pytest.raises(ValueError):
        ndcg_at_k(np.array([1, -1]), 2)


def test_ndcg_linear_matches_sklearn():
    rng = np.random.default_rng(1)
    true = rng.integers(0, 4, size=(25, 40))  # graded relevance of 40 candidates for 25 queries
    scores = rng.random((25, 40))  # the system's scores, no ties
    for k in (1, 5, 10, 40):
        ours = [
            ndcg_at_k(t[np.argsort(-s)], k, ideal_gains=t, gain="linear") for t, s in zip(true, scores)
        ]
        assert np.mean(ours) == approx(skm.ndcg_score(true, scores, k=k))
        # Without ideal_gains the complete ranking gives the same ideal.
        assert ndcg_at_k(true[0][np.argsort(-scores[0])], k, gain="linear") == approx(
            skm.ndcg_score(true[:1], scores[:1], k=k)
        )


def test_ndcg_exponential_is_linear_on_transformed_gains():
    # sklearn has only linear gain; exponential gain g is linear gain 2^g - 1.
    rng = np.random.default_rng(2)
    true = rng.integers(0, 4, size=(10, 30))
    scores = rng.random((10, 30))
    ours = [ndcg_at_k(t[np.argsort(-s)], 10, ideal_gains=t) for t, s in zip(true, scores)]
    assert np.mean(ours) == approx(skm.ndcg_score(2.0**true - 1, scores, k=10))


# --------------------------------------------------------------------------- single-label retrieval

# A collection of 6 artworks labelled by style; every query ranks the 5 others.
STYLES = np.array(["baroque", "baroque", "cubism", "cubism", "cubism", "fauvism"])


def test_other_members_is_n_relevant():
    assert other_members(STYLES).tolist() == [1, 1, 2, 2, 2, 0]
    # Missing labels are never relevant and have no relevant item.
    assert other_members(np.array(["a", "", "a", ""])).tolist() == [1, 0, 1, 0]
    assert other_members(np.array([3, -1, 3, -1, 7])).tolist() == [1, 0, 1, 0, 0]


def test_retrieval_scores_hand_computed():
    queries = np.array([0, 2, 4, 5])
    top3 = np.array(  # ids of the top 3 results of each query, never the query itself
        [
            [2, 1, 3],  # baroque -> cubism, baroque, cubism: relevant [0, 1, 0], n = 1
            [3, 0, 4],  # cubism  -> cubism, baroque, cubism: relevant [1, 0, 1], n = 2
            [0, 1, 5],  # cubism  -> baroque, baroque, fauvism: nothing, n = 2
            [0, 2, 1],  # fauvism -> alone in its style: n = 0, skipped
        ]
    )
    scores = retrieval_scores(STYLES[queries], STYLES[top3], other_members(STYLES)[queries], ks=(1, 3))
    assert scores["queries"] == 3
    assert scores["P@1"] == approx((0 + 1 + 0) / 3)
    assert scores["P@3"] == approx((1 / 3 + 2 / 3 + 0) / 3)
    # AP: query 0: (1/2)/1; query 2: (1/1 + 2/3)/2 = 5/6; query 4: 0.
    assert scores["mAP"] == approx((1 / 2 + 5 / 6 + 0) / 3)  # 4/9


def test_retrieval_scores_map_is_truncated_at_k():
    # 4 relevant items in the collection, the top 2 results are both relevant: AP@2 = (1 + 1) / 4.
    scores = retrieval_scores(np.array(["a"]), np.array([["a", "a"]]), np.array([4]), ks=(1, 2))
    assert scores["P@2"] == 1.0
    assert scores["mAP"] == approx(0.5)


def test_retrieval_scores_errors():
    q, r = STYLES[[5]], STYLES[[[0, 2]]]  # the fauvism query, alone in its style
    with pytest.raises(ValueError, match="exceed"):
        retrieval_scores(q, r, np.array([0]))  # default ks go to 60, only 2 results
    with pytest.raises(ValueError, match="no query"):
        retrieval_scores(q, r, np.array([0]), ks=(1,))
    with pytest.raises(ValueError):
        retrieval_scores(q, r, np.array([0, 1]), ks=(1,))  # n_relevant of the wrong shape
    with pytest.raises(ValueError, match="smaller"):
        retrieval_scores(STYLES[[0]], STYLES[[[1, 0]]], np.array([0]), ks=(1,))  # 2 hits, n = 0


def test_retrieval_scores_matches_sklearn_ap_on_full_rankings():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=20)
    emb = rng.normal(size=(20, 8))
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)  # a query never retrieves itself
    ranked = np.argsort(-sim, axis=1)[:, :19]
    scores = retrieval_scores(labels, labels[ranked], other_members(labels), ks=(1, 5))
    use = other_members(labels) > 0
    expected = [
        skm.average_precision_score(labels[np.arange(20) != i] == labels[i], sim[i, np.arange(20) != i])
        for i in np.flatnonzero(use)
    ]
    assert scores["mAP"] == approx(np.mean(expected))
    assert scores["P@1"] == approx(np.mean((labels[ranked[:, 0]] == labels)[use]))


# --------------------------------------------------------------------------- DeepArt multi-label graded retrieval


def test_shared_label_counts():
    # Attributes: (artist, style, genre). Missing labels ("", None) are never shared.
    queries = np.array(
        [["monet", "impressionism", "landscape"], ["van-gogh", "", "portrait"]], dtype=object
    )
    results = np.array(
        [
            [
                ["monet", "impressionism", "portrait"],  # artist + style = 2
                ["renoir", "impressionism", "landscape"],  # style + genre = 2
                ["monet", "impressionism", "landscape"],  # all = 3
            ],
            [
                ["van-gogh", "", "portrait"],  # artist + genre = 2; "" == "" does not count
                ["gauguin", "post-impressionism", "portrait"],  # genre = 1
                [None, None, None],  # 0
            ],
        ],
        dtype=object,
    )
    shared = shared_label_counts(queries, results)
    assert shared.tolist() == [[2, 2, 3], [2, 1, 0]]
    # Integer-coded labels with -1 for missing behave the same.
    assert shared_label_counts(np.array([[1, -1]]), np.array([[[1, -1], [2, 5]]])).tolist() == [[1, 0]]
    with pytest.raises(ValueError):
        shared_label_counts(queries, results[:, :, :2])


def test_graded_retrieval_scores_hand_computed():
    # 3 labels, relevant = sharing a majority (>= 2). Top 4 results share [3, 1, 2, 0] labels; the
    # whole collection for this query shares [3, 2, 2, 1, 0, 0], so 3 items are relevant.
    shared = np.array([[3, 1, 2, 0]])
    ideal = [np.array([3, 2, 2, 1, 0, 0])]
    scores = graded_retrieval_scores(shared, n_labels=3, k=4, ideal=ideal)
    assert scores["P@4"] == approx(2 / 4)  # ranks 1 and 3
    assert scores["AP@4"] == approx((1 / 1 + 2 / 3) / min(4, 3))  # 5/9
    # Exponential gains 2^s - 1 = [7, 1, 3, 0]: DCG = 7 + 1/log2(3) + 3/log2(4) = 9.1309;
    # ideal [3, 2, 2, 1] -> [7, 3, 3, 1]: 7 + 3/log2(3) + 3/2 + 1/log2(5) = 10.8235.
    dcg = 7 + 1 / math.log2(3) + 3 / 2
    idcg = 7 + 3 / math.log2(3) + 3 / 2 + 1 / math.log2(5)
    assert scores["nDCG@4"] == approx(dcg / idcg)  # 0.8436
    assert scores["queries"] == 1


def test_graded_retrieval_scores_over_queries():
    shared = np.array([[2, 2, 0], [0, 0, 1], [0, 2, 2]])  # the 2nd query has no relevant item: skipped
    ideal = np.array([[2, 2, 0], [0, 0, 1], [2, 2, 0]])  # (Q, N) array form
    scores = graded_retrieval_scores(shared, n_labels=3, k=2, ideal=ideal)
    assert scores["queries"] == 2
    assert scores["P@2"] == approx((1 + 1 / 2) / 2)
    assert scores["AP@2"] == approx((1 + (1 / 2) / 2) / 2)  # query 3: hit at rank 2, / min(2, 2)
    # Without ideal the lists are complete rankings: query 3 then has 2 relevant items, as above.
    assert graded_retrieval_scores(shared, n_labels=3, k=2)["AP@2"] == approx(scores["AP@2"])
    # min_shared=1 makes the 2nd query usable (its 3rd result shares one label).
    assert graded_retrieval_scores(shared, n_labels=3, min_shared=1, k=2)["queries"] == 3


def test_graded_retrieval_scores_errors():
    shared = np.array([[1, 0]])
    with pytest.raises(ValueError, match="exceeds"):
        graded_retrieval_scores(shared, n_labels=3)  # default k = 60 > 2 results
    with pytest.raises(ValueError, match="no query"):
        graded_retrieval_scores(shared, n_labels=3, k=2)  # majority is 2, nobody shares 2
    with pytest.raises(ValueError):
        graded_retrieval_scores(np.array([[4, 0]]), n_labels=3, k=2)
    with pytest.raises(ValueError):
        graded_retrieval_scores(shared, n_labels=3, min_shared=4, k=2)


# --------------------------------------------------------------------------- ALADIN group retrieval


def test_group_precision():
    groups = np.array(["g1", "g1", "g1", "g2", "g3", "g3", ""])  # g2 is alone, item 6 has no group
    mask = group_query_mask(groups)
    assert mask.tolist() == [True, True, True, False, True, True, False]
    top2 = np.array(
        [
            [1, 3],  # g1 -> g1, g2: P@1 = 1, P@2 = 1/2
            [4, 2],  # g1 -> g3, g1: 0, 1/2
            [0, 1],  # g1 -> g1, g1: 1, 1
            [0, 1],  # g2: excluded (no other member)
            [0, 1],  # g3 -> g1, g1: 0, 0
            [4, 6],  # g3 -> g3, -: 1, 1/2
            [6, 0],  # no group: excluded
        ]
    )
    scores = group_precision(groups, groups[top2], ks=(1, 2), query_mask=mask)
    assert scores["queries"] == 5
    assert scores["P@1"] == approx((1 + 0 + 1 + 0 + 1) / 5)
    assert scores["P@2"] == approx((1 / 2 + 1 / 2 + 1 + 0 + 1 / 2) / 5)
    # Without the mask the lone g2 query counts (with P = 0), the query without a group never does.
    assert group_precision(groups, groups[top2], ks=(1,))["queries"] == 6
    with pytest.raises(ValueError):
        group_precision(groups, groups[top2], ks=(3,))


def test_missing_mask():
    assert missing_mask(np.array(["a", ""])).tolist() == [False, True]
    assert missing_mask(np.array([1.0, np.nan])).tolist() == [False, True]
    assert missing_mask(np.array([0, -1])).tolist() == [False, True]
    assert missing_mask(np.array(["a", None, float("nan"), ""], dtype=object)).tolist() == [
        False,
        True,
        True,
        True,
    ]
    assert missing_mask(np.array([True, False])).tolist() == [False, False]


# --------------------------------------------------------------------------- classification


def test_topk_accuracy_hand_computed():
    scores = np.array(
        [
            [0.1, 0.7, 0.2],  # true 1: rank 1
            [0.5, 0.2, 0.3],  # true 2: rank 2
            [0.6, 0.3, 0.1],  # true 2: rank 3
            [0.4, 0.4, 0.2],  # true 1: tied with class 0 for first
        ]
    )
    y = np.array([1, 2, 2, 1])
    assert topk_accuracy(y, scores, 1) == approx(1 / 4)  # the tie counts against the model
    assert topk_accuracy(y, scores, 2) == approx(3 / 4)
    assert topk_accuracy(y, scores, 3) == 1.0
    assert topk_accuracy(np.array([0]), np.array([[1.0, 1.0]]), 1) == 0.0  # constant scores: wrong
    with pytest.raises(ValueError):
        topk_accuracy(np.array([], dtype=int), np.zeros((0, 3)), 1)
    with pytest.raises(ValueError):
        topk_accuracy(np.array([3]), np.zeros((1, 3)), 1)  # class 3 of 3


def test_topk_accuracy_matches_sklearn():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 6, size=200)
    scores = rng.random((200, 6))
    for k in range(1, 6):
        expected = skm.top_k_accuracy_score(y, scores, k=k, labels=np.arange(6))
        assert topk_accuracy(y, scores, k) == approx(expected)


def test_classification_report_hand_computed():
    y_true = ["cat", "cat", "dog", "dog", "bird"]
    y_pred = ["cat", "dog", "dog", "dog", "cat"]
    r = classification_report(y_true, y_pred)
    assert r["labels"] == ["bird", "cat", "dog"]
    # rows = truth, columns = predicted
    assert r["confusion_matrix"] == [
        [0, 1, 0],  # bird -> cat
        [0, 1, 1],  # cat -> cat, dog
        [0, 0, 2],  # dog -> dog, dog
    ]
    # bird is never predicted: precision 0 (defined), recall 0/1, F1 0.
    assert r["per_class"]["bird"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["per_class"]["cat"] == approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2})
    # dog: precision 2/3, recall 2/2, F1 = 2 * (2/3) * 1 / (2/3 + 1) = 0.8
    assert r["per_class"]["dog"] == approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert r["accuracy"] == approx(3 / 5)
    assert r["micro_f1"] == approx(3 / 5)
    assert r["macro_f1"] == approx((0 + 0.5 + 0.8) / 3)
    # MCC: c = 3 correct, s = 5, true counts t = [1, 2, 2], predicted p = [0, 2, 3]:
    # (c*s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)) = (15 - 10) / sqrt((25 - 13)(25 - 9)) = 5 / sqrt(192)
    assert r["mcc"] == approx(5 / math.sqrt(192))  # 0.3608
    json.dumps(r)  # plain Python values


def test_classification_report_with_labels_and_edge_cases():
    r = classification_report([0, 1, 1], [0, 1, 0], labels=[1, 0, 2])  # order given, class 2 absent
    assert r["labels"] == [1, 0, 2]
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert r["per_class"][2] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro_f1"] == approx((2 / 3 + 2 / 3 + 0) / 3)  # absent classes count in the macro mean
    # All truth in one class: MCC is undefined, reported as 0.
    assert classification_report([1, 1, 1], [1, 0, 1])["mcc"] == 0.0
    assert classification_report([1, 0], [1, 0])["mcc"] == 1.0
    with pytest.raises(ValueError, match="empty"):
        classification_report([], [])
    with pytest.raises(ValueError):
        classification_report([0, 1], [0])
    with pytest.raises(ValueError, match="not in labels"):
        classification_report([0, 3], [0, 1], labels=[0, 1])


def test_classification_report_matches_sklearn():
    rng = np.random.default_rng(5)
    for n_classes in (2, 5):
        y_true = rng.integers(0, n_classes, size=300)
        # A fair classifier that never predicts the last class.
        y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, n_classes, size=300))
        y_pred[y_pred == n_classes - 1] = 0
        labels = list(range(n_classes))
        r = classification_report(y_true, y_pred, labels=labels)
        p, rc, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        assert [r["per_class"][c]["precision"] for c in labels] == approx(p.tolist())
        assert [r["per_class"][c]["recall"] for c in labels] == approx(rc.tolist())
        assert [r["per_class"][c]["f1"] for c in labels] == approx(f.tolist())
        assert [r["per_class"][c]["support"] for c in labels] == s.tolist()
        assert r["macro_f1"] == approx(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
        assert r["micro_f1"] == approx(skm.f1_score(y_true, y_pred, average="micro"))
        assert r["accuracy"] == approx(skm.accuracy_score(y_true, y_pred))
        assert r["mcc"] == approx(skm.matthews_corrcoef(y_true, y_pred))
        np.testing.assert_array_equal(r["confusion_matrix"], skm.confusion_matrix(y_true, y_pred, labels=labels))


def test_binary_average_precision_hand_computed():
    # Ranked: 0.9 (+), 0.8 (-), 0.7 (+), 0.1 (-). Recall steps of 1/2 at precision 1/1 and 2/3.
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    assert binary_average_precision(y, s) == approx(0.5 * 1 + 0.5 * 2 / 3)
    # Ties form one threshold: 0.9 (+) then {0.5 (+), 0.5 (-)} -> 0.5 * 1 + 0.5 * 2/3 as well,
    # whatever order the tied items are in.
    assert binary_average_precision([1, 0, 1], [0.9, 0.5, 0.5]) == approx(0.5 + 0.5 * 2 / 3)
    assert binary_average_precision([1, 1, 0], [0.9, 0.5, 0.5]) == approx(0.5 + 0.5 * 2 / 3)
    assert binary_average_precision([0, 0], [0.3, 0.2]) == 0.0  # no positive
    with pytest.raises(ValueError):
        binary_average_precision([], [])
    with pytest.raises(ValueError):
        binary_average_precision([0, 2], [0.1, 0.2])


def test_precision_recall_curve_and_ap_match_sklearn():
    rng = np.random.default_rng(6)
    for trial in range(10):
        y = rng.integers(0, 2, size=50)
        y[0] = 1
        scores = np.round(rng.random(50), 1) if trial % 2 else rng.random(50)  # with and without ties
        for ours, theirs in zip(precision_recall_curve(y, scores), skm.precision_recall_curve(y, scores)):
            np.testing.assert_allclose(ours, theirs)
        assert binary_average_precision(y, scores) == approx(skm.average_precision_score(y, scores))
    y, scores = np.zeros(5, dtype=int), rng.random(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when there is no positive
        expected_curve = skm.precision_recall_curve(y, scores)
        expected_ap = skm.average_precision_score(y, scores)
    for ours, theirs in zip(precision_recall_curve(y, scores), expected_curve):
        np.testing.assert_allclose(ours, theirs)
    assert binary_average_precision(y, scores) == approx(expected_ap)


# --------------------------------------------------------------------------- detection (PASCAL VOC)


def test_iou_uses_voc_pixel_convention():
    a, b = [0, 0, 9, 9], [5, 0, 14, 9]
    # +1 pixels: each box 10 x 10 = 100, overlap columns 5..9 = 5 x 10 = 50 -> 50 / (100 + 100 - 50)
    assert iou(a, b) == approx(1 / 3)
    # Continuous corners: 9 x 9 = 81 each, overlap 4 x 9 = 36 -> 36 / (81 + 81 - 36) = 2/7
    assert iou(a, b, inclusive=False) == approx(2 / 7)
    assert iou(a, a) == 1.0
    assert iou([0, 0, 9, 9], [10, 0, 19, 9]) == 0.0  # touching, no shared pixel
    assert iou([0, 0, 9, 9], [9, 9, 19, 19]) == approx(1 / (100 + 121 - 1))  # one shared pixel
    m = iou_matrix(np.array([a, b]), np.array([a, b, [50, 50, 60, 60]]))
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m, [[1, 1 / 3, 0], [1 / 3, 1, 0]])


def test_voc_average_precision():
    recall = np.array([0.5, 0.5, 0.5, 1.0])
    precision = np.array([1.0, 0.5, 1 / 3, 0.5])
    # All points: envelope 1 up to recall 0.5, then 0.5 up to 1 -> 0.5 * 1 + 0.5 * 0.5
    assert voc_average_precision(recall, precision) == approx(0.75)
    # 11 points: t = 0 .. 0.5 (6 points) reach precision 1, t = 0.6 .. 1 (5 points) only 0.5
    assert voc_average_precision(recall, precision, use_07_metric=True) == approx((6 * 1 + 5 * 0.5) / 11)
    # 11 points at recall 0.3 exactly: t = 0, 0.1, 0.2, 0.3 count (float steps would miss 0.3).
    assert voc_average_precision(np.array([3 / 10]), np.array([1.0]), use_07_metric=True) == approx(4 / 11)
    assert voc_average_precision(np.array([]), np.array([])) == 0.0
    assert voc_average_precision(np.array([]), np.array([]), use_07_metric=True) == 0.0


# Two images, three "person" boxes, one of them difficult.
TRUTH = {
    "a.jpg": [("person", [0, 0, 9, 9], False), ("person", [20, 0, 29, 9], True)],
    "b.jpg": [("person", [0, 0, 9, 9], False)],
}
PREDICTIONS = [
    ("b.jpg", "person", 0.5, [0, 0, 9, 8]),  # IoU 90/100 = 0.9 with b's box: TP
    ("a.jpg", "person", 0.9, [0, 0, 9, 9]),  # IoU 1 with a's first box: TP
    ("a.jpg", "person", 0.8, [1, 0, 9, 9]),  # same box again (IoU 0.9): duplicate, FP
    ("a.jpg", "person", 0.7, [20, 0, 29, 9]),  # the difficult box: neither TP nor FP
    ("b.jpg", "person", 0.6, [5, 0, 14, 9]),  # IoU 1/3 < 0.5: FP
]


def test_detection_ap_hand_computed():
    # By score: TP (0.9), FP (0.8), ignored (0.7), FP (0.6), TP (0.5); 2 positives (difficult excluded).
    # Cumulative: recall 1/2, 1/2, 1/2, 2/2; precision 1/1, 1/2, 1/3, 2/4 -> the curve of
    # test_voc_average_precision: 0.75 (all points), 8.5/11 (VOC2007 11 points).
    assert detection_ap(TRUTH, PREDICTIONS) == {"person": approx(0.75)}
    assert detection_ap(TRUTH, PREDICTIONS, use_07_metric=True) == {"person": approx(8.5 / 11)}
    # At IoU 0.95 only the exact match of a's box and the difficult one are matches:
    # TP, FP, (ignored), FP, FP -> recall 1/2 at precision 1 -> 0.5.
    assert detection_ap(TRUTH, PREDICTIONS, iou_threshold=0.95) == {"person": approx(0.5)}


def test_detection_ap_assigns_to_best_box_even_if_taken():
    # As the VOC devkit: the second prediction overlaps box X best (IoU 90/110) and box Y enough
    # (70/130 = 0.54), but X is already taken, so it is a duplicate (FP), not a match to Y.
    truth = {"c.jpg": [("person", [0, 0, 9, 9], False), ("person", [4, 0, 13, 9], False)]}
    preds = [("c.jpg", "person", 0.9, [0, 0, 9, 9]), ("c.jpg", "person", 0.8, [1, 0, 10, 9])]
    assert iou([1, 0, 10, 9], [4, 0, 13, 9]) == approx(70 / 130)
    assert detection_ap(truth, preds) == {"person": approx(0.5)}  # TP, FP: recall 1/2 at precision 1


def test_detection_ap_edge_cases():
    truth = {
        "a.jpg": [("person", [0, 0, 9, 9], False), ("horse", [0, 0, 9, 9], True)],
        "b.jpg": [("dog", [0, 0, 9, 9], False)],
    }
    preds = [
        ("a.jpg", "person", 0.9, [0, 0, 9, 9]),
        ("a.jpg", "cat", 0.8, [0, 0, 9, 9]),  # no cat anywhere
        ("c.jpg", "person", 0.7, [0, 0, 9, 9]),  # an image without ground truth: FP
    ]
    ap = detection_ap(truth, preds)
    assert ap["person"] == 1.0  # TP then FP: recall 1 reached at precision 1
    assert ap["dog"] == 0.0  # ground truth, no prediction
    assert math.isnan(ap["horse"])  # only a difficult box: no positives, AP undefined
    assert math.isnan(ap["cat"])  # predicted, never true: AP undefined
    assert mean_ap(ap) == approx((1.0 + 0.0) / 2)  # NaN classes are skipped
    assert detection_ap(truth, []) == {"person": 0.0, "horse": approx(math.nan, nan_ok=True), "dog": 0.0}
    assert detection_ap({}, []) == {}
    with pytest.raises(ValueError):
        mean_ap({"cat": math.nan})


def _devkit_ap(truth, predictions, cls, threshold=0.5, use_07_metric=False):
    """A line-by-line transcription of VOCevaldet.m for one class, ignored detections kept as tp = fp = 0."""
    gt = {img: [(np.array(b, float), d) for c, b, d in objs if c == cls] for img, objs in truth.items()}
    det = {img: [False] * len(g) for img, g in gt.items()}
    npos = sum(not d for g in gt.values() for _, d in g)
    preds = sorted((p for p in predictions if p[1] == cls), key=lambda p: -p[2])
    tp, fp = np.zeros(len(preds)), np.zeros(len(preds))
    for i, (img, _, _, bb) in enumerate(preds):
        ovmax, jmax = -np.inf, -1
        for j, (bbgt, _) in enumerate(gt.get(img, [])):
            bi = [max(bb[0], bbgt[0]), max(bb[1], bbgt[1]), min(bb[2], bbgt[2]), min(bb[3], bbgt[3])]
            iw, ih = bi[2] - bi[0] + 1, bi[3] - bi[1] + 1
            if iw > 0 and ih > 0:
                ua = (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1) + (bbgt[2] - bbgt[0] + 1) * (bbgt[3] - bbgt[1] + 1) - iw * ih
                if iw * ih / ua > ovmax:
                    ovmax, jmax = iw * ih / ua, j
        if ovmax >= threshold:
            if gt[img][jmax][1]:
                pass  # difficult: neither
            elif not det[img][jmax]:
                tp[i], det[img][jmax] = 1, True
            else:
                fp[i] = 1
        else:
            fp[i] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, np.finfo(float).eps)
    return voc_average_precision(rec, prec, use_07_metric)


def test_detection_ap_matches_devkit_transcription():
    rng = np.random.default_rng(7)

    def box():
        x, y = rng.integers(0, 40, size=2)
        w, h = rng.integers(5, 20, size=2)
        return [int(x), int(y), int(x + w), int(y + h)]

    truth = {
        img: [(str(rng.choice(["person", "horse"])), box(), bool(rng.random() < 0.2)) for _ in range(rng.integers(1, 4))]
        for img in range(15)
    }
    preds = []
    for img, objs in truth.items():
        for cls, b, _ in objs:  # noisy copies, some duplicated, plus clutter
            for _ in range(rng.integers(0, 3)):
                jitter = rng.integers(-3, 4, size=4)
                preds.append((img, cls, float(rng.random()), [int(v) for v in np.array(b) + jitter]))
        preds.append((img, str(rng.choice(["person", "horse"])), float(rng.random()), box()))
    for use_07 in (False, True):
        ours = detection_ap(truth, preds, use_07_metric=use_07)
        for cls in ("person", "horse"):
            assert ours[cls] == approx(_devkit_ap(truth, preds, cls, use_07_metric=use_07))
