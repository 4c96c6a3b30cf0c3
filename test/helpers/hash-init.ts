// The parameter initialisation the training fixtures use instead of storing
// initial weights (see test/fixtures/generate.py): a counter-based hash that
// Python and TypeScript compute bit for bit alike.

/** MurmurHash3's 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** p_i = float32(lo + (hi − lo) · u_i), u_i = (fmix32(i·0x9E3779B9 + seed) >>> 8) / 2^24. */
export function hashUniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = (fmix32((Math.imul(i, 0x9e3779b9) + seed) >>> 0) >>> 8) / 2 ** 24;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}
