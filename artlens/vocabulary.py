"""The words ArtLens uses, defined once: raw features, facets and their display names, label kinds,
yes/no words, backbones, style variants and losses. The CLI's choices, the web pages and the library
all read them from here.

Two things are called "features" and "facets", and they differ:

- a RAW FEATURE is what one backbone pass stores in the catalog per artwork (`RAW_FEATURES`:
  pooled content, style statistics, colour statistics, ImageNet logits); label heads read these;
- a FACET is a searchable vector space built from raw features (`FACETS`: content, style, colour
  fitted on the collection; learned facets such as `style_learned`; and `joint`, the weighted mix).

Pure data: importing this module costs nothing (the CLI imports it to build its options).
"""

from __future__ import annotations

# -- raw features (catalog `features.facet` column) ------------------------------------------
RAW_FEATURES: tuple[str, ...] = ("content", "style", "color", "logits")

# -- facets (search spaces) ------------------------------------------------------------------
FACETS: tuple[str, ...] = ("content", "style", "color")  # fitted on the collection's raw features
LEARNED_STYLE = "style_learned"  # the facet of a learned style space
JOINT = "joint"  # the weighted mix of the other facets
# Chosen on WikiArt (movement P@10 of the joint facet, see docs/benchmarks.md): style carries most
# of what "looks alike" means for artworks; colour is a light touch (more colour lowers P@10).
DEFAULT_WEIGHTS: dict[str, float] = {"content": 0.35, "style": 0.55, "color": 0.1}

# How a facet is named to people, in the order pages list them.
_FACET_WORDS: dict[str, str] = {LEARNED_STYLE: "learned style", "style": "style", "content": "content", "color": "colour"}
DISPLAY_ORDER: tuple[str, ...] = tuple(_FACET_WORDS)


def facet_word(facet: str) -> str:
    """'color' -> 'colour', 'style_learned' -> 'learned style': a facet as a sentence names it."""
    return _FACET_WORDS.get(facet, facet.replace("_", " "))


def facet_title(facet: str) -> str:
    """'style_learned' -> 'Learned style': a facet as a heading or a slider names it."""
    word = facet_word(facet)
    return word[:1].upper() + word[1:]


def in_display_order(facets: list[str] | tuple[str, ...]) -> list[str]:
    """Facets sorted as pages show them (learned style, style, content, colour, then any other)."""
    order = list(DISPLAY_ORDER)
    return sorted(facets, key=lambda f: order.index(f) if f in order else len(order))


# -- backbones and style statistics ----------------------------------------------------------
# EfficientNet-Lite0 fine-tuned on art and the same in INT8 (the default), and the ImageNet Lite0 (224 px) and
# Lite2 (260 px); artlens.features.backbone describes each.
BACKBONES: tuple[str, ...] = ("lite0-art", "lite0-art-int8", "lite0", "lite2")
DEFAULT_BACKBONE = "lite0-art-int8"  # for new collections: within 0.005 of lite0-art on every figure, ~1.8x faster
STYLE_VARIANTS: tuple[str, ...] = ("adain", "gram")  # channel mean/std (ALADIN) or Gram matrices (DeepArt)
STYLE_LOSSES: tuple[str, ...] = ("contrastive", "triplet")  # learned style space: SupCon (ALADIN) or triplets (DeepArt)

# -- labels ----------------------------------------------------------------------------------
LABEL_KINDS: tuple[str, ...] = ("binary", "one-of-many", "many")
UNSURE = "unsure"  # the decision of a head that abstains
PREDICTION_PREFIX = "pred."  # filter on a model's decisions: pred.MODEL=VALUE
COUNT_FILTERS: dict[str, str] = {"faces": "face", "people": "person"}  # filter on how many regions of a kind: faces>=2 (after `detect`)
COUNT_OPERATORS: tuple[str, ...] = (">=", "<=", "!=", "=", ">", "<")  # two-character ones first (regex alternation)
YES_WORDS: frozenset[str] = frozenset({"yes", "true", "1", "y", "t"})
NO_WORDS: frozenset[str] = frozenset({"no", "false", "0", "-1", "n", "f"})
# BAM's content attributes (Wilber et al. 2017) besides people. No shipped model decides them: there is
# no art with real negatives here to calibrate them on (docs/models.md), so the /label page offers them
# to teach on a collection's own works instead.
TEACHABLE_CONTENT: tuple[str, ...] = ("bird", "building", "car", "bicycle", "cat", "dog", "flower", "tree")


def yes_no(value: str) -> bool | None:
    """True for a yes-word, False for a no-word (any case, spaces ignored), None for anything else."""
    v = value.strip().lower()
    if v in YES_WORDS:
        return True
    if v in NO_WORDS:
        return False
    return None


def is_label_name(name: str) -> bool:
    """1-64 letters, digits, - and _: safe in a URL, a file name and a `label.NAME` column."""
    return 0 < len(name) <= 64 and name.replace("_", "").replace("-", "").isalnum()
