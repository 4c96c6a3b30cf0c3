// Element-wise kernels: unary ops and their gradients (PyTorch's definitions, see kernels.ts),
// broadcasting binary ops, axpy and fill. Values are computed in double and rounded once on store.
import type { BinaryOp, F32, I32, UnaryOp } from "../../kernels.js";
import { Binary, Unary } from "../../kernels.js";
import { walkStrided } from "./strided.js";

const relu6 = (x: number): number => Math.min(Math.max(x, 0), 6);
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** f(x) for one element; alpha/beta are the op's parameters. */
export function unaryValue(op: UnaryOp, x: number, alpha: number, beta: number): number {
  switch (op) {
    case Unary.relu: return Math.max(x, 0);
    case Unary.relu6: return relu6(x);
    case Unary.leakyRelu: return x > 0 ? x : alpha * x;
    case Unary.silu: return x * sigmoid(x);
    case Unary.sigmoid: return sigmoid(x);
    case Unary.tanh: return Math.tanh(x);
    case Unary.hardswish: return (x * relu6(x + 3)) / 6;
    case Unary.hardsigmoid: return relu6(x + 3) / 6;
    case Unary.exp: return Math.exp(x);
    case Unary.log: return Math.log(x);
    case Unary.sqrt: return Math.sqrt(x);
    case Unary.neg: return -x;
    case Unary.abs: return Math.abs(x);
    case Unary.clamp: return Math.min(Math.max(x, alpha), beta);
    case Unary.square: return x * x;
    case Unary.affine: return alpha * x + beta;
    case Unary.reciprocal: return 1 / x;
  }
  throw new Error(`unary: unknown op code ${String(op)}`);
}

/**
 * dy * f'(x) for one element. Like PyTorch's derivatives, sigmoid, tanh, exp, sqrt and
 * reciprocal use the saved output y; the others use x.
 */
export function unaryGradient(op: UnaryOp, x: number, y: number, dy: number, alpha: number, beta: number): number {
  switch (op) {
    case Unary.relu: return x > 0 ? dy : 0;
    case Unary.relu6: return x > 0 && x < 6 ? dy : 0;
    case Unary.leakyRelu: return x > 0 ? dy : alpha * dy;
    case Unary.silu: {
      const s = sigmoid(x);
      return dy * s * (1 + x * (1 - s));
    }
    case Unary.sigmoid: return dy * y * (1 - y);
    case Unary.tanh: return dy * (1 - y * y);
    case Unary.hardswish: return x < -3 ? 0 : x <= 3 ? (dy * (2 * x + 3)) / 6 : dy;
    case Unary.hardsigmoid: return x > -3 && x < 3 ? dy / 6 : 0;
    case Unary.exp: return dy * y;
    case Unary.log: return dy / x;
    case Unary.sqrt: return dy / (2 * y);
    case Unary.neg: return -dy;
    case Unary.abs: return dy * Math.sign(x); // sign(0) = 0, as torch.sgn
    case Unary.clamp: return x >= alpha && x <= beta ? dy : 0;
    case Unary.square: return 2 * x * dy;
    case Unary.affine: return alpha * dy;
    case Unary.reciprocal: return -dy * y * y;
  }
  throw new Error(`unaryBackward: unknown op code ${String(op)}`);
}

export function unary(op: UnaryOp, x: F32, y: F32, alpha: number, beta: number): void {
  for (let i = 0; i < y.length; i++) y[i] = unaryValue(op, x[i], alpha, beta);
}

export function unaryBackward(op: UnaryOp, x: F32, y: F32, dy: F32, dx: F32, alpha: number, beta: number): void {
  for (let i = 0; i < dx.length; i++) dx[i] = unaryGradient(op, x[i], y[i], dy[i], alpha, beta);
}

function binaryValue(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case Binary.add: return a + b;
    case Binary.sub: return a - b;
    case Binary.mul: return a * b;
    case Binary.div: return a / b;
    case Binary.maximum: return Math.max(a, b); // NaN propagates, as torch.maximum
    case Binary.minimum: return Math.min(a, b);
  }
  throw new Error(`binary: unknown op code ${String(op)}`);
}

export function binary(op: BinaryOp, a: F32, aStrides: I32, b: F32, bStrides: I32, out: F32, shape: I32): void {
  let i = 0;
  walkStrided(shape, aStrides, 0, bStrides, 0, (aAt, bAt) => { out[i++] = binaryValue(op, a[aAt], b[bAt]); });
}

export function axpy(alpha: number, x: F32, y: F32): void {
  for (let i = 0; i < y.length; i++) y[i] += alpha * x[i];
}

export function fill(out: F32, value: number): void {
  out.fill(value);
}
