// Adam and AdamW with PyTorch's formulas (torch.optim.Adam / AdamW without
// amsgrad; the kernel's comment states them). Adam adds weight decay to the
// gradient (L2); AdamW decays the weights directly (decoupled).
import { kernels, type Tensor } from "../engine/index.js";
import { Optimizer, type ParamGroup, type ParamsInput } from "./optimizer.js";

export interface AdamOptions {
  /** Default 1e-3. */
  lr?: number;
  /** Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Default 0 for Adam, 1e-2 for AdamW (PyTorch's defaults). */
  weightDecay?: number;
}

export type AdamHyper = { lr: number; betas: readonly [number, number]; eps: number; weightDecay: number };

abstract class AdamBase extends Optimizer<AdamHyper> {
  protected abstract readonly decoupled: boolean;

  protected validate(g: ParamGroup<AdamHyper>): void {
    const name = this.constructor.name;
    if (!(g.lr >= 0)) throw new Error(`kiln: ${name}: invalid learning rate ${g.lr}`);
    if (!(g.eps >= 0)) throw new Error(`kiln: ${name}: invalid eps ${g.eps}`);
    if (!(g.betas[0] >= 0 && g.betas[0] < 1 && g.betas[1] >= 0 && g.betas[1] < 1)) throw new Error(`kiln: ${name}: invalid betas [${g.betas.join(", ")}]`);
    if (!(g.weightDecay >= 0)) throw new Error(`kiln: ${name}: invalid weight decay ${g.weightDecay}`);
  }

  step(): void {
    const k = kernels();
    for (const g of this.paramGroups) {
      // Each parameter counts its own steps (one missing a gradient does not
      // advance); parameters at the same count share a kernel call — normally all.
      const byStep = new Map<number, Tensor[]>();
      for (const p of g.params) {
        if (p.grad === null) continue;
        const s = this.stateOf(p);
        if (!s.tensors.has("exp_avg")) {
          s.tensors.set("exp_avg", this.newStateTensor(p));
          s.tensors.set("exp_avg_sq", this.newStateTensor(p));
        }
        const step = (s.scalars.get("step") ?? 0) + 1;
        s.scalars.set("step", step);
        const list = byStep.get(step);
        if (list) list.push(p);
        else byStep.set(step, [p]);
      }
      for (const [step, ps] of byStep) {
        const st = ps.map((p) => this.state.get(p)!.tensors);
        k.adamStep(ps.map((p) => p.data), ps.map((p) => p.grad!.data), st.map((t) => t.get("exp_avg")!.data),
          st.map((t) => t.get("exp_avg_sq")!.data), g.lr, g.betas[0], g.betas[1], g.eps, g.weightDecay, step, this.decoupled);
      }
    }
  }
}

export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: ParamsInput<AdamHyper>, options: AdamOptions = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, ...options });
  }
}

export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: ParamsInput<AdamHyper>, options: AdamOptions = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...options });
  }
}
