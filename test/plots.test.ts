// Plots: the SVG is read back (texts, ticks, escaping) and the PNG decoded with sharp (size, not
// blank, heatmap colours that darken with the value).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import {
  confusionSvg, heatmapLayout, niceTicks, resultsSvg, svgToPng, tickLabels, writeConfusionPlot, writeResultsPlot,
  type PanelSpec,
} from "../src/plots/index.js";
import { el, escapeXml, text } from "../src/plots/svg.js";
import { encodePngRgb } from "../src/plots/png.js";

interface TextEl { cls: string | null; content: string }

const unescape = (s: string): string =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");

/** Every <text> element: its class and unescaped content (kiln's text elements hold only text). */
function texts(svg: string): TextEl[] {
  return [...svg.matchAll(/<text([^>]*)>([^<]*)<\/text>/g)].map((m) => ({
    cls: /class="([^"]*)"/.exec(m[1])?.[1] ?? null,
    content: unescape(m[2]),
  }));
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-plots-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function decode(png: Buffer | string): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function variance(data: Buffer): number {
  let sum = 0;
  let sq = 0;
  for (const v of data) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / data.length;
  return sq / data.length - mean * mean;
}

/** A training history: 12 epochs, val measured every other epoch (NaN gaps), a few lr groups. */
function history(epochs = 12): Record<string, number>[] {
  return Array.from({ length: epochs }, (_, i) => {
    const e = i + 1;
    return {
      epoch: e,
      time: 3 * e,
      "train/loss": 2.3 / e,
      "val/loss": e % 2 ? NaN : 2.5 / e,
      "train/acc": 1 - 0.9 / e,
      "val/acc": e % 2 ? NaN : 1 - 1 / e,
      "val/top5": e % 2 ? NaN : 1 - 0.2 / e,
      "val/f1": e % 2 ? NaN : 0.9 - 0.8 / e,
      "lr/pg0": 0.01 * (1 - i / epochs),
      "lr/pg1": 0.01 * (1 - i / epochs),
    };
  });
}

