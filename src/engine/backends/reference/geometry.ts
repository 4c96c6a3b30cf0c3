// Named views of the packed convolution and pooling geometries (see kernels.ts).
import type { ConvGeom, PoolGeom } from "../../kernels.js";

export interface ConvDims {
  n: number; cIn: number; h: number; w: number; cOut: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number; dilH: number; dilW: number;
  groups: number; outH: number; outW: number;
  /** Input and output channels per group. */
  cInG: number; cOutG: number;
}

export function readConvGeom(g: ConvGeom): ConvDims {
  const [n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, dilH, dilW, groups, outH, outW] = g;
  if (cIn % groups !== 0 || cOut % groups !== 0) {
    throw new Error(`conv2d: channels (in ${cIn}, out ${cOut}) must be divisible by groups (${groups})`);
  }
  return {
    n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, dilH, dilW, groups, outH, outW,
    cInG: cIn / groups, cOutG: cOut / groups,
  };
}

export interface PoolDims {
  n: number; c: number; h: number; w: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number; dilH: number; dilW: number;
  outH: number; outW: number;
}

export function readPoolGeom(g: PoolGeom): PoolDims {
  const [n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilH, dilW, outH, outW] = g;
  return { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilH, dilW, outH, outW };
}
