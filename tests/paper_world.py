"""A small real-format world for the paper profile's code path, with the tiny checkpoints a
real run would load at full size.

- MEPAVE: the real lines of ``../shared/data/mepave-sample`` (placeholder product images);
- FashionAI: the real ``label.csv`` lines of ``../shared/data/fashionai-sample`` (placeholder images);
- iMaterialist: the real 228-label map, a small train/validation pair in the release's JSON;
- UT-ZAP50K and crawl: small folders in their real layouts;
- weights: a Swin state dict under ``swin_base_patch4_window7_224``'s layer names (tiny sizes),
  a BERT saved with ``save_pretrained`` and a WordPiece vocabulary of Chinese characters, and a
  torchvision Faster R-CNN state dict.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image, ImageDraw

from tests.conftest import SHARED_DATA

#: A Swin with swin_base's names at a size a test trains in seconds.
TINY_SWIN = {"kind": "finetune", "backbone": "swin_base_patch4_window7_224", "custom_arch": True, "stem": "patch",
             "image_size": 32, "patch_size": 4, "window_size": 2, "embed_dim": 16, "depths": [1, 1],
             "num_heads": [1, 2], "epochs": 2, "batch_size": 16, "decode_workers": 1, "patience": 2}
DETECTOR = "fasterrcnn_mobilenet_v3_large_320_fpn"


def product_image(path: Path, seed: int) -> None:
    """A coloured garment-like shape on a plain ground (placeholder for a real photo)."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(180, 256, 3)))
    x0, y0 = (int(v) for v in rng.integers(4, 20, 2))
    ImageDraw.Draw(img).rectangle([x0, y0, x0 + 36, y0 + 40], fill=tuple(int(v) for v in rng.integers(0, 160, 3)))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG")


def mepave(root: Path) -> tuple[Path, Path]:
    folder, images = root / "mepave", root / "mepave" / "images"
    folder.mkdir(parents=True)
    cids = set()
    for src in sorted((SHARED_DATA / "mepave-sample").glob("jdai.jave.fashion.*")):
        shutil.copyfile(src, folder / src.name)
        cids |= {line.split("\t")[0] for line in src.read_text(encoding="utf-8").splitlines() if line.strip()}
    for i, cid in enumerate(sorted(cids)):
        product_image(images / f"{cid}.jpg", i)
    return folder, images


def fashionai(root: Path) -> Path:
    folder = root / "fashionai"
    (folder / "Annotations").mkdir(parents=True)
    label = SHARED_DATA / "fashionai-sample" / "Annotations" / "label.csv"
    shutil.copyfile(label, folder / "Annotations" / "label.csv")
    for i, line in enumerate(label.read_text(encoding="utf-8").splitlines()):
        product_image(folder / line.split(",")[0], 100 + i)
    return folder


def ifashion(root: Path) -> Path:
    folder = root / "ifashion"
    colours = ["17", "19", "66"][:2]                # Black, Blue (color group of the real map)
    for split, ids in (("train", range(1, 25)), ("validation", range(25, 31))):
        images = [{"imageId": str(i), "url": f"https://example.invalid/{i}.jpg"} for i in ids]
        notes = [{"imageId": str(i), "labelId": [colours[i % 2]]} for i in ids]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.json").write_text(json.dumps({"images": images, "annotations": notes}), encoding="utf-8")
        for i in ids:
            product_image(folder / "images" / f"{i}.jpg", 200 + i)
    return folder


def utzap50k(root: Path) -> Path:
    folder = root / "utzap50k"
    heels = ["Flat", "1in - 1 3/4in", "3in - 3 3/4in"]
    toes = ["Round Toe", "Pointed Toe"]
    rows = ["CID,Category,SubCategory,HeelHeight,Insole,Closure,Gender,Material,ToeStyle"]
    for i in range(30):
        cid = f"{7000 + i}-{i % 5}"
        rows.append(f"{cid},Shoes,Oxfords,{heels[i % 3]},,Lace up,Women,Leather,{toes[i % 2]}")
        product_image(folder / "ut-zap50k-images" / "Shoes" / "Oxfords" / "Brand A" / f"{cid.replace('-', '.')}.jpg",
                      300 + i)
    (folder / "ut-zap50k-data").mkdir(parents=True)
    (folder / "ut-zap50k-data" / "meta-data.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def crawl(root: Path) -> Path:
    folder = root / "crawl"
    for v, value in enumerate(("低帮", "中帮", "高帮")):
        for i in range(10):
            product_image(folder / "upper_height" / value / f"{i}.jpg", 400 + 10 * v + i)
    return folder


def tiny_swin(path: Path) -> Path:
    from pipeline.distant.config import CrawlTraining
    from pipeline.distant.train import backbone_spec

    sizes = {k: tuple(v) if isinstance(v, list) else v for k, v in TINY_SWIN.items()}
    torch.manual_seed(0)
    torch.save(backbone_spec(CrawlTraining(**sizes)).create().state_dict(), path)
    return path


def tiny_bert(folder: Path) -> Path:
    """A 1-layer BERT and a WordPiece vocabulary of every character of the MEPAVE lines."""
    from transformers import BertConfig, BertModel, BertTokenizer

    chars = sorted({c for f in (SHARED_DATA / "mepave-sample").glob("jdai.jave.fashion.*")
                    for c in f.read_text(encoding="utf-8") if not c.isspace()} - set("<>/\t"))
    folder.mkdir(parents=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n", encoding="utf-8")
    BertTokenizer(str(vocab), do_lower_case=False, tokenize_chinese_chars=True).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=5 + len(chars), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder


def tiny_detector(path: Path) -> Path:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(DETECTOR, weights=None, weights_backbone=None, num_classes=3)
    torch.save(model.state_dict(), path)
    return path


def paper_profile(root: Path) -> Path:
    """The whole world and a paper profile file that points at it; returns the file."""
    data, weights = root / "data", root / "weights"
    weights.mkdir(parents=True)
    mepave_dir, images = mepave(data)
    sources = {"mepave": mepave_dir, "mepave_images": images, "fashionai": fashionai(data),
               "utzap50k": utzap50k(data), "ifashion": ifashion(data), "crawl": crawl(data)}
    paper = yaml.safe_load((Path(__file__).resolve().parents[1] / "pipeline/config/profiles/paper.yaml")
                           .read_text(encoding="utf-8"))
    swin = {**TINY_SWIN, "weights": str(tiny_swin(weights / "swin.pth"))}
    settings = paper["settings"]
    settings["region_features"].update(detector=DETECTOR, weights=str(tiny_detector(weights / "frcnn.pth")),
                                       min_size=64, max_size=64, top_l=4, batch_size=8)
    settings["masked_value_predictor"].update(encoder=str(tiny_bert(weights / "bert")), epochs=2, batch_size=16,
                                              seeds=[0, 1])
    for source in ("fashionai", "utzap50k", "crawl"):
        settings[f"{source}_classifier"] = {**settings[f"{source}_classifier"], **swin}
    settings["ifashion_classifier"] = {**settings["ifashion_classifier"], **swin, "tasks": ["color"]}
    shape = {k: swin[k] for k in ("backbone", "custom_arch", "stem", "image_size", "patch_size", "window_size",
                                  "embed_dim", "depths", "num_heads", "weights")}
    settings["mujo_sf_model"].update(shape, text_encoder=settings["masked_value_predictor"]["encoder"], epochs=1,
                                     batch_size=16)
    profile = {"name": "paper", "sources": {k: str(v) for k, v in sources.items()}, "weights": {},
               "settings": settings}
    path = root / "paper.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
