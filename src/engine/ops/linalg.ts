// Matrix products: one `gemm` call forward, one per needed gradient backward.
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import { empty, type Tensor } from "../tensor.js";
import { contiguousStrides, sumTo } from "./broadcast.js";

function shapeError(a: Tensor, b: Tensor): Error {
  return new Error(`kiln: matmul: shapes [${a.shape.join(", ")}] and [${b.shape.join(", ")}] do not multiply (need [.., m, k] @ [.., k, n] with rank 2 or 3)`);
}

/**
 * a @ b for [m,k]@[k,n], [B,m,k]@[B,k,n], and a 2-D operand shared across the
 * batch of a 3-D one ([B,m,k]@[k,n] or [m,k]@[B,k,n]).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const ra = a.ndim, rb = b.ndim;
  if (ra < 2 || ra > 3 || rb < 2 || rb > 3) throw shapeError(a, b);
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  const batchA = ra === 3 ? a.shape[0] : 1, batchB = rb === 3 ? b.shape[0] : 1;
  if (k !== k2 || (ra === 3 && rb === 3 && batchA !== batchB)) throw shapeError(a, b);
  const batch = Math.max(batchA, batchB);
  const outShape = ra === 3 || rb === 3 ? [batch, m, n] : [m, n];
  const out = empty(outShape);
  const sA = ra === 3 ? m * k : 0, sB = rb === 3 ? k * n : 0;
  kernels().gemm(batch, false, false, m, n, k, 1, a.data, sA, b.data, sB, 0, out.data, m * n);
  if (!needsGrad(a, b)) return out;
  const saved = a.requiresGrad && b.requiresGrad ? [a, b] : a.requiresGrad ? [b] : [a];
  return record("matmul", out, [a, b], (g) => {
    const kk = kernels();
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (a.requiresGrad) {
      // dA_i = dC_i @ B_iᵀ; summed over the batch when A is shared.
      if (ra === 3 || batch === 1) {
        ga = empty(a.shape);
        kk.gemm(batch, false, true, m, k, n, 1, g.data, m * n, b.data, sB, 0, ga.data, m * k);
      } else {
        const perBatch = empty([batch, m, k]);
        kk.gemm(batch, false, true, m, k, n, 1, g.data, m * n, b.data, sB, 0, perBatch.data, m * k);
        ga = sumTo(perBatch, [1, m, k]).reshape(m, k);
      }
    }
    if (b.requiresGrad) {
      gb = empty(b.shape);
      if (rb === 3 || batch === 1) {
        // dB_i = A_iᵀ @ dC_i
        kk.gemm(batch, true, false, k, n, m, 1, a.data, sA, g.data, m * n, 0, gb.data, k * n);
      } else {
        // B shared by a 3-D A: dB = Σ_i A_iᵀ dC_i = A' ᵀ @ dC' with the batch folded into the rows.
        kk.gemm(1, true, false, k, n, batch * m, 1, a.data, 0, g.data, 0, 0, gb.data, 0);
      }
    }
    return [ga, gb];
  }, saved);
}

/** x @ wᵀ + b for x [..., in], w [out, in] (PyTorch's layout), b [out]. */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  const inF = x.shape[x.ndim - 1];
  if (w.ndim !== 2 || w.shape[1] !== inF) {
    throw new Error(`kiln: linear: input [${x.shape.join(", ")}] needs a weight [out, ${inF}], got [${w.shape.join(", ")}]`);
  }
  const outF = w.shape[0];
  if (b && (b.ndim !== 1 || b.shape[0] !== outF)) throw new Error(`kiln: linear: bias must be [${outF}], got [${b.shape.join(", ")}]`);
  const rows = x.numel / inF;
  const out = empty([...x.shape.slice(0, -1), outF]);
  const k = kernels();
  if (b) {
    // Every row starts as the bias, then gemm accumulates onto it (beta = 1).
    k.copyStrided(b.data, 0, Int32Array.of(0, 1), out.data, 0, contiguousStrides([rows, outF]), Int32Array.of(rows, outF));
  }
  k.gemm(1, false, true, rows, outF, inF, 1, x.data, 0, w.data, 0, b ? 1 : 0, out.data, 0);
  if (!needsGrad(x, w, b)) return out;
  const saved = w.requiresGrad && x.requiresGrad ? [x, w] : x.requiresGrad ? [w] : w.requiresGrad ? [x] : [];
  const inputs = b ? [x, w, b] : [x, w];
  return record("linear", out, inputs, (g) => {
    const kk = kernels();
    let gx: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
    if (x.requiresGrad) {
      gx = empty(x.shape);
      kk.gemm(1, false, false, rows, inF, outF, 1, g.data, 0, w.data, 0, 0, gx.data, 0);
    }
    if (w.requiresGrad) {
      gw = empty(w.shape);
      kk.gemm(1, true, false, outF, inF, rows, 1, g.data, 0, x.data, 0, 0, gw.data, 0);
    }
    if (b && b.requiresGrad) gb = sumTo(g.reshape(rows, outF), [1, outF]).reshape(outF);
    return [gx, gw, gb];
  }, saved);
}
