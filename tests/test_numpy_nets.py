"""The numpy nets that label heads and style spaces train with: every hand-written gradient against
finite differences (float64), the optimiser against the AdamW update rule, and determinism."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from artlens.learn import numpy_nets as nets

EPS = 1e-6


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Central differences of f at x, one entry at a time."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + EPS
        up = f(x)
        x[i] = old - EPS
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * EPS)
    return g


def check(loss: Callable[[np.ndarray], tuple[float, np.ndarray]], x: np.ndarray) -> None:
    _, analytic = loss(x)
    np.testing.assert_allclose(analytic, numeric_grad(lambda v: loss(v)[0], x.copy()), rtol=1e-5, atol=1e-7)


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_cross_entropy_gradient_with_class_weights() -> None:
    rng = np.random.default_rng(0)
    y = np.array([0, 2, 1, 2, 0, 3])
    weight = np.array([0.5, 2.0, 1.0, 0.0])  # an absent class weighs nothing
    check(lambda z: nets.softmax_cross_entropy(z, y, weight), rng.normal(size=(6, 4)))
    # the weighted mean: a uniform weight gives the plain mean of the negative log-likelihoods
    z = rng.normal(size=(6, 4))
    plain, _ = nets.softmax_cross_entropy(z, y)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert plain == pytest.approx(-np.log(p[np.arange(6), y]).mean())


def test_masked_bce_gradient_and_unknowns() -> None:
    rng = np.random.default_rng(1)
    t = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    mask = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])  # 0 = unknown value
    pw = np.array([2.0, 0.5, 1.0])
    z = rng.normal(size=(3, 3)) * 3
    check(lambda v: nets.masked_bce(v, t, mask, pw), z)
    value, grad = nets.masked_bce(z, t, mask, pw)
    assert np.all(grad[mask == 0] == 0) and np.all(grad[mask == 1] != 0)
    # the unknown entries' targets do not matter at all
    assert nets.masked_bce(z, np.where(mask > 0, t, 1.0), mask, pw)[0] == pytest.approx(value)
    # extreme logits stay finite
    big, g = nets.masked_bce(np.array([[80.0, -80.0]]), np.array([[0.0, 1.0]]), np.ones((1, 2)))
    assert np.isfinite(big) and big == pytest.approx(80.0) and np.all(np.isfinite(g))


def test_supcon_gradient() -> None:
    groups = np.array([0, 0, 1, 1, 1, 2, 3])  # 2 and 3: no positive, negatives only
    check(lambda z: nets.supcon(z, groups, 0.5), unit_rows(7, 5, 2))


def test_triplet_gradient_with_and_without_labels() -> None:
    groups = np.array([0, 0, 1, 1, 2, 2, 3])
    labels = np.array([[0, 1], [0, 1], [1, 0], [1, -1], [0, 0], [0, 1], [-1, 1]])
    z = unit_rows(7, 6, 3)
    check(lambda v: nets.triplet(v, groups, 0.2), z)
    # the random label positives are drawn again for each evaluation: the same seed, the same picks
    check(lambda v: nets.triplet(v, groups, 0.2, labels, 0.3, np.random.default_rng(5)), z)


def test_normalize_backward() -> None:
    rng = np.random.default_rng(4)
    w = rng.normal(size=(4, 3))

    def loss(x: np.ndarray) -> tuple[float, np.ndarray]:
        y, norm = nets.normalize(x)
        return float((y * w).sum()), nets.normalize_backward(y, norm, w)

    check(loss, rng.normal(size=(4, 3)))


def test_network_gradients_through_every_layer() -> None:
    rng = np.random.default_rng(6)
    net = nets.Sequential([nets.Linear(5, 8, rng, dtype=np.float64), nets.ReLU(), nets.Linear(8, 3, rng, dtype=np.float64)])
    x, y = rng.normal(size=(10, 5)), rng.integers(0, 3, 10)
    value, g = nets.softmax_cross_entropy(net.forward(x, train=True), y)
    net.backward(g)
    for p, analytic in zip(net.params(), net.grads(), strict=True):
        def f(v: np.ndarray, p: np.ndarray = p) -> float:
            p[...] = v
            return nets.softmax_cross_entropy(net.forward(x), y)[0]
        original = p.copy()
        numeric = numeric_grad(f, p.copy())
        p[...] = original
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_dropout_scales_kept_entries_and_is_off_in_evaluation() -> None:
    drop = nets.Dropout(0.25, np.random.default_rng(0))
    x = np.ones((200, 50), np.float32)
    y = drop.forward(x, train=True)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)} and abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), y)  # gradient flows through the kept entries only
    np.testing.assert_array_equal(drop.forward(x, train=False), x)


def test_adamw_follows_the_update_rule() -> None:
    p = np.array([1.0, -2.0])
    opt = nets.AdamW([p], lr=0.1, weight_decay=0.01)
    g = np.array([0.5, -1.0])
    opt.step([g])
    # first step: the bias-corrected moments are g and g**2, so the step is lr * sign(g) (up to eps)
    expected = np.array([1.0, -2.0]) * (1 - 0.1 * 0.01) - 0.1 * np.sign(g)
    np.testing.assert_allclose(p, expected, rtol=1e-6)


def test_a_small_net_learns_and_is_deterministic() -> None:
    def train(seed: int) -> tuple[float, list[np.ndarray]]:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(200, 4)).astype(np.float32)
        y = (x[:, 0] * x[:, 1] > 0).astype(int)  # not linearly separable: needs the hidden layer
        net = nets.Sequential([nets.Linear(4, 32, rng), nets.ReLU(), nets.Dropout(0.1, rng), nets.Linear(32, 2, rng)])
        opt = nets.AdamW(net.params(), lr=1e-2)
        for _ in range(300):
            net.backward(nets.softmax_cross_entropy(net.forward(x, train=True), y)[1])
            opt.step(net.grads())
        return float((net.forward(x).argmax(1) == y).mean()), net.get_weights()

    accuracy, weights = train(0)
    assert accuracy > 0.9
    for a, b in zip(weights, train(0)[1], strict=True):
        np.testing.assert_array_equal(a, b)
