// Axis ticks at "nice" numbers (1, 2 or 5 times a power of ten) whose range
// covers the data, and labels with just enough digits to tell them apart.

export interface Ticks {
  /** The axis range: the first and last tick, which enclose the data. */
  min: number;
  max: number;
  step: number;
  values: number[];
  labels: string[];
}

// A float-noise-free multiple of the step (0.1 * 3 is 0.30000000000000004).
const clean = (v: number): number => (v === 0 ? 0 : parseFloat(v.toPrecision(12)));

function niceStep(raw: number, integer: boolean): number {
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  return integer ? Math.max(1, Math.round(step)) : clean(step);
}

/** Short labels: fixed notation for ordinary magnitudes, exponent form for tiny or huge ones. */
export function tickLabels(values: readonly number[], step: number): string[] {
  const biggest = Math.max(...values.map(Math.abs));
  if (step >= 1e-3 && biggest < 1e6) {
    const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return values.map((v) => (v === 0 ? "0" : v.toFixed(decimals)));
  }
  // fewest mantissa digits that keep the labels distinct
  for (let digits = 0; digits < 6; digits++) {
    const labels = values.map((v) => (v === 0 ? "0" : v.toExponential(digits)));
    if (new Set(labels).size === labels.length) return labels;
  }
  return values.map((v) => (v === 0 ? "0" : v.toExponential(6)));
}

/**
 * About `target` ticks covering [lo, hi]. Non-finite bounds fall back to
 * [0, 1]; an empty range is widened so a constant series sits mid-axis.
 * `integer` keeps steps whole (epochs).
 */
export function niceTicks(lo: number, hi: number, target = 5, integer = false): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    const pad = integer ? 1 : Math.abs(lo) * 0.1 || 1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const step = niceStep((hi - lo) / Math.max(1, target), integer);
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const values: number[] = [];
  for (let k = first; k <= last; k++) values.push(clean(k * step));
  return { min: values[0], max: values[values.length - 1], step, values, labels: tickLabels(values, step) };
}
