"""Which label models apply to a collection: the defaults shipped in the package, then its own."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def available(collection_models: Path, backbone: str) -> dict[str, Path]:
    """name -> model file, for models trained on this backbone's features; the collection's own
    models win over a default of the same name."""
    from artlens.annotate.heads import LabelHead

    found: dict[str, Path] = {}
    for folder in (DEFAULT_MODELS_DIR, collection_models):
        for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
            if LabelHead.load(path).backbone == backbone:
                found[path.stem] = path
    return found
