#!/usr/bin/python3
"""The PyTorch peer of `npm run bench -- fashion`: kiln's default `cnn` recipe on Fashion-MNIST.

Run by bench/fashion.ts with Debian's /usr/bin/python3 and OPENBLAS_NUM_THREADS=1 (PyTorch's fastest
configuration on this machine, ../shared/reference/machine.md), torch.set_num_threads(kiln's
threads). Prints one JSON line on stdout; progress on stderr.

The recipe is kiln's, read from its source (src/config/schema.ts defaults, src/train/*.ts,
src/data/*.ts, src/models/cnn.ts) and rebuilt here step for step:
- data: the IDX files; the train/val split is kiln's own (fashion.ts passes the indices kiln's
  loadClassificationDataset chose with seed 0 and val_ratio 0.2), test is t10k;
- model: kiln's `cnn` with 1 input channel: 4 x (Conv3x3 no bias, BN, ReLU) of 32/64/128/256
  channels with MaxPool 2 between them, global average pool, Linear(256, nc); PyTorch's default init;
- optimizer=auto: SGD (lr 0.01, momentum 0.9, nesterov) when steps/epoch x epochs > 10 000, else
  AdamW (lr 0.002, betas (0.9, 0.999), eps 1e-8); three parameter groups: conv/linear weights with
  weight decay 5e-4 x batch / 64 (kiln's nbs rule), BN weights and biases without;
- schedule (per batch): warmup over max(round(3 x batches/epoch), 100) iterations from 0 (biases:
  warmup_bias_lr, 0.1 for SGD, 0 for AdamW) to lr0 x lf(epoch), momentum / Adam beta1 from 0.8 to
  0.9; lf linear from 1 to lrf = 0.01 over the epochs;
- gradient norm clipped to 10; a non-finite gradient skips the update;
- EMA of parameters and BN statistics with Ultralytics' decay 0.9999 (1 - exp(-updates / 2000)),
  validated each epoch; the best EMA weights by val accuracy (first maximum) are tested on t10k;
- augmentation, per training image (kiln's src/data/augment.ts): torchvision-style random resized
  crop (area 0.5..1, aspect 3/4..4/3, ten tries then the whole image), horizontal flip p 0.5,
  bilinear resampling with kiln's pixel-centre mapping and edge clamping, brightness gain
  1 +- 0.4 clamped at 255 (kiln's HSV jitter on one channel: hue and saturation do nothing);
  normalisation (x/255 - 0.449) / 0.226 (ImageNet's mean/std averaged over RGB, kiln's rule for 1 channel).
The augmentation runs batched (grid_sample), the fastest way to do exactly this in PyTorch.
"""
import argparse
import gzip
import json
import math
import os
import resource
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MEAN = (0.485 + 0.456 + 0.406) / 3
STD = (0.229 + 0.224 + 0.225) / 3


def log(msg):
    print(f"[fashion/torch] {msg}", file=sys.stderr, flush=True)


def js_round(x):
    """JavaScript's Math.round (half up), which kiln uses."""
    return math.floor(x + 0.5)


# ---- data ---------------------------------------------------------------------------------------


def read_idx(path, dims):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    assert raw[0] == 0 and raw[1] == 0 and raw[2] == 8 and raw[3] == dims, f"{path}: not an IDX ubyte file"
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    start = 4 + 4 * dims
    return np.frombuffer(raw, dtype=np.uint8, count=int(np.prod(shape)), offset=start).reshape(shape)


def find(data_dir, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(data_dir, name)):
            return os.path.join(data_dir, name)
    sys.exit(f"{data_dir}: no {stem}[.gz]")


def load_pair(data_dir, prefix):
    images = read_idx(find(data_dir, f"{prefix}-images-idx3-ubyte"), 3)
    labels = read_idx(find(data_dir, f"{prefix}-labels-idx1-ubyte"), 1)
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)  # N,1,H,W in 0..255
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def normalise(x):
    return (x / 255.0 - MEAN) / STD


