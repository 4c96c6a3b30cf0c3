// Activations: each one `unary` kernel forward and one `unaryBackward` backward.
import { Unary } from "../kernels.js";
import type { Tensor } from "../tensor.js";
import { unaryOp } from "./unary.js";

export const relu = (x: Tensor): Tensor => unaryOp("relu", Unary.relu, "y", x);
/** min(max(x, 0), 6) */
export const relu6 = (x: Tensor): Tensor => unaryOp("relu6", Unary.relu6, "y", x);
export const silu = (x: Tensor): Tensor => unaryOp("silu", Unary.silu, "x", x);
export const sigmoid = (x: Tensor): Tensor => unaryOp("sigmoid", Unary.sigmoid, "y", x);
export const tanh = (x: Tensor): Tensor => unaryOp("tanh", Unary.tanh, "y", x);
export const hardswish = (x: Tensor): Tensor => unaryOp("hardswish", Unary.hardswish, "x", x);
export const hardsigmoid = (x: Tensor): Tensor => unaryOp("hardsigmoid", Unary.hardsigmoid, "x", x);

/** x > 0 ? x : slope * x. With slope >= 0 the output has x's sign pattern, so the rule can read it instead. */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return unaryOp("leakyRelu", Unary.leakyRelu, slope >= 0 ? "y" : "x", x, slope);
}
