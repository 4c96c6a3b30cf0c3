// Softmax, log-softmax, fused softmax cross-entropy and BCE with logits.
import type { F32, I32 } from "../../kernels.js";

/** Visits every (outer, inner) lane of x viewed as [outer, dim, inner]: offset of its first element and step. */
function forEachLane(outer: number, dim: number, inner: number, visit: (base: number, step: number) => void): void {
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) visit(o * dim * inner + i, inner);
}

/** max and log Σ exp(x - max) over one lane (the stable log-sum-exp, split). */
function logSumExpParts(x: F32, base: number, step: number, dim: number): { max: number; logSum: number } {
  let max = -Infinity;
  for (let j = 0; j < dim; j++) max = Math.max(max, x[base + j * step]);
  let sum = 0;
  for (let j = 0; j < dim; j++) sum += Math.exp(x[base + j * step] - max);
  return { max, logSum: Math.log(sum) };
}

export function softmax(outer: number, dim: number, inner: number, x: F32, y: F32, log: boolean): void {
  forEachLane(outer, dim, inner, (base, step) => {
    const { max, logSum } = logSumExpParts(x, base, step, dim);
    for (let j = 0; j < dim; j++) {
      const logp = x[base + j * step] - max - logSum;
      y[base + j * step] = log ? logp : Math.exp(logp);
    }
  });
}

/** softmax: dx = y * (dy - Σ dy*y); log-softmax: dx = dy - exp(y) * Σ dy. */
export function softmaxBackward(outer: number, dim: number, inner: number, y: F32, dy: F32, dx: F32, log: boolean): void {
  forEachLane(outer, dim, inner, (base, step) => {
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += log ? dy[base + j * step] : dy[base + j * step] * y[base + j * step];
    for (let j = 0; j < dim; j++) {
      const at = base + j * step;
      dx[at] = log ? dy[at] - Math.exp(y[at]) * dot : y[at] * (dy[at] - dot);
    }
  });
}

function checkTargets(kernel: string, n: number, c: number, targets: I32, ignoreIndex: number): void {
  for (let i = 0; i < n; i++) {
    const t = targets[i];
    if (t !== ignoreIndex && (t < 0 || t >= c)) {
      throw new Error(`${kernel}: target ${t} of sample ${i} is outside [0, ${c}) and is not the ignore index (${ignoreIndex})`);
    }
  }
}

export function crossEntropy(n: number, c: number, logits: F32, targets: I32, labelSmoothing: number,
  ignoreIndex: number, losses: F32, probs: F32): void {
  checkTargets("crossEntropy", n, c, targets, ignoreIndex);
  for (let i = 0; i < n; i++) {
    const row = i * c;
    const { max, logSum } = logSumExpParts(logits, row, 1, c);
    let sumNegLogp = 0;
    for (let j = 0; j < c; j++) {
      const logp = logits[row + j] - max - logSum;
      probs[row + j] = Math.exp(logp);
      sumNegLogp -= logp;
    }
    const t = targets[i];
    if (t === ignoreIndex) {
      losses[i] = 0;
      continue;
    }
    const nll = -(logits[row + t] - max - logSum);
    losses[i] = (1 - labelSmoothing) * nll + (labelSmoothing / c) * sumNegLogp;
  }
}

export function crossEntropyBackward(n: number, c: number, probs: F32, targets: I32, labelSmoothing: number,
  ignoreIndex: number, dloss: F32, dlogits: F32): void {
  checkTargets("crossEntropyBackward", n, c, targets, ignoreIndex);
  for (let i = 0; i < n; i++) {
    const row = i * c, t = targets[i];
    for (let j = 0; j < c; j++) {
      if (t === ignoreIndex) {
        dlogits[row + j] = 0;
        continue;
      }
      const q = (j === t ? 1 - labelSmoothing : 0) + labelSmoothing / c;
      dlogits[row + j] = dloss[i] * (probs[row + j] - q);
    }
  }
}

export function bceWithLogits(x: F32, t: F32, out: F32): void {
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.max(x[i], 0) - x[i] * t[i] + Math.log1p(Math.exp(-Math.abs(x[i])));
  }
}

export function bceWithLogitsBackward(x: F32, t: F32, dout: F32, dx: F32): void {
  for (let i = 0; i < dx.length; i++) dx[i] = dout[i] * (1 / (1 + Math.exp(-x[i])) - t[i]);
}
