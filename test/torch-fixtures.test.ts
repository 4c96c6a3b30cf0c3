// Every primitive op against PyTorch, forward and backward, on both backends.
// The fixtures (test/fixtures/ops.safetensors, made by generate.py) hold each
// case's inputs, PyTorch's outputs, a random cotangent R per output, and the
// gradients of L = Σ sum(out_i * R_i) with respect to each differentiable input.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  abs, Act, adaptiveAvgPool2d, add, avgPool2d, batchNorm2d, bceWithLogits, cat, chunk, clamp, conv2d, conv2dAct,
  crossEntropy, div, exp, flatten, fromData, hardsigmoid, hardswish, leakyRelu, linear, log, logSoftmax, matmul,
  maximum, maxPool2d, mean, minimum, mseLoss, mul, neg, permute, reciprocal, relu, relu6, reshape, sigmoid, silu, slice,
  softmax, split, sqrt, square, squeeze, sub, sum, tanh, tidy, transpose, unsqueeze, upsampleNearest2d, type Tensor,
} from "../src/engine/index.js";
import { setBackend } from "../src/engine/backend.js";
import { FixtureFile } from "./helpers/fixtures.js";
import { assertClose } from "./helpers/compare.js";

// Tolerances, each a normwise relative error per tensor: max|kiln − torch| / max|torch|
// (see helpers/compare.ts). The fixtures are exact answers rounded once to float32
// (computed in float64), so a tolerance bounds kiln's own float32 error; PyTorch's own
// float32 error on these cases is at most 4e-7 (each case's torch_f32_err).
/** Data movement and selection (copies, sign flips, relu's mask, max's pick): kiln must reproduce the float32 bits. */
const EXACT = 0;
/**
 * Per-element arithmetic, no sums: a few float32 roundings of 2^-24 ≈ 6e-8 each, and
 * exp/tanh/log approximations of a few ulp; 1e-6 is ~16 ulp at the tensor's scale.
 */
const ELEMENTWISE = 1e-6;
/**
 * Anything that sums K terms (matmul, conv, batch-norm statistics, pooling windows,
 * broadcasting's backward, softmax, losses): float32 accumulation errs by at most
 * ≈ K·2^-24 of Σ|terms|, K ≤ 147 here (a 7×7×3 window) → ≈ 9e-6 worst case, ≈ 1e-6 typical.
 * A wrong index or formula errs by 1e-2 or more.
 */
const REDUCTION = 1e-5;

/** The arguments generate.py records, by PyTorch's names. */
interface Args {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
  act?: keyof typeof Act;
  training?: boolean;
  momentum?: number;
  eps?: number;
  slope?: number;
  kernel_size?: number;
  ceil_mode?: boolean;
  count_include_pad?: boolean;
  output_size?: [number, number];
  scale_factor?: number;
  dim?: number;
  sizes?: number | number[];
  chunks?: number;
  start?: number;
  end?: number;
  shape?: number[];
  dims?: number[] | null;
  start_dim?: number;
  end_dim?: number;
  dim0?: number;
  dim1?: number;
  scalar?: number;
  keepdim?: boolean;
  min?: number;
  max?: number;
  label_smoothing?: number;
  ignore_index?: number;
  reduction?: "mean" | "sum";
}

interface OpCase {
  op: string;
  args: Args;
  inputs: string[];
  grads: string[];
  outputs: number;
  torch_f32_err: number;
}

type Floats = Record<string, Tensor>;
type Ints = Record<string, Int32Array>;

interface OpSpec {
  run(t: Floats, a: Args, ints: Ints): Tensor | Tensor[];
  /** Tolerance of the outputs and of the gradients. */
  out: number;
  grad: number;
}

