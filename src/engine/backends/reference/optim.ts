// Optimizer updates over every parameter at once, with torch.optim's formulas (see kernels.ts).
// State tensors are float32 as in PyTorch, so a value read back from them is the stored (rounded) one.
import type { F32 } from "../../kernels.js";

export function sgdStep(params: F32[], grads: F32[], momentumBufs: F32[], lr: number, momentum: number,
  dampening: number, weightDecay: number, nesterov: boolean, firstStep: boolean): void {
  params.forEach((p, k) => {
    const g = grads[k];
    const buf = momentum !== 0 ? momentumBufs[k] : null;
    for (let i = 0; i < p.length; i++) {
      let d = g[i] + weightDecay * p[i];
      if (buf) {
        buf[i] = firstStep ? d : momentum * buf[i] + (1 - dampening) * d;
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
  });
}

export function adamStep(params: F32[], grads: F32[], expAvg: F32[], expAvgSq: F32[], lr: number, beta1: number,
  beta2: number, eps: number, weightDecay: number, step: number, decoupled: boolean): void {
  const stepSize = lr / (1 - beta1 ** step);
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  params.forEach((p, k) => {
    const g = grads[k], m = expAvg[k], v = expAvgSq[k];
    for (let i = 0; i < p.length; i++) {
      let grad = g[i];
      if (decoupled) p[i] *= 1 - lr * weightDecay;
      else grad += weightDecay * p[i];
      m[i] = beta1 * m[i] + (1 - beta1) * grad;
      v[i] = beta2 * v[i] + (1 - beta2) * grad * grad;
      p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / biasCorrection2Sqrt + eps);
    }
  });
}

export function emaUpdate(ema: F32[], values: F32[], decay: number): void {
  ema.forEach((e, k) => {
    const v = values[k];
    for (let i = 0; i < e.length; i++) e[i] = decay * e[i] + (1 - decay) * v[i];
  });
}

export function sumSquares(arrays: F32[]): number {
  let sum = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) sum += a[i] * a[i];
  return sum;
}

export function scaleArrays(arrays: F32[], s: number): void {
  for (const a of arrays) for (let i = 0; i < a.length; i++) a[i] *= s;
}

export function allFinite(arrays: F32[]): boolean {
  return arrays.every((a) => a.every(Number.isFinite));
}
