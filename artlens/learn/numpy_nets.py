"""Tiny nets and their optimiser in numpy: what label heads and learned style spaces train with.

Layers (`Linear`, `ReLU`, `Dropout`) in a `Sequential`, each with a forward pass that keeps what its
backward pass needs and a hand-written backward pass; `AdamW` as torch's (decoupled weight decay,
bias-corrected moments); and the losses, each returning (value, gradient of the value with respect
to its input): `softmax_cross_entropy`, `masked_bce`, `supcon`, `triplet`, plus `normalize` and its
backward. The layer initialisation is torch's default, so these nets start where torch's did.

Rows are examples; a Linear layer's weight is (in, out), the layout `small_model.mlp_forward` reads.
Everything computes in the dtype of its inputs and parameters (float32 in training, float64 in the
gradient checks of tests/test_numpy_nets.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "AdamW",
    "Dropout",
    "Linear",
    "ReLU",
    "Sequential",
    "masked_bce",
    "normalize",
    "normalize_backward",
    "softmax_cross_entropy",
    "supcon",
    "triplet",
]

Layers = list[tuple[np.ndarray, np.ndarray]]
NEVER = -2.0  # below any cosine similarity: marks a candidate that must not be picked


# ----------------------------------------------------------------------------- layers


class Linear:
    """y = x @ W + b. torch's default initialisation: W and b uniform in +-1/sqrt(in)."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, dtype: type = np.float32, zero: bool = False) -> None:
        bound = 1.0 / np.sqrt(n_in)
        self.W: np.ndarray
        self.b: np.ndarray
        if zero:
            self.W, self.b = np.zeros((n_in, n_out), dtype), np.zeros(n_out, dtype)
        else:
            self.W = rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype)
            self.b = rng.uniform(-bound, bound, n_out).astype(dtype)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self._x = x if train else None
        return x @ self.W + self.b

    def backward(self, g: np.ndarray) -> np.ndarray:
        self.param_grads(g)
        return g @ self.W.T

    def param_grads(self, g: np.ndarray) -> None:
        """Fill dW and db only (no input gradient)."""
        assert self._x is not None, "backward needs a training forward pass first"
        self.dW = self._x.T @ g
        self.db = g.sum(axis=0)

    def params(self) -> list[np.ndarray]:
        return [self.W, self.b]

    def grads(self) -> list[np.ndarray]:
        return [self.dW, self.db]


class ReLU:
    def __init__(self) -> None:
        self._on: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        on = x > 0
        self._on = on if train else None
        return x * on

    def backward(self, g: np.ndarray) -> np.ndarray:
        assert self._on is not None
        return g * self._on

    def params(self) -> list[np.ndarray]:
        return []

    def grads(self) -> list[np.ndarray]:
        return []


class Dropout:
    """Zero a share p of the entries in training, scaling the rest by 1/(1-p); identity otherwise."""

    def __init__(self, p: float, rng: np.random.Generator) -> None:
        self.p, self.rng = p, rng
        self._keep: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        if not train or self.p == 0:
            self._keep = None
            return x
        keep = (self.rng.random(x.shape, dtype=np.float32) >= self.p).astype(x.dtype) / x.dtype.type(1 - self.p)
        self._keep = keep
        return x * keep

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g if self._keep is None else g * self._keep

    def params(self) -> list[np.ndarray]:
        return []

    def grads(self) -> list[np.ndarray]:
        return []


Layer = Linear | ReLU | Dropout


