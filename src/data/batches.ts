// What both data loaders (classification, detection) do the same way: the
// seeded sample order of an epoch, and the ring of batches filled ahead while
// the caller trains on the current one.
import { rngFor, shuffleInPlace } from "./seed.js";

/** The sample order of an epoch: a seeded permutation (seed, stream, epoch), or 0..n-1 without shuffle. */
export function epochOrder(n: number, shuffle: boolean, seed: number, stream: number, epoch: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (shuffle) shuffleInPlace(order, rngFor(seed, stream, epoch));
  return order;
}

/**
 * Batches `start`..`count`-1, each filled into ring slot batchIndex % slots, up to
 * `slots` at once: a slot is refilled only after the batch in it was handed out
 * and the caller asked for the next.
 */
export async function* prefetchRing<B>(count: number, start: number, slots: number, fill: (batchIndex: number, slot: number) => Promise<B>): AsyncIterableIterator<B> {
  const pending: Promise<B>[] = [];
  let next = Math.max(0, start);
  const launch = (): void => {
    if (next >= count) return;
    const filling = fill(next, next % slots);
    next++;
    filling.catch(() => undefined); // awaited below; this only marks it handled while it waits
    pending.push(filling);
  };
  try {
    for (let i = 0; i < slots; i++) launch();
    while (pending.length > 0) {
      yield await pending.shift()!;
      launch(); // the slot just handed out is free again
    }
  } finally {
    await Promise.allSettled(pending); // never leave a fill writing into a slot the next epoch uses
  }
}
