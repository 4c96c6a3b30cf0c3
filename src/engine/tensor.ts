// The float32 tensor: a shape over a dense, row-major, reference-counted
// Storage (see memory.ts). Views (reshape, detach) share the storage; every
// other op writes a new one.
import { acquireF32, Storage, track, untrack, type Disposable } from "./memory.js";
import { record, runBackward, type LeafDone, type Node } from "./autograd.js";

export class Tensor implements Disposable {
  readonly shape: readonly number[];
  readonly numel: number;
  readonly storage: Storage;
  /** Leaf parameters set it; ops set it on outputs whose inputs require grad (while grad is enabled). */
  requiresGrad: boolean;
  /** Accumulated by backward() on leaves that require grad; persistent (zero it, do not replace it). */
  grad: Tensor | null = null;
  /** The autograd node that made this tensor (null for leaves and for results computed without grad). */
  gradFn: Node | null = null;
  kept = false;
  private disposed = false;

  /** Wraps a storage (taking one reference to it). Use the creation functions rather than this. */
  constructor(storage: Storage, shape: readonly number[], requiresGrad = false) {
    this.storage = storage;
    this.shape = shape;
    this.numel = numelOf(shape);
    if (this.numel !== storage.buffer.length) {
      throw new Error(`kiln: shape [${shape.join(", ")}] has ${this.numel} elements but the data has ${storage.buffer.length}`);
    }
    this.requiresGrad = requiresGrad;
    track(this);
  }

  /** The values: dense, row-major, length === numel. Throws once the memory has been released. */
  get data(): Float32Array {
    if (this.storage.refs <= 0) throw new Error(`kiln: this tensor [${this.shape.join(", ")}] was disposed; its memory has been reused`);
    return this.storage.buffer;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new Error(`kiln: item() needs a tensor with one element, got shape [${this.shape.join(", ")}]`);
    return this.data[0];
  }

  /** A copy of the values. */
  toArray(): Float32Array {
    return this.data.slice();
  }

  /**
   * Backpropagates from this tensor: a scalar (one element) seeds gradient 1,
   * anything else needs an explicit seed of the same shape. Leaves that require
   * grad accumulate into `.grad`; the graph is freed afterwards. `onLeafDone`
   * hears of each such leaf as soon as its gradient is final.
   */
  backward(grad?: Tensor, onLeafDone?: LeafDone): void {
    runBackward(this, grad, onLeafDone);
  }

  /** The same data with no graph and no grad requirement. */
  detach(): Tensor {
    this.storage.retain();
    return new Tensor(this.storage, this.shape);
  }

  /** A view with a new shape (shares the data); one dimension may be -1. */
  reshape(...shape: number[]): Tensor {
    const target = inferShape(shape, this.numel);
    this.storage.retain();
    const out = new Tensor(this.storage, target);
    if (this.requiresGrad) record("reshape", out, [this], (g) => [g.reshape(...this.shape)]);
    return out;
  }

  /** Returns the memory to the pool (once every view and saved reference is gone too). Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    untrack();
    this.storage.release();
  }

  toString(): string {
    const head = Array.from(this.data.subarray(0, 8), (v) => +v.toPrecision(5)).join(", ");
    return `Tensor([${this.shape.join(", ")}]${this.requiresGrad ? ", requiresGrad" : ""}: ${head}${this.numel > 8 ? ", …" : ""})`;
  }
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Resolves one -1 in a requested shape and checks the element count. */
export function inferShape(shape: readonly number[], numel: number): number[] {
  let known = 1;
  let free = -1;
  const out = shape.slice();
  for (let i = 0; i < out.length; i++) {
    const d = out[i];
    if (d === -1) {
      if (free >= 0) throw new Error(`kiln: reshape to [${shape.join(", ")}]: only one dimension can be -1`);
      free = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new Error(`kiln: reshape to [${shape.join(", ")}]: invalid dimension ${d}`);
    } else known *= d;
  }
  if (free >= 0) {
    if (known === 0 || numel % known !== 0) throw new Error(`kiln: cannot reshape ${numel} elements to [${shape.join(", ")}]`);
    out[free] = numel / known;
  } else if (known !== numel) {
    throw new Error(`kiln: cannot reshape ${numel} elements to [${shape.join(", ")}]`);
  }
  return out;
}

/** A new tensor from the pool with undefined contents: every op's output. */
export function empty(shape: readonly number[]): Tensor {
  return new Tensor(new Storage(acquireF32(numelOf(shape))), shape);
}

/** Normalises a possibly negative axis against a rank. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`kiln: axis ${axis} is out of range for a tensor of rank ${rank}`);
  return a;
}

/** The same two shapes? */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
