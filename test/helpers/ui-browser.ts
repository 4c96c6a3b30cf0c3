// Debian's chromium driven by playwright-core, with the flags this sandbox
// needs (no background networking: the machine's network is closed).
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = process.env.KILN_CHROMIUM ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
