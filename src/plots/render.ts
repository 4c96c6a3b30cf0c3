// SVG to PNG through sharp (librsvg inside): the one rasteriser kiln already
// ships, so the dashboard's SVG and the run's PNG are the same drawing.
import sharp from "sharp";

/** Rasterises an SVG document at its own size (72 dpi: one SVG unit, one pixel). */
export async function svgToPng(svg: string): Promise<Buffer> {
  // a low zlib level: these files are rewritten every epoch, and plots compress well anyway
  return sharp(Buffer.from(svg)).png({ compressionLevel: 3, adaptiveFiltering: false }).toBuffer();
}
