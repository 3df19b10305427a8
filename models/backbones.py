"""Image backbones that return a spatial feature map, built from a name plus keyword config.

``mavp_cnn`` is a small convolutional network for the ``sample`` profile (it trains from
scratch in seconds on a CPU); any other name goes to ``timm.create_model(name,
features_only=True)``, so ``resnet50`` or ``swin_tiny_patch4_window7_224`` work the same way
(their pretrained weights from a local file, see :func:`load_weights`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

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
    """The last feature map of a timm model, channels first."""

    def __init__(self, name: str, **kwargs):
        super().__init__()
        self.model = timm.create_model(name, pretrained=False, features_only=True, out_indices=(-1,), **kwargs)
        self.out_channels = self.model.feature_info.channels()[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.model(x)[-1]
        if fmap.shape[1] != self.out_channels:   # Swin-style maps come out channels last
            fmap = fmap.permute(0, 3, 1, 2)
        return fmap


def build_backbone(name: str, **kwargs) -> nn.Module:
    """A module mapping (B, 3, H, W) images to a (B, C, h, w) map; ``.out_channels`` is C."""
    if name == "mavp_cnn":
        return SmallCNN(**kwargs)
    return TimmFeatureMap(name, **kwargs)


def load_weights(module: nn.Module, path: Path | str, strict: bool = True) -> nn.Module:
    """Load a local state-dict file (``.pt`` / ``.pth``, optionally under a ``state_dict`` key)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    module.load_state_dict(state, strict=strict)
    return module


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
    return normalize_pixels(torch.from_numpy(np.stack(images)))