class Augment:
    """kiln's randomPlacement + Renderer for one-channel images, for a whole batch at once."""

    def __init__(self, size, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3), fliplr=0.5, hsv_v=0.4, seed=0):
        self.size, self.scale, self.ratio, self.fliplr, self.hsv_v = size, scale, ratio, fliplr, hsv_v
        self.rng = np.random.default_rng(seed)
        out = torch.arange(size, dtype=torch.float64) + 0.5
        self.centres = out  # output pixel centres, 0.5 .. size - 0.5

    def crops(self, n, width, height):
        """Per image (x, y, w, h) in source pixels: ten tries at a random area and log-uniform aspect, else the whole image."""
        area = width * height
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        xs, ys = np.zeros(n), np.zeros(n)
        ws, hs = np.full(n, float(width)), np.full(n, float(height))
        todo = np.ones(n, dtype=bool)
        for _ in range(10):
            k = int(todo.sum())
            if k == 0:
                break
            target = area * (self.scale[0] + self.rng.random(k) * (self.scale[1] - self.scale[0]))
            aspect = np.exp(lo + self.rng.random(k) * (hi - lo))
            w = np.floor(np.sqrt(target * aspect) + 0.5)
            h = np.floor(np.sqrt(target / aspect) + 0.5)
            ok = (w > 0) & (h > 0) & (w <= width) & (h <= height)
            idx = np.nonzero(todo)[0][ok]
            ws[idx], hs[idx] = w[ok], h[ok]
            xs[idx] = np.floor(self.rng.random(len(idx)) * (width - w[ok] + 1))
            ys[idx] = np.floor(self.rng.random(len(idx)) * (height - h[ok] + 1))
            todo[idx] = False
        # The fallback (whole image, clamped to the aspect range) is the whole square image here.
        return xs, ys, ws, hs

    def __call__(self, x):
        n, _, height, width = x.shape
        s = self.size
        xs, ys, ws, hs = (torch.from_numpy(a) for a in self.crops(n, width, height))
        flip = torch.from_numpy(self.rng.random(n) < self.fliplr)
        gain = torch.from_numpy(1 + (self.rng.random(n) * 2 - 1) * self.hsv_v).float()
        cols = torch.where(flip[:, None], self.centres.flip(0)[None, :], self.centres[None, :])  # n,s (mirrored output columns)
        sx = xs[:, None] + cols * (ws[:, None] / s) - 0.5  # source pixel coordinates, kiln's mapping
        sy = ys[:, None] + self.centres[None, :] * (hs[:, None] / s) - 0.5
        # grid_sample(align_corners=False) maps g to ((g + 1) W - 1) / 2; border padding clamps to [0, W-1] as kiln does.
        gx = ((2 * sx + 1) / width - 1).float()
        gy = ((2 * sy + 1) / height - 1).float()
        grid = torch.stack((gx[:, None, :].expand(n, s, s), gy[:, :, None].expand(n, s, s)), dim=-1)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        out = torch.clamp(out * gain[:, None, None, None], max=255.0)
        return normalise(out)


# ---- model ---------------------------------------------------------------------------------------


def conv_bn_relu(c1, c2):
    return nn.Sequential(nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU())


class SmallCnn(nn.Module):
    """kiln's `cnn` (src/models/cnn.ts), with the same state-dict names."""

    def __init__(self, nc, in_channels=1):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, 32), nn.MaxPool2d(2),
            conv_bn_relu(32, 64), nn.MaxPool2d(2),
            conv_bn_relu(64, 128), nn.MaxPool2d(2),
            conv_bn_relu(128, 256),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(256, nc)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


# ---- recipe --------------------------------------------------------------------------------------


def parameter_groups(model):
    decay, no_decay, biases = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.endswith(".bias"):
            biases.append(p)
        elif p.ndim == 1:
            no_decay.append(p)
        else:
            decay.append(p)
    return decay, no_decay, biases


def build_optimizer(model, steps_per_epoch, epochs, batch, weight_decay=5e-4, nbs=64):
    weight_decay = weight_decay * batch / nbs
    decay, no_decay, biases = parameter_groups(model)
    if steps_per_epoch * epochs > 10_000:
        name, lr0, momentum, warmup_bias_lr = "SGD", 0.01, 0.9, 0.1
        opt = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0},
                               {"params": biases, "weight_decay": 0.0}], lr=lr0, momentum=momentum, nesterov=True)
    else:
        name, lr0, momentum, warmup_bias_lr = "AdamW", 0.002, 0.9, 0.0
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0},
                                 {"params": biases, "weight_decay": 0.0}], lr=lr0, betas=(momentum, 0.999), eps=1e-8)
    return opt, name, lr0, momentum, warmup_bias_lr


class Schedule:
    """kiln's LrSchedule (linear kind): set before every batch."""

    def __init__(self, opt, lr0, lrf, epochs, momentum, warmup_epochs, warmup_momentum, warmup_bias_lr, batches, bias_group=2):
        self.opt, self.lr0, self.lrf, self.epochs, self.momentum = opt, lr0, lrf, epochs, momentum
        self.warmup_momentum, self.warmup_bias_lr, self.bias_group = warmup_momentum, warmup_bias_lr, bias_group
        self.nw = max(js_round(warmup_epochs * batches), 100) if warmup_epochs > 0 else 0

    def factor(self, epoch):
        return max(1 - epoch / self.epochs, 0) * (1 - self.lrf) + self.lrf

    def set(self, epoch, ni):
        target = self.lr0 * self.factor(epoch)
        for i, g in enumerate(self.opt.param_groups):
            if ni >= self.nw:
                lr, m = target, self.momentum
            else:
                start = self.warmup_bias_lr if i == self.bias_group else 0.0
                frac = ni / self.nw
                lr = start + (target - start) * frac
                m = self.warmup_momentum + (self.momentum - self.warmup_momentum) * frac
            g["lr"] = lr
            if "betas" in g:
                g["betas"] = (m, g["betas"][1])
            else:
                g["momentum"] = m