const elementwise = (run: OpSpec["run"]): OpSpec => ({ run, out: ELEMENTWISE, grad: ELEMENTWISE });
const reduction = (run: OpSpec["run"]): OpSpec => ({ run, out: REDUCTION, grad: REDUCTION });
const movement = (run: OpSpec["run"]): OpSpec => ({ run, out: EXACT, grad: EXACT });
const operand = (t: Floats, a: Args): Tensor | number => t.b ?? a.scalar!;

/** PyTorch op (as generate.py names it) → the kiln call on the same inputs. */
const OPS: Record<string, OpSpec> = {
  matmul: reduction((t) => matmul(t.a, t.b)),
  linear: reduction((t) => linear(t.x, t.w, t.b)),
  conv2d: reduction((t, a) => conv2d(t.x, t.w, t.b, { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups })),
  // Inference only: the activation runs in the convolution's epilogue.
  conv2d_act: reduction((t, a) => conv2dAct(t.x, t.w, t.b, { stride: a.stride, padding: a.padding, dilation: a.dilation,
    groups: a.groups }, Act[a.act!], a.slope)),
  batch_norm: reduction((t, a) => batchNorm2d(t.x, t.running_mean, t.running_var, t.weight, t.bias,
    { training: a.training!, momentum: a.momentum, eps: a.eps })),
  relu: movement((t) => relu(t.x)),
  relu6: movement((t) => relu6(t.x)),
  leaky_relu: elementwise((t, a) => leakyRelu(t.x, a.slope)),
  silu: elementwise((t) => silu(t.x)),
  sigmoid: elementwise((t) => sigmoid(t.x)),
  tanh: elementwise((t) => tanh(t.x)),
  hardswish: elementwise((t) => hardswish(t.x)),
  hardsigmoid: elementwise((t) => hardsigmoid(t.x)),
  // The max is picked exactly; its gradient sums over overlapping windows.
  max_pool2d: { run: (t, a) => maxPool2d(t.x, { kernelSize: a.kernel_size!, stride: a.stride, padding: a.padding,
    dilation: a.dilation, ceilMode: a.ceil_mode }), out: EXACT, grad: REDUCTION },
  avg_pool2d: reduction((t, a) => avgPool2d(t.x, { kernelSize: a.kernel_size!, stride: a.stride, padding: a.padding,
    ceilMode: a.ceil_mode, countIncludePad: a.count_include_pad })),
  adaptive_avg_pool2d: reduction((t, a) => adaptiveAvgPool2d(t.x, a.output_size!)),
  upsample_nearest2d: { run: (t, a) => upsampleNearest2d(t.x, { scaleFactor: a.scale_factor! }), out: EXACT, grad: REDUCTION },
  cat: movement((t, a) => cat(Object.keys(t).sort().map((k) => t[k]), a.dim)),
  split: movement((t, a) => split(t.x, a.sizes!, a.dim)),
  chunk: movement((t, a) => chunk(t.x, a.chunks!, a.dim)),
  slice: movement((t, a) => slice(t.x, a.dim!, a.start!, a.end)),
  reshape: movement((t, a) => reshape(t.x, a.shape!)),
  flatten: movement((t, a) => flatten(t.x, a.start_dim, a.end_dim)),
  unsqueeze: movement((t, a) => unsqueeze(t.x, a.dim!)),
  squeeze: movement((t, a) => squeeze(t.x, a.dim)),
  permute: movement((t, a) => permute(t.x, a.dims!)),
  transpose: movement((t, a) => transpose(t.x, a.dim0!, a.dim1!)),
  // Broadcasting's backward sums over the broadcast dimensions.
  add: { run: (t, a) => add(t.a, operand(t, a)), out: ELEMENTWISE, grad: REDUCTION },
  sub: { run: (t, a) => sub(t.a, operand(t, a)), out: ELEMENTWISE, grad: REDUCTION },
  mul: { run: (t, a) => mul(t.a, operand(t, a)), out: ELEMENTWISE, grad: REDUCTION },
  div: { run: (t, a) => div(t.a, operand(t, a)), out: ELEMENTWISE, grad: REDUCTION },
  sum: reduction((t, a) => sum(t.x, a.dims ?? undefined, a.keepdim)),
  mean: reduction((t, a) => mean(t.x, a.dims ?? undefined, a.keepdim)),
  // The larger (smaller) operand is picked exactly; broadcasting's backward sums.
  maximum: { run: (t) => maximum(t.a, t.b), out: EXACT, grad: REDUCTION },
  minimum: { run: (t) => minimum(t.a, t.b), out: EXACT, grad: REDUCTION },
  neg: movement((t) => neg(t.x)),
  square: elementwise((t) => square(t.x)),
  abs: movement((t) => abs(t.x)),
  reciprocal: elementwise((t) => reciprocal(t.x)),
  exp: elementwise((t) => exp(t.x)),
  log: elementwise((t) => log(t.x)),
  sqrt: elementwise((t) => sqrt(t.x)),
  clamp: movement((t, a) => clamp(t.x, a.min, a.max)),
  softmax: reduction((t, a) => softmax(t.x, a.dim!)),
  log_softmax: reduction((t, a) => logSoftmax(t.x, a.dim!)),
  cross_entropy: reduction((t, a, ints) => crossEntropy(t.logits, ints.targets,
    { labelSmoothing: a.label_smoothing, ignoreIndex: a.ignore_index, reduction: a.reduction })),
  bce_with_logits: reduction((t, a) => bceWithLogits(t.x, t.targets, { reduction: a.reduction })),
  mse: reduction((t) => mseLoss(t.a, t.b)),
};

