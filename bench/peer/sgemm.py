#!/usr/bin/python3
"""The PyTorch peer of `npm run bench -- sgemm`: the same GEMMs and convolutions, timed here.

Run by bench/sgemm.ts with Debian's /usr/bin/python3, torch.set_num_threads(kiln's threads) and
OPENBLAS_NUM_THREADS=kiln's threads: torch.mm calls OpenBLAS directly, so the peer's GEMM gets
OpenBLAS's own threads (with 1, as the training benchmarks use, it would run on one core).
Reads the cases as JSON on stdin; prints one JSON line: {"gemm": {size: gflops}, "conv": {name: {...}}}.
Each figure is the best of several rounds, as on kiln's side.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def best_seconds(fn, rounds=5):
    fn()
    reps = 1
    while True:
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        if time.perf_counter() - t > 0.1:
            break
        reps *= 2
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def main():
    cases = json.load(sys.stdin)
    torch.set_num_threads(cases["threads"])
    out = {"gemm": {}, "conv": {}, "torch": torch.__version__, "threads": torch.get_num_threads()}
    for size in cases["gemm"]:
        a, b = torch.rand(size, size) * 2 - 1, torch.rand(size, size) * 2 - 1
        c = torch.empty(size, size)
        s = best_seconds(lambda: torch.mm(a, b, out=c))
        out["gemm"][str(size)] = 2 * size ** 3 / s / 1e9
    for name, sh in cases["conv"]:
        x = torch.rand(sh["n"], sh["cIn"], sh["h"], sh["w"]) * 2 - 1
        w = torch.rand(sh["cOut"], sh["cIn"] // sh["groups"], sh["kh"], sh["kw"]) * 2 - 1
        stride, pad = (sh["strideH"], sh["strideW"]), (sh["padH"], sh["padW"])
        y = F.conv2d(x, w, None, stride, pad, 1, sh["groups"])
        dy = torch.rand_like(y) * 2 - 1
        flops = 2 * y.numel() * (sh["cIn"] // sh["groups"]) * sh["kh"] * sh["kw"]

        def backward(mask):
            return lambda: torch.ops.aten.convolution_backward(dy, x, w, None, stride, pad, (1, 1), False, (0, 0), sh["groups"], mask)

        with torch.no_grad():
            out["conv"][name] = {
                "forward_gflops": flops / best_seconds(lambda: F.conv2d(x, w, None, stride, pad, 1, sh["groups"]), 3) / 1e9,
                "backward_input_gflops": flops / best_seconds(backward([True, False, False]), 3) / 1e9,
                "backward_weight_gflops": flops / best_seconds(backward([False, True, False]), 3) / 1e9,
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
