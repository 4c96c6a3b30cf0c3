#!/usr/bin/python3
"""The PyTorch peer of `npm run bench -- detect`: YOLOv8n training steps with the real detection loss.

Run by bench/detect.ts with Debian's /usr/bin/python3 and OPENBLAS_NUM_THREADS=1; reads the batch's
objects as JSON on stdin ({"batch", "imgsz", "nc", "batch_idx", "cls", "bboxes"}: the same boxes kiln
trains on) and prints one JSON line: {"images_per_s", "step_ms", "loss_ms", "peak_rss_mb", "threads",
"blas", "torch", "params", "loss"}.

The network is bench/peer/engine.py's YOLOv8n-shaped model; the loss is Ultralytics' v8DetectionLoss as
written in test/fixtures/generate_detect.py (float32, torch.topk as Ultralytics). The step is what an
Ultralytics user's trainer does on CPU: forward, loss, backward, SGD-momentum step, zero_grad.
"""
import argparse
import json
import math
import pathlib
import resource
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "peer"))
sys.path.insert(0, str(ROOT / "test" / "fixtures"))

from engine import YoloV8, loaded_blas  # noqa: E402
from generate_detect import DetectionLoss  # noqa: E402


def bias_init(detect, nc, strides):
    """Ultralytics' Detect.bias_init, as kiln's head starts: box logits 1, class logits log(5 / nc / (640 / s)^2)."""
    with torch.no_grad():
        for box, cls, s in zip(detect.cv2, detect.cv3, strides):
            box[-1].bias.fill_(1.0)
            cls[-1].bias.fill_(math.log(5 / nc / (640 / s) ** 2))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    spec = json.load(sys.stdin)

    torch.set_num_threads(args.threads)  # a fresh process starts with one thread: match kiln's count
    torch.manual_seed(args.seed)
    b, imgsz, nc = spec["batch"], spec["imgsz"], spec["nc"]
    model = YoloV8(nc=nc)
    bias_init(model.model[22], nc, (8, 16, 32))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    criterion = DetectionLoss(nc, (8, 16, 32))
    x = torch.rand(b, 3, imgsz, imgsz)  # the loader's 0..1 pixels
    batch_idx = torch.tensor(spec["batch_idx"], dtype=torch.int64)
    cls = torch.tensor(spec["cls"], dtype=torch.int64)
    bboxes = torch.tensor(spec["bboxes"], dtype=torch.float32).view(-1, 4)
    loss_ms = 0.0

    def step():
        nonlocal loss_ms
        feats = model(x)
        start = time.perf_counter()
        loss, _, _ = criterion(feats, batch_idx, cls, bboxes)
        loss_ms = (time.perf_counter() - start) * 1000
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    times, loss_times = [], []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - start)
        loss_times.append(loss_ms)
    if not math.isfinite(loss):
        sys.exit(f"detect: the loss is not finite ({loss})")
    print(json.dumps({
        "images_per_s": b * args.steps / sum(times),
        "step_ms": sorted(times)[len(times) // 2] * 1000,
        "loss_ms": sorted(loss_times)[len(loss_times) // 2],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        "blas": loaded_blas(),
        "torch": torch.__version__,
        "params": sum(p.numel() for p in model.parameters()),
        "loss": loss,
    }))


if __name__ == "__main__":
    main()