test("niceTicks: steps of 1, 2 or 5 × 10^k, covering the data, about the asked count", () => {
  const cases: [number, number][] = [[0, 1], [0.013, 0.987], [-3.2, 7.9], [1, 300], [2.05, 2.31], [1e-5, 3e-4], [1234, 98765], [-1, -1], [5, 5]];
  for (const [lo, hi] of cases) {
    const t = niceTicks(lo, hi, 5);
    const mantissa = t.step / 10 ** Math.floor(Math.log10(t.step) + 1e-9);
    assert.ok([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9), `[${lo}, ${hi}]: step ${t.step}`);
    assert.ok(t.min <= lo && t.max >= hi, `[${lo}, ${hi}]: ticks ${t.values.join(" ")} must cover the data`);
    if (lo < hi) assert.ok(t.min > lo - t.step && t.max < hi + t.step, `[${lo}, ${hi}]: no empty tick interval beyond the data`);
    else assert.ok(t.min < lo && t.max > hi, `[${lo}, ${hi}]: a constant sits inside the axis`);
    assert.ok(t.values.length >= 2 && t.values.length <= 12, `[${lo}, ${hi}]: ${t.values.length} ticks`);
    t.values.forEach((v, i) => {
      assert.ok(Math.abs(v / t.step - Math.round(v / t.step)) < 1e-9, `${v} is a multiple of ${t.step}`);
      if (i > 0) assert.ok(Math.abs(v - t.values[i - 1] - t.step) < t.step * 1e-9);
    });
    assert.equal(new Set(t.labels).size, t.labels.length, `[${lo}, ${hi}]: distinct labels ${t.labels.join(" ")}`);
  }
  assert.deepEqual(niceTicks(0, 1, 5).labels, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
  assert.deepEqual(niceTicks(0.1, 0.3, 2).values, [0.1, 0.2, 0.3]); // no 0.30000000000000004
  assert.deepEqual(niceTicks(1, 3, 10, true).values, [1, 2, 3]); // integer steps for epochs
  assert.deepEqual(niceTicks(NaN, Infinity).values.at(-1), 1);
  assert.deepEqual(tickLabels([0, 1e-4, 2e-4], 1e-4), ["0", "1e-4", "2e-4"]);
});

test("results SVG: panel titles, axis labels, legend entries, ticks covering each panel's data", () => {
  const rows = history();
  const svg = resultsSvg(rows);
  assert.ok(svg);
  const all = texts(svg);
  const contents = all.map((t) => t.content);
  for (const title of ["Loss", "Accuracy", "F1", "Learning rate"]) assert.ok(contents.includes(title), title);
  for (const label of ["epoch", "loss", "accuracy", "macro F1", "learning rate"]) assert.ok(contents.includes(label), label);
  const legend = all.filter((t) => t.cls === "legend").map((t) => t.content);
  assert.deepEqual(legend, ["train/loss", "val/loss", "train/acc", "val/acc", "val/top5", "val/f1", "lr/pg0", "lr/pg1"]);
  assert.ok(!contents.includes("time"), "columns in no panel are not drawn");

  // y tick labels come panel by panel; the loss panel's must cover every finite loss value
  const yTicks = all.filter((t) => t.cls === "tick-y").map((t) => Number(t.content));
  assert.ok(yTicks.every(Number.isFinite));
  const losses = rows.flatMap((r) => [r["train/loss"], r["val/loss"]]).filter(Number.isFinite);
  const lossTicks = yTicks.slice(0, yTicks.findIndex((v, i) => i > 0 && v < yTicks[i - 1]));
  assert.ok(lossTicks[0] <= Math.min(...losses) && lossTicks.at(-1)! >= Math.max(...losses), `loss ticks ${lossTicks.join(" ")}`);
  const xTicks = all.filter((t) => t.cls === "tick-x").map((t) => Number(t.content));
  assert.ok(xTicks.every(Number.isInteger), "epochs are whole");
  assert.ok(xTicks[0] <= 1 && Math.max(...xTicks) >= 12);
});

test("results SVG: NaN breaks a line; panels with no data are skipped; a spec can add panels", () => {
  const rows = history(6).map((r, i) => ({ ...r, "train/loss": i === 2 ? NaN : r["train/loss"] }));
  const svg = resultsSvg(rows)!;
  const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);
  assert.equal((paths[0].match(/M/g) ?? []).length, 2, "train/loss has a gap at epoch 3");

  const noF1 = resultsSvg(history().map((r) => ({ epoch: r.epoch, "train/loss": r["train/loss"], "val/f1": NaN })))!;
  const titles = texts(noF1).map((t) => t.content);
  assert.ok(titles.includes("Loss") && !titles.includes("F1") && !titles.includes("Accuracy"));
  assert.equal(resultsSvg([{ epoch: 1, time: 3 }]), null);

  const detect: PanelSpec[] = [{ title: "mAP", yLabel: "mAP", keys: ["val/mAP50", "val/mAP50-95"] }];
  const det = resultsSvg([{ epoch: 1, "val/mAP50": 0.2, "val/mAP50-95": 0.1 }, { epoch: 2, "val/mAP50": 0.3, "val/mAP50-95": 0.15 }], detect)!;
  assert.deepEqual(texts(det).filter((t) => t.cls === "legend").map((t) => t.content), ["val/mAP50", "val/mAP50-95"]);
});

test("writeResultsPlot: a PNG of the SVG's size, not blank, written without leftovers", async (t) => {
  const dir = tempDir(t);
  assert.equal(await writeResultsPlot(dir, history()), true);
  assert.deepEqual(readdirSync(dir), ["results.png"]);
  const img = await decode(join(dir, "results.png"));
  const svg = resultsSvg(history())!;
  const [, w, h] = /width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
  assert.equal(img.width, w);
  assert.equal(img.height, h);
  assert.ok(variance(img.data) > 100, "the image has content");
  const empty = tempDir(t);
  assert.equal(await writeResultsPlot(empty, []), false);
  assert.deepEqual(readdirSync(empty), []);
});

