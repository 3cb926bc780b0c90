"""Content attributes that hold on real art (issue 17): their labels, their data and their honest calibration.

A content attribute ("shows people: yes/no") is shipped only when it can be calibrated on real art
WITH real negatives: works that show none of the objects (abstract and minimalist paintings, still
lifes, landscapes without figures). The closed world of PACS (every image shows one of seven
objects) cannot say how often a head invents an object in an abstract painting; it stays a
domain-transfer benchmark.

Labels for `people`:
- People-Art `has_person` (1 / -1), checked by its annotators;
- WikiArt genres that imply or exclude people, with the error rate measured by looking at a random
  sample of each (`DERIVED_ERRORS`): portrait, self-portrait and nude show people; abstract
  paintings, Minimalism, still lifes, flower and animal paintings do not. Animal paintings matter:
  an early head trained without them (an MLP) said "people" on 18 of WikiArt's 103 animal paintings
  (Franz Marc's horses, a pink cat, a flamingo), and on 75% of the PACS dogs when PACS was left out.

Split by artist, always: the head is trained on artists of neither calibration source, and its
Platt scaling and yes/no thresholds are fitted on artists it never saw (half of People-Art's artists,
chosen by name, and the 86 validation artists of the fine-tuned backbone, which the backbone never
saw either). The card's figures are cross-fitted: the calibration artists in two halves, each half
scored with the calibration fitted on the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from artlens.learn import LabelHead
from artlens.learn import calibration as cal

PEOPLE_YES_GENRES = ("portrait", "self-portrait", "nude_painting", "nude_painting_(nu)")
PEOPLE_NO_GENRES = ("abstract_painting", "abstract", "still_life", "flower_painting", "animal_painting", "wildlife_painting")
ANIMAL_GENRES = ("animal_painting", "wildlife_painting")
NO_OBJECT_GENRES = ("abstract_painting", "abstract")  # with the style Minimalism: works that show no object at all

# Measured by looking at a random sample (seed 17) of each derived group over all WikiArt artists,
# as contact sheets of 20 (training/content_attributes.py has no copy of an image). "clear" counts
# the works whose derived label is plainly wrong, "doubtful" adds figure-like shapes a curator could
# read either way (a Miró personnage, a reclining cubist form, a head-shaped silhouette).
DERIVED_ERRORS: dict[str, dict[str, Any]] = {
    "abstract painting -> no people": {"looked_at": 60, "clear": 1, "doubtful": 2},
    "Minimalism (other genres) -> no people": {"looked_at": 40, "clear": 1, "doubtful": 1},
    "still life / flower painting -> no people": {"looked_at": 40, "clear": 1, "doubtful": 1},
    "animal / wildlife painting -> no people": {"looked_at": 30, "clear": 1, "doubtful": 1},
    "portrait / self-portrait -> people": {"looked_at": 40, "clear": 0, "doubtful": 1},
    "nude painting -> people": {"looked_at": 20, "clear": 0, "doubtful": 1},
}


def derived_people(meta: dict[str, str]) -> bool | None:
    """Whether a WikiArt painting shows people, read from its genre and style; None when they do not say."""
    genre = (meta.get("genre") or "").split("|")[0]
    if genre in PEOPLE_YES_GENRES:
        return True
    if genre in PEOPLE_NO_GENRES or meta.get("style") == "Minimalism":
        return False
    return None


def shows_no_object(meta: dict[str, str]) -> bool:
    """Abstract and minimalist paintings: a yes of any content attribute there is (almost always) wrong."""
    return (meta.get("genre") or "").split("|")[0] in NO_OBJECT_GENRES or meta.get("style") == "Minimalism"


def derived_error_rates() -> dict[str, Any]:
    """The sample counts and their pooled error rates, for the card."""
    neg = [v for k, v in DERIVED_ERRORS.items() if "no people" in k]
    pos = [v for k, v in DERIVED_ERRORS.items() if "no people" not in k]

    def pooled(parts: list[dict[str, Any]]) -> dict[str, Any]:
        n = sum(p["looked_at"] for p in parts)
        clear = sum(p["clear"] for p in parts)
        doubtful = sum(p["doubtful"] for p in parts)
        return {"looked_at": n, "clear_errors": clear, "clear_rate": clear / n, "with_doubtful": clear + doubtful,
                "rate_with_doubtful": (clear + doubtful) / n}

    return {"samples": DERIVED_ERRORS, "negatives": pooled(neg), "positives": pooled(pos),
            "how": "a random sample of each derived group (all WikiArt artists, seed 17) looked at by a person, 20 works a sheet"}


def half_of(artist: str, salt: str = "") -> int:
    """A fixed half (0 or 1) for an artist: the same on every run. Each use has its own salt, so
    that the halves of one split are not the halves of another."""
    return int(hashlib.sha1((salt + artist).encode()).hexdigest(), 16) % 2


def peopleart_calibration_artist(artist: str, unseen_by_backbone: set[str]) -> bool:
    """People-Art's own train/val split is by image: 164 of its 263 val artists have works in train.
    Split by artist instead: the backbone's validation artists and half of the others calibrate."""
    return artist in unseen_by_backbone or half_of(artist, "calibration:") == 0


