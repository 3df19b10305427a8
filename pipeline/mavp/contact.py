"""Contact sheets: for one image slot, the least reliable labels as the product images a person
checks at a glance, each captioned with its label, reliability and the sentence's value."""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from pipeline.images import ImageRejected, load_rgb  # noqa: E402

SHEET_SIZE = 16
# File names of fonts that draw Chinese (matplotlib's own list skips .ttc collections, where most are)
CJK_FONT_FILES = ("wqy", "notosanscjk", "notoserifcjk", "sourcehansans", "droidsansfallback", "simhei", "msyh",
                  "pingfang", "uming", "ukai")


@lru_cache(maxsize=1)
def cjk_font() -> font_manager.FontProperties | None:
    """A font on this machine that draws Chinese, or None (values are then drawn as their index
    in the slot's vocabulary, ``#k``, which the report's schema.json resolves)."""
    for path in sorted(font_manager.findSystemFonts()):
        name = path.rsplit("/", 1)[-1].lower().replace("-", "").replace("_", "")
        if any(key in name for key in CJK_FONT_FILES):
            return font_manager.FontProperties(fname=path)
    return None


def _value_text(value: str | None, vocabulary: Sequence[str]) -> str:
    if value is None or value != value:
        return "-"
    if cjk_font() is not None:
        return str(value)
    return f"#{list(vocabulary).index(value)}" if value in vocabulary else "?"


def least_reliable(labels: pd.DataFrame, slot: str, n: int = SHEET_SIZE) -> pd.DataFrame:
    image = labels[(labels["slot"] == slot) & (labels["source"] == "image")]
    return image.sort_values(["reliability", "cid"], kind="stable").head(n)


def contact_sheet(rows: pd.DataFrame, image_of: Mapping[str, str], slot: str, vocabulary: Sequence[str]) -> bytes:
    """PNG bytes: ``rows`` (cid, value, reliability, text_value) as a 4-column grid."""
    cols = 4
    lines = max(1, -(-len(rows) // cols))
    fig, axes = plt.subplots(lines, cols, figsize=(4.3, 1.4 * lines + 0.35), squeeze=False)
    font = cjk_font()
    if font is not None:
        font = font.copy()
        font.set_size(6.5)
    for ax, row in zip(axes.ravel(), rows.itertuples(index=False)):
        try:
            ax.imshow(load_rgb(image_of[row.cid]))
        except (ImageRejected, KeyError, OSError):
            ax.text(0.5, 0.5, "no image", ha="center", va="center", fontsize=6)
        text = row.text_value if isinstance(row.text_value, str) else None
        caption = f"{_value_text(row.value, vocabulary)} {row.reliability:.2f}\ntext {_value_text(text, vocabulary)}"
        ax.set_title(caption, fontproperties=font, fontsize=6.5, linespacing=1.1,
                     color="#b00000" if text and text != row.value else "black")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(rows):]:
        ax.axis("off")
    fig.suptitle(f"{slot}: the {len(rows)} least reliable labels: label, reliability, the sentence's value "
                 "(red: another)", fontsize=6)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100)
    plt.close(fig)
    return buffer.getvalue()
