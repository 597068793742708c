// Drives the connect popup in headless Chromium against a running Tether stack, the way the
// @useparagon/connect SDK does in headless mode: an opener page on its own origin opens the
// oauth-nonce page in a popup, waits for its `oauth-nonce-loaded` message, then sends the popup
// to the consent URL from build-oauth; the sandbox consent page sends it to the OAuth callback.
//
// The project lists allowed origins: the opener's origin is added to them (admin API) before the
// tests, and a second opener on another origin plays the attacker's page of issue 7, whose popup
// must get no binding cookie.
//
// Environment: TETHER_API_URL (base URL), TETHER_PROJECT_ID, TETHER_PROJECT_SECRET_KEY (to add
// the opener's origin), TETHER_USER_TOKEN and TETHER_USER_TOKEN_2 (user tokens of two different
// users, e.g. from `tether token`).
// Optional: TETHER_CHROMIUM (default /usr/bin/chromium) and TETHER_SCREENSHOT_DIR (when set,
// the consent and result pages are saved there as PNG files).
// Started by tests/test_browser.py; run by hand with `node --test tests/browser/`.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";

import { launchChromium, requiredEnv, screenshot, withTimeout } from "./support.mjs";

const API_URL = requiredEnv("TETHER_API_URL").replace(/\/+$/, "");
const PROJECT_ID = requiredEnv("TETHER_PROJECT_ID");
const PROJECT_SECRET_KEY = requiredEnv("TETHER_PROJECT_SECRET_KEY");
const USER_TOKEN = requiredEnv("TETHER_USER_TOKEN");
const USER_TOKEN_2 = requiredEnv("TETHER_USER_TOKEN_2");
const API_ORIGIN = new URL(API_URL).origin;

// Every wait is bounded; the whole file stays well under 30 s.
const ACTION_TIMEOUT_MS = 5_000;
const NAVIGATION_TIMEOUT_MS = 10_000;
const HTTP_TIMEOUT_MS = 5_000;
const TEST_TIMEOUT_MS = 25_000;
const HOOK_TIMEOUT_MS = 20_000;
// The success page closes itself after 1.5 s; allow for a slow machine.
const SELF_CLOSE_TIMEOUT_MS = 6_000;

// The customer's page: it records every message it receives and opens the popup on a click,
// as a real "Connect" button would (so no popup blocker is involved).
const OPENER_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Opener</title></head>
<body>
<button id="connect" type="button">Connect WordPress.com</button>
<script>
  window.__messages = [];
  window.addEventListener("message", (event) => {
    window.__messages.push({ origin: event.origin, data: event.data });
  });
  document.getElementById("connect").addEventListener("click", () => {
    window.__popup = window.open(window.__nonceUrl, "tether-connect", "popup,width=520,height=720");
  });
