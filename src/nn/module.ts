// Module: the unit models are built from, as torch.nn.Module. A module owns
// parameters, buffers and child modules, each kept in registration order, so
// that walking them gives PyTorch's state-dict names and order
// (`layer1.0.conv1.weight`, `bn1.running_mean`, `bn1.num_batches_tracked`).
import { keep, noGrad, type Tensor } from "../engine/index.js";

/** Anything with a shape and float32 values: a Tensor, or a tensor read from a file. */
export interface TensorValues {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface LoadStateDictOptions {
  /** Refuse missing and unexpected keys (default true). */
  strict?: boolean;
  /**
   * Leave entries whose shape differs at their current (freshly initialised)
   * values and report them, instead of refusing the load (default false): for
   * fine-tuning from weights trained with another number of classes.
   */
  skipMismatched?: boolean;
}

export interface LoadStateDictResult {
  /** The model's keys the state dict did not have (empty when strict). */
  missing: string[];
  /** The state dict's keys the model does not have (empty when strict). */
  unexpected: string[];
  /** Keys present in both with different shapes, left as they were (only with `skipMismatched`). */
  mismatched: string[];
}

export class StateDictError extends Error {
  override name = "StateDictError";
}

/**
 * Any module, whatever its forward's signature (`never` inputs accept every
 * signature: a method's parameters are checked bivariantly).
 */
export type AnyModule = Module<never, unknown>;

const shapeText = (s: readonly number[]): string => `[${s.join(", ")}]`;

export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  /** Training mode (batch statistics, dropout) or evaluation mode; set by train() / eval(). */
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, AnyModule>();

  abstract forward(...inputs: In): Out;

  /**
   * Adds a parameter. It requires grad unless `trainable` is false (a fixed
   * weight that is still saved, as Ultralytics' DFL). It outlives every tidy.
   */
  registerParameter(name: string, t: Tensor, trainable = true): Tensor {
    this.checkName(name);
    t.requiresGrad = trainable;
    this.params.set(name, keep(t));
    return t;
  }

  /** Adds a buffer: state that is saved but not trained (running statistics). */
  registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    this.buffers.set(name, keep(t));
    return t;
  }

  registerModule<M extends AnyModule>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m);
    return m;
  }

  /** Swaps a registered child in place (its position, hence the state-dict order, is kept). */
  protected replaceModule<M extends AnyModule>(name: string, m: M): M {
    if (!this.children.has(name)) throw new Error(`kiln: replaceModule: no child named "${name}"`);
    this.children.set(name, m);
    return m;
  }

  /** Swaps a parameter's tensor (fusing adds a bias to a bias-free conv); the old one is disposed. */
  protected replaceParameter(name: string, t: Tensor): Tensor {
    const old = this.params.get(name);
    if (old === undefined) throw new Error(`kiln: replaceParameter: no parameter named "${name}"`);
    t.requiresGrad = old.requiresGrad;
    this.params.set(name, keep(t)); // an existing key keeps its position
    old.grad?.dispose();
    old.dispose();
    return t;
  }

  private checkName(name: string): void {
    if (name === "" || name.includes(".")) throw new Error(`kiln: module member name "${name}" must be non-empty and contain no "."`);
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) {
      throw new Error(`kiln: module member "${name}" is already registered`);
    }
  }

  /** Direct children, in registration order. */
  namedChildren(): [string, AnyModule][] {
    return [...this.children];
  }

  /** This module ("") and every descendant, depth first in registration order, with dotted names. */
  namedModules(prefix = ""): [string, AnyModule][] {
    const out: [string, AnyModule][] = [[prefix, this as unknown as AnyModule]];
    for (const [name, child] of this.children) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Every parameter with its dotted name, in PyTorch's order (own first, then each child's). */
  namedParameters(): [string, Tensor][] {
    return this.collect((m) => m.params);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(): [string, Tensor][] {
    return this.collect((m) => m.buffers);
  }

  /** The total number of parameter values (trainable or not, as PyTorch's sum of numel). */
  numParameters(): number {
    return this.parameters().reduce((n, t) => n + t.numel, 0);
  }

  private collect(pick: (m: AnyModule) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, t] of pick(m)) out.push([prefix ? `${prefix}.${name}` : name, t]);
    }
    return out;
  }

  /**
   * Parameters and buffers by name, in PyTorch's state_dict order: each module's
   * parameters, then its buffers, then its children's. The tensors are the live
   * ones (not copies).
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const map of [m.params, m.buffers]) {
        for (const [name, t] of map) out.set(prefix ? `${prefix}.${name}` : name, t);
      }
    }
    return out;
  }

  /**
   * Copies values by name into this module's parameters and buffers. Shape
   * mismatches are an error unless `skipMismatched`; missing and unexpected
   * keys are one when `strict` (the default), else they are returned. Nothing
   * is changed when it throws.
   */
  loadStateDict(state: ReadonlyMap<string, TensorValues>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    const problems: string[] = [];
    for (const [key, target] of own) {
      const src = state.get(key);
      if (src === undefined) continue;
      if (src.shape.length !== target.shape.length || src.shape.some((d, i) => d !== target.shape[i])) {
        if (options.skipMismatched) mismatched.push(key);
        else problems.push(`  ${key}: the state dict has shape ${shapeText(src.shape)}, the model ${shapeText(target.shape)}`);
      } else if (src.data.length !== target.numel) {
        problems.push(`  ${key}: ${src.data.length} values for shape ${shapeText(src.shape)}`);
      }
    }
    if (strict) {
      if (missing.length) problems.push(`  missing keys (${missing.length}): ${missing.join(", ")}`);
      if (unexpected.length) problems.push(`  unexpected keys (${unexpected.length}): ${unexpected.join(", ")}`);
    }
    if (problems.length) {
      throw new StateDictError(`kiln: cannot load the state dict into ${this.constructor.name}:\n${problems.join("\n")}`);
    }
    const skip = new Set(mismatched);
    for (const [key, target] of own) {
      const src = state.get(key);
      if (src !== undefined && !skip.has(key)) target.data.set(src.data);
    }
    for (const [, m] of this.namedModules()) m.stateLoaded();
    return { missing, unexpected, mismatched };
  }

  /** Called after loadStateDict has written new values: drop what was derived from the old ones. */
  protected stateLoaded(): void {}

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Clears every parameter's gradient: released to the pool and set to null
   * (PyTorch 2's default, so untouched parameters are skipped by optimizers),
   * or zeroed in place when `setToNone` is false.
   */
  zeroGrad(setToNone = true): void {
    clearGrads(this.parameters(), setToNone);
  }

  /**
   * Prepares for inference: folds each BatchNorm into the convolution before it
   * and fuses the activation after it into the convolution's kernel. Switches to
   * eval mode. Irreversible: the state dict loses the folded BatchNorm entries.
   */
  fuse(): this {
    this.eval();
    noGrad(() => {
      for (const [, m] of this.namedModules().reverse()) m.fuseChildren();
    });
    return this;
  }

  /** Fuses this module's own conv/bn/activation children (children are fused before their parents). */
  protected fuseChildren(): void {}

  /** Releases every parameter's and buffer's memory; the module is unusable afterwards. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.namedBuffers().map(([, b]) => b)]) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}

/** Shared by Module.zeroGrad and the optimizers. */
export function clearGrads(params: Iterable<Tensor>, setToNone: boolean): void {
  for (const p of params) {
    if (p.grad === null) continue;
    if (setToNone) {
      p.grad.dispose();
      p.grad = null;
    } else {
      p.grad.data.fill(0);
    }
  }
}
