// The dashboard's two guards: which Host headers it answers (against DNS
// rebinding: a page on evil.example whose name later resolves to 127.0.0.1
// must not read the runs), and which files it serves (only regular files
// inside the log folder, whatever `..`, encoding or symlinks a path holds).
import { realpathSync, statSync } from "node:fs";
import { networkInterfaces, hostname } from "node:os";
import { isAbsolute, join, sep } from "node:path";

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];
const WILDCARD = ["0.0.0.0", "::", "[::]"];

/** A host name as it appears in a Host header: IPv6 addresses in brackets, lower case. */
export function hostForHeader(host: string): string {
  const h = host.toLowerCase();
  return h.includes(":") && !h.startsWith("[") ? `[${h}]` : h;
}

export function isLoopbackHost(host: string): boolean {
  const h = hostForHeader(host);
  return LOOPBACK_NAMES.includes(h) || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * The host names a server bound to `bindHost` answers to: the loopback names,
 * the bound name itself, and for a wildcard bind this machine's own addresses
 * and host name (never any name: that is what DNS rebinding needs).
 */
export function allowedHostNames(bindHost: string): Set<string> {
  const names = new Set(LOOPBACK_NAMES);
  if (WILDCARD.includes(bindHost)) {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(hostForHeader(a.address));
    names.add(hostname().toLowerCase());
  } else {
    names.add(hostForHeader(bindHost));
  }
  return names;
}

/** Whether a Host header names an allowed host with the server's port. */
export function hostHeaderAllowed(header: string | undefined, allowed: Set<string>, port: number): boolean {
  if (!header) return false;
  // Browsers leave out port 80 on http.
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d+))?$/i.exec(header.trim());
  if (!m) return false;
  return allowed.has(m[1].toLowerCase()) && (m[2] === undefined ? port === 80 : Number(m[2]) === port);
}

/**
 * The real path of a regular file inside `root` named by an URL path below it
 * (still percent-encoded), or null: malformed encoding, NUL, `..` or `.`
 * segments (encoded or not), backslashes, absolute paths, missing files,
 * folders, and symlinks whose target is outside `root` are all null.
 */
export function resolveInside(root: string, encodedPath: string): string | null {
  const segments: string[] = [];
  for (const raw of encodedPath.split("/")) {
    if (raw === "") continue;
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (seg === "." || seg === ".." || seg.includes("/") || seg.includes("\\") || seg.includes("\0") || isAbsolute(seg)) return null;
    segments.push(seg);
  }
  if (segments.length === 0) return null;
  try {
    const realRoot = realpathSync(root);
    const real = realpathSync(join(realRoot, ...segments));
    if (!real.startsWith(realRoot + sep)) return null;
    return statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}