const fixtures = new FixtureFile("ops");

/** Runs one case on the active backend and compares outputs, gradients and updated buffers. */
function checkCase(name: string): void {
  const c = fixtures.meta<OpCase>(name);
  const spec = OPS[c.op];
  assert.ok(spec, `ops.safetensors has op "${c.op}" (case ${name}) but the test has no kiln call for it: add it to OPS`);
  tidy(() => {
    const floats: Floats = {};
    const ints: Ints = {};
    for (const k of c.inputs) {
      const key = `${name}.in.${k}`;
      if (fixtures.isInteger(key)) {
        ints[k] = fixtures.ints(key);
        continue;
      }
      const v = fixtures.tensor(key);
      floats[k] = fromData(v.data, v.shape);
      floats[k].requiresGrad = c.grads.includes(k);
    }
    const result = spec.run(floats, c.args, ints);
    const outs = Array.isArray(result) ? result : [result];
    assert.equal(outs.length, c.outputs, `${name}: kiln gave ${outs.length} outputs, PyTorch ${c.outputs}`);
    outs.forEach((o, i) => assertClose(`${name} output ${i}`, o, fixtures.tensor(`${name}.out.${i}`), spec.out));

    for (const k of fixtures.names(`${name}.after.`)) {
      assertClose(`${name} ${k} after the step`, floats[k], fixtures.tensor(`${name}.after.${k}`), REDUCTION);
    }

    if (c.grads.length === 0) return; // an inference-only op
    const weighted = (o: Tensor, i: number): Tensor => { // sum(out_i * R_i)
      const r = fixtures.tensor(`${name}.R.${i}`);
      return sum(mul(o, fromData(r.data, r.shape)));
    };
    outs.map(weighted).reduce((l, term) => add(l, term)).backward();
    for (const k of c.grads) {
      const grad = floats[k].grad;
      assert.ok(grad, `${name}: no gradient reached input "${k}"`);
      assertClose(`${name} d/d${k}`, grad, fixtures.tensor(`${name}.grad.${k}`), spec.grad);
    }
  });
}

for (const backend of ["native", "reference"] as const) {
  for (const name of fixtures.cases()) {
    test(`${backend}: ${name} matches PyTorch forward and backward`, () => {
      setBackend(backend);
      checkCase(name);
    });
  }
}
