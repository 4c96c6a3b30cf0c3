// SGD with momentum, dampening, Nesterov and L2 weight decay, PyTorch's formula
// (torch.optim.SGD; the kernel's comment states it). One sgdStep call per group.
import { kernels, type Tensor } from "../engine/index.js";
import { Optimizer, type ParamGroup, type ParamsInput } from "./optimizer.js";

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export type SGDHyper = { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean };

export class SGD extends Optimizer<SGDHyper> {
  constructor(params: ParamsInput<SGDHyper>, options: SGDOptions) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options });
  }

  protected validate(g: ParamGroup<SGDHyper>): void {
    if (!(g.lr >= 0)) throw new Error(`kiln: SGD: invalid learning rate ${g.lr}`);
    if (!(g.momentum >= 0)) throw new Error(`kiln: SGD: invalid momentum ${g.momentum}`);
    if (!(g.weightDecay >= 0)) throw new Error(`kiln: SGD: invalid weight decay ${g.weightDecay}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new Error("kiln: SGD: Nesterov momentum needs momentum > 0 and dampening 0");
  }

  step(): void {
    const k = kernels();
    for (const g of this.paramGroups) {
      const live = g.params.filter((p) => p.grad !== null);
      if (g.momentum === 0) {
        sgdCall(live, [], g, false);
        continue;
      }
      // A parameter's first update seeds its momentum buffer with the gradient
      // (PyTorch's rule), so those with and without a buffer go in separate calls.
      const fresh = live.filter((p) => !this.state.get(p)?.tensors.has("momentum_buffer"));
      const seasoned = live.filter((p) => this.state.get(p)?.tensors.has("momentum_buffer"));
      for (const p of fresh) this.stateOf(p).tensors.set("momentum_buffer", this.newStateTensor(p));
      const bufs = (ps: Tensor[]): Float32Array[] => ps.map((p) => this.state.get(p)!.tensors.get("momentum_buffer")!.data);
      sgdCall(seasoned, bufs(seasoned), g, false);
      sgdCall(fresh, bufs(fresh), g, true);
    }

    function sgdCall(ps: Tensor[], momentumBufs: Float32Array[], g: SGDHyper, firstStep: boolean): void {
      if (ps.length === 0) return;
      k.sgdStep(ps.map((p) => p.data), ps.map((p) => p.grad!.data), momentumBufs, g.lr, g.momentum, g.dampening,
        g.weightDecay, g.nesterov, firstStep);
    }
  }
}
