// Shared by the browser tests: launching Debian's Chromium headless, bounded waits, screenshots.

import { join } from "node:path";

import { chromium } from "playwright-core";

export const CHROMIUM = process.env.TETHER_CHROMIUM || "/usr/bin/chromium";
export const SCREENSHOT_DIR = process.env.TETHER_SCREENSHOT_DIR || "";
export const LAUNCH_TIMEOUT_MS = 15_000;

// The flags this machine needs: no sandbox as root, and no background traffic to the internet.
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} must be set (see the comment at the top of the test file)`);
  }
  return value;
}

export function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: LAUNCH_TIMEOUT_MS });
}

export async function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (after ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function screenshot(page, name) {
  if (SCREENSHOT_DIR) {
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
  }
}
