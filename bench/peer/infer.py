#!/usr/bin/python3
"""PyTorch peer of `npm run bench -- infer`: batch-1 eval-mode forward latency (inference_mode).

resnet18 is torchvision's; yolov8n is bench/peer/engine.py's YoloV8 (the same architecture as kiln's,
raw head maps out). Prints one JSON line: {"runner": "torch", "ms": median, "threads", "detail"}.
"""
import argparse
import json
import pathlib
import statistics
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from engine import YoloV8, loaded_blas  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--imgsz", type=int, required=True)
    p.add_argument("--nc", type=int, required=True)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.model == "resnet18":
        import torchvision
        model = torchvision.models.resnet18(num_classes=a.nc)
    else:
        model = YoloV8(nc=a.nc)
    model.eval()
    x = torch.randn(1, 3, a.imgsz, a.imgsz)
    times = []
    with torch.inference_mode():
        for _ in range(a.warmup):
            model(x)
        for _ in range(a.iters):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1000)
    detail = f"torch {torch.__version__}, {loaded_blas()}"
    print(json.dumps({"runner": "torch", "ms": statistics.median(times), "threads": torch.get_num_threads(), "detail": detail}))


if __name__ == "__main__":
    main()
