// Arithmetic: broadcasting binary ops (one `binary` kernel call; backward
// reduces each operand's gradient to its shape with sumTo) and the element-wise
// math functions. Scalars go through the `affine` unary kernel.
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import { Binary, Unary, type BinaryOp } from "../kernels.js";
import { empty, sameShape, type Tensor } from "../tensor.js";
import { broadcastShapes, broadcastStrides, collapseDims, sumTo } from "./broadcast.js";
import { unaryOp } from "./unary.js";

type Operand = Tensor | number;

// Same-shape operands skip the stride machinery: one flat dim, unit strides.
const UNIT = Int32Array.of(1);
const flatShape = new Int32Array(1);

/** out = a op b with broadcasting (no graph). */
function binaryForward(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const k = kernels();
  if (sameShape(a.shape, b.shape)) {
    const out = empty(a.shape);
    flatShape[0] = a.numel;
    k.binary(op, a.data, UNIT, b.data, UNIT, out.data, flatShape);
    return out;
  }
  const shape = broadcastShapes(a.shape, b.shape);
  const out = empty(shape);
  const c = collapseDims(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  k.binary(op, a.data, c.strides[0], b.data, c.strides[1], out.data, c.shape);
  return out;
}

function scalarError(name: string): Error {
  return new Error(`kiln: ${name}: at least one operand must be a Tensor`);
}

export function add(a: Operand, b: Operand): Tensor {
  if (typeof a === "number") {
    if (typeof b === "number") throw scalarError("add");
    return unaryOp("add", Unary.affine, "none", b, 1, a);
  }
  if (typeof b === "number") return unaryOp("add", Unary.affine, "none", a, 1, b);
  const out = binaryForward(Binary.add, a, b);
  if (!needsGrad(a, b)) return out;
  return record("add", out, [a, b], (g) => [a.requiresGrad ? sumTo(g, a.shape) : null, b.requiresGrad ? sumTo(g, b.shape) : null]);
}

export function sub(a: Operand, b: Operand): Tensor {
  if (typeof a === "number") {
    if (typeof b === "number") throw scalarError("sub");
    return unaryOp("sub", Unary.affine, "none", b, -1, a);
  }
  if (typeof b === "number") return unaryOp("sub", Unary.affine, "none", a, 1, -b);
  const out = binaryForward(Binary.sub, a, b);
  if (!needsGrad(a, b)) return out;
  return record("sub", out, [a, b], (g) => [a.requiresGrad ? sumTo(g, a.shape) : null, b.requiresGrad ? neg(sumTo(g, b.shape)) : null]);
}

export function mul(a: Operand, b: Operand): Tensor {
  if (typeof a === "number") {
    if (typeof b === "number") throw scalarError("mul");
    return unaryOp("mul", Unary.affine, "none", b, a, 0);
  }
  if (typeof b === "number") return unaryOp("mul", Unary.affine, "none", a, b, 0);
  const out = binaryForward(Binary.mul, a, b);
  if (!needsGrad(a, b)) return out;
  const saved = a.requiresGrad && b.requiresGrad ? [a, b] : a.requiresGrad ? [b] : [a];
  return record("mul", out, [a, b], (g) => [
    a.requiresGrad ? sumTo(binaryForward(Binary.mul, g, b), a.shape) : null,
    b.requiresGrad ? sumTo(binaryForward(Binary.mul, g, a), b.shape) : null,
  ], saved);
}

export function div(a: Operand, b: Operand): Tensor {
  if (typeof b === "number") {
    if (typeof a === "number") throw scalarError("div");
    return unaryOp("div", Unary.affine, "none", a, 1 / b, 0);
  }
  if (typeof a === "number") return mul(reciprocal(b), a);
  const out = binaryForward(Binary.div, a, b);
  if (!needsGrad(a, b)) return out;
  // d(a/b)/db = -a/b² = -out/b
  const saved = b.requiresGrad ? [b, out] : [b];
  return record("div", out, [a, b], (g) => [
    a.requiresGrad ? sumTo(binaryForward(Binary.div, g, b), a.shape) : null,
    b.requiresGrad ? neg(sumTo(binaryForward(Binary.mul, g, binaryForward(Binary.div, out, b)), b.shape)) : null,
  ], saved);
}

/**
 * maximum/minimum: the gradient goes to the operand that won, through relu's
 * derivative of a - b. On exact ties it goes wholly to b for maximum and to a
 * for minimum (PyTorch splits it in halves; both are valid subgradients).
 */
function extremum(name: string, op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const out = binaryForward(op, a, b);
  if (!needsGrad(a, b)) return out;
  return record(name, out, [a, b], (g) => {
    const diff = binaryForward(Binary.sub, a, b);
    const aWins = empty(diff.shape); // g where a > b, else 0
    kernels().unaryBackward(Unary.relu, diff.data, diff.data, g.data, aWins.data, 0, 0);
    const toA = op === Binary.maximum ? aWins : binaryForward(Binary.sub, g, aWins);
    const toB = op === Binary.maximum ? binaryForward(Binary.sub, g, aWins) : aWins;
    return [a.requiresGrad ? sumTo(toA, a.shape) : null, b.requiresGrad ? sumTo(toB, b.shape) : null];
  }, [a, b]);
}

export function maximum(a: Tensor, b: Tensor): Tensor {
  return extremum("maximum", Binary.maximum, a, b);
}

export function minimum(a: Tensor, b: Tensor): Tensor {
  return extremum("minimum", Binary.minimum, a, b);
}

export const neg = (x: Tensor): Tensor => unaryOp("neg", Unary.neg, "none", x);
export const square = (x: Tensor): Tensor => unaryOp("square", Unary.square, "x", x);
export const exp = (x: Tensor): Tensor => unaryOp("exp", Unary.exp, "y", x);
export const log = (x: Tensor): Tensor => unaryOp("log", Unary.log, "x", x);
export const sqrt = (x: Tensor): Tensor => unaryOp("sqrt", Unary.sqrt, "y", x);
export const abs = (x: Tensor): Tensor => unaryOp("abs", Unary.abs, "x", x);
export const reciprocal = (x: Tensor): Tensor => unaryOp("reciprocal", Unary.reciprocal, "y", x);

/** min(max(x, min), max); either bound may be omitted. Gradient 1 inside the bounds, inclusive (as torch.clamp). */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  return unaryOp("clamp", Unary.clamp, "x", x, min ?? -Infinity, max ?? Infinity);
}

/** x^p for the exponents with a kernel: 2, 0.5, -1, 1. */
export function pow(x: Tensor, p: 2 | 0.5 | -1 | 1): Tensor {
  switch (p) {
    case 2: return square(x);
    case 0.5: return sqrt(x);
    case -1: return reciprocal(x);
    case 1: return x;
  }
  throw new Error(`kiln: pow supports the exponents 2, 0.5, -1 and 1, got ${String(p)}`);
}
