"""GPU check for the paper profile's models (issue 15): one script, under 5 minutes on one GPU.

Prints, for the device it runs on:

- Swin-B 224 (``swin_base_patch4_window7_224``, the paper profile's classifier) training and
  inference images/s, in float32 and with automatic mixed precision (bf16 where the GPU has it,
  else fp16 with a grad scaler), as :mod:`models.training` runs them;
- BERT-base masked-value training sequences/s (the paper profile's text predictor:
  :class:`models.masked_value.TextMaskedValuePredictor` on a BERT-base-sized encoder);
- labelling images/s, decoding included: JPEG files read with :func:`pipeline.images.load_rgb`,
  resized, and run through the region backbone (EfficientNet-Lite0 grid) as labelling does;
- peak GPU memory;
- the projected hours of a paper-scale rebuild from those figures (the work counts are stated).

Models start from random weights (no hub is reached): throughput does not depend on them.
``--quick`` shrinks every size so the script checks itself on a CPU in about a minute.

    python -m benchmarks.gpu_check [--device cuda|cpu] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# Work of a paper-scale rebuild (paper section IV and the paper profile's settings).
PAPER_WORK = {
    "classifier_images": 1_300_000,     # iMaterialist ~1 M + FashionAI ~180 k + UT-ZAP50K 50 k + crawl 20 k
    "classifier_epochs": 50,
    "predictor_instances": 79_120 * 0.8,  # MEPAVE train instances
    "predictor_epochs": 10,
    "predictor_runs": 2 * 3,            # text and multimodal, 3 seeds each
    "labelled_products": 29_374,
}


def amp_dtype(device: torch.device) -> torch.dtype | None:
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def timed(step, n: int, device: torch.device, warmup: int = 2) -> float:
    """Seconds per call of ``step`` after ``warmup`` calls (synchronised on CUDA)."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / n


def swin(device: torch.device, quick: bool, steps: int) -> dict[str, float]:
    import timm

    size, batch = (64, 4) if quick else (224, 64)
    kwargs = {"img_size": size, "embed_dim": 32, "depths": (1, 1), "num_heads": (1, 2), "window_size": 2} if quick else {}
    model = timm.create_model("swin_base_patch4_window7_224", pretrained=False, num_classes=10, **kwargs).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    out = {}
    for label, dtype in (("fp32", None), ("amp", amp_dtype(device))):
        if label == "amp" and dtype is None:
            continue
        scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

        def train_step():
            optimiser.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()

        def infer_step():
            with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                model(x)

        out[f"swin_train_{label}_img_s"] = batch / timed(train_step, steps, device)
        out[f"swin_infer_{label}_img_s"] = batch / timed(infer_step, steps, device)
    return out


def bert(device: torch.device, quick: bool, steps: int) -> dict[str, float]:
    from transformers import BertConfig, BertModel

    from models.masked_value import TextMaskedValuePredictor

    config = (BertConfig(vocab_size=500, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
              if quick else BertConfig(vocab_size=21128))       # bert-base-chinese's size
    batch, length = (4, 16) if quick else (60, 64)
    model = TextMaskedValuePredictor(BertModel(config, add_pooling_layer=False), 300, 0.3).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-4)
    ids = torch.randint(5, config.vocab_size, (batch, length), device=device)
    mask = torch.ones_like(ids)
    at = torch.full((batch,), length // 2, device=device)
    y = torch.randint(0, 300, (batch,), device=device)
    dtype = amp_dtype(device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

    def step():
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(ids, mask, at), y)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()

    return {"bert_train_amp_seq_s" if dtype else "bert_train_fp32_seq_s": batch / timed(step, steps, device)}


def labelling(device: torch.device, quick: bool) -> dict[str, float]:
    """JPEG decode + resize + region backbone, in batches, as the labelling step reads images."""
    from models.backbones import build_backbone, to_tensor_batch
    from pipeline.images import load_rgb

    n, size = (16, 96) if quick else (512, 192)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(n):
            path = Path(tmp) / f"{i}.jpg"
            Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(path, "JPEG")
            paths.append(path)
        backbone = build_backbone("efficientnet_lite0", multiscale=True).to(device).eval()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, n, 64):
            batch = to_tensor_batch([load_rgb(p) for p in paths[i:i + 64]], size).to(device)
            with torch.no_grad(), torch.autocast(device.type, dtype=amp_dtype(device), enabled=device.type == "cuda"):
                backbone(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return {"labelling_img_s": n / (time.perf_counter() - start)}


def projected_hours(figures: dict[str, float]) -> dict[str, float]:
    """Hours of each heavy stage of a paper-scale rebuild at the measured rates (AMP where measured)."""
    swin_train = figures.get("swin_train_amp_img_s") or figures["swin_train_fp32_img_s"]
    bert_train = figures.get("bert_train_amp_seq_s") or figures["bert_train_fp32_seq_s"]
    w = PAPER_WORK
    hours = {
        "classifiers": w["classifier_images"] * w["classifier_epochs"] / swin_train / 3600,
        "predictors": w["predictor_instances"] * w["predictor_epochs"] * w["predictor_runs"] / bert_train / 3600,
        "labelling": w["labelled_products"] / figures["labelling_img_s"] / 3600,
    }
    hours["total"] = sum(hours.values())
    return {k: round(v, 2) for k, v in hours.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script itself on a CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per figure (default 20, quick 2)")
    args = parser.parse_args()
    device = torch.device(args.device)
    steps = args.steps or (2 if args.quick else 20)
    torch.manual_seed(0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}; amp dtype: {amp_dtype(device)}; quick: {args.quick}")
    figures = {**swin(device, args.quick, steps), **bert(device, args.quick, steps), **labelling(device, args.quick)}
    for key, value in figures.items():
        print(f"{key:32s} {value:10.1f}")
    if device.type == "cuda":
        print(f"{'peak_gpu_memory_gib':32s} {torch.cuda.max_memory_allocated(device) / 2**30:10.2f}")
    print(f"work of a paper-scale rebuild: {PAPER_WORK}")
    print(f"projected hours{' (quick sizes: not meaningful)' if args.quick else ''}: {projected_hours(figures)}")


if __name__ == "__main__":
    main()
