// Strided copy: the one data-movement kernel behind permute, slice, concat, split and expand.
import type { F32, I32 } from "../../kernels.js";
import { walkStrided } from "./strided.js";

export function copyStrided(src: F32, srcOffset: number, srcStrides: I32, dst: F32, dstOffset: number,
  dstStrides: I32, shape: I32): void {
  walkStrided(shape, srcStrides, srcOffset, dstStrides, dstOffset, (s, d) => { dst[d] = src[s]; });
}