class Sequential:
    """Layers applied in order; `backward` takes the loss gradient of the output and fills every layer's grads."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, g: np.ndarray) -> None:
        """Fill the grads of every parameter. The inputs are data: no gradient goes below the first
        Linear layer (its input gradient would cost a third of the matmuls of a linear head)."""
        linear = [i for i, layer in enumerate(self.layers) if isinstance(layer, Linear)]
        if not linear:
            return
        for layer in reversed(self.layers[linear[0] + 1:]):
            g = layer.backward(g)
        first = self.layers[linear[0]]
        assert isinstance(first, Linear)
        first.param_grads(g)

    def params(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.params()]

    def grads(self) -> list[np.ndarray]:
        return [g for layer in self.layers for g in layer.grads()]

    def get_weights(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        for p, w in zip(self.params(), weights, strict=True):
            p[...] = w  # in place: the optimiser holds references to these arrays

    def linear_layers(self) -> Layers:
        """[(W (in, out), b)] copies of the Linear layers, the layout `small_model.mlp_forward` reads."""
        return [(m.W.copy(), m.b.copy()) for m in self.layers if isinstance(m, Linear)]


# ----------------------------------------------------------------------------- optimiser


class AdamW:
    """torch.optim.AdamW: p -= lr * wd * p, then the Adam step with bias-corrected moments (every parameter decays)."""

    def __init__(self, params: Sequence[np.ndarray], lr: float = 1e-3, weight_decay: float = 1e-2,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self, grads: Sequence[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            p *= 1 - self.lr * self.weight_decay
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * np.square(g)
            step = np.sqrt(v)  # in place from here: one temporary per parameter
            step /= np.sqrt(c2)
            step += self.eps
            np.divide(m, step, out=step)
            step *= self.lr / c1
            p -= step


# ----------------------------------------------------------------------------- losses


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax_cross_entropy(z: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Cross-entropy of logits z (N, C) for classes y (N,), as torch's: with class weights, the
    weighted mean sum_i w[y_i] * nll_i / sum_i w[y_i]."""
    logp = _log_softmax(z)
    w = np.ones(len(y), z.dtype) if weight is None else weight[y].astype(z.dtype)
    total = max(float(w.sum()), 1e-12)
    rows = np.arange(len(y))
    grad = np.exp(logp)
    grad[rows, y] -= 1
    grad *= (w / total)[:, None]
    return float(-(w * logp[rows, y]).sum() / total), grad


def masked_bce(z: np.ndarray, t: np.ndarray, mask: np.ndarray, pos_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Mean binary cross-entropy of logits z over the known entries (mask 1); unknown entries (mask 0)
    add nothing and get no gradient, whatever their target. pos_weight (C,) weighs the positives, as torch's."""
    t = np.where(mask > 0, t, 0).astype(z.dtype)
    pw = np.ones(z.shape[1], z.dtype) if pos_weight is None else pos_weight.astype(z.dtype)
    per = pw * t * _softplus(-z) + (1 - t) * _softplus(z)
    count = max(float(mask.sum()), 1.0)
    grad = (pw * t * (_sigmoid(z) - 1) + (1 - t) * _sigmoid(z)) * mask / count
    return float((per * mask).sum() / count), grad.astype(z.dtype)


def normalize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit rows, row norms): torch's F.normalize (norms floored at 1e-12)."""
    norm = np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12).astype(x.dtype)
    return x / norm, norm


