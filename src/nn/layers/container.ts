// Containers: Sequential runs its children in order; ModuleList only holds
// them (its owner decides the wiring). Children are named "0", "1", …
import type { Tensor } from "../../engine/index.js";
import { Module, type AnyModule } from "../module.js";
import { fuseSequence } from "../fuse.js";
import { FusibleActivation } from "./activation.js";
import { BatchNorm2d } from "./norm.js";

/** A module from tensor to tensor. */
export type Layer = Module<[Tensor], Tensor>;

export class Sequential extends Module {
  private layers: Layer[];

  constructor(...layers: Layer[]) {
    super();
    this.layers = layers.map((m, i) => this.registerModule(String(i), m));
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Layer {
    return this.layers[i];
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.layers.length; i++) {
      const m = this.layers[i], next = this.layers[i + 1];
      // A BatchNorm2d followed by a fusible activation runs as one call (see BatchNorm2d.forwardAct).
      if (m instanceof BatchNorm2d && next instanceof FusibleActivation) {
        y = m.forwardAct(y, next);
        i++;
      } else {
        y = m.forward(y);
      }
    }
    return y;
  }

  /** Folds Conv2d → BatchNorm2d [→ activation] runs; the absorbed modules become Identity, keeping indices. */
  protected override fuseChildren(): void {
    this.layers = fuseSequence(this.layers, (i, m) => this.replaceModule(String(i), m));
  }
}

/** Holds modules by index, like torch.nn.ModuleList. Not callable: its owner wires the children. */
export class ModuleList<M extends AnyModule = AnyModule> extends Module<[], never> {
  readonly items: M[];

  constructor(items: M[]) {
    super();
    this.items = items.map((m, i) => this.registerModule(String(i), m));
  }

  forward(): never {
    throw new Error("kiln: a ModuleList is not callable; its owner runs the children");
  }
}
