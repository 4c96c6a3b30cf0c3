// The real Ultralytics checkpoint in ../shared/data (best.pt, its four images,
// its own raw outputs and predictions), shared by the import and export tests.
import { fileURLToPath } from "node:url";
import sharp from "sharp";

/** ../shared/data/ultralytics-yolov8n-rects beside the checkout (the compiled helper runs from dist/test/helpers/). */
export const ULTRA = fileURLToPath(new URL("../../../../shared/data/ultralytics-yolov8n-rects", import.meta.url));

/** An image as the checkpoint's raw outputs were made from it: RGB planes scaled to [0, 1], no letterbox (the images are 320x320). */
export async function imageTensor(path: string): Promise<Float32Array> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const hw = info.width * info.height;
  const x = new Float32Array(3 * hw);
  for (let i = 0; i < hw; i++) for (let c = 0; c < 3; c++) x[c * hw + i] = data[i * 3 + c] / 255;
  return x;
}
