// Creating tensors. All of them are leaves (no graph); set `requiresGrad = true`
// on parameters. Buffers come from the pool except for `fromData`.
import { kernels } from "./backend.js";
import { Storage } from "./memory.js";
import { defaultRng, type Rng } from "./rng.js";
import { empty, numelOf, Tensor } from "./tensor.js";

function checkShape(shape: readonly number[]): readonly number[] {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`kiln: invalid shape [${shape.join(", ")}]`);
  }
  return shape.slice();
}

/** A tensor holding a copy of `values`; the shape defaults to [values.length]. */
export function tensor(values: ArrayLike<number>, shape?: readonly number[]): Tensor {
  const s = checkShape(shape ?? [values.length]);
  if (numelOf(s) !== values.length) throw new Error(`kiln: tensor(): ${values.length} values do not fill shape [${s.join(", ")}]`);
  const t = empty(s);
  t.data.set(values);
  return t;
}

/** Wraps `data` without copying; the tensor owns it from now on (it may return to the pool on dispose). */
export function fromData(data: Float32Array, shape?: readonly number[]): Tensor {
  return new Tensor(new Storage(data), checkShape(shape ?? [data.length]));
}

export function full(shape: readonly number[], value: number): Tensor {
  const t = empty(checkShape(shape));
  kernels().fill(t.data, value);
  return t;
}

export function zeros(shape: readonly number[]): Tensor {
  return full(shape, 0);
}

export function ones(shape: readonly number[]): Tensor {
  return full(shape, 1);
}

export function zerosLike(t: Tensor): Tensor {
  return full(t.shape, 0);
}

export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1);
}

/** Standard normal values from `rng` (the default generator when omitted). */
export function randn(shape: readonly number[], rng: Rng = defaultRng()): Tensor {
  const t = empty(checkShape(shape));
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = rng.normal();
  return t;
}

/** Uniform values in [lo, hi). */
export function uniform(shape: readonly number[], lo: number, hi: number, rng: Rng = defaultRng()): Tensor {
  const t = empty(checkShape(shape));
  const d = t.data;
  const span = hi - lo;
  for (let i = 0; i < d.length; i++) d[i] = lo + span * rng.uniform();
  return t;
}

/** Uniform values in [0, 1). */
export function rand(shape: readonly number[], rng: Rng = defaultRng()): Tensor {
  return uniform(shape, 0, 1, rng);
}
