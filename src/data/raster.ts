// A tiny rasteriser for the synthetic dataset: textured backgrounds and filled shapes
// drawn into an RGB (HWC) Uint8Array, anti-aliased by 4 samples per pixel.
import type { Rng } from "../engine/rng.js";

export type Rgb = [number, number, number];

/** A shape as an inside test in its own frame: u right, v down, the shape within about |u|,|v| ≤ 1. */
export interface ShapeDef {
  name: string;
  inside(u: number, v: number): boolean;
  /** Largest rotation drawn, in radians: small where a turn would make the shape look like another class. */
  maxRotation: number;
}

const DEG = Math.PI / 180;
const bands = (t: number): boolean => t > -0.9 && t < 0.9 && Math.floor((t + 0.9) / 0.36) % 2 === 0;

export const SHAPES: readonly ShapeDef[] = [
  { name: "circle", maxRotation: 0, inside: (u, v) => u * u + v * v < 0.64 },
  { name: "square", maxRotation: 20 * DEG, inside: (u, v) => Math.abs(u) < 0.7 && Math.abs(v) < 0.7 },
  // Equilateral, apex up, circumradius 1: below the apex's two edges and above the base.
  { name: "triangle", maxRotation: 30 * DEG, inside: (u, v) => v < 0.5 && Math.abs(u) < 0.577 * (v + 1) },
  {
    name: "star", maxRotation: 180 * DEG, inside: (u, v) => {
      const r = Math.sqrt(u * u + v * v);
      const t = ((Math.atan2(v, u) + Math.PI / 2) / (0.4 * Math.PI)) % 1;
      const tip = Math.abs((t < 0 ? t + 1 : t) - 0.5) * 2; // 1 at a point, 0 between two
      return r < 0.38 + 0.62 * tip * tip;
    },
  },
  {
    name: "cross", maxRotation: 20 * DEG,
    inside: (u, v) => (Math.abs(u) < 0.28 && Math.abs(v) < 0.9) || (Math.abs(v) < 0.28 && Math.abs(u) < 0.9),
  },
  { name: "ring", maxRotation: 0, inside: (u, v) => { const r2 = u * u + v * v; return r2 > 0.3 && r2 < 0.81; } },
  { name: "horizontal_bars", maxRotation: 15 * DEG, inside: (u, v) => Math.abs(u) < 0.9 && bands(v) },
  { name: "vertical_bars", maxRotation: 15 * DEG, inside: (u, v) => Math.abs(v) < 0.9 && bands(u) },
  { name: "diamond", maxRotation: 15 * DEG, inside: (u, v) => Math.abs(u) / 0.55 + Math.abs(v) / 0.95 < 1 },
  { name: "ellipse", maxRotation: 25 * DEG, inside: (u, v) => (u / 0.95) ** 2 + (v / 0.45) ** 2 < 1 },
];

export const luma = (c: Rgb): number => 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];

const clampByte = (x: number): number => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));

export function randomColour(rng: Rng): Rgb {
  return [Math.floor(rng.uniform() * 256), Math.floor(rng.uniform() * 256), Math.floor(rng.uniform() * 256)];
}

/** A colour near `c`: textures stay low-contrast so the shape remains the thing to see. */
function nearColour(c: Rgb, spread: number, rng: Rng): Rgb {
  return c.map((x) => clampByte(x + (rng.uniform() * 2 - 1) * spread)) as Rgb;
}

/** Fills the image with noise, a gradient or stripes around `base`. */
export function fillBackground(pixels: Uint8Array, size: number, base: Rgb, rng: Rng): void {
  const kind = Math.floor(rng.uniform() * 3);
  const other = nearColour(base, 35, rng);
  const angle = rng.uniform() * Math.PI;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const period = 4 + rng.uniform() * 8;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 3;
      const along = x * cos + y * sin;
      // t in [0, 1] chooses between base and other.
      const t = kind === 0 ? rng.uniform() : kind === 1 ? along / (size * 1.42) + 0.5 : Math.floor(along / period) % 2 === 0 ? 0 : 1;
      for (let c = 0; c < 3; c++) pixels[o + c] = clampByte(base[c] + (other[c] - base[c]) * Math.min(1, Math.abs(t)));
    }
  }
}

const SUBSAMPLES = [-0.25, 0.25];

/** Draws a shape centred at (cx, cy), `radius` pixels to its unit edge, turned by `angle`. */
export function drawShape(
  pixels: Uint8Array, size: number, shape: ShapeDef, cx: number, cy: number, radius: number, angle: number, colour: Rgb,
): void {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const reach = radius * 1.05;
  const x0 = Math.max(0, Math.floor(cx - reach));
  const x1 = Math.min(size - 1, Math.ceil(cx + reach));
  const y0 = Math.max(0, Math.floor(cy - reach));
  const y1 = Math.min(size - 1, Math.ceil(cy + reach));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let hits = 0;
      for (const sy of SUBSAMPLES) {
        for (const sx of SUBSAMPLES) {
          const dx = x + 0.5 + sx - cx;
          const dy = y + 0.5 + sy - cy;
          if (shape.inside((dx * cos + dy * sin) / radius, (dy * cos - dx * sin) / radius)) hits++;
        }
      }
      if (hits === 0) continue;
      const a = hits / 4;
      const o = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) pixels[o + c] = clampByte(pixels[o + c] * (1 - a) + colour[c] * a);
    }
  }
}

/** Adds uniform noise of ±`amount` to every byte. */
export function addNoise(pixels: Uint8Array, amount: number, rng: Rng): void {
  for (let i = 0; i < pixels.length; i++) pixels[i] = clampByte(pixels[i] + (rng.uniform() * 2 - 1) * amount);
}
