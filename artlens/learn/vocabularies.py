"""Named label vocabularies (BAM, Wilber et al. 2017) and the ImageNet -> content-word mapping.

`VOCABULARIES[name]` can be used as the class list when a collection owner trains a head of their
own (e.g. `train_head(..., classes=VOCABULARIES["media"])`).
"""

from __future__ import annotations

from artlens.vocabulary import TEACHABLE_CONTENT

VOCABULARIES: dict[str, list[str]] = {
    "media": ["3D graphics", "comic", "graphite", "oil paint", "pen and ink", "vector art", "watercolour"],
    "emotion": ["calm/peaceful", "happy/cheerful", "sad/gloomy", "scary/fearful"],
    "content": ["people", *TEACHABLE_CONTENT],
}


def _r(a: int, b: int) -> list[int]:
    return list(range(a, b + 1))


# ImageNet-1k class indices (the standard 1000-class order of the Lite0 logits) mapped to the BAM
# content words. The order was checked on PACS photos (training/train_default_models.py prints the
# most frequent top-1 index per object: elephants -> 386 African elephant / 101 tusker, guitars ->
# 546 electric guitar / 402 acoustic guitar, horses -> 339 sorrel, houses -> 660 mobile home /
# 449 boathouse / 698 palace / 425 barn, dogs -> 151-268).
IMAGENET_CONTENT: dict[str, list[int]] = {
    # 7 cock, 8 hen, 9 ostrich, 10-24 brambling .. great grey owl; 80-100 black grouse .. black swan;
    # 127-146 white stork .. albatross (storks, cranes, waders, pelicans, king penguin)
    "bird": _r(7, 24) + _r(80, 100) + _r(127, 146),
    # 281 tabby, 282 tiger cat, 283 Persian cat, 284 Siamese cat, 285 Egyptian cat
    "cat": _r(281, 285),
    # 151 Chihuahua .. 268 Mexican hairless (all the dog breeds)
    "dog": _r(151, 268),
    # 407 ambulance, 436 beach wagon, 468 cab, 511 convertible, 609 jeep, 627 limousine,
    # 656 minivan, 661 Model T, 717 pickup, 751 racer, 817 sports car, 864 tow truck
    "car": [407, 436, 468, 511, 609, 627, 656, 661, 717, 751, 817, 864],
    # 444 bicycle-built-for-two, 671 mountain bike, 870 tricycle, 880 unicycle
    "bicycle": [444, 671, 870, 880],
    # 410 apiary, 425 barn, 437 beacon (lighthouse), 449 boathouse, 483 castle, 497 church, 498 cinema,
    # 509 confectionery, 538 dome, 580 greenhouse, 582 grocery store, 624 library, 660 mobile home,
    # 663 monastery, 668 mosque, 698 palace, 727 planetarium, 762 restaurant, 832 stupa, 858 tile roof,
    # 860 tobacco shop, 865 toyshop, 900 water tower
    "building": [410, 425, 437, 449, 483, 497, 498, 509, 538, 580, 582, 624, 660, 663, 668, 698, 727, 762, 832, 858, 860, 865, 900],
    # 985 daisy, 986 yellow lady's slipper (an orchid), 738 pot (flowerpot), 883 vase
    "flower": [738, 883, 985, 986],
    # "tree": ImageNet-1k has no tree class (only scenes such as 975 lakeside or fruits such as
    # 988 acorn), so tree cannot be read from the logits; it needs labelled data.
}
