// Normalisation constants: ImageNet's, or measured from the data.
import { decodeImage } from "./decode.js";
import type { Sample } from "./types.js";

/** torchvision's ImageNet mean and std (RGB, on pixels scaled to [0, 1]). */
export const IMAGENET_NORMALIZE: { mean: number[]; std: number[] } = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** Files are measured at this shorter side: the statistics barely move, decoding gets much cheaper. */
const MEASURE_SIDE = 128;

/**
 * Per-channel mean and std of pixels / 255 over up to `limit` samples (default 1000) taken
 * at even steps through `samples`, so the answer does not depend on a random draw. Every
 * image weighs the same; a constant channel gets std 1 so normalising never divides by 0.
 */
export async function measureNormalization(samples: Sample[], channels: 1 | 3, limit = 1000): Promise<{ mean: number[]; std: number[] }> {
  const count = Math.min(samples.length, limit);
  if (count === 0) throw new Error("measureNormalization: no samples to measure");
  // Each image weighs the same, whatever its resolution: sums of per-image means.
  const meanSum = new Float64Array(channels);
  const squareSum = new Float64Array(channels);
  const imageSum = new Float64Array(channels);
  const imageSquares = new Float64Array(channels);
  for (let i = 0; i < count; i++) {
    const source = samples[Math.floor((i * samples.length) / count)].source;
    const side = source.kind === "file" ? MEASURE_SIDE : undefined;
    const img = await decodeImage(source, channels, side);
    const n = img.width * img.height;
    imageSum.fill(0);
    imageSquares.fill(0);
    for (let p = 0; p < n; p++) {
      const at = p * img.channels;
      for (let c = 0; c < channels; c++) {
        // Pixel sources may differ in channels from the request: gray → RGB repeats, RGB → gray is luma.
        const v = img.channels === channels ? img.data[at + c]
          : img.channels === 1 ? img.data[at]
            : 0.299 * img.data[at] + 0.587 * img.data[at + 1] + 0.114 * img.data[at + 2];
        imageSum[c] += v;
        imageSquares[c] += v * v;
      }
    }
    for (let c = 0; c < channels; c++) {
      meanSum[c] += imageSum[c] / n / 255;
      squareSum[c] += imageSquares[c] / n / 65025;
    }
  }
  const mean = Array.from(meanSum, (s) => s / count);
  const std = Array.from(squareSum, (s, c) => Math.sqrt(Math.max(0, s / count - mean[c] * mean[c])));
  return { mean, std: std.map((s) => (s > 0 ? s : 1)) };
}