def normalize_backward(y: np.ndarray, norm: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Gradient with respect to x of a loss with gradient g with respect to y = x / |x|."""
    return (g - y * (y * g).sum(axis=1, keepdims=True)) / norm


def _similarity_grad(z: np.ndarray, g_s: np.ndarray) -> np.ndarray:
    """Gradient with respect to z of a loss with gradient g_s with respect to S = z @ z.T."""
    return (g_s + g_s.T) @ z


def supcon(z: np.ndarray, groups: np.ndarray, temperature: float) -> tuple[float, np.ndarray]:
    """Supervised contrastive loss (Khosla et al., 2020, L_out) on unit rows z: every other member of
    the anchor's group is a positive, everything else in the batch a negative; anchors without a
    positive only serve as negatives. Returns (value, gradient with respect to z)."""
    n = len(z)
    eye = np.eye(n, dtype=bool)
    logits = np.where(eye, -1e9, z @ z.T / temperature)
    log_prob = _log_softmax(logits)
    positive = (groups[:, None] == groups[None, :]) & ~eye
    count = positive.sum(axis=1)
    has = count > 0
    n_has = max(int(has.sum()), 1)
    share = np.where(has, 1 / np.maximum(count, 1), 0.0).astype(z.dtype)
    value = float(-(share * np.where(positive, log_prob, 0).sum(axis=1)).sum() / n_has)
    # d/dlogits of -mean_i (1/c_i) sum_j P_ij log p_ij = (p_ij - P_ij / c_i) / n_has, for anchors with positives
    g_logits = (np.exp(log_prob) * has[:, None] - positive * share[:, None]) / n_has
    g_logits[eye] = 0
    return value, _similarity_grad(z, (g_logits / temperature).astype(z.dtype))


def _semi_hard(s_neg: np.ndarray, s_pos: np.ndarray) -> np.ndarray:
    """Column of the negative for each row: the most similar candidate still less similar than the
    positive (semi-hard), else the most similar one. s_neg (M, n) has NEVER where not a candidate."""
    semi = np.where(s_neg < s_pos[:, None], s_neg, NEVER)
    pick_semi, pick_hard = semi.argmax(axis=1), s_neg.argmax(axis=1)
    rows = np.arange(len(s_neg))
    return np.where(semi[rows, pick_semi] > NEVER, pick_semi, pick_hard)


def _margin_terms(s: np.ndarray, a: np.ndarray, p: np.ndarray, neg_ok: np.ndarray, margin: float) -> tuple[float, np.ndarray]:
    """Mean of relu(s[a, n] - s[a, p] + margin) over the rows, n the semi-hard negative among neg_ok
    (M, n); and its gradient with respect to S."""
    s_ap = s[a, p]
    n = _semi_hard(np.where(neg_ok, s[a], NEVER), s_ap)
    hinge = s[a, n] - s_ap + margin
    on = (hinge > 0).astype(s.dtype) / len(a)
    g_s = np.zeros_like(s)
    np.add.at(g_s, (a, n), on)
    np.add.at(g_s, (a, p), -on)
    return float(np.maximum(hinge, 0).mean()), g_s


def triplet(z: np.ndarray, groups: np.ndarray, margin: float, labels: np.ndarray | None = None,
            label_weight: float = 0.0, rng: np.random.Generator | None = None) -> tuple[float, np.ndarray]:
    """DeepArt-style margin loss on unit rows z, over cosine similarities. Relevance first: a member of
    the anchor's group outranks any other work, and among other works (when labels (n, L) are given,
    -1 = unknown) sharing more labels outranks sharing fewer. Then hardness: for every (anchor, group
    member) pair, the semi-hard negative (`_semi_hard`). Returns (value, gradient with respect to z)."""
    s = z @ z.T
    n = len(z)
    eye = np.eye(n, dtype=bool)
    same = groups[:, None] == groups[None, :]
    a, p = np.nonzero(same & ~eye)
    value, g_s = _margin_terms(s, a, p, ~same[a], margin)
    if labels is None:
        return value, _similarity_grad(z, g_s)
    # Label levels: at each level l, a random other-group work sharing >= l labels should beat the
    # semi-hard one sharing fewer, by a margin that grows with the level.
    rng = rng if rng is not None else np.random.default_rng(0)
    shared = ((labels[:, None, :] == labels[None, :, :]) & (labels[:, None, :] >= 0)).sum(axis=2)
    shared[same] = -1
    n_labels = labels.shape[1]
    extra: list[tuple[float, np.ndarray]] = []
    for level in range(1, n_labels + 1):
        pos, neg = shared >= level, (shared >= 0) & (shared < level)
        ok = np.flatnonzero(pos.any(axis=1) & neg.any(axis=1))
        if ok.size:
            pick = _random_true(pos[ok], rng)  # a random more relevant work per anchor
            extra.append(_margin_terms(s, ok, pick, neg[ok], margin * level / (n_labels + 1)))
    if extra:
        w = label_weight / len(extra)
        value += w * sum(v for v, _ in extra)
        g_s = g_s + w * sum(g for _, g in extra)
    return value, _similarity_grad(z, g_s)


def _random_true(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row of a boolean matrix with a True in every row, the column of a uniformly random True."""
    counts = mask.sum(axis=1)
    k = np.floor(rng.random(len(mask)) * counts).astype(np.int64)  # the k-th True of its row
    return (np.cumsum(mask, axis=1) > k[:, None]).argmax(axis=1)
