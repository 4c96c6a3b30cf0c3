// The autograd tape. Each op that runs with grad enabled on an input that
// requires grad attaches a Node to its output: the inputs, the tensors the
// gradient rule needs (their memory is retained until the backward pass), and
// the rule itself, `gradOut -> gradInputs`. backward() orders the nodes
// topologically (iteratively: graphs are deep), runs the rules in reverse,
// accumulates leaf gradients with the axpy kernel and frees the graph.
import { kernels } from "./backend.js";
import { Unary } from "./kernels.js";
import { closeScope, openScope, untracked, type Storage } from "./memory.js";
import { empty, Tensor } from "./tensor.js";

/** A gradient rule: the gradient of each input (null where an input needs none), from the output's gradient. */
export type GradRule = (gradOut: Tensor) => readonly (Tensor | null)[];

export class Node {
  /** The gradient flowing into this node's output during backward (holds one storage reference). */
  grad: Tensor | null = null;
  visit = 0;
  freed = false;

  constructor(
    readonly name: string,
    public inputs: readonly Tensor[],
    public rule: GradRule | null,
    public saved: readonly Storage[],
  ) {}

  /** Releases everything the node holds; a later backward through it is an error. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const s of this.saved) s.release();
    if (this.grad) this.grad.storage.release();
    this.grad = null;
    this.saved = [];
    this.inputs = [];
    this.rule = null;
  }
}

let gradDisabled = 0;

export function isGradEnabled(): boolean {
  return gradDisabled === 0;
}

/** Runs fn without recording a graph (inference, optimizer updates, running statistics). */
export function noGrad<T>(fn: () => T): T {
  gradDisabled++;
  try {
    return fn();
  } finally {
    gradDisabled--;
  }
}

/** True when an op on these inputs must record a node. */
export function needsGrad(a: Tensor, b?: Tensor | null, c?: Tensor | null): boolean {
  return gradDisabled === 0 && (a.requiresGrad || (b != null && b.requiresGrad) || (c != null && c.requiresGrad));
}

/**
 * Attaches a node to `out` when grad is enabled and an input requires grad;
 * `saved` are tensors the rule reads, kept alive until backward releases them.
 * Returns `out`.
 */
export function record(name: string, out: Tensor, inputs: readonly Tensor[], rule: GradRule, saved: readonly Tensor[] = []): Tensor {
  if (gradDisabled !== 0 || !inputs.some((t) => t.requiresGrad)) return out;
  const storages = saved.map((t) => {
    t.storage.retain();
    return t.storage;
  });
  out.requiresGrad = true;
  out.gradFn = new Node(name, inputs, rule, storages);
  return out;
}

let epoch = 0;

function freedError(node: Node): Error {
  return new Error(
    `kiln: backward() through a graph that was already freed (at '${node.name}'). Each forward graph supports ` +
      "one backward(): its saved tensors are released afterwards. Run the forward pass again, or sum the losses and " +
      "call backward() once.",
  );
}

/** The nodes reachable from root, each after every node that consumes it (reverse post-order, iterative DFS). */
function topoOrder(root: Node): Node[] {
  const mark = ++epoch;
  const order: Node[] = [];
  const stack: Node[] = [root];
  const next: number[] = [0];
  if (root.freed) throw freedError(root);
  root.visit = mark;
  while (stack.length > 0) {
    const top = stack.length - 1;
    const node = stack[top];
    const i = next[top];
    if (i < node.inputs.length) {
      next[top] = i + 1;
      const child = node.inputs[i].gradFn;
      if (child !== null && child.visit !== mark) {
        if (child.freed) throw freedError(child);
        child.visit = mark;
        stack.push(child);
        next.push(0);
      }
    } else {
      stack.pop();
      next.pop();
      order.push(node);
    }
  }
  return order.reverse();
}

function checkGradShape(node: Node, input: Tensor, g: Tensor): void {
  if (g.numel !== input.numel) {
    throw new Error(`kiln: internal error: '${node.name}' returned a gradient of shape [${g.shape.join(", ")}] for an input of shape [${input.shape.join(", ")}]`);
  }
}

/**
 * Adds g into a leaf's persistent `.grad`, created on first use outside every
 * tidy. A first gradient that nothing else holds is adopted rather than copied
 * (as PyTorch's AccumulateGrad steals it); its buffer comes from the pool, and
 * optimizers that free gradients each step (zeroGrad(setToNone)) hand it back
 * there for the next backward. A `.grad` that shares its memory with the graph
 * is never added to in place (copy on write).
 */
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const k = kernels();
  const held = leaf.grad !== null && !leaf.grad.isDisposed ? leaf.grad : null;
  if (held !== null && held.storage.refs === 1) {
    k.axpy(1, g.data, held.data);
    return;
  }
  if (held === null && g.storage.refs === 1) {
    g.storage.retain();
    leaf.grad = untracked(() => new Tensor(g.storage, leaf.shape));
    return;
  }
  const grad = untracked(() => empty(leaf.shape));
  k.unary(Unary.affine, (held ?? g).data, grad.data, 1, 0);
  if (held !== null) {
    k.axpy(1, g.data, grad.data);
    held.dispose();
  }
  leaf.grad = grad;
}

