// The optimizer base: parameter groups with their own hyper-parameters (a
// scheduler writes `group.lr`), per-parameter state, and a state dict for exact
// resume. Subclasses update each group with one fused kernel call.
import { persistent, tensor, zeros, type Tensor } from "../engine/index.js";
import { clearGrads } from "../nn/module.js";

/** A group: its parameters and its own values of the optimizer's hyper-parameters. */
export type ParamGroup<H> = H & { params: Tensor[] };

/** Parameters as one list (one group with the defaults) or as groups overriding some defaults. */
export type ParamsInput<H> = readonly Tensor[] | readonly (Partial<H> & { params: readonly Tensor[] })[];

/** A JSON-safe hyper-parameter value. */
export type HyperValue = number | boolean | readonly number[];

/**
 * What `stateDict()` returns. Parameters are numbered across groups in order,
 * as PyTorch does. `tensors` are the live state tensors (write them out or
 * copy them; do not modify them); the rest is plain JSON.
 */
export interface OptimizerStateDict {
  /** State tensors by "<param index>.<name>": momentum_buffer, exp_avg, exp_avg_sq. */
  tensors: Map<string, Tensor>;
  /** Scalar state by "<param index>.<name>": Adam's step. */
  scalars: Record<string, number>;
  /** Each group's hyper-parameters and the indices of its parameters. */
  paramGroups: ({ params: number[] } & Record<string, HyperValue>)[];
}

/** What `loadStateDict` accepts: a `stateDict()`, or the same read back from a file (float32 values by key). */
export type OptimizerStateInput = Omit<OptimizerStateDict, "tensors"> & {
  tensors: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: Float32Array }>;
};

export class OptimizerStateError extends Error {
  override name = "OptimizerStateError";
}

/** A group's hyper-parameters without its parameter list. */
function hyperOf(group: object): Record<string, HyperValue> {
  return Object.fromEntries(Object.entries(group).filter(([k]) => k !== "params")) as Record<string, HyperValue>;
}

function isTensorList<H>(input: ParamsInput<H>): input is readonly Tensor[] {
  return input.length === 0 || !("params" in input[0]);
}

export abstract class Optimizer<H extends Record<string, HyperValue>> {
  readonly paramGroups: ParamGroup<H>[] = [];
  protected readonly defaults: H;
  /** Per-parameter state; a parameter that never had a gradient has none. */
  protected readonly state = new Map<Tensor, { tensors: Map<string, Tensor>; scalars: Map<string, number> }>();

  constructor(params: ParamsInput<H>, defaults: H) {
    this.defaults = defaults;
    const groups: readonly (Partial<H> & { params: readonly Tensor[] })[] = isTensorList(params) ? [{ params } as Partial<H> & { params: readonly Tensor[] }] : params;
    if (groups.length === 0) throw new Error("kiln: an optimizer needs at least one parameter");
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group (Ultralytics builds three: decayed weights, BatchNorm weights, biases). */
  addParamGroup(group: Partial<H> & { params: readonly Tensor[] }): void {
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of group.params) {
      if (seen.has(p)) throw new Error("kiln: a parameter appears in more than one parameter group");
      seen.add(p);
    }
    // An option given as undefined means "the default", not "no value".
    const given = Object.fromEntries(Object.entries(group).filter(([, v]) => v !== undefined));
    const merged = { ...this.defaults, ...given, params: [...group.params] } as ParamGroup<H>;
    this.validate(merged);
    this.paramGroups.push(merged);
  }

  /** Checks a group's hyper-parameters (PyTorch's constructor checks). */
  protected abstract validate(group: ParamGroup<H>): void;

  /** Updates every parameter that has a gradient; the others are skipped, as PyTorch does. */
  abstract step(): void;

