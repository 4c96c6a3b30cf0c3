// HSV jitter as Ultralytics' augment_hsv: random gains r = uniform(-1, 1)·[h, s, v] + 1, applied
// through 256-entry lookup tables to OpenCV's 8-bit HSV (hue 0..179, saturation and value
// 0..255) and converted back. The conversions follow OpenCV's RGB2HSV_b / HSV2RGB_b so the
// colours match a cv2 pipeline's. Geometry is untouched: boxes never change here.
import type { Rng } from "../../engine/rng.js";

export type HsvGains = [number, number, number];

/** Three draws, always, so the generator's position does not depend on the options. */
export function hsvGains(opts: { hsv_h: number; hsv_s: number; hsv_v: number }, rng: Rng): HsvGains {
  return [opts.hsv_h, opts.hsv_s, opts.hsv_v].map((g) => (rng.uniform() * 2 - 1) * g + 1) as HsvGains;
}

const SHIFT = 12;
const HALF = 1 << (SHIFT - 1);
// OpenCV's fixed-point reciprocals: saturation 255/v and hue 180/(6·diff), scaled by 2^12.
const SDIV = Int32Array.from({ length: 256 }, (_, i) => (i === 0 ? 0 : Math.round((255 << SHIFT) / i)));
const HDIV = Int32Array.from({ length: 256 }, (_, i) => (i === 0 ? 0 : Math.round((180 << SHIFT) / (6 * i))));
// Which of [v, v(1-s), v(1-s·f), v(1-s(1-f))] is r, g, b in each sixth of the hue circle.
const SECTORS = [[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]];

/** Applies the gains to RGB HWC bytes in place. Gains of exactly 1 leave the pixels as they are (no round trip). */
export function augmentHsv(pixels: Uint8Array, count: number, gains: HsvGains): void {
  const [gh, gs, gv] = gains;
  if (gh === 1 && gs === 1 && gv === 1) return;
  const lutH = new Uint8Array(256);
  const lutS = new Uint8Array(256);
  const lutV = new Uint8Array(256);
  for (let x = 0; x < 256; x++) {
    lutH[x] = Math.trunc((((x * gh) % 180) + 180) % 180);
    lutS[x] = Math.trunc(Math.min(255, Math.max(0, x * gs)));
    lutV[x] = Math.trunc(Math.min(255, Math.max(0, x * gv)));
  }
  const tab = new Float64Array(4);
  for (let i = 0, o = 0; i < count; i++, o += 3) {
    const r = pixels[o];
    const g = pixels[o + 1];
    const b = pixels[o + 2];
    // RGB → HSV (OpenCV RGB2HSV_b, integer arithmetic).
    const v = Math.max(r, g, b);
    const diff = v - Math.min(r, g, b);
    const s = (diff * SDIV[v] + HALF) >> SHIFT;
    let h = v === r ? g - b : v === g ? b - r + 2 * diff : r - g + 4 * diff;
    h = (h * HDIV[diff] + HALF) >> SHIFT;
    if (h < 0) h += 180;
    // The lookup tables, then HSV → RGB (OpenCV HSV2RGB_b: float, rounded to bytes).
    const hh = lutH[h];
    const ss = lutS[s] / 255;
    const vv = lutV[v] / 255;
    if (ss === 0) {
      pixels[o] = pixels[o + 1] = pixels[o + 2] = Math.round(vv * 255);
      continue;
    }
    let hf = hh * (6 / 180);
    if (hf >= 6) hf -= 6;
    const sector = Math.floor(hf);
    const f = hf - sector;
    tab[0] = vv;
    tab[1] = vv * (1 - ss);
    tab[2] = vv * (1 - ss * f);
    tab[3] = vv * (1 - ss * (1 - f));
    const pick = SECTORS[sector];
    pixels[o] = Math.round(tab[pick[0]] * 255);
    pixels[o + 1] = Math.round(tab[pick[1]] * 255);
    pixels[o + 2] = Math.round(tab[pick[2]] * 255);
  }
}
