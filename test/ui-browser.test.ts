// kiln ui end to end in a real browser: a training runs in the background
// while its run page is open; the curves gain points without a reload, the
// page ends on the run's final metrics; then two runs are compared with the
// verdict kiln compare gives. Screenshots are kept in the test's scratch folder.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { compareMetrics } from "../src/compare/compare.js";
import { verdictLine } from "../src/compare/format.js";
import { loadMetrics } from "../src/compare/load.js";
import { startUiServer, type UiServer } from "../src/ui/server.js";
import sharp from "sharp";
import { EventFileWriter } from "../src/track/tensorboard/event-writer.js";
import { scalarsEvent } from "../src/track/tensorboard/event.js";
import { KILN_BIN, scratchDir } from "./helpers/kiln-cli.js";
import { launchChromium } from "./helpers/ui-browser.js";
import { writeFixtureRun } from "./helpers/ui-fixtures.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const attr = (page: Page, selector: string, name: string): Promise<string | null> =>
  page.evaluate(([s, n]) => document.querySelector(s)?.getAttribute(n) ?? null, [selector, name] as const);

describe("kiln ui in chromium", { timeout: 600_000 }, () => {
  let dir: string;
  let browser: Browser;
  let server: UiServer | null = null;

  before(async () => {
    dir = scratchDir("kiln-ui-browser-");
    browser = await launchChromium();
  });
  after(async () => {
    await browser.close();
    await server?.close();
  });

  it("shows a run live while it trains, then its final metrics; compares two runs", async () => {
    const env = { ...process.env, CI: "1" };
    const child = spawn(process.execPath, [KILN_BIN, "train", "epochs=4", "--yes"], { cwd: dir, env });
    let output = "";
    child.stdout.on("data", (d: Buffer) => { output += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    const run = join(dir, "runs", "classify", "train");
    while (!existsSync(join(run, "args.yaml"))) {
      assert.equal(child.exitCode, null, `training ended before it started: ${output}`);
      await sleep(100);
    }
    server = await startUiServer({ logdir: join(dir, "runs"), port: 0 });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${server.url}#/run/${encodeURIComponent("classify/train")}`);
    await page.waitForSelector("#chart-steps");
    await page.evaluate(() => { (window as unknown as { kilnMarker: number }).kilnMarker = 42; });
    // A second tab on the runs list, watching the same run progress there.
    const listPage = await browser.newPage({ viewport: { width: 1400, height: 700 } });
    listPage.on("pageerror", (e) => errors.push(e.message));
    await listPage.goto(`${server.url}#/`);
    const listEpochs = listPage.locator('#runs-body tr[data-run="classify/train"] td[data-col="epochs"]');
    await listEpochs.waitFor();

    // While it trains: sample what the page shows, as a person watching would.
    const seen: { status: string | null; steps: number; epochs: number; listed: string | null }[] = [];
    let code: number | null | undefined;
    void exited.then((c) => { code = c; });
    while (code === undefined) {
      seen.push({
        status: await attr(page, "#run-status", "data-status"),
        steps: Number(await attr(page, "#chart-steps", "data-points") ?? 0),
        epochs: Number(await attr(page, "#chart-epoch-0", "data-points") ?? 0),
        listed: await listEpochs.textContent(),
      });
      await sleep(250);
    }
    assert.equal(code, 0, output);
    const running = seen.filter((s) => s.status === "running");
    const stepCounts = [...new Set(running.map((s) => s.steps))];
    const epochCounts = [...new Set(running.map((s) => s.epochs))];
    assert.ok(stepCounts.length >= 3, `the step loss curve grew while running: ${JSON.stringify(stepCounts)}`);
    assert.ok(epochCounts.filter((n) => n > 0).length >= 2, `the epoch curves grew while running: ${JSON.stringify(epochCounts)}`);
    for (let i = 1; i < running.length; i++) assert.ok(running[i].steps >= running[i - 1].steps, "points are only ever added");
    const listed = [...new Set(running.map((s) => s.listed))];
    assert.ok(listed.length >= 2 && listed.every((t) => /^\d\/4$/.test(t ?? "")), `the runs list showed the epochs advance: ${JSON.stringify(listed)}`);
    await listPage.waitForFunction(() => document.querySelector('#runs-body tr[data-run="classify/train"] td[data-col="epochs"]')?.textContent === "4/4", null, { timeout: 30_000 });
    await listPage.waitForFunction(() => document.querySelector('#runs-body tr[data-run="classify/train"] .badge')?.textContent === "finished", null, { timeout: 30_000 });
    await listPage.close();

    // Finished: the status, every point, and the final metrics of metrics.json.
    const batches = /(\d+) epochs × (\d+) batches/.exec(output);
    assert.ok(batches, output);
    await page.waitForFunction(() => document.querySelector("#run-status")?.getAttribute("data-status") === "finished", null, { timeout: 30_000 });
    await page.waitForFunction((n) => document.querySelector("#chart-epoch-0")?.getAttribute("data-points") === String(n), 4, { timeout: 30_000 });
    await page.waitForFunction((n) => document.querySelector("#chart-steps")?.getAttribute("data-points") === String(n), Number(batches[1]) * Number(batches[2]), { timeout: 30_000 });
    const metrics = JSON.parse(readFileSync(join(run, "metrics.json"), "utf8")) as { val: { accuracy: number; loss: number }; best_epoch: number };
    await page.waitForFunction((v) => document.querySelector('[data-metric="accuracy"]')?.textContent === v, metrics.val.accuracy.toFixed(4), { timeout: 30_000 });
    assert.equal(await page.textContent('[data-metric="loss"]'), metrics.val.loss.toFixed(4));
    assert.equal(await page.textContent('[data-metric="best_epoch"]'), String(metrics.best_epoch));
    assert.equal(await page.locator("#epoch-table tbody tr").count(), 4);
    assert.equal(await page.locator("#confusion-matrix tbody tr").count(), 10);
    assert.equal(await page.evaluate(() => (window as unknown as { kilnMarker?: number }).kilnMarker), 42, "the page was updated in place, never reloaded");
    const runShot = join(dir, "ui-run.png");
    await page.screenshot({ path: runShot, fullPage: true });

    // A second, different run; select both on the runs page and compare.
    const second = spawnSync(process.execPath, [KILN_BIN, "train", "epochs=2", "fraction=0.5", "seed=1", "--yes"], { cwd: dir, env, encoding: "utf8" });
    assert.equal(second.status, 0, second.stdout + second.stderr);
    await page.goto(`${server.url}#/`);
    await page.waitForFunction(() => document.querySelectorAll("#runs-body tr").length === 2, null, { timeout: 30_000 });
    const runsShot = join(dir, "ui-runs.png");
    await page.screenshot({ path: runsShot, fullPage: true });
    // Sorting and filtering: newest first by default; by name A→Z on a click; a filter keeps what matches.
    const order = (): Promise<(string | null)[]> => page.locator("#runs-body tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-run")));
    assert.deepEqual(await order(), ["classify/train2", "classify/train"]);
    await page.click('th[data-sort="name"]');
    assert.deepEqual(await order(), ["classify/train", "classify/train2"]);
    await page.fill("#filter-text", "train2");
    assert.deepEqual(await order(), ["classify/train2"]);
    await page.fill("#filter-text", "");
    await page.check('[data-select="classify/train"]');
    await page.check('[data-select="classify/train2"]');
    await page.click("#compare-selected");
    const verdict = page.locator('.verdict[data-run="classify/train2"]');
    await verdict.waitFor({ timeout: 30_000 });
    const expected = compareMetrics(loadMetrics(join(dir, "runs", "classify", "train2")), loadMetrics(run));
    assert.equal(await verdict.textContent(), verdictLine(expected));
    assert.equal(await verdict.getAttribute("data-verdict"), expected.verdict);
    await page.waitForFunction(() => Number(document.querySelector("#compare-chart-0")?.getAttribute("data-points")) === 4, null, { timeout: 30_000 });
    // The other run as the baseline: the verdict turns around, as kiln compare's would.
    await page.selectOption("#baseline-select", "classify/train2");
    const reversed = compareMetrics(loadMetrics(run), loadMetrics(join(dir, "runs", "classify", "train2")));
    await page.waitForFunction((text) => document.querySelector('.verdict[data-run="classify/train"]')?.textContent === text, verdictLine(reversed), { timeout: 30_000 });
    const compareShot = join(dir, "ui-compare.png");
    await page.screenshot({ path: compareShot, fullPage: true });
    assert.deepEqual(errors, []);
    console.log(`screenshots: ${runShot} ${runsShot} ${compareShot}`);
  });

  it("shows a detection run's per-class AP, curves and mosaics, and a 50,000-step loss curve", async () => {
    const logdir = join(scratchDir("kiln-ui-detect-"), "runs");
    const run = writeFixtureRun(logdir, { task: "detect", name: "train", status: "finished", bestEpoch: 1,
      rows: [[1, 6, 4.6, 4.5, 4.4, 0.1, 0.2, 0.3, 0.15, 5.3, 4.5, 4.1, 0.0001]] });
    for (const name of ["BoxPR_curve.png", "BoxF1_curve.png", "val_batch0_labels.jpg", "val_batch0_pred.jpg"]) {
      await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 80, b: 20 } } }).toFile(join(run, name));
    }
    const writer = new EventFileWriter(run, { maxPendingBytes: 1 << 20 });
    for (let step = 1; step <= 50_000; step++) writer.write(scalarsEvent(step, step, { "train/batch_loss": 5 / Math.sqrt(step) }));
    writer.close();
    const detectServer = await startUiServer({ logdir, port: 0 });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${detectServer.url}#/run/${encodeURIComponent("detect/train")}`);
      await page.waitForSelector("#per-class-ap");
      assert.deepEqual(await page.locator("#per-class-ap tbody tr td").allTextContents(), ["circle", "3", "4", "0.5000", "0.2500", "0.4000", "0.2000"]);
      assert.equal(await page.textContent('[data-metric="mAP50-95"]'), "0.1500");
      assert.equal(await attr(page, "#chart-steps", "data-points"), "50000");
      // The images are served and decoded (CSP and /files allow them).
      await page.waitForFunction(() => [...document.querySelectorAll("#plots img, #mosaics img")].every((i) => (i as HTMLImageElement).complete), null, { timeout: 30_000 });
      const widths = await page.evaluate(() => [...document.querySelectorAll("#plots img, #mosaics img")].map((i) => [i.getAttribute("alt"), (i as HTMLImageElement).naturalWidth]));
      assert.deepEqual(widths, [["BoxF1_curve.png", 64], ["BoxPR_curve.png", 64], ["val_batch0_labels.jpg", 64], ["val_batch0_pred.jpg", 64]]);
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await detectServer.close();
    }
  });
});
