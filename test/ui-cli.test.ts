// `kiln ui` as a user starts it: the URL it prints serves the page; a
// non-loopback --host warns; bad options name the fix.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { describe, it } from "node:test";
import { KILN_BIN, runKiln, scratchDir } from "./helpers/kiln-cli.js";

function startUi(args: string[], cwd: string): Promise<{ url: string; stderr: () => string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [KILN_BIN, "ui", ...args], { cwd });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], stderr: () => err, stop: () => new Promise((done) => { child.on("close", (code) => done(code)); child.kill("SIGINT"); }) });
    });
    child.on("close", (code) => reject(new Error(`kiln ui exited ${code}: ${out}${err}`)));
  });
}

const fetchText = (url: string): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
  get(url, (res) => {
    let body = "";
    res.on("data", (d: Buffer) => { body += d.toString(); });
    res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
  }).on("error", reject);
});

describe("kiln ui command", () => {
  it("prints the URL it serves on 127.0.0.1, and stops on Ctrl-C", async () => {
    const dir = scratchDir("kiln-ui-cli-");
    mkdirSync(join(dir, "runs"));
    const ui = await startUi(["--port", "0"], dir);
    assert.match(ui.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetchText(ui.url);
    assert.equal(page.status, 200);
    assert.match(page.body, /<script src="\/static\/uPlot\.iife\.min\.js"><\/script>/);
    assert.doesNotMatch(page.body, /https?:\/\//, "nothing is loaded from another host");
    assert.equal((await fetchText(`${ui.url}static/uPlot.iife.min.js`)).status, 200);
    assert.equal(await ui.stop(), 0);
    assert.equal(ui.stderr(), "");
  });

  it("warns when it listens beyond this machine", async () => {
    const dir = scratchDir("kiln-ui-cli-");
    mkdirSync(join(dir, "runs"));
    const ui = await startUi(["--port", "0", "--host", "0.0.0.0"], dir);
    assert.equal((await fetchText(ui.url)).status, 200);
    await ui.stop();
    assert.match(ui.stderr(), /warning: listening on 0\.0\.0\.0, not only on this machine/);
  });

  it("refuses a missing log folder and a bad port with the fix", () => {
    const dir = scratchDir("kiln-ui-cli-");
    const missing = runKiln(["ui"], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /the log folder runs does not exist\. Fix: /);
    mkdirSync(join(dir, "runs"));
    const port = runKiln(["ui", "--port", "http"], dir);
    assert.equal(port.code, 2);
    assert.match(port.stderr, /invalid value for 'port': http/);
    assert.match(runKiln(["ui", "--help"], dir).stdout, /kiln ui \[--logdir DIR\] \[--port N\] \[--host H\]/);
  });
});
