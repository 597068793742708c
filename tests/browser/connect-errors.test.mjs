// A connect that cannot start, in headless Chromium with the real @useparagon/connect SDK (the
// demo page of a stack that has no OAuth client: `tether dev --wpcom-origin ...` registers no
// development keys, and the dev project has no client of its own). The SDK ignores build-oauth's
// error answer and only polls the connect session, so Tether records the error on the session:
// `installIntegration` must reject promptly with Tether's message (not poll for 180 s), and the
// popup must say the same instead of staying on "Connecting…".
//
// Environment: TETHER_NO_CLIENT_API_URL (base URL of such a stack).
// Optional: TETHER_CHROMIUM, TETHER_SCREENSHOT_DIR.
// Started by tests/test_browser.py; run by hand with `node --test tests/browser/`.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launchChromium, requiredEnv, screenshot } from "./support.mjs";

const API_URL = requiredEnv("TETHER_NO_CLIENT_API_URL").replace(/\/+$/, "");

const ACTION_TIMEOUT_MS = 5_000;
const NAVIGATION_TIMEOUT_MS = 10_000;
// The bound: without the session error the SDK would poll for 180 s.
const REJECT_WITHIN_MS = 5_000;
const TEST_TIMEOUT_MS = 25_000;
const HOOK_TIMEOUT_MS = 20_000;

// resolve_client's message when neither the project nor the deployment has a client.
const MESSAGE = "No WordPress.com OAuth client is configured: set the project's clientId and clientSecret.";

describe("a connect that cannot start, in headless Chromium", () => {
  let browser;
  let context;

  before(async () => {
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  }, { timeout: HOOK_TIMEOUT_MS });

  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
  }, { timeout: HOOK_TIMEOUT_MS });

  test("no OAuth client: installIntegration rejects with Tether's message and the popup shows it", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await context.newPage();
    await page.goto(`${API_URL}/demo/`);
    await page.locator("body[data-ready='true']").waitFor({ state: "attached", timeout: NAVIGATION_TIMEOUT_MS });

    // Call the SDK directly (the page has loaded and authenticated it) and time the rejection.
    const started = Date.now();
    const [popup, outcome] = await Promise.all([
      context.waitForEvent("page"),
      page.evaluate(async (limit) => {
        const paragon = window.ParagonConnect.paragon;
        const timeout = new Promise((resolve) => setTimeout(() => resolve({ settled: false }), limit));
        const install = paragon.installIntegration("wordpress", {}).then(
          (value) => ({ settled: true, rejected: false, value: JSON.stringify(value) }),
          (error) => ({ settled: true, rejected: true, message: String(error && (error.message || error)) }),
        );
        return Promise.race([install, timeout]);
      }, REJECT_WITHIN_MS),
    ]);
    const elapsed = Date.now() - started;
    console.log(`installIntegration settled after ${elapsed} ms`);
    assert.equal(outcome.settled, true, `installIntegration still pending after ${REJECT_WITHIN_MS} ms`);
    assert.equal(outcome.rejected, true, JSON.stringify(outcome));
    // The SDK makes the Error's message of any non-proxy error the JSON of the error body.
    assert.deepEqual(JSON.parse(outcome.message), { message: MESSAGE, code: "integration_not_configured" });

    // The popup shows the same error, with its code, instead of "Connecting…".
    await popup.waitForLoadState("domcontentloaded");
    assert.equal(new URL(popup.url()).pathname.endsWith("/sdk/actions/oauth-nonce"), true, popup.url());
    assert.equal((await popup.locator("#detail").textContent()).trim(), MESSAGE);
    assert.equal((await popup.locator("#code").textContent()).trim(), "integration_not_configured");
    assert.doesNotMatch(await popup.locator("body").innerText(), /Connecting/);
    await screenshot(popup, "connect-error-popup");
    await popup.close();
  });

  test("the demo page shows the connect error in words, not as JSON", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await context.newPage();
    await page.goto(`${API_URL}/demo/`);
    await page.locator("body[data-ready='true']").waitFor({ state: "attached", timeout: NAVIGATION_TIMEOUT_MS });
    const [popup] = await Promise.all([context.waitForEvent("page"), page.click("#connect")]);
    await page.waitForFunction(
      () => {
        const text = document.querySelector("#connect-result")?.textContent ?? "";
        return text !== "" && !text.startsWith("Waiting");
      },
      null,
      { timeout: REJECT_WITHIN_MS },
    );
    assert.equal((await page.locator("#connect-result").textContent()).trim(), `${MESSAGE} (integration_not_configured)`);
    assert.equal(await page.getAttribute("#connect-result", "class"), "error");
    await popup.close();
  });
});
