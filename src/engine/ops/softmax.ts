// Softmax and log-softmax over one axis: the tensor viewed as [outer, dim, inner].
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import { empty, normAxis, type Tensor } from "../tensor.js";

function softmaxOp(x: Tensor, dim: number, log: boolean): Tensor {
  const d = normAxis(dim, x.ndim);
  const size = x.shape[d];
  const outer = x.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const y = empty(x.shape);
  kernels().softmax(outer, size, inner, x.data, y.data, log);
  if (!needsGrad(x)) return y;
  return record(log ? "logSoftmax" : "softmax", y, [x], (dy) => {
    const dx = empty(x.shape);
    kernels().softmaxBackward(outer, size, inner, y.data, dy.data, dx.data, log);
    return [dx];
  }, [y]);
}

export const softmax = (x: Tensor, dim: number): Tensor => softmaxOp(x, dim, false);
export const logSoftmax = (x: Tensor, dim: number): Tensor => softmaxOp(x, dim, true);
