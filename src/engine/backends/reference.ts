// Placeholder until the reference kernels land.
import type { Kernels } from "../kernels.js";
export const referenceKernels = {} as Kernels;
