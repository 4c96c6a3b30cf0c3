// Batched GEMM, straight from the definition in kernels.ts.
import type { F32 } from "../../kernels.js";

export function gemm(batch: number, transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  a: F32, strideA: number, b: F32, strideB: number, beta: number, c: F32, strideC: number): void {
  // Element strides of op(A) [m,k] and op(B) [k,n] as stored.
  const aRow = transA ? 1 : k, aCol = transA ? m : 1;
  const bRow = transB ? 1 : n, bCol = transB ? k : 1;
  for (let i = 0; i < batch; i++) {
    const a0 = i * strideA, b0 = i * strideB, c0 = i * strideC;
    for (let r = 0; r < m; r++) {
      for (let col = 0; col < n; col++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[a0 + r * aRow + p * aCol] * b[b0 + p * bRow + col * bCol];
        const at = c0 + r * n + col;
        // beta = 0 must ignore C's old contents, even NaN.
        c[at] = beta === 0 ? alpha * sum : alpha * sum + beta * c[at];
      }
    }
  }
}
