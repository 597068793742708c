// The real @useparagon/connect SDK's headless connect flow (`installIntegration`) against a running
// Tether stack and its WordPress.com sandbox, with the popup emulated over HTTP.
//
// Environment: TETHER_API_URL, TETHER_PROJECT_ID, TETHER_WPCOM_ORIGIN (the sandbox's origin), and
// two user tokens of users no other test uses: TETHER_CONNECT_USER_TOKEN (approves the consent)
// and TETHER_DENY_USER_TOKEN (denies it). Started by tests/test_devstack.py.
//
// How the popup is emulated: the shim's `window.open()` returns a FakePopup. Like a browser, the
// test then loads the popup's first page (oauth-nonce) over HTTP, keeping its Set-Cookie in a
// small cookie jar, and since the page's script would post {type: "oauth-nonce-loaded"} to its
// opener, delivers that message to the window's listeners. The SDK reacts by setting
// `popup.location.href` to the consent URL from build-oauth; the test follows that navigation's
// redirect chain over HTTP (consent at the sandbox, answered at once by `sandbox_auto`, then
// Tether's OAuth callback, which gets the jar's cookie) while the SDK polls the connect session.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { drivePopup } from "./popup.mjs";
import { browser, loadParagon, realSetTimeout, SDK_PAGE_ORIGIN, withTimeout, configureForTether } from "./shim.mjs";

const API_URL = (process.env.TETHER_API_URL ?? "").replace(/\/+$/, "");
const PROJECT_ID = process.env.TETHER_PROJECT_ID;
const WPCOM_ORIGIN = (process.env.TETHER_WPCOM_ORIGIN ?? "").replace(/\/+$/, "");
const CONNECT_TOKEN = process.env.TETHER_CONNECT_USER_TOKEN;
const DENY_TOKEN = process.env.TETHER_DENY_USER_TOKEN;

const BINDING_COOKIE = "tether_connect";
const HTTP_TIMEOUT_MS = 10_000;
// The SDK starts polling 500 ms after the popup opens and polls once a second; the flow itself
// takes a few hundred milliseconds, so this is a generous bound, far below the SDK's own 180 s.
const FLOW_TIMEOUT_MS = 20_000;

const realFetch = globalThis.fetch;
const paragon = loadParagon();

// --- What the SDK sends: every fetch it makes, recorded --------------------------------------

const sdkRequests = [];
globalThis.fetch = function recordingFetch(input, init = {}) {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const headers = new Headers(init.headers ?? {});
  sdkRequests.push({ method: (init.method ?? "GET").toUpperCase(), path: url.pathname, url, headers });
  return realFetch(input, init);
};

function requestsTo(pattern, method, since = 0) {
  return sdkRequests.slice(since).filter((r) => pattern.test(r.path) && (method === undefined || r.method === method));
}

async function eventually(check, what, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => realSetTimeout(resolve, 50));
  }
}

// --- Helpers ---------------------------------------------------------------------------------

function configure() {
  configureForTether(paragon, API_URL);
}

