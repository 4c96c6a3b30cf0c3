// Seeded, stratified splitting and per-class sampling. Both keep the input order of what
// they keep (sorted file names stay sorted), and each class draws from its own stream,
// so adding a class does not reshuffle the others.
import { hashString, rngFor, shuffleInPlace } from "./seed.js";
import type { Sample } from "./types.js";

const SPLIT_STREAM = 0x5b1;
const SAMPLE_STREAM = 0x5a3;

function indicesByClass(samples: Sample[], classes: string[]): number[][] {
  const byClass: number[][] = classes.map(() => []);
  samples.forEach((s, i) => byClass[s.label]?.push(i));
  return byClass;
}

/** Indices of `count` items of `members`, chosen with the class's own stream. */
function choose(members: number[], count: number, seed: number, stream: number, className: string): Set<number> {
  const shuffled = [...members];
  shuffleInPlace(shuffled, rngFor(seed, stream, hashString(className)));
  return new Set(shuffled.slice(0, count));
}

/** Moves about `valRatio` of each class to val (at least one when a class has two or more images). */
export function splitValidation(samples: Sample[], classes: string[], valRatio: number, seed: number): { train: Sample[]; val: Sample[] } {
  const toVal = new Set<number>();
  indicesByClass(samples, classes).forEach((members, label) => {
    let count = Math.round(members.length * valRatio);
    if (count === 0 && valRatio > 0 && members.length >= 2) count = 1;
    for (const i of choose(members, count, seed, SPLIT_STREAM, classes[label])) toVal.add(i);
  });
  return { train: samples.filter((_, i) => !toVal.has(i)), val: samples.filter((_, i) => toVal.has(i)) };
}

/** Keeps round(fraction × n) images of each class (at least one), then at most `maxPerClass`. */
export function samplePerClass(samples: Sample[], classes: string[], fraction: number, seed: number, maxPerClass?: number): Sample[] {
  if (fraction >= 1 && maxPerClass === undefined) return samples;
  const keep = new Set<number>();
  indicesByClass(samples, classes).forEach((members, label) => {
    let count = Math.max(1, Math.round(members.length * fraction));
    if (maxPerClass !== undefined) count = Math.min(count, maxPerClass);
    for (const i of choose(members, count, seed, SAMPLE_STREAM, classes[label])) keep.add(i);
  });
  return samples.filter((_, i) => keep.has(i));
}
