// Dropout: a mask from the counter-based kernel (same bits on every backend),
// then a plain multiply, whose rule gives the gradient.
import { kernels } from "../backend.js";
import { defaultRng, type Rng } from "../rng.js";
import { empty, type Tensor } from "../tensor.js";
import { mul } from "./arithmetic.js";

/** Zeroes each element with probability p and scales the rest by 1/(1-p) when training; identity otherwise. */
export function dropout(x: Tensor, p: number, training: boolean, rng: Rng = defaultRng()): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`kiln: dropout probability must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const mask = empty(x.shape);
  kernels().dropoutMask(rng.nextUint32(), rng.nextUint32(), p, mask.data);
  const out = mul(x, mask);
  mask.dispose(); // the multiply's node holds it when backward needs it
  return out;
}