async function sdkGet(path, token) {
  const response = await realFetch(`${API_URL}/projects/${PROJECT_ID}${path}`, {
    headers: { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body };
}

function settled(promise) {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  );
}

function queryOf(url) {
  return Object.fromEntries(url.searchParams.entries());
}

function assertNotConnected(wordpress, where) {
  assert.ok(wordpress, `${where}: no wordpress entry`);
  assert.equal(wordpress.enabled, false, `${where}: ${JSON.stringify(wordpress)}`);
  assert.deepEqual(wordpress.allCredentials, [], `${where}: ${JSON.stringify(wordpress)}`);
  assert.equal(wordpress.credentialId ?? null, null, `${where}: ${JSON.stringify(wordpress)}`);
}

/** The popup's first page set the binding cookie as the protocol asks. */
function assertBindingCookie(driver) {
  const page = driver.noncePage;
  assert.equal(page.url.origin, new URL(API_URL).origin);
  assert.equal(page.url.pathname, `/projects/${PROJECT_ID}/sdk/actions/oauth-nonce`);
  assert.equal(page.headers.get("referrer-policy"), "no-referrer");
  const cookie = driver.jar.get(BINDING_COOKIE);
  assert.ok(cookie, `the oauth-nonce page set no ${BINDING_COOKIE} cookie`);
  assert.equal(cookie.path, `${new URL(API_URL).pathname.replace(/\/+$/, "")}/oauth/callback`);
  assert.equal(cookie.attributes.httponly, true);
  assert.equal(String(cookie.attributes.samesite).toLowerCase(), "lax");
  assert.equal(page.cookieSent, null, "no cookie is due on the first page");
}

/** The consent navigation: the sandbox's authorize URL, its redirect, then Tether's callback. */
function assertConsentHops(page, cookieValue) {
  const [authorize, ...rest] = page.hops;
  assert.equal(authorize.url.origin, WPCOM_ORIGIN, `consent went to ${authorize.url.href}`);
  assert.equal(authorize.url.pathname, "/oauth2/authorize");
  const params = queryOf(authorize.url);
  assert.equal(params.redirect_uri, `${API_URL}/oauth/callback`);
  assert.equal(params.response_type, "code");
  assert.ok(params.client_id, "no client_id");
  assert.ok(params.state, "no state");
  assert.ok(!authorize.url.href.includes("userToken"), "the consent URL must not carry the user token");
  assert.equal(authorize.cookieSent, null, "the binding cookie must not reach the provider");
  assert.equal(authorize.status, 302);
  assert.equal(rest.length, 1, `unexpected redirects: ${page.hops.map((h) => `${h.status} ${h.url}`).join(" -> ")}`);
  const callback = rest[0];
  assert.equal(`${callback.url.origin}${callback.url.pathname}`, `${API_URL}/oauth/callback`);
  assert.equal(queryOf(callback.url).state, params.state);
  assert.equal(callback.cookieSent, `${BINDING_COOKIE}=${cookieValue}`);
  assert.equal(callback.headers.get("referrer-policy"), "no-referrer");
  return queryOf(callback.url);
}

// ---------------------------------------------------------------------------------------------

describe("headless installIntegration against Tether", () => {
  before(() => {
    assert.ok(API_URL, "TETHER_API_URL is not set");
    assert.ok(PROJECT_ID, "TETHER_PROJECT_ID is not set");
    assert.ok(WPCOM_ORIGIN, "TETHER_WPCOM_ORIGIN is not set");
    assert.ok(CONNECT_TOKEN, "TETHER_CONNECT_USER_TOKEN is not set");
    assert.ok(DENY_TOKEN, "TETHER_DENY_USER_TOKEN is not set");
    assert.ok(!API_URL.includes("proxy"), "the SDK treats URLs containing 'proxy' as proxy calls");
  });

  test("installIntegration connects a WordPress.com account", async () => {
    configure();
    await withTimeout(paragon.authenticate(PROJECT_ID, CONNECT_TOKEN), HTTP_TIMEOUT_MS, "authenticate()");
    assertNotConnected(paragon.getUser().integrations.wordpress, "before installIntegration");
    const integrationId = paragon.getIntegrationId("wordpress");

    const driver = drivePopup({ decision: "approve", wpcomUser: "alicebaker" });
    const onSuccessCalls = [];
    const first = sdkRequests.length;
    let result;
    let page;
    try {
      [result, page] = await withTimeout(
        Promise.all([
          paragon.installIntegration("wordpress", { onSuccess: (event) => onSuccessCalls.push(event) }),
          driver.finished,
        ]),
        FLOW_TIMEOUT_MS,
        "the connect flow",
      );
    } finally {
      driver.stop();
    }

    // The popup: its first page (binding cookie), then consent and the callback's result page.
    assert.equal(browser.popups.at(-1), driver.popup);
    assert.equal(driver.popup.history.length, 2, `popup went to ${driver.popup.history.join(", ")}`);
    assertBindingCookie(driver);
    const callbackQuery = assertConsentHops(page, driver.jar.get(BINDING_COOKIE).value);
    assert.ok(callbackQuery.code, `the provider sent no code: ${JSON.stringify(callbackQuery)}`);
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /Connected/);

    // What installIntegration resolved with.
    assert.equal(result.integrationType, "wordpress");
    assert.equal(result.integrationId, integrationId);
    assert.equal(typeof result.credentialId, "string");
    assert.ok(result.credentialId.length > 0);
    // 2.4.0 resolves through its onInstall event first, which adds the credential as fetched.
    assert.equal(result.credential?.id, result.credentialId, JSON.stringify(result));
    assert.equal(result.credential.status, "VALID");
    assert.equal(onSuccessCalls.length, 1, "the onSuccess option was not called once");
    assert.equal(onSuccessCalls[0].credentialId, result.credentialId);

    // The SDK's side of the protocol: build-oauth with the popup's session id, polling, then cleanup.
    const built = requestsTo(/^\/v2\/projects\/[^/]+\/sdk\/actions\/build-oauth$/, "GET", first);
    assert.equal(built.length, 1);
    const sessionId = built[0].url.searchParams.get("oauthMetaKeyId");
    assert.ok(sessionId, "build-oauth carried no oauthMetaKeyId");
    assert.equal(built[0].url.searchParams.get("originForPostMessage"), SDK_PAGE_ORIGIN);
    const sessionPath = `/projects/${PROJECT_ID}/sdk/actions/session-id/${sessionId}`;
    assert.ok(requestsTo(new RegExp(`^${sessionPath}$`), "GET", first).length >= 1, "the SDK never polled");
    await eventually(
      () => requestsTo(new RegExp(`^${sessionPath}$`), "DELETE", first).length === 1,
      "the SDK's DELETE of the connect session",
    );

    // The SDK's state, then the same after a fresh authenticate() (from /sdk/me).
    let wordpress = paragon.getUser().integrations.wordpress;
    assert.equal(wordpress.enabled, true, JSON.stringify(wordpress));
    assert.equal(wordpress.credentialId, result.credentialId);
    assert.equal(wordpress.credentialStatus, "VALID");

    await withTimeout(paragon.authenticate(PROJECT_ID, CONNECT_TOKEN), HTTP_TIMEOUT_MS, "authenticate() again");
    wordpress = paragon.getUser().integrations.wordpress;
    assert.equal(wordpress.enabled, true, JSON.stringify(wordpress));
    assert.equal(wordpress.credentialId, result.credentialId);
    assert.equal(wordpress.credentialStatus, "VALID");
    assert.deepEqual(
      wordpress.allCredentials.map((c) => [c.id, c.status]),
      [[result.credentialId, "VALID"]],
    );

    const credential = await sdkGet(`/sdk/credentials/${result.credentialId}`, CONNECT_TOKEN);
    assert.equal(credential.status, 200, JSON.stringify(credential.body));
    assert.equal(credential.body.id, result.credentialId);
    assert.equal(credential.body.status, "VALID");

    // uninstallIntegration deletes it, naming it in X-Paragon-Credential.
    await withTimeout(paragon.uninstallIntegration("wordpress"), HTTP_TIMEOUT_MS, "uninstallIntegration()");
    const [uninstall] = requestsTo(new RegExp(`^/projects/${PROJECT_ID}/sdk/integrations/${integrationId}$`), "DELETE");
    assert.ok(uninstall, "the SDK sent no DELETE /sdk/integrations/{integrationId}");
    assert.equal(uninstall.headers.get("x-paragon-credential"), result.credentialId);
    assert.equal(paragon.getUser().integrations.wordpress.enabled, false);

    const me = await sdkGet("/sdk/me", CONNECT_TOKEN);
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assertNotConnected(me.body.integrations.wordpress, "/sdk/me after uninstallIntegration");
    const gone = await sdkGet(`/sdk/credentials/${result.credentialId}`, CONNECT_TOKEN);
    assert.equal(gone.status, 404, JSON.stringify(gone.body));
  });

  test("denying consent rejects installIntegration with the error message", async () => {
    configure();
    await withTimeout(paragon.authenticate(PROJECT_ID, DENY_TOKEN), HTTP_TIMEOUT_MS, "authenticate()");
    assertNotConnected(paragon.getUser().integrations.wordpress, "before installIntegration");

    const driver = drivePopup({ decision: "deny", wpcomUser: "bobortega" });
    let outcome;
    let page;
    try {
      [outcome, page] = await withTimeout(
        Promise.all([settled(paragon.installIntegration("wordpress", {})), driver.finished]),
        FLOW_TIMEOUT_MS,
        "the connect flow",
      );
    } finally {
      driver.stop();
    }

    assertBindingCookie(driver);
    const callbackQuery = assertConsentHops(page, driver.jar.get(BINDING_COOKIE).value);
    assert.equal(callbackQuery.error, "access_denied");
    assert.equal(callbackQuery.code, undefined);
    assert.equal(page.status, 400, page.body);
    assert.match(page.body, /Connection failed/);
    assert.match(page.body, /did not grant access/);

    assert.equal(outcome.ok, false, `installIntegration resolved with ${JSON.stringify(outcome.value)}`);
    assert.ok(outcome.error instanceof Error, `rejected with ${outcome.error}`);
    // The SDK puts the JSON error body of the failed credential lookup in the Error's message.
    assert.match(outcome.error.message, /did not grant access \(access_denied\)/);

    assertNotConnected(paragon.getUser().integrations.wordpress, "the SDK after the denial");
    const me = await sdkGet("/sdk/me", DENY_TOKEN);
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assertNotConnected(me.body.integrations.wordpress, "/sdk/me after the denial");
  });
});
