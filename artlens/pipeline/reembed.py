"""Re-embed a collection with another backbone: every artwork's features again, from its file.

The new features are written beside the old ones batch by batch (an interrupted run continues
where it stopped, like `add`) and replace them in one transaction when every artwork has them,
so the collection never mixes features of two backbones. A file that is gone, unreadable or
changed since it was added blocks the switch: the message lists them (restore them, or run
`artlens add` for changed files, then run the re-embed again: the finished batches are kept).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from artlens.errors import CollectionError
from artlens.features.backbone import Backbone
from artlens.machine import usable_cores
from artlens.pipeline.ingest import BATCH_SIZE, embedded_batches
from artlens.store.database import Catalog

SHOWN_PROBLEMS = 10  # files listed in the error; the rest are counted


@dataclass
class ReembedResult:
    embedded: int = 0  # artworks embedded by this run
    kept: int = 0  # embedded by an earlier, interrupted run
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


def reembed(store: Catalog, backbone: Backbone, style_variant: str, batch_size: int = BATCH_SIZE,
            progress: Callable[[int, int], None] | None = None) -> ReembedResult:
    """Embed every artwork of `store` with `backbone` and switch the collection to it (see module doc)."""
    target = {"backbone": backbone.name, "backbone_version": backbone.version}
    if store.setting("reembed_target") != target:
        store.stage_features([], target)  # a new target: forget what another one staged
    rows = {str(r.path): r for r in store.all_artworks()}
    staged = store.staged_ids()
    todo = [Path(p) for p, r in rows.items() if r.id not in staged]
    result = ReembedResult(kept=len(rows) - len(todo))
    if progress:
        progress(0, len(todo))
    workers = usable_cores()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="artlens-reembed") as pool:
        done = 0
        for prepared in embedded_batches(pool, todo, backbone, style_variant, batch_size, workers):
            good = []
            for p in prepared:
                row = rows[str(p.path)]
                if p.art is None:
                    result.problems.append((str(p.path), p.message or p.reason))
                elif p.art.sha256 != row.sha256:
                    result.problems.append((str(p.path), "changed since it was added (run `artlens add` on it first)"))
                else:
                    good.append((row.id, p.art.features))
            store.stage_features(good, target)
            result.embedded += len(good)
            done += len(prepared)
            if progress:
                progress(done, len(todo))
    if result.problems:
        shown = "; ".join(f"{path}: {why}" for path, why in result.problems[:SHOWN_PROBLEMS])
        more = len(result.problems) - SHOWN_PROBLEMS
        raise CollectionError(
            f"{len(result.problems)} artworks could not be re-embedded, so the collection stays on its old backbone: {shown}"
            + (f" (and {more} more)" if more > 0 else "")
            + ". Restore them (or `artlens add` changed files), then re-embed again: the other artworks are done and kept.",
            {"kind": "reembed", "problems": [{"path": p, "why": w} for p, w in result.problems]})
    store.switch_backbone(target)
    return result
