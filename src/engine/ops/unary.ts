// The element-wise unary op shared by math functions and activations: one
// `unary` kernel call forward, one `unaryBackward` call backward.
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import type { UnaryOp } from "../kernels.js";
import { empty, type Tensor } from "../tensor.js";

/**
 * Which value the gradient rule reads: the input x, the output y, or neither.
 * The kernels read y for sigmoid, tanh, exp, sqrt and reciprocal and x for the
 * others; relu-like ops can use y in x's place (same sign pattern), which
 * saves nothing extra since their output is usually saved by the next op anyway.
 */
export type Saves = "x" | "y" | "none";

export function unaryOp(name: string, op: UnaryOp, saves: Saves, x: Tensor, alpha = 0, beta = 0): Tensor {
  const y = empty(x.shape);
  kernels().unary(op, x.data, y.data, alpha, beta);
  if (!needsGrad(x)) return y;
  const kept = saves === "x" ? x : saves === "y" ? y : null;
  return record(name, y, [x], (g) => {
    const dx = empty(x.shape);
    // The operand the rule does not read still needs the right length: pass the one we have.
    const v = kept === null ? g.data : kept.data;
    kernels().unaryBackward(op, v, v, g.data, dx.data, alpha, beta);
    return [dx];
  }, kept === null ? [] : [kept]);
}
