"""Attribute classifier: heads, losses, saving and loading, pretrained weights from a local file."""

import timm
import torch

from models.attributes import (BackboneSpec, TaskHead, build_attribute_classifier, load_classifier,
                               multitask_loss, save_classifier, task_loss, top1_hits)

TINY_SWIN = BackboneSpec("swin_tiny_patch4_window7_224", (("img_size", 32), ("patch_size", 4), ("window_size", 4),
                                                          ("embed_dim", 16), ("depths", (1, 1)), ("num_heads", (1, 2))))
HEADS = [TaskHead("color", ("red", "blue", "green")), TaskHead("closure", ("zip", "lace", "buckle", "strap"), True)]


def test_one_head_per_task_with_its_class_count():
    model = build_attribute_classifier(TINY_SWIN, HEADS)
    out = model(torch.randn(5, 3, 32, 32))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"color": (5, 3), "closure": (5, 4)}


def test_single_label_loss_is_cross_entropy_over_labelled_rows_only():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [9.0, -9.0, 0.0]])
    targets = torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    has = torch.tensor([True, True, False])
    expected = torch.nn.functional.cross_entropy(logits[:2], torch.tensor([0, 2]))
    torch.testing.assert_close(task_loss(logits, targets, has, multi_label=False), expected)


def test_multi_label_loss_is_binary_cross_entropy_per_class():
    logits = torch.tensor([[1.0, -1.0, 0.5, 0.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    torch.testing.assert_close(task_loss(logits, targets, torch.tensor([True]), multi_label=True), expected)


def test_a_task_with_no_labelled_row_adds_zero_loss_but_keeps_the_graph():
    model = build_attribute_classifier(TINY_SWIN, HEADS)
    x = torch.randn(2, 3, 32, 32)
    batch = {"y:color": torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]), "has:color": torch.tensor([True, True]),
             "y:closure": torch.zeros(2, 4), "has:closure": torch.tensor([False, False])}
    out = model(x)
    only_color = multitask_loss(out, batch, HEADS)
    color = task_loss(out["color"], batch["y:color"], batch["has:color"], False)
    torch.testing.assert_close(only_color, color)
    only_color.backward()
    assert model.heads["closure"].weight.grad is not None and model.heads["closure"].weight.grad.abs().sum() == 0


def test_top1_hits_accepts_any_true_label():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    targets = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    assert top1_hits(logits, targets).tolist() == [True, False]


def test_saved_classifier_loads_with_identical_outputs(tmp_path):
    model = build_attribute_classifier(TINY_SWIN, HEADS).eval()
    save_classifier(model, tmp_path / "m.pt", extra={"image_size": 32})
    loaded, extra = load_classifier(tmp_path / "m.pt")
    x = torch.randn(3, 3, 32, 32)
    for name, logits in model(x).items():
        torch.testing.assert_close(loaded(x)[name], logits)
    assert extra == {"image_size": 32} and loaded.task_heads == tuple(HEADS)


def test_pretrained_backbone_weights_load_from_a_local_file(tmp_path):
    """The path the paper profile takes (ImageNet Swin saved offline): the bare timm model's
    state dict, as timm itself writes it, loads into the classifier's backbone."""
    torch.manual_seed(11)
    donor = timm.create_model(TINY_SWIN.name, pretrained=False, num_classes=0, **dict(TINY_SWIN.kwargs))
    torch.save(donor.state_dict(), tmp_path / "swin.pth")
    torch.manual_seed(12)
    model = build_attribute_classifier(TINY_SWIN, HEADS, pretrained=tmp_path / "swin.pth")
    for key, value in donor.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[key], value)
