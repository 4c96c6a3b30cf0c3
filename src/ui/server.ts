// `kiln ui`'s HTTP server (node:http): the page, the JSON API, server-sent
// events, and the run directories' files. Read-only: GET and HEAD only, files
// only from inside the log folder, Host headers checked against DNS
// rebinding, and no CORS headers (other origins cannot read its answers).
import { createReadStream, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename } from "node:path";
import { KilnError } from "../errors.js";
import { compareAgainst, listRuns, runDetails } from "./api.js";
import { loadAssets, type Asset } from "./assets.js";
import { RunRegistry } from "./registry.js";
import type { RunDelta } from "./run-state.js";
import { allowedHostNames, hostForHeader, hostHeaderAllowed, resolveInside } from "./safety.js";

export interface UiServerOptions {
  logdir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 6006; 0 picks a free port. */
  port?: number;
}

export interface UiServer {
  url: string;
  port: number;
  host: string;
  registry: RunRegistry;
  close(): Promise<void>;
}

export const DEFAULT_PORT = 6006;
export const DEFAULT_HOST = "127.0.0.1";

const SECURITY_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

const FILE_TYPES: Record<string, string> = {
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", svg: "image/svg+xml", json: "application/json",
  csv: "text/csv; charset=utf-8", yaml: "text/plain; charset=utf-8", yml: "text/plain; charset=utf-8",
  log: "text/plain; charset=utf-8", txt: "text/plain; charset=utf-8", md: "text/plain; charset=utf-8",
};

function send(res: ServerResponse, status: number, body: string | Buffer, type: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "Content-Type": type, "Content-Length": String(Buffer.byteLength(body)), ...extra });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

const sendJson = (res: ServerResponse, status: number, value: unknown): void =>
  send(res, status, JSON.stringify(value), "application/json; charset=utf-8", { "Cache-Control": "no-store" });

const notFound = (res: ServerResponse): void => send(res, 404, "not found\n", "text/plain; charset=utf-8");

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? DEFAULT_HOST;
  const registry = new RunRegistry(options.logdir);
  const assets = loadAssets();
  const streams = new Set<ServerResponse>();
  let allowed = new Set<string>();
  let port = 0;

  const server: Server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      if (!res.headersSent) sendJson(res, err instanceof KilnError ? 400 : 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    }
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "read-only: GET and HEAD only\n", "text/plain; charset=utf-8", { Allow: "GET, HEAD" });
    if (!hostHeaderAllowed(req.headers.host, allowed, port)) return send(res, 403, "forbidden: unknown Host header (kiln ui answers only the address it serves on)\n", "text/plain; charset=utf-8");
    // The raw target, never normalised: `..` must reach resolveInside to be refused there.
    const target = req.url ?? "/";
    const q = target.indexOf("?");
    const path = q < 0 ? target : target.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : target.slice(q + 1));
    const asset: Asset | undefined = assets.get(path === "/index.html" ? "/" : path);
    if (asset) return send(res, 200, asset.body, asset.type, { "Cache-Control": "no-cache" });
    if (path === "/api/runs") return sendJson(res, 200, listRuns(registry));
    if (path === "/api/run") {
      const state = registry.get(query.get("id") ?? "");
      if (!state) return sendJson(res, 404, { error: `no run ${query.get("id") ?? ""} under ${options.logdir}` });
      return sendJson(res, 200, runDetails(state, options.logdir, query.get("series") !== "0"));
    }
    if (path === "/api/compare") return compare(query, res);
    if (path === "/api/events") return events(query, req, res);
    if (path.startsWith("/files/")) return file(path.slice("/files/".length), query, res);
    return notFound(res);
  }

  function compare(query: URLSearchParams, res: ServerResponse): void {
    const ids = (query.get("runs") ?? "").split(",").filter((s) => s !== "");
    const states = ids.map((id) => registry.get(id));
    const missing = ids.filter((_, i) => !states[i]);
    if (ids.length < 2 || missing.length) return sendJson(res, 404, { error: missing.length ? `no run ${missing.join(", ")}` : "compare needs at least two runs: ?runs=A,B" });
    const threshold = Number(query.get("threshold") ?? "1");
    if (!Number.isFinite(threshold) || threshold < 0) return sendJson(res, 400, { error: "threshold: a number of points ≥ 0" });
    const pick = query.get("pick") === "final" ? "final" : "best";
    return sendJson(res, 200, compareAgainst(states.filter((s) => s !== undefined), query.get("baseline") ?? ids[0], threshold, pick));
  }

  // One stream for a page: `runs=a,b` follows those runs (new rows, new steps,
  // changed files), `list=1` gets a run's new summary whenever it changes.
  function events(query: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const follow = new Set((query.get("runs") ?? "").split(",").filter((s) => s !== ""));
    const list = query.get("list") === "1";
    res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", Connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    streams.add(res);
    const emit = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const unsubscribe = registry.subscribe((delta: RunDelta, state) => {
      if (list && (delta.changed.length || delta.rows.length || delta.resetResults)) emit("run", state.summary());
      if (!follow.has(delta.id)) return;
      if (delta.rows.length || delta.steps.length || delta.header || delta.resetResults || delta.resetSteps) {
        const { id, header, rows, rowsFrom, steps, stepsFrom, resetResults, resetSteps } = delta;
        emit("append", { id, header, rows, rowsFrom, steps, stepsFrom, resetResults, resetSteps });
      }
      if (delta.changed.length) emit("changed", { id: delta.id, changed: delta.changed });
    });
    // A comment now and then keeps proxies and idle timeouts from closing the stream.
    const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
    const end = (): void => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(res);
    };
    req.on("close", end);
    emit("ready", { runs: [...follow], list });
  }

  function file(encoded: string, query: URLSearchParams, res: ServerResponse): void {
    const real = resolveInside(options.logdir, encoded);
    if (real === null) return notFound(res);
    const size = statSync(real).size;
    const ext = real.split(".").at(-1)?.toLowerCase() ?? "";
    const headers: Record<string, string> = { ...SECURITY_HEADERS, "Content-Type": FILE_TYPES[ext] ?? "application/octet-stream", "Content-Length": String(size), "Cache-Control": "no-cache" };
    if (query.get("download") === "1" || !(ext in FILE_TYPES)) headers["Content-Disposition"] = `attachment; filename="${basename(real).replace(/[^\w.-]/g, "_")}"`;
    res.writeHead(200, headers);
    if (res.req.method === "HEAD") return void res.end();
    createReadStream(real).on("error", () => res.destroy()).pipe(res);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") reject(new KilnError(`port ${options.port ?? DEFAULT_PORT} on ${host} is in use. Fix: --port ${(options.port ?? DEFAULT_PORT) + 1}, or stop what serves there.`, 2));
      else if (err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND") reject(new KilnError(`cannot listen on ${host}: it is not an address of this machine. Fix: --host 127.0.0.1, or one of this machine's addresses.`, 2));
      else reject(err);
    });
    server.listen(options.port ?? DEFAULT_PORT, host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  allowed = allowedHostNames(host);
  const shown = ["0.0.0.0", "::"].includes(host) ? "127.0.0.1" : hostForHeader(host);
  return {
    url: `http://${shown}:${port}/`,
    port,
    host,
    registry,
    close: () => new Promise<void>((resolve) => {
      registry.close();
      for (const s of streams) s.end();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
