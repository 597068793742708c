// The Connect Portal in headless Chromium, opened by the real @useparagon/connect SDK's
// `paragon.connect("wordpress", callbacks)` on a customer page of its own origin (a loopback
// server of this file on TETHER_PORTAL_APP_PORT, an origin the stack allows; another server,
// on a port the stack does not allow, plays a hostile site).
//
// One end user walks the portal: it opens (onOpen), they connect through the SDK's popup and the
// sandbox consent page (onSuccess), see the account, switch a workflow on with the keyboard
// (onWorkflowChange, getUser() and /sdk/me reflect it), save settings (text, number, boolean,
// dropdown; getUser() reflects them), disconnect (onUninstall) and close with Escape (onClose);
// connecting again with an `onInstall` callback fires that one instead of `onSuccess`.
// A screenshot of each step goes to TETHER_SCREENSHOT_DIR when set.
// Security: the project's texts render as text (an HTML-looking description makes no element),
// the portal asks for nothing outside Tether's origin, a message from another frame is ignored,
// a page of another origin cannot frame the portal, and the portal's origin stores no token.
//
// Environment: TETHER_API_URL, TETHER_PROJECT_ID, TETHER_PROJECT_SECRET_KEY, TETHER_PORTAL_APP_PORT
// (a running stack that allows the origin http://127.0.0.1:<that port>:
// `tether dev --allow-origin http://127.0.0.1:PORT`).
// Optional: TETHER_CHROMIUM, TETHER_SCREENSHOT_DIR.
// Started by tests/test_browser.py; run by hand with `node --test tests/browser/portal.test.mjs`.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";

import { launchChromium, requiredEnv, screenshot } from "./support.mjs";

const API_URL = requiredEnv("TETHER_API_URL").replace(/\/+$/, "");
const API_ORIGIN = new URL(API_URL).origin;
const PROJECT_ID = requiredEnv("TETHER_PROJECT_ID");
const SECRET_KEY = requiredEnv("TETHER_PROJECT_SECRET_KEY");
const APP_PORT = Number(requiredEnv("TETHER_PORTAL_APP_PORT"));
const APP_ORIGIN = `http://127.0.0.1:${APP_PORT}`;
let EVIL_ORIGIN = ""; // set when the hostile server listens
const USER_ID = `portal-user-${Date.now()}`;
const WORKFLOW_ID = "portal-digest";

const ACTION_TIMEOUT_MS = 5_000;
const NAVIGATION_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 15_000;
const TEST_TIMEOUT_MS = 40_000;
const HOOK_TIMEOUT_MS = 20_000;

// Project texts that look like HTML: the portal must show them as they are.
const DESCRIPTION = 'Posts <b>bold</b> news <img src="x" id="injected">';
const OVERVIEW = "What it does:\n<script>alert(1)</script> publishes your articles.";
const ACCENT = "#0a7c4a";
const PORTAL = {
  description: DESCRIPTION,
  overview: OVERVIEW,
  accentColor: ACCENT,
  userSettings: [
    { id: "category", title: "Category", type: "text", placeholder: "News" },
    { id: "maxPosts", title: "Posts a day", type: "number" },
    { id: "draft", title: "Save as draft", type: "boolean" },
    {
      id: "visibility",
      title: "Visibility",
      type: "dropdown",
      required: true,
      options: [
        { label: "Public", value: "public" },
        { label: "Private", value: "private" },
      ],
    },
  ],
};
const WORKFLOW = {
  name: "Daily digest",
  integration: "wordpress",
  defaultEnabled: false,
  trigger: { type: "app_event", event: "portal.test.digest" },
  steps: [{ id: "me", type: "request", method: "GET", path: "v1.1/me" }],
};

