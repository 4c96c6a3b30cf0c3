// Counter-based dropout mask: the same bits as the native kernel for any thread count.
import type { F32 } from "../../kernels.js";
import { fmix32 } from "../../rng.js";

/** h(i) = fmix32(fmix32(i*0x9E3779B9 + seedA) ^ seedB); u_i = (h >>> 8) / 2^24; mask_i = u_i < p ? 0 : 1/(1-p). */
export function dropoutMask(seedA: number, seedB: number, p: number, mask: F32): void {
  const keepScale = 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) {
    const h = fmix32((fmix32((Math.imul(i, 0x9e3779b9) + seedA) >>> 0) ^ seedB) >>> 0);
    const u = (h >>> 8) / 16777216;
    mask[i] = u < p ? 0 : keepScale;
  }
}