class Ema:
    """Ultralytics' ModelEMA as kiln has it: parameters and BN statistics, num_batches_tracked copied."""

    def __init__(self, model, make):
        self.model = make()
        self.model.load_state_dict(model.state_dict())
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0
        live = model.state_dict()
        mine = self.model.state_dict()
        self.pairs = [(mine[k], live[k]) for k in mine if mine[k].dtype.is_floating_point]
        self.copies = [(mine[k], live[k]) for k in mine if not mine[k].dtype.is_floating_point]

    @torch.no_grad()
    def update(self):
        self.updates += 1
        d = 0.9999 * (1 - math.exp(-self.updates / 2000))
        ema = [e for e, _ in self.pairs]
        torch._foreach_mul_(ema, d)
        torch._foreach_add_(ema, [v for _, v in self.pairs], alpha=1 - d)
        for e, v in self.copies:
            e.copy_(v)


@torch.no_grad()
def evaluate(model, x, y, batch):
    model.eval()
    correct, loss_sum = 0, 0.0
    for i in range(0, len(x), batch):
        logits = model(normalise(x[i:i + batch]))
        loss_sum += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x), loss_sum / len(x)


def loaded_blas():
    with open("/proc/self/maps") as f:
        paths = {"/".join(line.split()[-1].split("/")[-2:]) for line in f if "blas" in line.lower() and "/" in line}
    return ",".join(sorted(paths)) or "none"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", required=True, help="JSON file {train: [...], val: [...]} of indices into the train IDX files (kiln's split)")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    x_all, y_all = load_pair(args.data, "train")
    with open(args.split) as f:
        split = json.load(f)
    tr_idx, va_idx = torch.tensor(split["train"], dtype=torch.long), torch.tensor(split["val"], dtype=torch.long)
    x_tr, y_tr, x_va, y_va = x_all[tr_idx], y_all[tr_idx], x_all[va_idx], y_all[va_idx]
    x_te, y_te = load_pair(args.data, "t10k")
    nc = int(y_all.max().item()) + 1
    size = x_all.shape[-1]

    make = lambda: SmallCnn(nc, 1)
    model = make()
    model.train()
    batches = len(x_tr) // args.batch if len(x_tr) > args.batch else 1  # kiln drops the last partial batch
    opt, opt_name, lr0, momentum, warmup_bias_lr = build_optimizer(model, batches, args.epochs, args.batch)
    sched = Schedule(opt, lr0, 0.01, args.epochs, momentum, 3, 0.8, warmup_bias_lr, batches)
    ema = Ema(model, make)
    augment = Augment(size, seed=args.seed)
    params = list(model.parameters())
    gen = torch.Generator().manual_seed(args.seed)
    log(f"{len(x_tr)} train, {len(x_va)} val, {len(x_te)} test; {opt_name} lr0={lr0}, {batches} batches/epoch, "
        f"{sum(p.numel() for p in params)} parameters, {torch.get_num_threads()} threads")

    best_acc, best_epoch, history = -math.inf, -1, []
    tmp = tempfile.mkdtemp(prefix="kiln-fashion-torch-")
    best_path = os.path.join(tmp, "best.pt")
    ni = 0
    skipped = 0
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_tr), generator=gen)
        loss_sum, seen = 0.0, 0
        for b in range(batches):
            idx = order[b * args.batch:(b + 1) * args.batch]
            sched.set(epoch, ni)
            xb = augment(x_tr[idx])
            loss = F.cross_entropy(model(xb), y_tr[idx])
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, 10.0)
            if torch.isfinite(norm):
                opt.step()
                opt.zero_grad(set_to_none=True)
                ema.update()
            else:
                opt.zero_grad(set_to_none=True)
                skipped += 1
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            ni += 1
        val_acc, val_loss = evaluate(ema.model, x_va, y_va, args.batch)
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch
            torch.save(ema.model.state_dict(), best_path)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "val_acc": val_acc, "val_loss": val_loss,
                        "seconds": time.perf_counter() - t0})
        log(f"epoch {epoch + 1}/{args.epochs}: train loss {loss_sum / seen:.4f}, val acc {val_acc:.4f}, "
            f"val loss {val_loss:.4f}, {time.perf_counter() - t0:.1f} s")
    train_s = time.perf_counter() - started

    t0 = time.perf_counter()
    best = make()
    best.load_state_dict(torch.load(best_path))
    test_acc, test_loss = evaluate(best, x_te, y_te, args.batch)
    test_s = time.perf_counter() - t0
    os.remove(best_path)
    os.rmdir(tmp)
    print(json.dumps({
        "test_acc": test_acc, "test_loss": test_loss, "best_val_acc": best_acc, "best_epoch": best_epoch + 1,
        "train_s": train_s, "test_s": test_s, "optimizer": opt_name, "lr0": lr0, "skipped_steps": skipped,
        "params": sum(p.numel() for p in params), "threads": torch.get_num_threads(), "blas": loaded_blas(),
        "torch": torch.__version__, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "train_images": len(x_tr), "val_images": len(x_va), "test_images": len(x_te), "history": history,
    }))


if __name__ == "__main__":
    main()
