// Inference fusion: a BatchNorm in eval mode is an affine map per channel, so
// it folds into the convolution before it:
//   s = γ / √(running_var + ε),  w' = w · s (per output channel),  b' = (b − running_mean) · s + β.
// The activation after it then runs inside the convolution kernel (conv2dAct).
// Computed once, in double precision, before the result is rounded to float32.
import { tensor } from "../engine/index.js";
import { FusibleActivation } from "./layers/activation.js";
import { Conv2d } from "./layers/conv.js";
import { Identity } from "./layers/misc.js";
import { BatchNorm2d } from "./layers/norm.js";
import type { Layer } from "./layers/container.js";

/** Folds `bn` into `conv`'s weight and bias (which it creates when the conv has none). */
export function foldBatchNorm(conv: Conv2d, bn: BatchNorm2d): void {
  if (bn.numFeatures !== conv.outChannels) {
    throw new Error(`kiln: cannot fold BatchNorm2d(${bn.numFeatures}) into a Conv2d with ${conv.outChannels} output channels`);
  }
  const w = conv.weight.data;
  const perChannel = w.length / conv.outChannels;
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(conv.outChannels);
  const [gamma, beta, mean, variance] = [bn.weight.data, bn.bias.data, bn.runningMean.data, bn.runningVar.data];
  for (let c = 0; c < conv.outChannels; c++) {
    const s = gamma[c] / Math.sqrt(variance[c] + bn.eps);
    for (let i = c * perChannel; i < (c + 1) * perChannel; i++) weight[i] = w[i] * s;
    bias[c] = ((conv.bias ? conv.bias.data[c] : 0) - mean[c]) * s + beta[c];
  }
  conv.setFolded(tensor(weight, conv.weight.shape), tensor(bias, [conv.outChannels]));
}

/** Folds `bn` into `conv` and moves `act` (if given) into the conv's kernel. */
export function fuseConvBnAct(conv: Conv2d, bn: BatchNorm2d, act?: FusibleActivation): void {
  foldBatchNorm(conv, bn);
  if (act) conv.setFusedAct(act.act, act.alpha);
}

/**
 * Fuses every Conv2d → BatchNorm2d [→ fusible activation] run in a list of
 * layers; the absorbed modules are swapped for Identity through `replace`
 * (so indices and names of the rest stay put). Returns the new list.
 */
export function fuseSequence(layers: readonly Layer[], replace: (index: number, m: Layer) => Layer): Layer[] {
  const out = layers.slice();
  for (let i = 0; i + 1 < out.length; i++) {
    const conv = out[i];
    const bn = out[i + 1];
    if (!(conv instanceof Conv2d) || conv.fusedAct !== null || !(bn instanceof BatchNorm2d)) continue;
    const act = out[i + 2];
    const fusibleAct = act instanceof FusibleActivation ? act : undefined;
    fuseConvBnAct(conv, bn, fusibleAct);
    out[i + 1] = replace(i + 1, new Identity());
    if (fusibleAct) out[i + 2] = replace(i + 2, new Identity());
  }
  return out;
}
