// numpy's interp and Ultralytics' smooth, for the confidence curves.

/**
 * np.interp(x, xp, fp, left, right) for a non-decreasing xp: between xp[j]
 * <= x < xp[j+1] (j the last of equal values) a straight line; at or past
 * the last point fp's last value; before the first, `left`.
 */
export function interp(x: number, xp: ArrayLike<number>, fp: ArrayLike<number>, left: number, right = fp[fp.length - 1]): number {
  const n = xp.length;
  if (x < xp[0]) return left;
  if (x > xp[n - 1]) return right;
  let lo = 0; // xp[lo] <= x
  let hi = n - 1;
  if (xp[hi] <= x) return fp[hi];
  while (hi - lo > 1) { // invariant: xp[lo] <= x < xp[hi]
    const mid = (lo + hi) >> 1;
    if (xp[mid] <= x) lo = mid;
    else hi = mid;
  }
  if (xp[lo] === x) return fp[lo];
  const slope = (fp[lo + 1] - fp[lo]) / (xp[lo + 1] - xp[lo]);
  return slope * (x - xp[lo]) + fp[lo];
}

/** Ultralytics' smooth(y, f): a box filter of about 2f of the length, padded with the end values. */
export function smooth(y: ArrayLike<number>, f = 0.05): Float64Array {
  const n = y.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const nf = Math.floor(Math.round(n * f * 2) / 2) + 1; // odd
  const half = Math.floor(nf / 2);
  const at = (i: number): number => y[Math.min(n - 1, Math.max(0, i))];
  const w = 1 / nf;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = i - half; j <= i + half; j++) s += at(j) * w;
    out[i] = s;
  }
  return out;
}

/** Index of the first largest value. */
export function argmax(y: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < y.length; i++) if (y[i] > y[best]) best = i;
  return best;
}
