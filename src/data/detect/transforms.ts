// The pixel and box transforms of YOLO training, on 8-bit RGB images (HWC):
// bilinear resize, letterbox, Ultralytics' 4-image mosaic, the random
// affine (translate and scale; no rotation, shear or perspective, as the
// default recipe), HSV gains and left-right flip. Boxes are pixel xyxy and
// move with the pixels; after the affine they are clipped and filtered as
// Ultralytics' box_candidates (at least 2 px wide and high, over 10 % of
// their area kept, aspect under 100).
import type { Rng } from "../../engine/index.js";

/** RGB pixels, HWC row-major. */
export interface Pixels { width: number; height: number; data: Uint8Array }
/** A box in pixels and its class. */
export interface PixelBox { cls: number; x1: number; y1: number; x2: number; y2: number }

export const PAD_VALUE = 114;

const uniform = (rng: Rng, lo: number, hi: number): number => lo + (hi - lo) * rng.uniform();

/** Bilinear resize with pixel-centre alignment (cv2.INTER_LINEAR's mapping). */
export function resizeBilinear(src: Pixels, width: number, height: number): Pixels {
  if (src.width === width && src.height === height) return src;
  const out = new Uint8Array(width * height * 3);
  const sx = src.width / width, sy = src.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), src.height - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, src.height - 1), wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), src.width - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, src.width - 1), wx = fx - x0;
      const a = (y0 * src.width + x0) * 3, b = (y0 * src.width + x1) * 3, c = (y1 * src.width + x0) * 3, d = (y1 * src.width + x1) * 3;
      const o = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) {
        const top = src.data[a + k] + (src.data[b + k] - src.data[a + k]) * wx;
        const bottom = src.data[c + k] + (src.data[d + k] - src.data[c + k]) * wx;
        out[o + k] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return { width, height, data: out };
}

/** A size×size canvas with the (already resized) image centred on grey: its scale is 1 here, the pad is returned. */
export function letterbox(img: Pixels, boxes: PixelBox[], size: number): { img: Pixels; boxes: PixelBox[]; padX: number; padY: number } {
  const padX = Math.floor((size - img.width) / 2), padY = Math.floor((size - img.height) / 2);
  const out = new Uint8Array(size * size * 3).fill(PAD_VALUE);
  for (let y = 0; y < img.height; y++) out.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y + padY) * size + padX) * 3);
  return { img: { width: size, height: size, data: out }, boxes: boxes.map((b) => ({ cls: b.cls, x1: b.x1 + padX, y1: b.y1 + padY, x2: b.x2 + padX, y2: b.y2 + padY })), padX, padY };
}

/**
 * Ultralytics' load_mosaic: a 2s×2s grey canvas, a centre drawn in [s/2, 3s/2],
 * the four images placed top-left, top-right, bottom-left, bottom-right of it
 * (each cut where it passes the canvas). Boxes shift with their image.
 */
export function mosaic(images: { img: Pixels; boxes: PixelBox[] }[], size: number, rng: Rng): { img: Pixels; boxes: PixelBox[] } {
  const s2 = 2 * size;
  const canvas = new Uint8Array(s2 * s2 * 3).fill(PAD_VALUE);
  const xc = Math.floor(uniform(rng, size / 2, 1.5 * size)), yc = Math.floor(uniform(rng, size / 2, 1.5 * size));
  const boxes: PixelBox[] = [];
  images.forEach(({ img, boxes: own }, i) => {
    const { width: w, height: h } = img;
    // Where the image lands on the canvas (a) and which part of it (b).
    let xa1, ya1, xa2, ya2, xb1, yb1;
    if (i === 0) [xa1, ya1, xa2, ya2, xb1, yb1] = [Math.max(xc - w, 0), Math.max(yc - h, 0), xc, yc, 0, 0];
    else if (i === 1) [xa1, ya1, xa2, ya2, xb1, yb1] = [xc, Math.max(yc - h, 0), Math.min(xc + w, s2), yc, 0, 0];
    else if (i === 2) [xa1, ya1, xa2, ya2, xb1, yb1] = [Math.max(xc - w, 0), yc, xc, Math.min(s2, yc + h), 0, 0];
    else [xa1, ya1, xa2, ya2, xb1, yb1] = [xc, yc, Math.min(xc + w, s2), Math.min(s2, yc + h), 0, 0];
    if (i === 0) [xb1, yb1] = [w - (xa2 - xa1), h - (ya2 - ya1)];
    else if (i === 1) [xb1, yb1] = [0, h - (ya2 - ya1)];
    else if (i === 2) [xb1, yb1] = [w - (xa2 - xa1), 0];
    const cw = xa2 - xa1;
    for (let y = 0; y < ya2 - ya1; y++) {
      const from = ((yb1 + y) * w + xb1) * 3;
      canvas.set(img.data.subarray(from, from + cw * 3), ((ya1 + y) * s2 + xa1) * 3);
    }
    const dx = xa1 - xb1, dy = ya1 - yb1;
    // Clipped to the canvas, as Ultralytics clips the mosaic's labels before the affine.
    for (const b of own) boxes.push({ cls: b.cls, x1: clamp(b.x1 + dx, s2), y1: clamp(b.y1 + dy, s2), x2: clamp(b.x2 + dx, s2), y2: clamp(b.y2 + dy, s2) });
  });
  return { img: { width: s2, height: s2, data: canvas }, boxes };
}

export interface AffineOptions { translate: number; scale: number }

/**
 * Ultralytics' random_perspective without rotation, shear or perspective:
 * x' = s·(x − w/2) + t, with s ~ U(1 − scale, 1 + scale) and t ~ U(0.5 ± translate)·out,
 * out = canvas − 2·border (border −size/2 after a mosaic: the 2s canvas back to s).
 */