test("text is escaped: a class named <a&b> stays text and the SVG still renders", async (t) => {
  assert.equal(escapeXml(`<a&b> "q" 'a'`), "&lt;a&amp;b&gt; &quot;q&quot; &apos;a&apos;");
  assert.equal(text(1, 2, "<x>", { class: 'a"b' }), '<text x="1" y="2" class="a&quot;b">&lt;x&gt;</text>');
  assert.equal(el("g", {}, el("rect", { width: 1.234 })), '<g><rect width="1.23"/></g>');

  const classes = ["<a&b>", "cat", "dog"];
  const svg = confusionSvg(classes, [[1, 2, 0], [0, 3, 1], [2, 0, 4]]);
  assert.ok(!svg.includes("<a&b>"));
  assert.ok(svg.includes("&lt;a&amp;b&gt;"));
  const labels = texts(svg).filter((x) => x.cls === "row-label" || x.cls === "col-label").map((x) => x.content);
  assert.equal(labels.filter((l) => l === "<a&b>").length, 4, "both axes of both panels");
  const dir = tempDir(t);
  await writeConfusionPlot(dir, classes, [[1, 2, 0], [0, 3, 1], [2, 0, 4]]);
  const img = await decode(join(dir, "confusion_matrix.png"));
  assert.ok(variance(img.data) > 100);
});

test("confusion plot: titles, axis labels, cell values, and cell colours darker for larger values", async (t) => {
  const classes = ["a", "b", "c", "d"];
  const matrix = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]];
  const svg = confusionSvg(classes, matrix);
  const all = texts(svg).map((x) => x.content);
  for (const s of ["Confusion matrix (counts)", "Confusion matrix (normalised)", "Predicted", "True"]) assert.ok(all.includes(s), s);
  const cells = texts(svg).filter((x) => x.cls === "cell").map((x) => x.content);
  assert.deepEqual(cells.slice(0, 16), matrix.flat().map(String), "counts in the cells, row by row");
  assert.equal(cells[16 + 15], (15 / 54).toFixed(2), "row-normalised values in the second panel");

  const dir = tempDir(t);
  await writeConfusionPlot(dir, classes, matrix);
  const img = await decode(join(dir, "confusion_matrix.png"));
  const [, w, h] = /width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
  assert.deepEqual([img.width, img.height], [w, h]);
  // sample each cell of the counts panel near its top-left corner, away from the value text
  const L = heatmapLayout(4, 4, classes, true);
  const lum: number[] = [];
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      const x = Math.round(L.left) + Math.floor((c + 0.15) * L.cell);
      const y = Math.round(L.top) + Math.floor((r + 0.15) * L.cell);
      const i = (y * img.width + x) * img.channels;
      lum.push(0.2126 * img.data[i] + 0.7152 * img.data[i + 1] + 0.0722 * img.data[i + 2]);
    }
  }
  for (let v = 1; v < 16; v++) assert.ok(lum[v] < lum[v - 1], `value ${v} (${lum[v]}) darker than ${v - 1} (${lum[v - 1]})`);
  assert.ok(lum[0] > 240, "zero is near white");
});

test("confusion plot with 100 long class names: labels thinned and shortened, PNG decodes", async () => {
  const classes = Array.from({ length: 100 }, (_, i) => `a_rather_long_class_name_${i}`);
  const matrix = classes.map((_, r) => classes.map((_, c) => (r === c ? 40 : (r * 7 + c) % 3)));
  const svg = confusionSvg(classes, matrix);
  const rowLabels = texts(svg).filter((x) => x.cls === "row-label").map((x) => x.content);
  assert.ok(rowLabels.length > 0 && rowLabels.length <= 200);
  assert.ok(rowLabels.every((l) => l.length <= 16 && l.endsWith("…")));
  assert.equal(texts(svg).filter((x) => x.cls === "cell").length, 0, "no values in 7-pixel cells");
  const img = await decode(await svgToPng(svg));
  assert.ok(img.width > 1000 && img.width < 2500, `width ${img.width}`);
  assert.ok(variance(img.data) > 100);
});

test("the PNG encoder's pixels decode back unchanged", async () => {
  const rgb = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 37) % 256);
  const img = await decode(encodePngRgb(5, 3, rgb));
  assert.deepEqual([img.width, img.height, img.channels], [5, 3, 3]);
  assert.deepEqual([...img.data], [...rgb]);
});

test("confusionSvg refuses a matrix that does not match the classes", () => {
  assert.throws(() => confusionSvg(["a", "b"], [[1, 2]]), /2×2/);
});
