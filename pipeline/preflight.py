"""Before anything reads or trains: is every folder and weights file the profile names there,
and does each weights file fit the model that will load it?

:func:`check_profile` returns one line per problem, each naming the profile key, the file and
what was expected, so that a build stops in seconds with all of them rather than hours later
with the first.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Callable, Mapping

from pipeline.profiles import Profile
from pipeline.sources.registry import FOLDER_KINDS, SOURCES


def check_profile(profile: Profile, folders: Mapping[str, Path | None]) -> list[str]:
    """Problems with ``profile``'s source ``folders`` (kind -> path, None: not set) and weights."""
    problems = [] if profile.generated else folder_problems(profile, folders)
    for section, check in WEIGHT_CHECKS.items():
        problems += check(profile, section)
    return problems


def folder_problems(profile: Profile, folders: Mapping[str, Path | None]) -> list[str]:
    out = []
    for kind in FOLDER_KINDS:
        folder = folders.get(kind)
        key = f"{profile.path}: sources.{kind}"
        if folder is None:
            out.append(f"{key} is not set (expected the {kind} folder)")
        elif not Path(folder).is_dir():
            out.append(f"{key}: {folder} is not a folder")
        elif kind in SOURCES and SOURCES[kind].expects and not _holds(Path(folder), SOURCES[kind].expects):
            out.append(f"{key}: {folder} holds none of {list(SOURCES[kind].expects)} ({SOURCES[kind].description})")
    return out


def _holds(folder: Path, patterns: tuple[str, ...]) -> bool:
    return any(next(folder.glob(p), None) is not None for p in patterns)


def _file(profile: Profile, key: str, path: str | None, what: str) -> list[str]:
    if path and not Path(path).is_file():
        return [f"{profile.path}: {key}: {path} does not exist (expected {what})"]
    return []


def _region_features(profile: Profile, section: str) -> list[str]:
    config = profile.settings_for(section)
    key = f"settings.{section}"
    if config.kind == "precomputed":
        folder = Path(config.precomputed_dir or "")
        needed = ["cids_of_imgs", config.precomputed_array]
        if not config.precomputed_dir or not all((folder / n).is_file() for n in needed):
            return [f"{profile.path}: {key}.precomputed_dir: {config.precomputed_dir} must hold {needed}"]
        return []
    what = f"a state dict of torchvision's {config.detector}" if config.kind == "faster_rcnn" else "a state dict"
    problems = _file(profile, f"{key}.weights", config.weights, what)
    if problems or config.kind != "faster_rcnn" or not config.weights:
        return problems
    try:
        from models.regions import FasterRCNNRegions

        FasterRCNNRegions(config.detector, config.weights)
    except Exception as exc:        # any load failure is the message the user needs
        return [f"{profile.path}: {key}.weights: {config.weights} does not fit {config.detector}: {_first_line(exc)}"]
    return []


def _text_encoder(profile: Profile, section: str, field: str = "encoder") -> list[str]:
    encoder = getattr(profile.settings_for(section), field)
    key = f"{profile.path}: settings.{section}.{field}"
    if not encoder:
        return []
    folder = Path(encoder)
    if not folder.is_dir():
        return [f"{key}: {encoder} is not a folder (expected a save_pretrained BERT directory: no hub is reached)"]
    missing = [n for n in ("config.json", "vocab.txt") if not (folder / n).is_file()]
    if not any((folder / n).is_file() for n in ("model.safetensors", "pytorch_model.bin")):
        missing.append("model.safetensors or pytorch_model.bin")
    if missing:
        return [f"{key}: {encoder} lacks {missing}"]
    model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    if model_type != "bert":
        return [f"{key}: {encoder} holds a {model_type!r} model, expected a BERT"]
    return []


def _classifier(profile: Profile, section: str) -> list[str]:
    return _image_model(profile, section) if profile.settings_for(section).kind == "finetune" else []


def _image_model(profile: Profile, section: str) -> list[str]:
    """The weights of a :class:`TimmImageModel` setting (a finetune classifier, MuJo-SF's image encoder)."""
    config = profile.settings_for(section)
    key = f"settings.{section}.weights"
    if not config.weights:
        return []
    problems = _file(profile, key, config.weights, f"a state dict of timm's {config.backbone}")
    if problems:
        return problems
    from pipeline.distant.train import backbone_spec

    spec = backbone_spec(config)
    problem = _backbone_mismatch(spec, config.weights, Path(config.weights).stat().st_mtime_ns)
    return [f"{profile.path}: {key}: {config.weights} does not fit {spec.name}: it {problem}"] if problem else []


@cache
def _backbone_mismatch(spec, weights: str, modified_ns: int) -> str | None:
    """Checked once per backbone and file version: the paper profile's four classifiers share
    both, and a Swin-B with its state dict is a third of a gigabyte to build and read."""
    from models.backbones import read_state, state_mismatch

    return state_mismatch(spec.create(), read_state(weights))


def _region_backbone(profile: Profile, section: str) -> list[str]:
    weights = profile.settings_for(section).weights
    if weights in (None, "imagenet"):
        return []
    return _file(profile, f"settings.{section}.weights", weights, "a state dict of the whole timm model")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


WEIGHT_CHECKS: dict[str, Callable[[Profile, str], list[str]]] = {
    "region_backbone": _region_backbone,
    "region_features": _region_features,
    "masked_value_predictor": _text_encoder,
    **{f"{kind}_classifier": _classifier for kind, spec in SOURCES.items() if spec.vision},
    "mujo_sf_model": lambda profile, section: (_text_encoder(profile, section, "text_encoder")
                                               + _image_model(profile, section)),
}
