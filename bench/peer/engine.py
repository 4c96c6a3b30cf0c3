#!/usr/bin/python3
"""The PyTorch peer of `npm run bench -- engine`: one case's training step, timed in this process.

Run by bench/engine.ts with Debian's /usr/bin/python3 and OPENBLAS_NUM_THREADS=1 (PyTorch's fastest
configuration on this machine, ../shared/reference/machine.md); prints one JSON line:
{"case", "images_per_s", "step_ms", "peak_rss_mb", "threads", "blas", "torch"}.

The step is what a PyTorch user writes: model.train(), forward, loss, backward, SGD-momentum step,
zero_grad (set_to_none, PyTorch's fastest). The models have the shapes of kiln's: torchvision's
resnet18 and mobilenet_v2, the issue's mnist_cnn, and a YOLOv8n-shaped network written here from the
published yolov8.yaml structure (depth 0.33, width 0.25) with the same surrogate loss as kiln's case.
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
import torchvision

# ---- models -----------------------------------------------------------------------------------


class MnistCnn(nn.Module):
    def __init__(self, nc=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, nc)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class Conv(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d(eps 1e-3, momentum 0.03) -> SiLU."""

    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut):
        super().__init__()
        self.cv1 = Conv(c1, c2, 3)
        self.cv2 = Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """Split the 1x1 projection in two halves, chain n bottlenecks on the second, concat all."""

    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c = c1 // 2
        self.cv1 = Conv(c1, c, 1)
        self.cv2 = Conv(c * 4, c2, 1)
        self.k = k

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(F.max_pool2d(y[-1], self.k, 1, self.k // 2))
        return self.cv2(torch.cat(y, 1))


class Detect(nn.Module):
    """Decoupled head per scale: box branch (4 x 16 DFL bins) and class branch; training output only."""

    def __init__(self, nc, ch, reg_max=16):
        super().__init__()
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1)) for c in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for c in ch)
        # The box decoder's fixed 1x1 conv (not trained, unused by the training output): counted as kiln counts it.
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)

    def forward(self, xs):
        return [torch.cat((box(x), cls(x)), 1) for x, box, cls in zip(xs, self.cv2, self.cv3)]


class YoloV8(nn.Module):
    """YOLOv8 backbone (Conv, C2f, SPPF), PAN neck and head; n-scale channels 16..256, ~3.2 M parameters."""

    def __init__(self, nc=80, depth=0.33, width=0.25, max_channels=1024):
        super().__init__()
        ch = lambda c: int(math.ceil(min(c, max_channels) * width / 8) * 8)
        n = lambda k: max(round(k * depth), 1)
        c1, c2, c3, c4, c5 = ch(64), ch(128), ch(256), ch(512), ch(1024)
        self.model = nn.ModuleList([
            Conv(3, c1, 3, 2), Conv(c1, c2, 3, 2), C2f(c2, c2, n(3), True),            # 0-2
            Conv(c2, c3, 3, 2), C2f(c3, c3, n(6), True),                                # 3-4  P3
            Conv(c3, c4, 3, 2), C2f(c4, c4, n(6), True),                                # 5-6  P4
            Conv(c4, c5, 3, 2), C2f(c5, c5, n(3), True), SPPF(c5, c5),                  # 7-9  P5
            nn.Upsample(scale_factor=2), nn.Identity(), C2f(c5 + c4, c4, n(3), False),  # 10-12
            nn.Upsample(scale_factor=2), nn.Identity(), C2f(c4 + c3, c3, n(3), False),  # 13-15 out P3
            Conv(c3, c3, 3, 2), nn.Identity(), C2f(c3 + c4, c4, n(3), False),           # 16-18 out P4
            Conv(c4, c4, 3, 2), nn.Identity(), C2f(c4 + c5, c5, n(3), False),           # 19-21 out P5
            Detect(nc, (c3, c4, c5)),                                                   # 22
        ])

    def forward(self, x):
        m = self.model
        x = m[1](m[0](x))
        x = m[2](x)
        p3 = m[4](m[3](x))
        p4 = m[6](m[5](p3))
        p5 = m[9](m[8](m[7](p4)))
        h12 = m[12](torch.cat((m[10](p5), p4), 1))
        o3 = m[15](torch.cat((m[13](h12), p3), 1))
        o4 = m[18](torch.cat((m[16](o3), h12), 1))
        o5 = m[21](torch.cat((m[19](o4), p5), 1))
        return m[22]([o3, o4, o5])


CASES = {
    # name: (model, input shape C,H,W, batch, classes, loss)
    "mnist_cnn": (lambda: MnistCnn(10), (1, 28, 28), 64, 10, "cross_entropy"),
    "resnet18_64": (lambda: torchvision.models.resnet18(num_classes=10), (3, 64, 64), 32, 10, "cross_entropy"),
    "mobilenet_v2_96": (lambda: torchvision.models.mobilenet_v2(num_classes=10), (3, 96, 96), 32, 10, "cross_entropy"),
    "yolov8n_320": (lambda: YoloV8(nc=80), (3, 320, 320), 8, 80, "sum_of_squares"),
}


def loss_fn(kind, out, targets):
    if kind == "cross_entropy":
        return F.cross_entropy(out, targets)
    # Each head's mean of squares (a sum of squares scaled by 1/numel), summed: a loss
    # with the shape of real training that stays finite under SGD, as kiln's case.
    return sum((o * o).mean() for o in out)


def loaded_blas():
    """The BLAS shared objects mapped into this process (the reference BLAS is 10x slower than OpenBLAS)."""
    with open("/proc/self/maps") as f:
        paths = {"/".join(line.split()[-1].split("/")[-2:]) for line in f if "blas" in line.lower() and "/" in line}
    return ",".join(sorted(paths)) or "none"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # A fresh PyTorch process here starts with one thread: match kiln's count.
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    make, (c, h, w), batch, nc, loss_kind = CASES[args.case]
    model = make()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, c, h, w)
    targets = torch.randint(0, nc, (batch,))

    def step():
        loss = loss_fn(loss_kind, model(x), targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - start)
    if not math.isfinite(loss):
        sys.exit(f"{args.case}: the loss is not finite ({loss})")
    total = sum(times)
    print(json.dumps({
        "case": args.case,
        "images_per_s": batch * args.steps / total,
        "step_ms": sorted(times)[len(times) // 2] * 1000,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        "blas": loaded_blas(),
        "torch": torch.__version__,
        "params": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    main()
