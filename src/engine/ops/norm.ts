// Batch normalisation over (N, spatial) per channel, as PyTorch's
// F.batch_norm. Training mode: one fused kernel forward (it also updates the
// running statistics) and one backward. Eval mode: the inference kernel, with a
// backward composed from arithmetic ops.
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import { Act, Unary, type ActOp } from "../kernels.js";
import { empty, type Tensor } from "../tensor.js";
import { mul, sub } from "./arithmetic.js";
import { sumTo } from "./broadcast.js";
import { hardswish, leakyRelu, relu, relu6, silu } from "./activation.js";

export interface BatchNormOptions {
  /** Batch statistics (and running-stat updates) when true; running statistics when false. */
  training: boolean;
  /** running = (1 - momentum) * running + momentum * batch. Default 0.1. */
  momentum?: number;
  eps?: number;
  /**
   * An activation applied to the result (an `Act` code; alpha: leakyRelu's
   * slope). In training it runs inside the batch-norm kernels, forward and
   * backward, plane by plane while the data is in cache: the same numbers as
   * the separate ops, two fewer passes over the tensor.
   */
  act?: ActOp;
  alpha?: number;
}

/** The activation ops by `Act` code, for the paths that do not fuse. */
function applyAct(y: Tensor, act: ActOp, alpha: number): Tensor {
  switch (act) {
    case Act.none: return y;
    case Act.relu: return relu(y);
    case Act.relu6: return relu6(y);
    case Act.leakyRelu: return leakyRelu(y, alpha);
    case Act.silu: return silu(y);
    case Act.hardswish: return hardswish(y);
  }
}

/**
 * x [N, C, ...spatial]; runningMean/runningVar [C] (updated in place when
 * training; null to always use batch statistics); weight/bias [C] or null.
 * Increments nothing else: num_batches_tracked is the module's job.
 */
export function batchNorm2d(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null,
  bias: Tensor | null, opts: BatchNormOptions): Tensor {
  if (x.ndim < 2) throw new Error(`kiln: batchNorm2d needs x [N, C, ...], got [${x.shape.join(", ")}]`);
  const n = x.shape[0], c = x.shape[1], hw = x.numel / (n * c || 1);
  for (const [name, t] of [["runningMean", runningMean], ["runningVar", runningVar], ["weight", weight], ["bias", bias]] as const) {
    if (t && t.numel !== c) throw new Error(`kiln: batchNorm2d: ${name} must have ${c} elements (one per channel), got [${t.shape.join(", ")}]`);
  }
  if ((runningMean === null) !== (runningVar === null)) throw new Error("kiln: batchNorm2d: give both running statistics or neither");
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum ?? 0.1;
  const act = opts.act ?? Act.none, alpha = opts.alpha ?? 0;
  if (!opts.training && runningMean && runningVar) {
    const y = empty(x.shape);
    kernels().batchNormInference(n, c, hw, x.data, weight?.data ?? null, bias?.data ?? null, runningMean.data, runningVar.data, eps, y.data);
    return applyAct(evalGraph(x, y, runningMean, runningVar, weight, bias, eps), act, alpha);
  }
  if (n * hw <= 1) throw new Error(`kiln: batchNorm2d in training needs more than one value per channel, got input [${x.shape.join(", ")}]`);
  const y = empty(x.shape);
  const mean = empty([c]);
  const invStd = empty([c]);
  const grad = needsGrad(x, weight, bias);
  // relu's and relu6's gradient masks read the same from their output; the others need their input z.
  const z = grad && act !== Act.none && act !== Act.relu && act !== Act.relu6 ? empty(x.shape) : null;
  kernels().batchNormTrain(n, c, hw, x.data, weight?.data ?? null, bias?.data ?? null, eps, momentum,
    runningMean?.data ?? null, runningVar?.data ?? null, y.data, mean.data, invStd.data, act, alpha, z?.data ?? null);
  if (!grad) {
    mean.dispose();
    invStd.dispose();
    return y;
  }
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  const actX = act === Act.none ? null : z ?? y;
  const saved = [x, mean, invStd, ...(weight ? [weight] : []), ...(actX ? [actX] : [])];
  record(act === Act.none ? "batchNorm2d" : "batchNorm2d+act", y, inputs, (dy) => {
    const dx = empty(x.shape);
    const dw = weight?.requiresGrad ? empty([c]) : null;
    const db = bias?.requiresGrad ? empty([c]) : null;
    kernels().batchNormBackward(n, c, hw, x.data, dy.data, weight?.data ?? null, mean.data, invStd.data, dx.data,
      dw?.data ?? null, db?.data ?? null, act, alpha, actX?.data ?? null);
    const grads: (Tensor | null)[] = [x.requiresGrad ? dx : null];
    if (weight) grads.push(dw?.reshape(...weight.shape) ?? null);
    if (bias) grads.push(db?.reshape(...bias.shape) ?? null);
    return grads;
  }, saved);
  mean.dispose(); // the node holds its own references
  invStd.dispose();
  z?.dispose();
  return y;
}

/** Eval mode's graph: y = (x - mean) * invStd * weight + bias with fixed statistics. */
function evalGraph(x: Tensor, y: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  if (!needsGrad(x, weight, bias)) return y;
  const c = x.shape[1];
  const perChannel = [1, c, ...x.shape.slice(2).map(() => 1)];
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  const saved = [x, runningMean, runningVar, ...(weight ? [weight] : [])];
  return record("batchNorm2d(eval)", y, inputs, (dy) => {
    const k = kernels();
    const invStd = empty([c]);
    k.unary(Unary.affine, runningVar.data, invStd.data, 1, eps);
    k.unary(Unary.sqrt, invStd.data, invStd.data, 0, 0);
    k.unary(Unary.reciprocal, invStd.data, invStd.data, 0, 0);
    const invStdC = invStd.reshape(...perChannel);
    const grads: (Tensor | null)[] = [];
    grads.push(x.requiresGrad ? mul(dy, weight ? mul(weight.reshape(...perChannel), invStdC) : invStdC) : null);
    if (weight) {
      grads.push(weight.requiresGrad
        ? sumTo(mul(dy, mul(sub(x, runningMean.reshape(...perChannel)), invStdC)), perChannel).reshape(...weight.shape)
        : null);
    }
    if (bias) grads.push(bias.requiresGrad ? sumTo(dy, perChannel).reshape(...bias.shape) : null);
    return grads;
  }, saved);
}
