// The connect popup, played over HTTP the way a browser would, for Node tests of the real SDK's
// headless `installIntegration` (tests/node/connect.test.mjs explains the emulation).
//
// Environment: TETHER_WPCOM_ORIGIN (the sandbox's origin: where the consent page is answered).

import http from "node:http";

import { browser, SDK_PAGE_ORIGIN } from "./shim.mjs";

const WPCOM_ORIGIN = (process.env.TETHER_WPCOM_ORIGIN ?? "").replace(/\/+$/, "");
const MAX_REDIRECTS = 10;
const HTTP_TIMEOUT_MS = 10_000;

/** Cookies by host and path, as a browser keeps them (enough for Path, HttpOnly, SameSite=Lax). */
export class CookieJar {
  constructor() {
    this.cookies = [];
  }

  store(url, headers) {
    const lines = typeof headers.getSetCookie === "function" ? headers.getSetCookie() : [];
    for (const line of lines) {
      const [pair, ...attributes] = line.split(";").map((part) => part.trim());
      const eq = pair.indexOf("=");
      const cookie = {
        name: pair.slice(0, eq),
        value: pair.slice(eq + 1),
        host: url.hostname,
        path: url.pathname.replace(/\/[^/]*$/, "") || "/",
        attributes: {},
      };
      for (const attribute of attributes) {
        const [name, ...rest] = attribute.split("=");
        cookie.attributes[name.toLowerCase()] = rest.length ? rest.join("=") : true;
      }
      if (typeof cookie.attributes.path === "string" && cookie.attributes.path.startsWith("/")) {
        cookie.path = cookie.attributes.path;
      }
      const same = (c) => c.name === cookie.name && c.host === cookie.host && c.path === cookie.path;
      this.cookies = this.cookies.filter((c) => !same(c));
      if (cookie.attributes["max-age"] === undefined || Number(cookie.attributes["max-age"]) > 0) {
        this.cookies.push(cookie);
      }
    }
  }

  get(name) {
    return this.cookies.find((c) => c.name === name) ?? null;
  }

  /** The Cookie header a browser sends to `url` (cookies are per host, not per port). */
  header(url) {
    const matching = this.cookies.filter((c) => c.host === url.hostname && pathMatches(url.pathname, c.path));
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join("; ") : null;
  }
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

// What a browser sends on the navigation of a popup that the SDK's page opened with
// `window.open`: a top-level document navigation whose Referer is the page's origin (cut to the
// origin by the default strict-origin-when-cross-origin policy). The same headers go with each
// redirect, as in a browser, since the page that started the navigation stays the referrer.
const OPENED_BY_SDK_PAGE = {
  Referer: `${SDK_PAGE_ORIGIN}/`,
  "Sec-Fetch-Site": "cross-site",
  "Sec-Fetch-Mode": "navigate",
  "Sec-Fetch-Dest": "document",
};

/**
 * One GET of a navigation, over node:http: Node's fetch would send `Sec-Fetch-Mode: cors` whatever
 * it is told, and a popup's navigation is `navigate`. Answers a fetch Response (unread body).
 */
function navigationRequest(url, headers) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const received = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          for (const one of Array.isArray(value) ? value : [value]) received.append(name, one);
        }
        const body = [204, 205, 304].includes(response.statusCode) ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status: response.statusCode, headers: received }));
      });
    });
    request.on("error", reject);
  });
}

/** GET `url` in the popup: follow redirects (Location) like a browser, sending and storing cookies. */
export async function navigate(url, jar, rewrite = (u) => u) {
  const hops = [];
  let current = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    current = rewrite(current);
    const cookie = jar.header(current);
    const response = await navigationRequest(
      current,
      cookie ? { ...OPENED_BY_SDK_PAGE, Cookie: cookie } : OPENED_BY_SDK_PAGE,
    );
    jar.store(current, response.headers);
    const location = response.headers.get("location");
    const record = { url: current, status: response.status, headers: response.headers, cookieSent: cookie };
    hops.push(record);
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      current = new URL(location, current);
      continue;
    }
    return { ...record, body: await response.text(), hops };
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`);
}

/** At the sandbox's consent page, answer automatically as `wpcomUser`, the way a person would. */
function consentAnswer(decision, wpcomUser) {
  return (url) => {
    if (url.origin !== WPCOM_ORIGIN || url.pathname !== "/oauth2/authorize") return url;
    const extra = `sandbox_auto=${decision}&sandbox_user=${encodeURIComponent(wpcomUser)}`;
    return new URL(`${url.href}${url.search ? "&" : "?"}${extra}`);
  };
}

/**
 * Plays the browser for the next popup the SDK opens. `noncePage` is the popup's first page;
 * `finished` settles with the page the consent navigation ended on.
 */
export function drivePopup({ decision, wpcomUser }) {
  const jar = new CookieJar();
  const driver = { jar, popup: null, noncePage: null };
  driver.finished = new Promise((resolve, reject) => {
    driver.stop = browser.onPopupOpen((popup) => {
      driver.stop();
      driver.popup = popup;
      popup.onNavigate = (url) => navigate(url, jar, consentAnswer(decision, wpcomUser)).then(resolve, reject);
      (async () => {
        const page = await navigate(popup.location.href, jar);
        driver.noncePage = page;
        if (page.status !== 200 || !page.body.includes("oauth-nonce-loaded")) {
          throw new Error(`the oauth-nonce page answered ${page.status}: ${page.body.slice(0, 300)}`);
        }
        // What the page's script does: postMessage({type: "oauth-nonce-loaded"}) to its opener.
        browser.dispatchMessage({ type: "oauth-nonce-loaded" }, { origin: page.url.origin, source: popup });
      })().catch(reject);
    });
  });
  driver.finished.catch(() => {}); // Reported where the test awaits it.
  return driver;
}