export function randomAffine(img: Pixels, boxes: PixelBox[], out: number, o: AffineOptions, rng: Rng): { img: Pixels; boxes: PixelBox[] } {
  const s = uniform(rng, 1 - o.scale, 1 + o.scale);
  const tx = uniform(rng, 0.5 - o.translate, 0.5 + o.translate) * out;
  const ty = uniform(rng, 0.5 - o.translate, 0.5 + o.translate) * out;
  const cx = img.width / 2, cy = img.height / 2;
  const map = (x: number, y: number): [number, number] => [s * (x - cx) + tx, s * (y - cy) + ty];
  const data = new Uint8Array(out * out * 3).fill(PAD_VALUE);
  // Inverse mapping, bilinear, grey outside (cv2.warpAffine with borderValue 114).
  for (let y = 0; y < out; y++) {
    const fy = (y - ty) / s + cy;
    for (let x = 0; x < out; x++) {
      const fx = (x - tx) / s + cx;
      if (fx < -1 || fy < -1 || fx > img.width || fy > img.height) continue;
      const x0 = Math.floor(fx), y0 = Math.floor(fy), wx = fx - x0, wy = fy - y0;
      const o = (y * out + x) * 3;
      for (let k = 0; k < 3; k++) {
        const at = (xx: number, yy: number): number => (xx < 0 || yy < 0 || xx >= img.width || yy >= img.height ? PAD_VALUE : img.data[(yy * img.width + xx) * 3 + k]);
        const top = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * wx;
        const bottom = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * wx;
        data[o + k] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  const kept: PixelBox[] = [];
  for (const b of boxes) {
    const [ax, ay] = map(b.x1, b.y1), [bx, by] = map(b.x2, b.y2);
    const n = { cls: b.cls, x1: clamp(Math.min(ax, bx), out), y1: clamp(Math.min(ay, by), out), x2: clamp(Math.max(ax, bx), out), y2: clamp(Math.max(ay, by), out) };
    if (isCandidate(b, n, s)) kept.push(n);
  }
  return { img: { width: out, height: out, data }, boxes: kept };
}

const clamp = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);

/** Ultralytics' box_candidates(box1 * s, box2, wh_thr=2, ar_thr=100, area_thr=0.1). */
export function isCandidate(before: PixelBox, after: PixelBox, scale: number): boolean {
  const w1 = (before.x2 - before.x1) * scale, h1 = (before.y2 - before.y1) * scale;
  const w2 = after.x2 - after.x1, h2 = after.y2 - after.y1;
  const ar = Math.max(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16));
  return w2 > 2 && h2 > 2 && (w2 * h2) / (w1 * h1 + 1e-16) > 0.1 && ar < 100;
}

/** Ultralytics' augment_hsv: gains 1 + U(−1, 1)·(h, s, v), applied in HSV (OpenCV's 0..180 hue). */
export function hsvJitter(img: Pixels, gains: { h: number; s: number; v: number }, rng: Rng): void {
  if (!gains.h && !gains.s && !gains.v) return;
  const r = [uniform(rng, -1, 1) * gains.h + 1, uniform(rng, -1, 1) * gains.s + 1, uniform(rng, -1, 1) * gains.v + 1];
  const lutH = new Uint8Array(256), lutS = new Uint8Array(256), lutV = new Uint8Array(256);
  for (let x = 0; x < 256; x++) {
    lutH[x] = Math.floor(x * r[0]) % 180;
    lutS[x] = Math.min(255, Math.max(0, Math.round(x * r[1])));
    lutV[x] = Math.min(255, Math.max(0, Math.round(x * r[2])));
  }
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) {
    const [h, s, v] = rgbToHsv(d[i], d[i + 1], d[i + 2]);
    const [R, G, B] = hsvToRgb(lutH[h], lutS[s], lutV[v]);
    d[i] = R;
    d[i + 1] = G;
    d[i + 2] = B;
  }
}

/** OpenCV's 8-bit RGB→HSV: H in 0..179, S and V in 0..255. */
function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const v = Math.max(r, g, b), m = Math.min(r, g, b), c = v - m;
  const s = v === 0 ? 0 : Math.round((255 * c) / v);
  let h = 0;
  if (c > 0) {
    if (v === r) h = (60 * (g - b)) / c;
    else if (v === g) h = 120 + (60 * (b - r)) / c;
    else h = 240 + (60 * (r - g)) / c;
    if (h < 0) h += 360;
  }
  return [Math.round(h / 2) % 180, s, v];
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const c = (v * s) / 255, hh = (h * 2) / 60, x = c * (1 - Math.abs((hh % 2) - 1)), m = v - c;
  const [r, g, b] = hh < 1 ? [c, x, 0] : hh < 2 ? [x, c, 0] : hh < 3 ? [0, c, x] : hh < 4 ? [0, x, c] : hh < 5 ? [x, 0, c] : [c, 0, x];
  return [Math.round(r + m), Math.round(g + m), Math.round(b + m)];
}

/** Mirrors the image and its boxes left to right. */
export function flipLeftRight(img: Pixels, boxes: PixelBox[]): PixelBox[] {
  const { width: w, height: h, data } = img;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w >> 1; x++) {
      const a = (y * w + x) * 3, b = (y * w + (w - 1 - x)) * 3;
      for (let k = 0; k < 3; k++) {
        const t = data[a + k];
        data[a + k] = data[b + k];
        data[b + k] = t;
      }
    }
  }
  return boxes.map((b) => ({ cls: b.cls, x1: w - b.x2, y1: b.y1, x2: w - b.x1, y2: b.y2 }));
}