def binary_figures(p: np.ndarray, t: np.ndarray, yes: float, no: float) -> dict[str, Any]:
    """What a curator meets: precision and coverage of the yes (and no) decisions, and the unsure share."""
    t = t.astype(bool)
    said_yes, said_no = p >= yes, p < no
    return {
        "n": int(t.size), "positives": int(t.sum()), "negatives": int((~t).sum()),
        "yes": int(said_yes.sum()), "no": int(said_no.sum()), "unsure": int((~said_yes & ~said_no).sum()),
        "yes_precision": float(t[said_yes].mean()) if said_yes.any() else None,
        "yes_coverage": float(said_yes[t].mean()) if t.any() else None,  # share of the works that show it said yes
        "no_precision": float((~t[said_no]).mean()) if said_no.any() else None,
        "no_coverage": float(said_no[~t].mean()) if (~t).any() else None,
        "decided": float((said_yes | said_no).mean()) if t.size else None,
        "false_positive_rate": float(said_yes[~t].mean()) if (~t).any() else None,
    }


def fit_thresholds(z: np.ndarray, t: np.ndarray, source: np.ndarray, precision_target: float, positive_recall: float,
                   confidence: float) -> dict[str, Any]:
    """Platt scaling and yes/no thresholds on logits of works the head never saw. yes: train_head's
    rule (the yes precision's Clopper-Pearson lower bound reaches the target) on EACH source, the
    strictest wins: pooled, the many easy WikiArt works would let the yes slip under the target on
    People-Art, or the other way round. no: BAM's rule (`positive_recall` of the positives above it),
    lowered until the pooled no decisions reach the target too."""
    a, b = cal.fit_platt(z, t)
    p = cal.sigmoid(a * z + b)
    yes, met = -np.inf, True
    for k in np.unique(source):
        m = source == k
        th = cal.binary_thresholds(p[m], t[m], precision_target, positive_recall, confidence)
        yes, met = max(yes, th["yes"]), met and bool(th["precision_target_met"])
    no_bam = cal.binary_thresholds(p, t, precision_target, positive_recall, confidence)["no"]
    no = min(no_bam, cal.no_threshold(p, t, precision_target, confidence), yes)
    return {"platt": (a, b), "yes": float(yes), "no": float(no), "no_bam": float(no_bam), "precision_target_met": met}


def recalibrate_binary(head: LabelHead, sources: dict[str, tuple[dict[str, np.ndarray], np.ndarray, Sequence[str], np.ndarray]],
                       confidence: float) -> dict[str, Any]:
    """Calibrate a binary head on artists it never saw and measure it there, cross-fitted.

    sources: name -> (raw features, targets 0/1, artist of each work, mask of works that show no
    object). The calibration set is every source together. Each half of its artists is scored with
    the Platt scaling and thresholds fitted on the other half (the figures); the head keeps those
    fitted on both halves. Returns the card section."""
    parts = {k: (head.logits(raw)[:, 0], np.asarray(t, float), np.array([half_of(a) for a in artists]), np.asarray(none, bool))
             for k, (raw, t, artists, none) in sources.items()}
    z = np.concatenate([p[0] for p in parts.values()])
    t = np.concatenate([p[1] for p in parts.values()])
    half = np.concatenate([p[2] for p in parts.values()])
    source = np.concatenate([np.full(p[0].size, i) for i, p in enumerate(parts.values())])
    target, recall = head.card["precision_target"], 0.95
    p_cross = np.zeros_like(z)
    fits = {}
    for h in (0, 1):
        fit = fit_thresholds(z[half != h], t[half != h], source[half != h], target, recall, confidence)
        a, b = fit["platt"]
        p_cross[half == h] = cal.sigmoid(a * z[half == h] + b)
        fits[h] = fit
    # every work judged by the thresholds of the half it is not in
    yes_of = np.where(half == 0, fits[1]["yes"], fits[0]["yes"])
    no_of = np.where(half == 0, fits[1]["no"], fits[0]["no"])

    def figures(sel: np.ndarray) -> dict[str, Any]:
        said_yes, said_no = p_cross[sel] >= yes_of[sel], p_cross[sel] < no_of[sel]
        # binary_figures with per-item thresholds: score 1/0 for the decisions, 0.5 for unsure
        q = np.where(said_yes, 1.0, np.where(said_no, 0.0, 0.5))
        return binary_figures(q, t[sel], 1.0, 0.5)

    out: dict[str, Any] = {"protocol": "cross-fitted: the calibration artists in two halves (sha1 of the name), each half scored with the "
                                       "Platt scaling and yes/no thresholds fitted on the other", "per_source": {}}
    at = 0
    for k, (zk, _, _, none) in parts.items():
        sel = np.zeros(z.size, bool)
        sel[at:at + zk.size] = True
        at += zk.size
        out["per_source"][k] = figures(sel)
        if none.any():
            nsel = sel.copy()
            nsel[sel] = none
            out["per_source"][k]["no_object"] = figures(nsel)
    out["pooled"] = figures(np.ones(z.size, bool))
    full = fit_thresholds(z, t, source, target, recall, confidence)
    a, b = full["platt"]
    head.platt = [(float(a), float(b))]
    head.thresholds = {"yes": float(full["yes"]), "no": float(full["no"]), "precision_target_met": bool(full["precision_target_met"])}
    out["thresholds_bam_no"] = float(full["no_bam"])
    head.card["calibration"] = {"platt": {head.classes[0]: [float(a), float(b)]}, "thresholds": {head.classes[0]: dict(head.thresholds)},
                                "calibrated_on": {k: int(p[0].size) for k, p in parts.items()},
                                "rule": f"yes: the lowest threshold whose precision's {confidence:.0%} Clopper-Pearson lower bound reaches "
                                        f"{target}; no: {recall:.0%} of the works that show it score above it (BAM), lowered until the "
                                        f"no decisions' precision bound reaches {target} too"}
    return out
