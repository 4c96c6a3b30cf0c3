// Batch normalisation over (N, H*W) per channel, as torch.nn.functional.batch_norm.
import { Act, type ActOp, type F32 } from "../../kernels.js";
import { unaryGradient, unaryValue } from "./elementwise.js";

/** Calls visit(offset) for every element of channel ch in an [n, c, hw] tensor. */
function forEachInChannel(n: number, c: number, hw: number, ch: number, visit: (at: number) => void): void {
  for (let b = 0; b < n; b++) {
    const base = (b * c + ch) * hw;
    for (let p = 0; p < hw; p++) visit(base + p);
  }
}

export function batchNormTrain(n: number, c: number, hw: number, x: F32, weight: F32 | null, bias: F32 | null,
  eps: number, momentum: number, runningMean: F32 | null, runningVar: F32 | null, y: F32, saveMean: F32,
  saveInvStd: F32, act: ActOp, alpha: number, z: F32 | null): void {
  const count = n * hw;
  for (let ch = 0; ch < c; ch++) {
    // Two passes (mean, then squared deviations) in double.
    let sum = 0;
    forEachInChannel(n, c, hw, ch, (at) => { sum += x[at]; });
    const mean = sum / count;
    let sq = 0;
    forEachInChannel(n, c, hw, ch, (at) => { sq += (x[at] - mean) ** 2; });
    const biasedVar = sq / count;
    const invStd = 1 / Math.sqrt(biasedVar + eps);
    saveMean[ch] = mean;
    saveInvStd[ch] = invStd;
    const scale = weight ? weight[ch] : 1, shift = bias ? bias[ch] : 0;
    forEachInChannel(n, c, hw, ch, (at) => {
      const normed = Math.fround((x[at] - mean) * invStd * scale + shift); // a float32 tensor in between, as unfused
      if (z) z[at] = normed;
      y[at] = act === Act.none ? normed : unaryValue(act, normed, alpha, 0);
    });
    // PyTorch updates runningVar with the unbiased variance (count / (count - 1)).
    if (runningMean) runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mean;
    if (runningVar) runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * (sq / (count - 1));
  }
}

export function batchNormInference(n: number, c: number, hw: number, x: F32, weight: F32 | null, bias: F32 | null,
  runningMean: F32, runningVar: F32, eps: number, y: F32): void {
  for (let ch = 0; ch < c; ch++) {
    const mean = runningMean[ch], invStd = 1 / Math.sqrt(runningVar[ch] + eps);
    const scale = weight ? weight[ch] : 1, shift = bias ? bias[ch] : 0;
    forEachInChannel(n, c, hw, ch, (at) => { y[at] = (x[at] - mean) * invStd * scale + shift; });
  }
}

/**
 * With xhat = (x - mean) * invStd and M = n*hw elements per channel:
 * dbias = Σ dy, dweight = Σ dy*xhat, dx = weight*invStd * (dy - dbias/M - xhat*dweight/M).
 * With a fused activation, dy first becomes dy * act'(z) (actX: z, or relu's output).
 */
export function batchNormBackward(n: number, c: number, hw: number, x: F32, dy: F32, weight: F32 | null,
  saveMean: F32, saveInvStd: F32, dx: F32, dweight: F32 | null, dbias: F32 | null, act: ActOp, alpha: number,
  actX: F32 | null): void {
  const count = n * hw;
  if (act !== Act.none) {
    if (!actX) throw new Error("batchNormBackward: a fused activation needs actX");
    const dz = new Float32Array(dy.length);
    for (let i = 0; i < dy.length; i++) dz[i] = unaryGradient(act, actX[i], actX[i], dy[i], alpha, 0);
    dy = dz;
  }
  for (let ch = 0; ch < c; ch++) {
    const mean = saveMean[ch], invStd = saveInvStd[ch];
    let sumDy = 0, sumDyXhat = 0;
    forEachInChannel(n, c, hw, ch, (at) => {
      sumDy += dy[at];
      sumDyXhat += dy[at] * (x[at] - mean) * invStd;
    });
    const scale = (weight ? weight[ch] : 1) * invStd;
    forEachInChannel(n, c, hw, ch, (at) => {
      const xhat = (x[at] - mean) * invStd;
      dx[at] = scale * (dy[at] - sumDy / count - (xhat * sumDyXhat) / count);
    });
    if (dweight) dweight[ch] = sumDyXhat;
    if (dbias) dbias[ch] = sumDy;
  }
}
