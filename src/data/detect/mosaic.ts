// Mosaic of 4 (Ultralytics' Mosaic._mosaic4): on a 2·imgsz grey canvas, the sample's image
// ends at a random centre from the top left, the three others take the top right, bottom left
// and bottom right, each cut where it meets the canvas edge. Boxes shift with their tile and
// are clipped to the canvas; boxes left with no area are dropped.
import type { Rng } from "../../engine/rng.js";
import type { RawImage } from "../types.js";
import { PAD, type Box } from "./letterbox.js";

export interface Tile {
  /** 3-channel pixels, long side at most imgsz (loadSized). */
  image: RawImage;
  /** Pixel boxes of `image`. */
  boxes: Box[];
}

/** The mosaic centre: uniform in [imgsz/2, 3·imgsz/2), truncated as Ultralytics' int(). */
export function mosaicCentre(imgsz: number, rng: Rng): [number, number] {
  const yc = Math.trunc(imgsz / 2 + rng.uniform() * imgsz); // Ultralytics draws y first
  const xc = Math.trunc(imgsz / 2 + rng.uniform() * imgsz);
  return [xc, yc];
}

/** Places 4 tiles around (xc, yc) on `canvas` ((2·imgsz)² × 3 bytes); returns the boxes in canvas pixels. */
export function mosaic4(tiles: readonly Tile[], imgsz: number, centre: readonly [number, number], canvas: Uint8Array): Box[] {
  if (tiles.length !== 4) throw new Error(`mosaic4: needs 4 tiles, got ${tiles.length}`);
  const s2 = imgsz * 2;
  const [xc, yc] = centre;
  canvas.fill(PAD, 0, s2 * s2 * 3);
  const boxes: Box[] = [];
  tiles.forEach((tile, i) => {
    const { width: w, height: h, data } = tile.image;
    // a: the rectangle on the canvas; b: the same-sized rectangle of the tile it shows.
    let x1a: number, y1a: number, x2a: number, y2a: number, x1b: number, y1b: number;
    if (i === 0) {
      [x1a, y1a, x2a, y2a] = [Math.max(xc - w, 0), Math.max(yc - h, 0), xc, yc];
      [x1b, y1b] = [w - (x2a - x1a), h - (y2a - y1a)];
    } else if (i === 1) {
      [x1a, y1a, x2a, y2a] = [xc, Math.max(yc - h, 0), Math.min(xc + w, s2), yc];
      [x1b, y1b] = [0, h - (y2a - y1a)];
    } else if (i === 2) {
      [x1a, y1a, x2a, y2a] = [Math.max(xc - w, 0), yc, xc, Math.min(s2, yc + h)];
      [x1b, y1b] = [w - (x2a - x1a), 0];
    } else {
      [x1a, y1a, x2a, y2a] = [xc, yc, Math.min(xc + w, s2), Math.min(s2, yc + h)];
      [x1b, y1b] = [0, 0];
    }
    const cols = Math.min(x2a - x1a, w - x1b);
    const rows = Math.min(y2a - y1a, h - y1b);
    for (let r = 0; r < rows; r++) {
      const from = ((y1b + r) * w + x1b) * 3;
      canvas.set(data.subarray(from, from + cols * 3), ((y1a + r) * s2 + x1a) * 3);
    }
    const dx = x1a - x1b;
    const dy = y1a - y1b;
    for (const b of tile.boxes) {
      const box = { cls: b.cls, x1: clamp(b.x1 + dx, s2), y1: clamp(b.y1 + dy, s2), x2: clamp(b.x2 + dx, s2), y2: clamp(b.y2 + dy, s2) };
      if (box.x2 > box.x1 && box.y2 > box.y1) boxes.push(box);
    }
  });
  return boxes;
}

const clamp = (v: number, hi: number): number => (v < 0 ? 0 : v > hi ? hi : v);
