// Losses. Cross-entropy and BCE-with-logits are fused kernels giving per-element
// losses; the reduction is composed from sum and a scalar multiply. MSE is
// composed entirely from primitives.
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import { empty, sameShape, type Tensor } from "../tensor.js";
import { mul, square, sub } from "./arithmetic.js";
import { mean, sum } from "./reduce.js";

export type Reduction = "mean" | "sum" | "none";

export interface CrossEntropyOptions {
  labelSmoothing?: number;
  /** Targets equal to this contribute nothing (and are left out of the mean). Default -100. */
  ignoreIndex?: number;
  reduction?: Reduction;
}

function reduce(losses: Tensor, reduction: Reduction, count: number): Tensor {
  if (reduction === "none") return losses;
  const total = sum(losses);
  return reduction === "sum" ? total : mul(total, 1 / count);
}

/**
 * PyTorch's F.cross_entropy over logits [N, C] and class indices [N]. The mean
 * divides by the number of targets that are not ignored (NaN when all are, as PyTorch).
 */
export function crossEntropy(logits: Tensor, targets: Int32Array, opts: CrossEntropyOptions = {}): Tensor {
  if (logits.ndim !== 2) throw new Error(`kiln: crossEntropy needs logits [N, C], got [${logits.shape.join(", ")}]`);
  const [n, c] = logits.shape;
  if (targets.length !== n) throw new Error(`kiln: crossEntropy: ${targets.length} targets for ${n} rows of logits`);
  const ls = opts.labelSmoothing ?? 0;
  const ignoreIndex = opts.ignoreIndex ?? -100;
  if (!(ls >= 0 && ls <= 1)) throw new Error(`kiln: crossEntropy: labelSmoothing must be in [0, 1], got ${ls}`);
  const t = targets.slice(); // the caller may refill its batch buffer before backward
  const losses = empty([n]);
  const probs = empty([n, c]);
  kernels().crossEntropy(n, c, logits.data, t, ls, ignoreIndex, losses.data, probs.data);
  let counted = n;
  if (opts.reduction !== "none" && opts.reduction !== "sum") {
    counted = 0;
    for (let i = 0; i < n; i++) if (t[i] !== ignoreIndex) counted++;
  }
  if (needsGrad(logits)) {
    record("crossEntropy", losses, [logits], (dloss) => {
      const dlogits = empty([n, c]);
      kernels().crossEntropyBackward(n, c, probs.data, t, ls, ignoreIndex, dloss.data, dlogits.data);
      return [dlogits];
    }, [probs]);
  }
  probs.dispose(); // the node keeps its own reference when it needs one
  return reduce(losses, opts.reduction ?? "mean", counted);
}

/** PyTorch's F.binary_cross_entropy_with_logits (no weights): element-wise, then reduced. */
export function bceWithLogits(x: Tensor, targets: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  if (!sameShape(x.shape, targets.shape)) {
    throw new Error(`kiln: bceWithLogits: input [${x.shape.join(", ")}] and targets [${targets.shape.join(", ")}] must have the same shape`);
  }
  const out = empty(x.shape);
  kernels().bceWithLogits(x.data, targets.data, out.data);
  if (needsGrad(x, targets)) {
    record("bceWithLogits", out, [x, targets], (g) => {
      let dx: Tensor | null = null;
      if (x.requiresGrad) {
        dx = empty(x.shape);
        kernels().bceWithLogitsBackward(x.data, targets.data, g.data, dx.data);
      }
      // d/dt [max(x,0) - x t + log(1 + e^-|x|)] = -x
      const dt = targets.requiresGrad ? mul(mul(g, x), -1) : null;
      return [dx, dt];
    }, [x, targets]);
  }
  return reduce(out, opts.reduction ?? "mean", x.numel);
}

/** Mean (or summed) squared error. */
export function mseLoss(a: Tensor, b: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const sq = square(sub(a, b));
  const reduction = opts.reduction ?? "mean";
  return reduction === "none" ? sq : reduction === "sum" ? sum(sq) : mean(sq);
}
