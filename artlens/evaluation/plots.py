"""Figures for evaluation reports (matplotlib, drawn off-screen to PNG files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402


def precision_recall_png(precision: Sequence[float], recall: Sequence[float], average_precision: float, title: str, path: Path) -> Path:
    """Save a precision-recall curve (step plot, as the curve is defined) to `path`."""
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    ax.step(recall, precision, where="post", color="#1f5fa8", lw=2)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=f"{title}\nAP = {average_precision:.3f}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
