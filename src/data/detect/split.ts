// Seeded val splits and train sampling for detection, by the classification rules
// (src/data/split.ts): each image is filed under one stratum, the rarest class it
// contains (images without objects form their own), so small classes reach val too.
import { samplePerClass, splitValidation } from "../split.js";
import type { Sample } from "../types.js";
import type { DetSample } from "./types.js";

const BACKGROUND = "(no objects)";

/** Stand-in classification samples: label = stratum; the map leads back to the images. */
function strata(samples: DetSample[], classes: string[]): { proxies: Sample[]; back: Map<Sample, DetSample>; names: string[] } {
  const instances = new Array<number>(classes.length).fill(0);
  for (const s of samples) for (const o of s.objects) if (o.cls >= 0 && o.cls < classes.length) instances[o.cls]++;
  const back = new Map<Sample, DetSample>();
  const proxies = samples.map((s) => {
    let label = classes.length; // background
    for (const o of s.objects) if (o.cls >= 0 && o.cls < classes.length && (label === classes.length || instances[o.cls] < instances[label])) label = o.cls;
    const proxy: Sample = { source: s.source, label };
    back.set(proxy, s);
    return proxy;
  });
  return { proxies, back, names: [...classes, BACKGROUND] };
}

/** Moves about `valRatio` of the images to val, stratified, seeded; both keep the input order. */
export function splitDetection(samples: DetSample[], classes: string[], valRatio: number, seed: number): { train: DetSample[]; val: DetSample[] } {
  const { proxies, back, names } = strata(samples, classes);
  let { train, val } = splitValidation(proxies, names, valRatio, seed);
  // Many tiny strata (a small dataset) can round to an empty side: split the images as one stratum then.
  if (valRatio > 0 && samples.length >= 2 && (train.length === 0 || val.length === 0)) {
    for (const p of proxies) p.label = 0;
    ({ train, val } = splitValidation(proxies, ["all"], valRatio, seed));
  }
  const original = (p: Sample): DetSample => back.get(p) as DetSample;
  return { train: train.map(original), val: val.map(original) };
}

/** Keeps about `fraction` of the images (at least one per stratum), seeded. */
export function sampleDetection(samples: DetSample[], classes: string[], fraction: number, seed: number): DetSample[] {
  if (fraction >= 1) return samples;
  const { proxies, back, names } = strata(samples, classes);
  return samplePerClass(proxies, names, fraction, seed).map((p) => back.get(p) as DetSample);
}
