// Anchor points of a YOLOv8 head, as Ultralytics' make_anchors: one per
// cell of each level's map, at the cell's centre (offset 0.5) in grid units,
// levels concatenated in stride order, cells row-major. Shared by the loss,
// the assigner and inference decoding.

export interface AnchorLevel {
  /** Map height and width (cells). */
  readonly h: number;
  readonly w: number;
  readonly stride: number;
  /** Index of the level's first anchor in the concatenation. */
  readonly start: number;
}

export interface Anchors {
  /** Total anchors over all levels. */
  readonly count: number;
  readonly levels: readonly AnchorLevel[];
  /** x, y per anchor, in grid units of its level (cell index + offset). */
  readonly points: Float64Array;
  /** Stride per anchor (pixels per grid unit). */
  readonly strides: Float64Array;
  /** Level index per anchor. */
  readonly level: Uint8Array;
}

// Every training step asks for the same grid: build it once per shape.
const cache = new Map<string, Anchors>();

/** The anchors of maps of the given [h, w] sizes at the given strides. */
export function makeAnchors(sizes: readonly (readonly [number, number])[], strides: readonly number[], offset = 0.5): Anchors {
  if (sizes.length !== strides.length) throw new Error(`kiln: makeAnchors: ${sizes.length} map sizes for ${strides.length} strides`);
  const key = `${sizes.map(([h, w]) => `${h}x${w}`).join(",")}|${strides.join(",")}|${offset}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const levels: AnchorLevel[] = [];
  let count = 0;
  sizes.forEach(([h, w], i) => {
    levels.push({ h, w, stride: strides[i], start: count });
    count += h * w;
  });
  const points = new Float64Array(2 * count);
  const perAnchor = new Float64Array(count);
  const level = new Uint8Array(count);
  levels.forEach((l, li) => {
    for (let y = 0; y < l.h; y++) {
      for (let x = 0; x < l.w; x++) {
        const a = l.start + y * l.w + x;
        points[2 * a] = x + offset;
        points[2 * a + 1] = y + offset;
        perAnchor[a] = l.stride;
        level[a] = li;
      }
    }
  });
  const anchors: Anchors = { count, levels, points, strides: perAnchor, level };
  if (cache.size > 32) cache.clear(); // rect validation batches vary in shape: keep the cache bounded
  cache.set(key, anchors);
  return anchors;
}