/** Adds g into a node's gradient slot; the slot holds its own storage reference. Runs inside a step's scope. */
function accumulateSlot(node: Node, g: Tensor): void {
  const held = node.grad;
  if (held === null) {
    g.storage.retain();
    node.grad = g;
    return;
  }
  const k = kernels();
  if (held.storage.refs === 1) {
    k.axpy(1, g.data, held.data); // the slot is the only owner: add in place
    return;
  }
  // Shared with another slot or a view: accumulate into a fresh buffer instead.
  const sum = empty(held.shape);
  k.unary(Unary.affine, held.data, sum.data, 1, 0);
  k.axpy(1, g.data, sum.data);
  held.storage.release();
  sum.storage.retain();
  node.grad = sum;
}

const NO_SURVIVORS: ReadonlySet<never> = new Set();

/**
 * Called once for each leaf that requires grad, as soon as backward has
 * accumulated the last of its gradient (its `.grad` is final): data-parallel
 * training starts reducing it while backward goes on.
 */
export type LeafDone = (leaf: Tensor) => void;

/** For each position of `order`, the leaves whose last consumer runs there. */
function leavesDoneAt(order: readonly Node[]): Tensor[][] {
  const last = new Map<Tensor, number>();
  order.forEach((node, i) => {
    for (const input of node.inputs) if (input.gradFn === null && input.requiresGrad) last.set(input, i);
  });
  const at: Tensor[][] = order.map(() => []);
  for (const [leaf, i] of last) at[i].push(leaf);
  return at;
}

/** Tensor.backward's implementation. */
export function runBackward(root: Tensor, seed?: Tensor, onLeafDone?: LeafDone): void {
  if (!root.requiresGrad) {
    throw new Error("kiln: backward() on a tensor that does not require grad (no input of its graph has requiresGrad = true, or it was computed under noGrad)");
  }
  if (seed === undefined && root.numel !== 1) {
    throw new Error(`kiln: backward() without a seed gradient needs a scalar; this tensor has shape [${root.shape.join(", ")}]. Pass a gradient of that shape, or reduce first (sum, mean).`);
  }
  if (seed !== undefined && seed.numel !== root.numel) {
    throw new Error(`kiln: backward(grad): grad has shape [${seed.shape.join(", ")}], the tensor has shape [${root.shape.join(", ")}]`);
  }
  gradDisabled++;
  try {
    const gradFn = root.gradFn;
    const order = gradFn === null ? [] : topoOrder(gradFn);
    const scope = openScope();
    try {
      const start = seed ?? ones(root.shape);
      if (gradFn === null) accumulateLeaf(root, start);
      else accumulateSlot(gradFn, start);
    } finally {
      closeScope(scope, NO_SURVIVORS);
    }
    const doneAt = onLeafDone ? leavesDoneAt(order) : null;
    try {
      for (let i = 0; i < order.length; i++) {
        runNode(order[i]);
        if (doneAt) for (const leaf of doneAt[i]) onLeafDone!(leaf);
      }
    } finally {
      for (const node of order) node.free();
    }
  } finally {
    gradDisabled--;
  }
}

function ones(shape: readonly number[]): Tensor {
  const t = empty(shape);
  kernels().fill(t.data, 1);
  return t;
}

function runNode(node: Node): void {
  const g = node.grad;
  const rule = node.rule;
  if (g === null || rule === null) return; // no gradient reached it
  const scope = openScope();
  try {
    const grads = rule(g);
    const inputs = node.inputs;
    for (let i = 0; i < inputs.length; i++) {
      const gi = grads[i];
      const input = inputs[i];
      if (gi == null || !input.requiresGrad) continue;
      checkGradShape(node, input, gi);
      if (input.gradFn !== null) accumulateSlot(input.gradFn, gi);
      else accumulateLeaf(input, gi);
    }
  } finally {
    closeScope(scope, NO_SURVIVORS);
    node.free();
  }
}

/** Zeroes the `.grad` of every tensor that has one (keeps the buffers: they are persistent). */
export function zeroGrad(tensors: Iterable<Tensor>): void {
  const k = kernels();
  for (const t of tensors) if (t.grad !== null) k.fill(t.grad.data, 0);
}