  /** Clears the gradients of every parameter (see Module.zeroGrad). */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) clearGrads(g.params, setToNone);
  }

  protected stateOf(p: Tensor): { tensors: Map<string, Tensor>; scalars: Map<string, number> } {
    let s = this.state.get(p);
    if (s === undefined) this.state.set(p, (s = { tensors: new Map(), scalars: new Map() }));
    return s;
  }

  stateDict(): OptimizerStateDict {
    const tensors = new Map<string, Tensor>();
    const scalars: Record<string, number> = {};
    const paramGroups: OptimizerStateDict["paramGroups"] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const ids: number[] = [];
      for (const p of group.params) {
        const s = this.state.get(p);
        for (const [name, t] of s?.tensors ?? []) tensors.set(`${index}.${name}`, t);
        for (const [name, v] of s?.scalars ?? []) scalars[`${index}.${name}`] = v;
        ids.push(index++);
      }
      paramGroups.push({ ...hyperOf(group), params: ids });
    }
    return { tensors, scalars, paramGroups };
  }

  /**
   * Restores hyper-parameters and state saved by `stateDict()` from an
   * optimizer over the same parameters in the same groups. State tensors are
   * copied into fresh ones; everything is checked first, so nothing changes when it throws.
   */
  loadStateDict(sd: OptimizerStateInput): void {
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new OptimizerStateError(`kiln: the optimizer state has ${sd.paramGroups.length} parameter groups, this optimizer ${this.paramGroups.length}`);
    }
    const params = this.paramGroups.flatMap((g) => g.params);
    this.paramGroups.forEach((g, i) => {
      if (sd.paramGroups[i].params.length !== g.params.length) {
        throw new OptimizerStateError(`kiln: parameter group ${i} has ${sd.paramGroups[i].params.length} parameters in the saved state, ${g.params.length} here`);
      }
    });
    const parseKey = (key: string): [Tensor, string] => {
      const dot = key.indexOf(".");
      const index = Number(key.slice(0, dot));
      const p = params[index];
      if (dot < 1 || !Number.isInteger(index) || p === undefined) throw new OptimizerStateError(`kiln: optimizer state key "${key}" names no parameter`);
      return [p, key.slice(dot + 1)];
    };
    for (const [key, t] of sd.tensors) {
      const [p] = parseKey(key);
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new OptimizerStateError(`kiln: optimizer state "${key}" has shape [${t.shape.join(", ")}], its parameter [${p.shape.join(", ")}]`);
      }
    }
    for (const [key, v] of Object.entries(sd.scalars)) {
      parseKey(key);
      if (!Number.isSafeInteger(v) || v < 0) throw new OptimizerStateError(`kiln: optimizer state "${key}" must be a non-negative integer, got ${v}`);
    }
    const groups = this.paramGroups.map((g, i) => {
      const saved = hyperOf(sd.paramGroups[i]);
      for (const [key, v] of Object.entries(saved)) {
        const expected = this.defaults[key];
        if (expected === undefined) {
          throw new OptimizerStateError(`kiln: the saved parameter group ${i} has "${key}", which ${this.constructor.name} does not use (a state from another optimizer?)`);
        }
        if (typeof v !== typeof expected || Array.isArray(v) !== Array.isArray(expected)) {
          throw new OptimizerStateError(`kiln: the saved parameter group ${i} has ${key} = ${JSON.stringify(v)}, expected a ${Array.isArray(expected) ? "list" : typeof expected}`);
        }
      }
      const merged = { ...g, ...saved };
      this.validate(merged);
      return merged;
    });

    this.disposeState();
    for (const [key, t] of sd.tensors) {
      const [p, name] = parseKey(key);
      this.stateOf(p).tensors.set(name, this.newStateTensor(p, t.data));
    }
    for (const [key, v] of Object.entries(sd.scalars)) {
      const [p, name] = parseKey(key);
      this.stateOf(p).scalars.set(name, v);
    }
    this.paramGroups.forEach((g, i) => Object.assign(g, groups[i]));
  }

  /** A persistent state tensor shaped like `p`, holding `values` (zeros when omitted). */
  protected newStateTensor(p: Tensor, values?: Float32Array): Tensor {
    return persistent(() => (values ? tensor(values, p.shape) : zeros(p.shape)));
  }

  /** Releases every state tensor (after which the optimizer starts fresh). */
  disposeState(): void {
    for (const s of this.state.values()) for (const t of s.tensors.values()) t.dispose();
    this.state.clear();
  }
}
