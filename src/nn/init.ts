// Weight initialisers with PyTorch's definitions (torch.nn.init), drawing from
// a seeded Rng. They run once per model build, so a plain loop is fine here.
import type { Rng, Tensor } from "../engine/index.js";

/** fan_in and fan_out as torch.nn.init._calculate_fan_in_and_fan_out: dims 1 and 0 times the receptive field. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`kiln: fan in/out needs at least 2 dimensions, got [${shape.join(", ")}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** U(lo, hi) in place. */
export function uniform_(t: Tensor, lo: number, hi: number, rng: Rng): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.uniform();
  return t;
}

/** N(mean, std²) in place. */
export function normal_(t: Tensor, mean: number, std: number, rng: Rng): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = mean + std * rng.normal();
  return t;
}

export function constant_(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  return t;
}

/**
 * PyTorch's default for Conv2d and Linear weights, kaiming_uniform_(a=√5):
 * gain √(2/(1+a²)) = √(1/3), bound = gain·√(3/fan_in) = 1/√fan_in.
 */
export function defaultWeightInit_(w: Tensor, rng: Rng): Tensor {
  const bound = 1 / Math.sqrt(fans(w.shape).fanIn);
  return uniform_(w, -bound, bound, rng);
}

/** PyTorch's default bias for Conv2d and Linear: U(−1/√fan_in, 1/√fan_in) with the weight's fan_in. */
export function defaultBiasInit_(b: Tensor, weightShape: readonly number[], rng: Rng): Tensor {
  const { fanIn } = fans(weightShape);
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform_(b, -bound, bound, rng);
}

/**
 * kaiming_normal_(mode="fan_out", nonlinearity="relu"): N(0, 2/fan_out), as
 * torchvision's ResNet and MobileNetV2 initialise their convolutions.
 */
export function kaimingNormalFanOut_(w: Tensor, rng: Rng): Tensor {
  return normal_(w, 0, Math.SQRT2 / Math.sqrt(fans(w.shape).fanOut), rng);
}
