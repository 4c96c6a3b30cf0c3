// Seeds derived from several parts (seed, epoch, sample index, a class name), so each
// random decision has its own stream and does not depend on the order work is done in.
import { fmix32, Rng } from "../engine/rng.js";

/** A well-mixed 32-bit value from integer parts (murmur3's finaliser after each part). */
export function mixSeed(...parts: number[]): number {
  let h = 0x2545f491;
  for (const part of parts) h = fmix32(Math.imul(h ^ (part >>> 0), 0x9e3779b1));
  return h;
}

/** FNV-1a of a string, to bring names (classes, splits) into mixSeed. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function rngFor(...parts: number[]): Rng {
  return new Rng(mixSeed(...parts));
}

/** Fisher–Yates shuffle in place. */
export function shuffleInPlace<T>(items: { [index: number]: T; length: number }, rng: Rng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
}