</script>
</body></html>`;



function newMetaKeyId() {
  return `browser-${randomBytes(12).toString("hex")}`;
}

function nonceUrl(openerOrigin, userToken) {
  const query = new URLSearchParams({
    action: "wordpress",
    integrationId: "x",
    originForPostMessage: openerOrigin,
    userToken,
  });
  return `${API_URL}/projects/${PROJECT_ID}/sdk/actions/oauth-nonce?${query}`;
}

async function getJson(path, userToken) {
  const response = await fetch(`${API_URL}${path}`, {
    headers: { Authorization: `Bearer ${userToken}` },
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  assert.equal(response.status, 200, `GET ${path.split("?")[0]} answered ${response.status}: ${text}`);
  return body;
}

function buildOauth(userToken, oauthMetaKeyId) {
  const query = new URLSearchParams({ action: "wordpress", oauthMetaKeyId });
  return getJson(`/v2/projects/${PROJECT_ID}/sdk/actions/build-oauth?${query}`, userToken);
}

/** Add `origin` to the project's allowed origins (admin API); answers the stored list. */
async function allowOrigin(origin) {
  const url = `${API_URL}/projects/${PROJECT_ID}/allowed-origins`;
  const headers = { Authorization: `Bearer ${PROJECT_SECRET_KEY}`, "Content-Type": "application/json" };
  const current = await fetch(url, { headers, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  assert.equal(current.status, 200, await current.clone().text());
  const { allowedOrigins } = await current.json();
  const body = JSON.stringify({ allowedOrigins: [...allowedOrigins, origin] });
  const stored = await fetch(url, { method: "PUT", headers, body, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  assert.equal(stored.status, 200, await stored.clone().text());
  return (await stored.json()).allowedOrigins;
}

function sessionStatus(userToken, oauthMetaKeyId) {
  return getJson(`/projects/${PROJECT_ID}/sdk/actions/session-id/${encodeURIComponent(oauthMetaKeyId)}`, userToken);
}


async function waitForMessage(opener, type) {
  try {
    await opener.waitForFunction((wanted) => window.__messages.some((m) => m.data && m.data.type === wanted), type, {
      timeout: NAVIGATION_TIMEOUT_MS,
    });
  } catch (error) {
    const received = await opener.evaluate(() => window.__messages).catch(() => "(opener unreadable)");
    throw new Error(`the opener got no ${type} message; it got ${JSON.stringify(received)}: ${error.message}`);
  }
  return opener.evaluate(() => window.__messages);
}

async function serveOpener() {
  const server = createServer((request, response) => {
    if (request.url === "/" || request.url === "/index.html") {
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      response.end(OPENER_HTML);
    } else {
      response.writeHead(404, { "Content-Type": "text/plain" });
      response.end("not found");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

describe("connect popup in headless Chromium", () => {
  let browser;
  const servers = [];
  let openerOrigin;
  let strangerOrigin;
  const contexts = [];

  before(async () => {
    const opener = await serveOpener();
    const stranger = await serveOpener();
    servers.push(opener.server, stranger.server);
    openerOrigin = opener.origin;
    strangerOrigin = stranger.origin;
    const allowed = await allowOrigin(openerOrigin);
    assert.ok(allowed.includes(openerOrigin) && !allowed.includes(strangerOrigin), JSON.stringify(allowed));
    browser = await launchChromium();
  }, { timeout: HOOK_TIMEOUT_MS });

  after(async () => {
    for (const context of contexts) {
      await context.close().catch(() => {});
    }
    await browser?.close().catch(() => {});
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve()));
    }
  }, { timeout: HOOK_TIMEOUT_MS });

  // A fresh browser profile (no cookies) with the opener page loaded.
  async function openOpener(origin = openerOrigin) {
    const context = await browser.newContext({ viewport: { width: 520, height: 720 } });
    contexts.push(context);
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const opener = await context.newPage();
    await opener.goto(`${origin}/`);
    return { context, opener };
  }

  // Click "Connect" on the opener: the popup loads the oauth-nonce page, which posts
  // `oauth-nonce-loaded` back and sets the cookie that binds the popup to the user.
  async function openNoncePopup(opener, userToken) {
    await opener.evaluate((url) => {
      window.__nonceUrl = url;
    }, nonceUrl(openerOrigin, userToken));
    const [popup] = await Promise.all([opener.waitForEvent("popup"), opener.click("#connect")]);
    const messages = await waitForMessage(opener, "oauth-nonce-loaded");
    return { popup, messages };
  }

  // Send the popup to the consent page the way the SDK does (from the opener, across origins).
  async function goToConsent(opener, popup, redirectUrl) {
    const consentOrigin = new URL(redirectUrl).origin;
    await Promise.all([
      popup.waitForURL((url) => url.origin === consentOrigin && url.pathname.endsWith("/oauth2/authorize")),
      opener.evaluate((url) => {
        window.__popup.location.href = url;
      }, redirectUrl),
    ]);
    await popup.locator("#approve").waitFor({ state: "visible" });
    await popup.locator("#deny").waitFor({ state: "visible" });
  }

  // Press a consent button and wait for the callback's result page to have loaded.
  async function answerConsent(popup, button) {
    const [response] = await Promise.all([
      popup.waitForResponse((r) => new URL(r.url()).pathname.endsWith("/oauth/callback")),
      popup.waitForURL((url) => url.origin === API_ORIGIN && url.pathname.endsWith("/oauth/callback"), {
        waitUntil: "domcontentloaded",
      }),
      popup.click(button),
    ]);
    // Read at once: the page closes itself (1.5 s after success).
    const result = await popup.evaluate(() => {
      const h1 = document.querySelector("#result");
      const detail = document.querySelector("#detail");
      return {
        ok: h1 ? h1.getAttribute("data-ok") : null,
        title: h1 ? h1.textContent.trim() : null,
        detail: detail ? detail.textContent.trim() : null,
      };
    });
    return { response, result };
  }

  test("oauth-nonce page posts oauth-nonce-loaded to its opener", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { opener } = await openOpener();
    const { popup, messages } = await openNoncePopup(opener, USER_TOKEN);
    const loaded = messages.filter((m) => m.data && m.data.type === "oauth-nonce-loaded");
    assert.equal(loaded.length, 1, `messages: ${JSON.stringify(messages)}`);
    assert.deepEqual(loaded[0].data, { type: "oauth-nonce-loaded" });
    assert.equal(loaded[0].origin, API_ORIGIN, "the message comes from the API's origin");
    assert.equal(new URL(popup.url()).pathname, `/projects/${PROJECT_ID}/sdk/actions/oauth-nonce`);
    // Scoped to the callback's path, so list every cookie rather than those for the base URL.
    const cookies = await popup.context().cookies();
    assert.ok(
      cookies.some((c) => c.domain === new URL(API_URL).hostname && c.path.endsWith("/oauth/callback") && c.httpOnly),
      `the nonce page sets an HttpOnly binding cookie for the callback: ${JSON.stringify(cookies.map((c) => c.name))}`,
    );
  });

  test("the popup's navigation carries what Tether checks: Referer (origin) and Sec-Fetch-*", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { context, opener } = await openOpener();
    const sent = [];
    context.on("request", (request) => {
      if (new URL(request.url()).pathname.endsWith("/sdk/actions/oauth-nonce")) sent.push(request);
    });
    await openNoncePopup(opener, USER_TOKEN);
    assert.equal(sent.length, 1);
    const headers = await sent[0].allHeaders();
    // The opener page's path is cut off (strict-origin-when-cross-origin); its origin remains.
    assert.equal(headers.referer, `${openerOrigin}/`, JSON.stringify(headers));
    assert.equal(headers["sec-fetch-mode"], "navigate", JSON.stringify(headers));
    assert.equal(headers["sec-fetch-dest"], "document", JSON.stringify(headers));
    assert.ok(["same-site", "cross-site"].includes(headers["sec-fetch-site"]), JSON.stringify(headers));
  });

  test("a page on an origin the project does not allow gets no binding cookie", { timeout: TEST_TIMEOUT_MS }, async () => {
    // Issue 7's attack: the stranger's page opens the popup with the stranger's own user token.
    const { context, opener } = await openOpener(strangerOrigin);
    await opener.evaluate((url) => {
      window.__nonceUrl = url;
    }, nonceUrl(strangerOrigin, USER_TOKEN_2));
    const [popup, response] = await Promise.all([
      opener.waitForEvent("popup"),
      context.waitForEvent("response", (r) => new URL(r.url()).pathname.endsWith("/sdk/actions/oauth-nonce")),
      opener.click("#connect"),
    ]);
    assert.equal(response.status(), 403);
    await popup.waitForLoadState("domcontentloaded");
    assert.equal((await popup.locator("#code").textContent()).trim(), "popup_origin_not_allowed");
    assert.deepEqual(await context.cookies(), [], "no binding cookie in the victim's browser");
    assert.deepEqual(await opener.evaluate(() => window.__messages), [], "the page posted nothing to the opener");
  });

  test("approving on the consent page ends on the success page", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { opener } = await openOpener();
    const { popup } = await openNoncePopup(opener, USER_TOKEN);
    const metaKeyId = newMetaKeyId();
    const built = await buildOauth(USER_TOKEN, metaKeyId);
    assert.equal(typeof built.redirectUrl, "string", JSON.stringify(built));
    assert.deepEqual(await sessionStatus(USER_TOKEN, metaKeyId), { id: metaKeyId, status: "PENDING" });

    await goToConsent(opener, popup, built.redirectUrl);
    // Log in as the last sandbox user (and one of that user's sites, when a site is asked for).
    const users = await popup.locator("#user option").evaluateAll((options) =>
      options.map((o) => ({ value: o.value, label: o.textContent })),
    );
    assert.ok(users.length >= 1, "the consent page offers at least one user");
    const chosen = users[users.length - 1];
    await popup.selectOption("#user", chosen.value);
    if ((await popup.locator("#site").count()) > 0) {
      const groups = await popup.locator("#site optgroup").evaluateAll((elements) =>
        elements.map((g) => ({ label: g.label, values: [...g.querySelectorAll("option")].map((o) => o.value) })),
      );
      const own = groups.find((g) => g.label === chosen.label);
      assert.ok(own && own.values.length > 0, `no site for ${chosen.label}: ${JSON.stringify(groups)}`);
      await popup.selectOption("#site", own.values[0]);
    }
    await screenshot(popup, "consent");

    // Listen before clicking: on a slow machine the page may close before a later listener starts.
    const closed = new Promise((resolve) => popup.once("close", resolve));
    const { response, result } = await answerConsent(popup, "#approve");
    await screenshot(popup, "success");
    assert.equal(response.status(), 200);
    assert.equal(response.headers()["referrer-policy"], "no-referrer");
    assert.equal(result.ok, "true", JSON.stringify(result));
    assert.equal(result.title, "Connected");
    assert.match(result.detail, /connected/i);

    const session = await sessionStatus(USER_TOKEN, metaKeyId);
    assert.equal(session.status, "COMPLETE", JSON.stringify(session));
    assert.equal(typeof session.connectCredentialId, "string", JSON.stringify(session));
    assert.ok(session.connectCredentialId.length > 0);
    assert.equal(session.error, undefined);

    // The new credential is the user's, and the success page closes itself.
    const credential = await getJson(
      `/projects/${PROJECT_ID}/sdk/credentials/${encodeURIComponent(session.connectCredentialId)}`,
      USER_TOKEN,
    );
    assert.equal(credential.id, session.connectCredentialId, JSON.stringify(credential));
    assert.equal(String(credential.providerId), chosen.value, "the credential is for the user picked on the page");
    await withTimeout(closed, SELF_CLOSE_TIMEOUT_MS, "the success page did not close itself");
  });

  test("the consent page fits the SDK's 500x600 popup: Approve and Deny show without scrolling", { timeout: TEST_TIMEOUT_MS }, async () => {
    const built = await buildOauth(USER_TOKEN, newMetaKeyId());
    // The size the SDK opens its popup with (window.open(..., "width=500,height=600")).
    const context = await browser.newContext({ viewport: { width: 500, height: 600 } });
    contexts.push(context);
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    const page = await context.newPage();
    await page.goto(built.redirectUrl);
    for (const button of ["#approve", "#deny"]) {
      const box = await page.locator(button).boundingBox();
      assert.ok(box, `${button} is rendered`);
      assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= 500 && box.y + box.height <= 600, `${button}: ${JSON.stringify(box)}`);
    }
    const scroll = await page.evaluate(() => ({ width: document.documentElement.scrollWidth }));
    assert.ok(scroll.width <= 500, `no sideways scrolling: ${JSON.stringify(scroll)}`);
    await screenshot(page, "consent-500x600");
  });

  test("denying ends on a clear error page and the session reports the error", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { opener } = await openOpener();
    const { popup } = await openNoncePopup(opener, USER_TOKEN_2);
    const metaKeyId = newMetaKeyId();
    const built = await buildOauth(USER_TOKEN_2, metaKeyId);
    assert.equal(typeof built.redirectUrl, "string", JSON.stringify(built));

    await goToConsent(opener, popup, built.redirectUrl);
    const { response, result } = await answerConsent(popup, "#deny");
    await screenshot(popup, "denied");
    assert.ok(response.status() >= 400, `the denied callback answers an error status, not ${response.status()}`);
    assert.equal(result.ok, "false", JSON.stringify(result));
    assert.ok(result.title, "the error page has a title");
    assert.match(result.detail, /access/i, JSON.stringify(result));
    assert.ok(!popup.isClosed(), "the error page stays open long enough to be read");

    const session = await sessionStatus(USER_TOKEN_2, metaKeyId);
    assert.equal(session.status, "ERROR", JSON.stringify(session));
    assert.equal(typeof session.error?.message, "string", JSON.stringify(session));
    assert.match(session.error.message, /access/i);
    assert.ok(session.error.code, JSON.stringify(session));
  });
});
