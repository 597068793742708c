// Runs the browser snippets of docs/quickstart.md in headless Chromium, for tests/test_quickstart.py
// (not a test file of its own). Opens QUICKSTART_PAGE (served by the Python test: the snippets as
// an ES module behind a button), clicks the button, approves the sandbox's consent page in the popup
// the SDK opens, waits for the module to finish, and prints one JSON line:
// {"done": {"ok", "error"?}, "console": [every console.log text of the page]}.

import { launchChromium, requiredEnv } from "./support.mjs";

const PAGE = requiredEnv("QUICKSTART_PAGE");
const TIMEOUT_MS = 20_000;

const browser = await launchChromium();
const logged = [];
let done = null;
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  page.on("console", (message) => logged.push(message.text()));
  page.on("pageerror", (error) => logged.push(`pageerror: ${error.message}`));
  await page.goto(PAGE);
  const [popup] = await Promise.all([context.waitForEvent("page"), page.click("#run")]);
  await popup.locator("#approve").click();
  await page.waitForFunction(() => window.__done !== undefined);
  done = await page.evaluate(() => window.__done);
} catch (error) {
  done = { ok: false, error: `driver: ${error.message}` };
} finally {
  await browser.close().catch(() => {});
}
console.log(JSON.stringify({ done, console: logged }));
