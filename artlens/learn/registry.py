"""The default models shipped per backbone in `artlens/models/<backbone>/<name>.npz` (label heads trained by
training/train_default_models.py, the learned style space by training/train_style_space.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from artlens.errors import CollectionError
from artlens.features.backbone import BACKBONES
from artlens.learn import small_model
from artlens.learn.heads import LabelHead
from artlens.vocabulary import DEFAULT_BACKBONE

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
# Default models belong to a feature space: a backbone's name, shared by its INT8 variant (BackboneSpec.features).
DEFAULT_FEATURES = BACKBONES[DEFAULT_BACKBONE].features
DEFAULT_MODELS = ("style", "genre", "depiction", "medium", "people")


def defaults_dir(features: str = DEFAULT_FEATURES) -> Path:
    """The folder of the default models trained in the feature space `features` (a backbone's name)."""
    return MODELS_DIR / features


def default_model_path(name: str, features: str = DEFAULT_FEATURES) -> Path:
    if name not in DEFAULT_MODELS:
        raise ValueError(f"no default model {name!r}; the default models are {', '.join(DEFAULT_MODELS)}")
    return defaults_dir(features) / f"{name}.npz"


def load_default_model(name: str, features: str = DEFAULT_FEATURES) -> LabelHead:
    """Load a shipped default head; FileNotFoundError if the package was built without it."""
    path = default_model_path(name, features)
    if not path.is_file():
        raise FileNotFoundError(f"default model {name!r} for features {features} is missing: {path} (run training/train_default_models.py)")
    return LabelHead.load(path)


def available(collection_models: Path, features: str) -> dict[str, Path]:
    """name -> model file of every head that applies to a collection in the feature space `features`
    (its backbone's `BackboneSpec.features`): the defaults, then the collection's own models (which
    win on a name clash)."""
    found: dict[str, Path] = {}
    for folder in (defaults_dir(features), collection_models):
        for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
            try:
                applies = _is_label_head(path) and LabelHead.load(path).backbone == features
            except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
                # A damaged or foreign model file: say which and how to repair, not a traceback.
                raise CollectionError(f"the model file {path} does not load ({type(exc).__name__}: {exc}); "
                                      "run `artlens check --repair` to move it aside",
                                      {"part": "models", "kind": "damaged", "file": str(path)}) from None
            if applies:
                found[path.stem] = path
    return found


def _is_label_head(path: Path) -> bool:
    """The models folders also hold other models (the learned style space): a head's file says so in its type.
    An .npz in no model layout is passed over, as before; an unknown type or format still raises."""
    try:
        meta, _ = small_model.load(path, arrays=False)
    except small_model.NotASmallModelError:
        return False
    return meta["type"] == "label_head"
