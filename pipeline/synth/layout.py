"""Where a generated sample puts its files (all paths under one root)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MEPAVE_FILE = "mepave/jdai.jave.fashion.{split}"
MANIFEST = "sample.json"
TRUTH = "truth.parquet"
#: Top-level entries of a sample, published in this order (the manifest comes last).
ENTRIES = ("mepave", "fashionai", "utzap50k", "ifashion", "crawl", TRUTH)


@dataclass(frozen=True)
class SampleLayout:
    """Paths of a synthetic sample rooted at ``root``.

    The folders of the four vision sources are the ``root`` arguments their readers take
    (``fashionai_root``, ``utzap50k_root``, ``ifashion_root``, ``crawl_root``).
    """

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    # -- MEPAVE --
    @property
    def mepave_dir(self) -> Path:
        return self.root / "mepave"

    def mepave_file(self, split: str) -> Path:
        """``split`` is one of train, valid, test (MEPAVE's own names)."""
        return self.root / MEPAVE_FILE.format(split=split)

    @property
    def mepave_images(self) -> Path:
        return self.mepave_dir / "images"

    def mepave_image(self, cid: str) -> Path:
        return self.mepave_images / f"{cid}.jpg"

    # -- FashionAI --
    @property
    def fashionai_root(self) -> Path:
        return self.root / "fashionai"

    @property
    def fashionai_labels(self) -> Path:
        return self.fashionai_root / "Annotations" / "label.csv"

    # -- UT-ZAP50K --
    @property
    def utzap50k_root(self) -> Path:
        return self.root / "utzap50k"

    @property
    def utzap50k_meta(self) -> Path:
        return self.utzap50k_root / "ut-zap50k-data" / "meta-data.csv"

    @property
    def utzap50k_images(self) -> Path:
        return self.utzap50k_root / "ut-zap50k-images"

    # -- iFashion --
    @property
    def ifashion_root(self) -> Path:
        return self.root / "ifashion"

    def ifashion_split(self, split: str) -> Path:
        """``split`` is one of train, validation, test."""
        return self.ifashion_root / f"{split}.json"

    @property
    def ifashion_images(self) -> Path:
        return self.ifashion_root / "images"

    @property
    def ifashion_label_map(self) -> Path:
        return self.ifashion_root / "iMat_fashion_2018_label_map_228.csv"

    # -- crawl --
    @property
    def crawl_root(self) -> Path:
        return self.root / "crawl"

    @property
    def crawl_manifest(self) -> Path:
        return self.crawl_root / "manifest.csv"

    def source_dir(self, kind: str) -> Path:
        """The folder a source's reader takes: ``<root>/<kind>`` (MEPAVE's images under it)."""
        return self.mepave_images if kind == "mepave_images" else self.root / kind

    # -- truth and manifest --
    @property
    def truth(self) -> Path:
        return self.root / TRUTH

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    def exists(self) -> bool:
        """A complete sample: the manifest is written last."""
        return self.manifest.is_file()

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def relative_paths(self) -> dict[str, str]:
        """Name -> path relative to the root (recorded in the manifest)."""
        paths = {
            "mepave_train": self.mepave_file("train"), "mepave_valid": self.mepave_file("valid"),
            "mepave_test": self.mepave_file("test"), "mepave_images": self.mepave_images,
            "fashionai_root": self.fashionai_root, "fashionai_labels": self.fashionai_labels,
            "utzap50k_root": self.utzap50k_root, "utzap50k_meta": self.utzap50k_meta,
            "utzap50k_images": self.utzap50k_images,
            "ifashion_root": self.ifashion_root, "ifashion_train": self.ifashion_split("train"),
            "ifashion_validation": self.ifashion_split("validation"),
            "ifashion_test": self.ifashion_split("test"), "ifashion_images": self.ifashion_images,
            "ifashion_label_map": self.ifashion_label_map,
            "crawl_root": self.crawl_root, "crawl_manifest": self.crawl_manifest,
            "truth": self.truth, "manifest": self.manifest,
        }
        return {k: self.rel(v) for k, v in paths.items()}