async function admin(method, path, body) {
  const response = await fetch(`${API_URL}/projects/${PROJECT_ID}${path}`, {
    method,
    headers: { Authorization: `Bearer ${SECRET_KEY}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

// The customer's page: loads the SDK from the stack, points it at Tether, authenticates the user
// and records every callback of connect() (without the user object, which holds the token).
function appPage(token) {
  const config = JSON.stringify({ api: API_URL, projectId: PROJECT_ID, token });
  return `<!doctype html><html><head><meta charset="utf-8"><title>App</title><link rel="icon" href="data:,">
<script src="${API_URL}/demo/paragon-connect.js"></script></head><body><h1>Customer app</h1>
<script>
const config = ${config};
const paragon = window.ParagonConnect.paragon;
window.events = [];
const record = (name) => (event) => window.events.push({ name, event: JSON.parse(JSON.stringify(event)) });
paragon.configureGlobal({ host: config.api }, {
  ZEUS_PUBLIC_URL: config.api, HERMES_PUBLIC_URL: config.api, WORKER_PROXY_PUBLIC_URL: config.api,
  PASSPORT_PUBLIC_URL: config.api, CONNECT_PUBLIC_URL: config.api + "/connect",
});
window.ready = paragon.authenticate(config.projectId, config.token).then(() => "ok", (e) => String(e));
window.openPortal = () => paragon.connect("wordpress", {
  onOpen: record("onOpen"), onClose: record("onClose"), onSuccess: record("onSuccess"),
  onUninstall: record("onUninstall"), onWorkflowChange: record("onWorkflowChange"),
});
window.openPortalWithOnInstall = () => paragon.connect("wordpress", {
  onInstall: record("onInstall"), onSuccess: record("onSuccessBesideOnInstall"), onClose: record("onClose"),
});
window.addEvilFrame = () => new Promise((resolve) => {
  const frame = document.createElement("iframe");
  frame.id = "evil";
  frame.src = ${JSON.stringify(EVIL_ORIGIN)} + "/frame.html";
  frame.onload = () => resolve(true);
  document.body.appendChild(frame);
});
</script></body></html>`;
}

// A frame of another origin inside the customer's page: it posts a forged UI_UPDATE to the portal.
const evilFrame = () => `<!doctype html><html><body><script>
window.forge = () => {
  const portal = window.parent.frames[0];
  portal.postMessage({ messageType: "UI_UPDATE",
    nextContext: { user: { authenticated: true, userId: "mallory", integrations: {} }, projectId: "${PROJECT_ID}" },
    nextModalState: { integration: { id: "x", type: "wordpress", name: "Evil portal", workflows: [] },
                      config: { description: "Type your password here" } } }, "*");
};
</script></body></html>`;

// A page of another origin that tries to frame the portal itself.
const evilPage = () => `<!doctype html><html><body>
<iframe id="portal" src="${API_URL}/connect/ui?projectId=${PROJECT_ID}" onload="window.loaded = true"></iframe>
</body></html>`;

describe("the Connect Portal in headless Chromium", () => {
  let browser;
  let context;
  let page;
  let token;
  const portalRequests = [];
  const servers = [];
  const portalConsoleErrors = [];
  const pageErrors = [];

  before(async () => {
    await admin("PUT", `/workflows/${WORKFLOW_ID}`, WORKFLOW);
    await admin("PATCH", "/integrations/wordpress", { portal: PORTAL });
    const demo = await fetch(`${API_URL}/demo/config.json?user=${encodeURIComponent(USER_ID)}`);
    token = (await demo.json()).userToken;
    assert.ok(token, "a user token from the demo config");

    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    await listen(APP_PORT, () => appPage(token));
    const evil = await listen(0, (path) => (path === "/frame.html" ? evilFrame() : evilPage()));
    EVIL_ORIGIN = `http://127.0.0.1:${evil.address().port}`;
    // Every request a portal frame makes (whatever page hosts it).
    context.on("request", (request) => {
      if (request.isNavigationRequest()) return;
      const frameUrl = request.frame().url();
      if (frameUrl.startsWith(`${API_URL}/connect/ui`)) portalRequests.push(request.url());
    });
    context.on("weberror", (webError) => pageErrors.push(String(webError.error()?.stack || webError.error())));
    // Errors the portal's frames log (a CSP refusal, a failed load, a script error).
    context.on("console", (message) => {
      const where = message.location()?.url ?? "";
      if (message.type() === "error" && where.startsWith(`${API_URL}/connect/ui`)) {
        portalConsoleErrors.push(`${message.text()} (${where})`);
      }
    });
    page = await context.newPage();
    await page.goto(`${APP_ORIGIN}/`);
    assert.equal(await page.evaluate(() => window.ready), "ok", `page errors: ${pageErrors}`);
  }, { timeout: HOOK_TIMEOUT_MS });

  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    for (const server of servers) server.close();
  }, { timeout: HOOK_TIMEOUT_MS });

  async function listen(port, html) {
    const server = createServer((request, response) => {
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      response.end(html(new URL(request.url, "http://x").pathname));
    });
    servers.push(server);
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    return server;
  }

  function portalFrame() {
    const frame = page.frames().find((f) => f.url().startsWith(`${API_URL}/connect/ui?projectId=`));
    assert.ok(frame, `no portal frame with a project: ${page.frames().map((f) => f.url())}`);
    return frame;
  }

  const events = () => page.evaluate(() => window.events);
  const named = async (name) => (await events()).filter((e) => e.name === name);
  const sdkUser = () => page.evaluate(() => window.ParagonConnect.paragon.getUser());

  async function waitForEvent(name, count = 1) {
    await page.waitForFunction(([n, c]) => window.events.filter((e) => e.name === n).length >= c, [name, count]);
    return named(name);
  }

  async function status(frame, pattern) {
    await frame.waitForFunction(
      ([source]) => new RegExp(source).test(document.getElementById("status").textContent),
      [pattern.source],
      { timeout: CONNECT_TIMEOUT_MS },
    );
  }

  test("connect() opens the portal: the integration's texts as text, accent colour, focus", { timeout: TEST_TIMEOUT_MS }, async () => {
    await page.evaluate(() => {
      window.openPortal(); // its promise settles only when an install completes
    });
    await page.locator("#paragon-connect-frame").waitFor({ state: "visible" });
    const frame = portalFrame();
    await frame.locator("#modal").waitFor({ state: "visible" });
    assert.deepEqual(
      (await waitForEvent("onOpen")).map((e) => e.event.integrationType),
      ["wordpress"],
    );
    assert.equal(await frame.locator("#title").textContent(), "WordPress");
    assert.equal(await frame.locator("#description").textContent(), DESCRIPTION);
    assert.equal(await frame.locator("#overview").textContent(), OVERVIEW);
    assert.equal(await frame.locator("#injected, #description b, #overview script").count(), 0);
    assert.equal(await frame.locator("#icon").getAttribute("src"), "ui/assets/wordpress.svg");
    assert.equal(await frame.locator("#modal").getAttribute("role"), "dialog");
    assert.equal(await frame.locator("#modal").getAttribute("aria-modal"), "true");
    // The accent colour paints the primary button.
    const background = await frame.locator("#connect").evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(background, "rgb(10, 124, 74)");
    // The primary action has the focus, and Tab stays inside the dialog.
    assert.equal(await frame.evaluate(() => document.activeElement.id), "connect");
    await page.keyboard.press("Tab");
    assert.equal(await frame.evaluate(() => document.activeElement.id), "close");
    await page.keyboard.press("Tab");
    assert.ok(
      ["connect", "close"].includes(await frame.evaluate(() => document.activeElement.id)),
      "focus leaves the dialog",
    );
    await screenshot(page, "portal-1-open");
  });

  test("the user connects through the popup and sees the account (onSuccess)", { timeout: TEST_TIMEOUT_MS }, async () => {
    const frame = portalFrame();
    const [popup] = await Promise.all([context.waitForEvent("page"), frame.locator("#connect").click()]);
    await popup.locator("#approve").waitFor({ state: "visible", timeout: NAVIGATION_TIMEOUT_MS });
    const users = await popup.locator("#user option").evaluateAll((options) => options.map((o) => o.value));
    const alice = await popup.locator("#user option", { hasText: "@alicebaker" }).getAttribute("value");
    await popup.selectOption("#user", alice ?? users[0]);
    await screenshot(popup, "portal-2-consent");
    await popup.click("#approve");

    const [success] = await waitForEvent("onSuccess");
    assert.equal(success.event.integrationType, "wordpress");
    assert.ok(success.event.credentialId, JSON.stringify(success));
    await frame.locator("li.account").waitFor({ state: "visible", timeout: CONNECT_TIMEOUT_MS });
    assert.match(await frame.locator("li.account").textContent(), /Connected/);
    assert.equal(await frame.locator("#connect").count(), 0, "no Connect button once connected");
    await screenshot(page, "portal-3-connected");
  });

  test("a workflow switch (keyboard) fires onWorkflowChange and shows in getUser()", { timeout: TEST_TIMEOUT_MS }, async () => {
    const frame = portalFrame();
    const toggle = frame.locator(`#workflow-${WORKFLOW_ID}`);
    assert.equal(await toggle.getAttribute("role"), "switch");
    assert.equal(await toggle.isChecked(), false);
    assert.equal(await frame.locator(`label[for="workflow-${WORKFLOW_ID}"]`).textContent(), "Daily digest");
    await toggle.focus();
    await page.keyboard.press("Space");
    await status(frame, /Daily digest is on\./);
    assert.equal(await toggle.isChecked(), true);
    // Still focused after the portal drew itself again, with a visible focus ring.
    assert.equal(await frame.evaluate(() => document.activeElement.id), `workflow-${WORKFLOW_ID}`);
    const outline = await toggle.evaluate((el) => getComputedStyle(el).outlineStyle);
    assert.equal(outline, "solid");

    const [change] = await waitForEvent("onWorkflowChange");
    assert.equal(change.event.workflowId, WORKFLOW_ID);
    assert.deepEqual(change.event.workflowStateChange, { enabled: true });
    const user = await sdkUser();
    assert.equal(user.token, undefined);
    const state = user.integrations.wordpress;
    const [credential] = state.allCredentials;
    assert.equal(credential.configurations[0].workflowSettings[WORKFLOW_ID].enabled, true);
    // Stored by Tether, not only in the SDK's memory.
    const me = await (
      await fetch(`${API_URL}/projects/${PROJECT_ID}/sdk/me`, { headers: { Authorization: `Bearer ${token}` } })
    ).json();
    assert.equal(me.integrations.wordpress.workflowSettings[WORKFLOW_ID].enabled, true);
    await screenshot(page, "portal-4-workflow-on");
  });

  test("settings: a missing required value is said in words; saved values show in getUser()", { timeout: TEST_TIMEOUT_MS }, async () => {
    const frame = portalFrame();
    await frame.locator("#setting-category").fill("Travel");
    await frame.locator("#setting-maxPosts").fill("5");
    await frame.locator("#setting-draft").check();
    await frame.locator("#save-settings").click();
    const error = frame.locator("#error");
    await error.waitFor({ state: "visible" });
    assert.equal(await error.getAttribute("role"), "alert");
    assert.equal(await error.textContent(), "Visibility is required.");
    await screenshot(page, "portal-5-settings-error");

    await frame.locator("#setting-visibility").selectOption("private");
    await frame.locator("#save-settings").click();
    await status(frame, /^Settings saved\.$/);
    assert.equal(await error.isHidden(), true);
    const [credential] = (await sdkUser()).integrations.wordpress.allCredentials;
    assert.deepEqual(credential.configurations[0].sharedSettings, {
      category: "Travel",
      maxPosts: 5,
      draft: true,
      visibility: "private",
    });
    // The form shows the saved values.
    assert.equal(await frame.locator("#setting-category").inputValue(), "Travel");
    assert.equal(await frame.locator("#setting-visibility").inputValue(), "private");
    await screenshot(page, "portal-6-settings-saved");
  });

  test("disconnecting fires onUninstall; Escape closes the portal (onClose)", { timeout: TEST_TIMEOUT_MS }, async () => {
    const frame = portalFrame();
    await frame.locator("li.account button").click();
    const [uninstall] = await waitForEvent("onUninstall");
    assert.equal(uninstall.event.integrationType, "wordpress");
    await frame.locator("#not-connected").waitFor({ state: "visible" });
    assert.equal((await sdkUser()).integrations.wordpress.allCredentials.length, 0);
    assert.equal(await frame.locator(`#workflow-${WORKFLOW_ID}`).isDisabled(), true);
    await screenshot(page, "portal-7-disconnected");

    await frame.locator("#close").focus();
    await page.keyboard.press("Escape");
    await waitForEvent("onClose");
    await page.locator("#paragon-connect-frame").waitFor({ state: "hidden" });
    await screenshot(page, "portal-8-closed");
  });

  test("the portal asks nothing of another origin, logs no error and its origin keeps no token", { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(portalRequests.length >= 3, `the portal's own files were seen: ${portalRequests}`);
    const elsewhere = portalRequests.filter((url) => !url.startsWith(`${API_ORIGIN}/`));
    assert.deepEqual(elsewhere, []);
    const frame = portalFrame();
    const stored = await frame.evaluate(() => JSON.stringify({ ...window.localStorage, ...window.sessionStorage }));
    assert.equal(stored.includes(token), false);
    assert.equal((await frame.content()).includes(token), false);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(portalConsoleErrors, []);
  });

  test("a message from another frame is ignored", { timeout: TEST_TIMEOUT_MS }, async () => {
    await page.evaluate(() => {
      window.openPortal(); // its promise settles only when an install completes
    });
    const frame = portalFrame();
    await frame.locator("#modal").waitFor({ state: "visible" });
    // A listener added after the portal's sees each message once the portal has handled it.
    await frame.evaluate(() => {
      window.__seen = [];
      window.addEventListener("message", (event) => window.__seen.push(event.origin));
    });
    await page.evaluate(() => window.addEvilFrame());
    const evil = page.frames().find((f) => f.url().startsWith(EVIL_ORIGIN));
    await evil.evaluate(() => window.forge());
    await frame.waitForFunction((origin) => window.__seen.includes(origin), EVIL_ORIGIN);
    assert.equal(await frame.locator("#title").textContent(), "WordPress");
    assert.equal(await frame.locator("#description").textContent(), DESCRIPTION);
    await page.keyboard.press("Escape");
    await page.locator("#paragon-connect-frame").waitFor({ state: "hidden" });
  });

  test("with onInstall given, the SDK fires it instead of onSuccess", { timeout: TEST_TIMEOUT_MS }, async () => {
    await page.evaluate(() => {
      window.openPortalWithOnInstall(); // its promise settles only when an install completes
    });
    const frame = portalFrame();
    await frame.locator("#connect").waitFor({ state: "visible" });
    const [popup] = await Promise.all([context.waitForEvent("page"), frame.locator("#connect").click()]);
    await popup.locator("#approve").waitFor({ state: "visible", timeout: NAVIGATION_TIMEOUT_MS });
    await popup.click("#approve");
    const [install] = await waitForEvent("onInstall");
    assert.equal(install.event.integrationType, "wordpress");
    await frame.locator("li.account").waitFor({ state: "visible", timeout: CONNECT_TIMEOUT_MS });
    assert.deepEqual(await named("onSuccessBesideOnInstall"), []);
    // Leave the user unconnected again.
    await frame.locator("li.account button").click();
    await frame.locator("#not-connected").waitFor({ state: "visible" });
    await page.keyboard.press("Escape");
    await page.locator("#paragon-connect-frame").waitFor({ state: "hidden" });
  });

  test("a page of another origin cannot frame the portal (frame-ancestors)", { timeout: TEST_TIMEOUT_MS }, async () => {
    const evilPage = await context.newPage();
    const answer = evilPage.waitForResponse((r) => r.url().startsWith(`${API_URL}/connect/ui`));
    await evilPage.goto(`${EVIL_ORIGIN}/`);
    const response = await answer;
    assert.match(response.headers()["content-security-policy"], new RegExp(`frame-ancestors [^;]*${APP_ORIGIN}`));
    const framed = evilPage.frames().find((f) => f !== evilPage.mainFrame());
    await evilPage.waitForFunction(() => window.loaded === true);
    // Chromium replaces a refused frame's document with its error page: no portal in it.
    const portal = await framed.evaluate(() => document.getElementById("backdrop") !== null).catch(() => false);
    assert.equal(portal, false, `the portal loaded inside ${EVIL_ORIGIN}: ${framed.url()}`);
    await evilPage.close();
  });
});
