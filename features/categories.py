"""Product categories derived from titles, for catalogues that have none.

Online Retail II has no category column. Marketers still ask for "champions who never
bought garden items" and a storefront for "kitchen only", so items get a category from
keywords in their title: the first rule whose words appear wins, and an item no rule
matches is ``other``. The rules are data (:data:`RULES`), ordered from the most specific
theme (seasonal) to the most generic (home decor), and the items table says the category
was derived, not recorded.
"""

from __future__ import annotations

import re

import pandas as pd

# (category, title words). A word matches whole words only, plurals included ("BAG" matches
# "BAGS"); order matters: "CHRISTMAS CANDLE" is christmas, not lighting.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("christmas", ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE", "BAUBLE", "NATIVITY")),
    ("easter", ("EASTER", "EGG", "BUNNY", "CHICK")),
    ("garden", ("GARDEN", "PLANT", "PLANTER", "WATERING", "BIRD HOUSE", "BIRDHOUSE", "SEED", "HERB",
                "FLOWER POT", "GREENHOUSE", "TROWEL", "PARASOL", "PICNIC", "GARDENER")),
    ("accessories", ("NECKLACE", "BRACELET", "EARRINGS", "RING", "CHARM", "BEAD", "DIAMANTE", "BROOCH",
                     "HAIR", "PEARL", "UMBRELLA", "HAND WARMER", "FAN", "LIP GLOSS", "KEYRING")),
    ("bags", ("BAG", "TOTE", "PURSE", "SHOPPER", "HANDBAG", "BACKPACK")),
    ("lighting", ("LIGHT", "CANDLE", "LANTERN", "LAMP", "LAMPSHADE", "T-LIGHT", "TEALIGHT", "INCENSE")),
    ("kitchen", ("MUG", "CUP", "PLATE", "BOWL", "JAR", "TEA", "COFFEE", "CAKE", "BAKING", "LUNCH", "KITCHEN",
                 "CUTLERY", "SPOON", "TRAY", "JUG", "NAPKIN", "DISH", "PANTRY", "APRON", "COASTER",
                 "BOTTLE", "JAM", "TEAPOT", "CHOPSTICKS", "OVEN", "TEA TOWEL", "BREAD", "DINNER",
                 "CAKESTAND", "TEACUP", "SAUCER", "COOKIE")),
    ("party", ("PARTY", "BUNTING", "BALLOON", "GARLAND", "BIRTHDAY", "CRACKER", "CONFETTI", "STRAWS")),
    ("stationery", ("CARD", "WRAP", "PAPER", "NOTEBOOK", "PENCIL", "PEN", "STICKER", "ENVELOPE", "DIARY",
                    "TAPE", "RIBBON", "ERASER", "RUBBER", "CALENDAR", "NOTE", "BOOK", "TISSUES", "GIFT TAG")),
    ("toys", ("TOY", "GAME", "DOLL", "DOLLY", "PUZZLE", "JIGSAW", "DOMINOES", "SKIPPING", "SPACEBOY",
              "CHILDRENS", "CHILDS", "KIDS", "BABUSHKA", "SOLDIER", "CRAYONS", "FELTCRAFT", "INFLATABLE",
              "COLOURING", "CLAY", "BINGO", "LADDERS", "PAINT SET", "SEWING", "KNITTING")),
    ("storage", ("BOX", "TIN", "BASKET", "STORAGE", "DRAWER", "CABINET", "CASE", "HAMPER", "CRATE")),
    ("home decor", ("FRAME", "CLOCK", "SIGN", "CUSHION", "MIRROR", "HOOK", "DOORMAT", "DECORATION",
                    "ORNAMENT", "VASE", "WALL", "HANGING", "WREATH", "COVER", "THROW", "KNOB", "DOOR",
                    "HEART", "PICTURE", "PHOTO", "HANGER", "BATHROOM", "MAGNET", "CHALKBOARD",
                    "MEMOBOARD", "MEMO BOARD", "BLACK BOARD", "BUILDING BLOCK", "COAT RACK")),
)
OTHER = "other"


def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![A-Z])(?:{alternatives})(?:S|ES)?(?![A-Z])")


_PATTERNS = tuple((category, _pattern(words)) for category, words in RULES)


def categorize(titles: pd.Series) -> pd.Series:
    """Category of each title by :data:`RULES` (first match wins; ``other`` if none)."""
    upper = titles.fillna("").astype(str).str.upper()
    out = pd.Series(OTHER, index=titles.index, dtype=object)
    undecided = pd.Series(True, index=titles.index)
    for category, pattern in _PATTERNS:
        hit = undecided & upper.str.contains(pattern)
        out[hit] = category
        undecided &= ~hit
    return out
