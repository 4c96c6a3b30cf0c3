// What every writer needs: a unique output name per image (two images may not share a
// label file), the image's pixel size, and the image itself in place.
import path from "node:path";
import { CONCURRENCY, mapLimited } from "../../files.js";
import { imageSize, placeImage } from "../images.js";
import type { DetSample } from "../types.js";

export interface Placed {
  sample: DetSample;
  /** Output name, "/"-separated: the sample's name, made unique by stem; pixels get .png. */
  name: string;
  width: number;
  height: number;
}

const stemOf = (name: string): string => name.slice(0, name.length - path.posix.extname(name).length);

/** `name`, or name_2, name_3… when its stem is taken (case-insensitively: some file systems fold case). */
export function uniqueName(name: string, taken: Set<string>): string {
  const ext = path.posix.extname(name);
  const stem = stemOf(name);
  let candidate = name;
  for (let n = 2; taken.has(stemOf(candidate).toLowerCase()); n++) candidate = `${stem}_${n}${ext}`;
  taken.add(stemOf(candidate).toLowerCase());
  return candidate;
}

/** Output names and sizes of a split's images; `taken` is shared when names must be unique across splits. */
export async function placeSamples(samples: DetSample[], taken: Set<string>, rename: (name: string) => string = (n) => n): Promise<Placed[]> {
  const names = samples.map((s) => {
    // No way out of the output folder: "..", "." and empty parts of a name are dropped.
    const parts = s.name.replace(/\\/g, "/").split("/").filter((p) => p !== "" && p !== "." && p !== "..");
    let name = rename(parts.join("/") || "image.png");
    if (s.source.kind === "pixels" && path.posix.extname(name).toLowerCase() !== ".png") name = `${stemOf(name)}.png`;
    return uniqueName(name, taken);
  });
  return mapLimited(samples, CONCURRENCY, async (sample, i) => {
    const size = sample.width > 0 && sample.height > 0 ? { width: sample.width, height: sample.height } : await imageSize(sample.source);
    return { sample, name: names[i], ...size };
  });
}

/** Copies (or links) every placed image under `dir`. */
export async function placeImages(placed: Placed[], dir: string): Promise<void> {
  await mapLimited(placed, CONCURRENCY, (p) => placeImage(p.sample.source, path.join(dir, ...p.name.split("/"))));
}

export const stem = stemOf;
