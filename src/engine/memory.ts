// Buffer pool and tensor lifetimes.
//
// Every tensor's data lives in a Storage: a pooled Float32Array with a
// reference count. Views (reshape, detach) share a Storage; autograd nodes and
// gradient slots hold extra references to what they saved, so a tensor the user
// disposes stays readable by the backward pass until that pass releases it.
// When the count reaches zero the array goes back to the pool, keyed by exact
// length, where the next allocation of the same size picks it up: a training
// step that repeats the same shapes allocates nothing new after the first.

/** Buffers above this size count as "large" in the statistics. */
export const LARGE_BYTES = 64 * 1024;

const freeF32 = new Map<number, Float32Array[]>();
const freeI32 = new Map<number, Int32Array[]>();

const stats = {
  poolHits: 0,
  poolMisses: 0,
  largeMisses: 0,
  bytesAllocated: 0,
  bytesInPool: 0,
  liveTensors: 0,
};

/** >0 inside `persistent`: allocations bypass the pool. */
let persistentDepth = 0;

function take<T extends Float32Array | Int32Array>(pool: Map<number, T[]>, length: number, make: (n: number) => T): T {
  const list = persistentDepth === 0 ? pool.get(length) : undefined;
  const hit = list !== undefined ? list.pop() : undefined;
  if (hit !== undefined) {
    stats.poolHits++;
    stats.bytesInPool -= hit.byteLength;
    return hit;
  }
  stats.poolMisses++;
  const bytes = length * 4;
  stats.bytesAllocated += bytes;
  if (bytes > LARGE_BYTES) stats.largeMisses++;
  return make(length);
}

function give<T extends Float32Array | Int32Array>(pool: Map<number, T[]>, buf: T): void {
  // Only whole buffers are pooled: a view into someone else's memory is left to the GC.
  if (buf.byteOffset !== 0 || buf.byteLength !== buf.buffer.byteLength || buf.length === 0) return;
  let list = pool.get(buf.length);
  if (list === undefined) pool.set(buf.length, (list = []));
  list.push(buf);
  stats.bytesInPool += buf.byteLength;
}

/** A float32 buffer from the pool (contents undefined). */
export function acquireF32(length: number): Float32Array {
  return take(freeF32, length, (n) => new Float32Array(n));
}

/** An int32 buffer from the pool (contents undefined): max-pool indices and the like. */
export function acquireI32(length: number): Int32Array {
  return take(freeI32, length, (n) => new Int32Array(n));
}

export function releaseI32(buf: Int32Array): void {
  give(freeI32, buf);
}

/** Reference-counted tensor memory. */
export class Storage {
  refs = 1;
  constructor(readonly buffer: Float32Array) {}

  get freed(): boolean {
    return this.refs <= 0;
  }

  retain(): void {
    if (this.refs <= 0) throw new Error("kiln: internal error: retaining freed tensor memory");
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0) give(freeF32, this.buffer);
  }
}

/** Anything a tidy scope can dispose. */
export interface Disposable {
  dispose(): void;
  /** Set by `keep`: the tensor outlives every enclosing tidy. */
  kept: boolean;
}

const scopes: Disposable[][] = [];
let trackingPaused = 0;

/** Called by every new tensor: it joins the innermost tidy scope, if any. */
export function track(t: Disposable): void {
  stats.liveTensors++;
  if (scopes.length > 0 && trackingPaused === 0) scopes[scopes.length - 1].push(t);
}

/** Called once when a tensor is disposed. */
export function untrack(): void {
  stats.liveTensors--;
}

/** Runs fn with tensors it creates left out of every tidy scope (persistent state such as `.grad`). */
export function untracked<T>(fn: () => T): T {
  trackingPaused++;
  try {
    return fn();
  } finally {
    trackingPaused--;
  }
}

/**
 * Runs fn with the tensors it creates outside every tidy scope and in fresh
 * memory rather than pooled buffers: for long-lived state (optimizer moments,
 * EMA weights) created in the middle of a training step, which
 * would otherwise take buffers the next step expects to find in the pool.
 */
export function persistent<T>(fn: () => T): T {
  persistentDepth++;
  trackingPaused++;
  try {
    return fn();
  } finally {
    trackingPaused--;
    persistentDepth--;
  }
}

/** Opens a scope; the returned list collects the tensors created until `closeScope`. Internal to the engine. */
export function openScope(): Disposable[] {
  const scope: Disposable[] = [];
  scopes.push(scope);
  return scope;
}

/** Closes the innermost scope, disposing what it collected except `survivors`, which move to the parent scope. */
export function closeScope(scope: Disposable[], survivors: ReadonlySet<Disposable>): void {
  if (scopes[scopes.length - 1] !== scope) throw new Error("kiln: internal error: tidy scopes closed out of order");
  scopes.pop();
  const parent = scopes.length > 0 ? scopes[scopes.length - 1] : null;
  for (const t of scope) {
    if (t.kept) continue;
    if (survivors.has(t)) parent?.push(t);
    else t.dispose();
  }
}

function isDisposable(v: unknown): v is Disposable {
  return typeof v === "object" && v !== null && typeof (v as Disposable).dispose === "function" && "kept" in v;
}

/** The disposables in a tidy's result: a tensor, or arrays / plain objects of them (nested). */
function collectResults(v: unknown, out: Set<Disposable>, depth: number): void {
  if (depth > 8 || typeof v !== "object" || v === null) return;
  if (isDisposable(v)) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) collectResults(x, out, depth + 1);
  } else if (Object.getPrototypeOf(v) === Object.prototype || v instanceof Map) {
    for (const x of v instanceof Map ? v.values() : Object.values(v)) collectResults(x, out, depth + 1);
  }
}

/**
 * Runs fn and disposes every tensor it created, except the ones it returns
 * (a tensor, or arrays / plain objects / Maps of them) and those passed to `keep`.
 * Returned tensors belong to the enclosing tidy, if any. fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = openScope();
  let result: T;
  try {
    result = fn();
  } catch (err) {
    closeScope(scope, new Set());
    throw err;
  }
  if (result instanceof Promise) {
    closeScope(scope, new Set());
    throw new Error("kiln: tidy(fn) needs a synchronous fn; tensors cannot be tracked across an await");
  }
  const survivors = new Set<Disposable>();
  collectResults(result, survivors, 0);
  closeScope(scope, survivors);
  return result;
}

/** Exempts a tensor from every enclosing tidy: it lives until its own `dispose()`. */
export function keep<T extends Disposable>(t: T): T {
  t.kept = true;
  return t;
}

export interface MemoryStats {
  /** Allocations served from the pool. */
  poolHits: number;
  /** Allocations that needed new memory. */
  poolMisses: number;
  /** Misses of more than LARGE_BYTES (64 KiB): a steady-state training step should make none. */
  largeMisses: number;
  /** Bytes newly allocated since start (or since resetMemoryStats). */
  bytesAllocated: number;
  /** Bytes held by the pool, ready for reuse. */
  bytesInPool: number;
  /** Tensors created and not yet disposed. */
  liveTensors: number;
}

export function memoryStats(): MemoryStats {
  return { ...stats };
}

/** Zeroes the hit/miss/allocation counters (pool contents and live counts are kept). */
export function resetMemoryStats(): void {
  stats.poolHits = 0;
  stats.poolMisses = 0;
  stats.largeMisses = 0;
  stats.bytesAllocated = 0;
}

/** Drops every pooled buffer (the GC reclaims them): after a phase with shapes that will not recur. */
export function clearPool(): void {
  freeF32.clear();
  freeI32.clear();
  stats.bytesInPool = 0;
}
