// A finite-difference gradient checker for the tests. It compares the
// analytic gradient of L = Σ w ⊙ fn(inputs), w a fixed random projection (so
// every output element matters), with central differences of L computed in
// float64 from float32 forward passes. Slow by design: per-element JavaScript,
// two forward passes per input element.
import { noGrad } from "./autograd.js";
import { tidy } from "./memory.js";
import { Rng } from "./rng.js";
import { fromData } from "./create.js";
import type { Tensor } from "./tensor.js";

export interface GradcheckOptions {
  /** Finite-difference step. Default 1e-2: float32 forward passes need a large step (rounding error ~ 1e-7 |L| / eps). */
  eps?: number;
  /** Absolute tolerance. Default 1e-3. */
  atol?: number;
  /** Relative tolerance. Default 1e-2. */
  rtol?: number;
  /** Seed of the projection w. */
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Number of gradient entries compared. */
  checked: number;
  maxAbsError: number;
  /** The entry furthest outside its tolerance (or closest to it when all pass). */
  worst: { input: number; index: number; analytic: number; numeric: number } | null;
}

function projection(fn: () => Tensor, w: Float64Array): number {
  return tidy(() => {
    const out = noGrad(fn);
    const d = out.data;
    if (d.length !== w.length) throw new Error("gradcheck: the function's output size changed between calls");
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i] * w[i];
    return s;
  });
}

/** Checks the gradients of fn with respect to every input that has requiresGrad set. */
export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-2, atol = opts.atol ?? 1e-3, rtol = opts.rtol ?? 1e-2;
  const call = (): Tensor => fn(...inputs);
  const rng = new Rng(opts.seed ?? 1234);

  // Analytic: backward from the projection, seeded with w.
  for (const x of inputs) x.grad = null;
  const analytic = tidy(() => {
    const out = call();
    if (!out.requiresGrad) throw new Error("gradcheck: the output does not require grad (no input has requiresGrad = true)");
    const w = new Float32Array(out.numel);
    for (let i = 0; i < w.length; i++) w[i] = rng.normal();
    out.backward(fromData(w, out.shape));
    return { w: Float64Array.from(w), grads: inputs.map((x) => (x.requiresGrad && x.grad ? x.grad.toArray() : null)) };
  });

  let checked = 0, maxAbsError = 0, worstScore = -Infinity;
  let worst: GradcheckResult["worst"] = null;
  inputs.forEach((x, input) => {
    if (!x.requiresGrad) return;
    const g = analytic.grads[input] ?? new Float32Array(x.numel); // no gradient reached it: zero
    const d = x.data;
    for (let i = 0; i < d.length; i++) {
      const orig = d[i];
      d[i] = orig + eps;
      const up = d[i];
      const lUp = projection(call, analytic.w);
      d[i] = orig - eps;
      const down = d[i];
      const lDown = projection(call, analytic.w);
      d[i] = orig;
      const numeric = (lUp - lDown) / (up - down); // the step actually taken, after float32 rounding
      const err = Math.abs(g[i] - numeric);
      const score = err / (atol + rtol * Math.max(Math.abs(g[i]), Math.abs(numeric)));
      checked++;
      maxAbsError = Math.max(maxAbsError, err);
      if (!(score <= worstScore) || Number.isNaN(score)) {
        worstScore = Number.isNaN(score) ? Infinity : score;
        worst = { input, index: i, analytic: g[i], numeric };
      }
    }
  });
  for (const x of inputs) {
    x.grad?.dispose();
    x.grad = null;
  }
  return { ok: worstScore <= 1, checked, maxAbsError, worst };
}

/** gradcheck that throws a descriptive error on failure. */
export function assertGradcheck(name: string, fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): void {
  const r = gradcheck(fn, inputs, opts);
  if (!r.ok) {
    const w = r.worst;
    throw new Error(`gradcheck failed for ${name}: input ${w?.input} element ${w?.index}: analytic ${w?.analytic}, numeric ${w?.numeric} ` +
      `(${r.checked} entries checked, max abs error ${r.maxAbsError.toExponential(3)})`);
  }
}
