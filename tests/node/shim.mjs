// A minimal browser for running the real @useparagon/connect SDK under Node.js.
//
// Importing this module installs `globalThis.window` and `globalThis.document` (what the SDK
// touches when it is loaded and while it runs) and makes the SDK's timers not hold the process
// open. Then `loadParagon()` loads the SDK and returns its `paragon` singleton.
//
// `browser` lets a test play the parts a real browser plays:
// - `browser.dispatchMessage(data, {origin, source})` delivers a `message` event to the listeners
//   registered with `window.addEventListener("message", ...)` (how a popup's page talks to the SDK);
// - `browser.onPopupOpen(handler)` is told about every `window.open()`; the popup it gets is a
//   `FakePopup` whose `location.href` setter notifies `popup.onNavigate(url)`, so the test can
//   follow the navigation over HTTP.

import { createRequire } from "node:module";

export const SDK_PAGE_ORIGIN = "http://localhost:3000";

function makeElement(tagName) {
  return {
    tagName: String(tagName).toUpperCase(),
    style: {},
    attributes: {},
    children: [],
    setAttribute(name, value) {
      this.attributes[name] = String(value);
    },
    getAttribute(name) {
      return this.attributes[name] ?? null;
    },
    appendChild(child) {
      this.children.push(child);
      return child;
    },
    removeChild(child) {
      this.children = this.children.filter((c) => c !== child);
      return child;
    },
    remove() {},
    addEventListener() {},
    removeEventListener() {},
    getBoundingClientRect() {
      return { top: 0, left: 0, width: 0, height: 0 };
    },
    contentWindow: null,
  };
}

function makeLocalStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => void items.set(key, String(value)),
    removeItem: (key) => void items.delete(key),
    clear: () => items.clear(),
    key: (index) => [...items.keys()][index] ?? null,
    get length() {
      return items.size;
    },
  };
}

/** A popup window: records where it was sent and tells `onNavigate` (set by the test). */
export class FakePopup {
  constructor(url, opener) {
    this.closed = false;
    this.opener = opener;
    this.history = [String(url)];
    this.onNavigate = null;
    const popup = this;
    this.location = {
      get href() {
        return popup.history[popup.history.length - 1];
      },
      set href(value) {
        popup.history.push(String(value));
        if (typeof popup.onNavigate === "function") popup.onNavigate(String(value));
      },
      assign(value) {
        this.href = value;
      },
      replace(value) {
        this.href = value;
      },
    };
  }

  close() {
    this.closed = true;
    this.opener = null;
  }

  focus() {}

  postMessage() {}
}

const listeners = new Map(); // event type -> [listener]
const popupOpenHandlers = new Set();
const popups = [];

function addEventListener(type, listener) {
  if (typeof listener !== "function") return;
  const list = listeners.get(type) ?? [];
  if (!list.includes(listener)) list.push(listener);
  listeners.set(type, list);
}

function removeEventListener(type, listener) {
  const list = listeners.get(type);
  if (list) listeners.set(type, list.filter((l) => l !== listener));
}

const documentShim = {
  readyState: "complete",
  body: makeElement("body"),
  head: makeElement("head"),
  createElement: makeElement,
  querySelector: () => null,
  querySelectorAll: () => [],
  getElementById: () => null,
  addEventListener() {},
  removeEventListener() {},
};

const windowShim = {
  document: documentShim,
  localStorage: makeLocalStorage(),
  location: { origin: SDK_PAGE_ORIGIN, href: `${SDK_PAGE_ORIGIN}/` },
  innerWidth: 1280,
  innerHeight: 800,
  addEventListener,
  removeEventListener,
  postMessage() {},
  open(url) {
    const popup = new FakePopup(url, windowShim);
    popups.push(popup);
    for (const handler of popupOpenHandlers) handler(popup);
    return popup;
  },
};

globalThis.window = windowShim;
globalThis.document = documentShim;

// The SDK's response cache schedules 5 s expiry timers and its OAuth flow runs 500 ms intervals
// (one of which is only cleared when the flow ends): keep such timers from holding the process
// open. Short ones stay ref'd: the SDK awaits them (its bundled `process.nextTick` is a 0 ms
// setTimeout, used by the response cache on every request), and with them unref'd Node may find
// the event loop empty while a test still awaits the SDK ("Promise resolution is still pending
// but the event loop has already resolved"). For the same reason a test that awaits the SDK's
// OAuth flow (1 s sleeps between polls) must hold a ref'd timer of its own: see `withTimeout`.
const UNREF_MIN_DELAY_MS = 100;
export const realSetTimeout = globalThis.setTimeout;
export const realClearTimeout = globalThis.clearTimeout;
const realSetInterval = globalThis.setInterval;
function unrefLong(schedule) {
  return function scheduleTimer(callback, delay, ...rest) {
    const handle = schedule(callback, delay, ...rest);
    if (Number(delay) >= UNREF_MIN_DELAY_MS && handle && typeof handle.unref === "function") handle.unref();
    return handle;
  };
}
globalThis.setTimeout = unrefLong(realSetTimeout);
globalThis.setInterval = unrefLong(realSetInterval);

export const browser = {
  window: windowShim,
  document: documentShim,
  popups,

  /** Calls `handler(popup)` on every `window.open()`, until the returned function is called. */
  onPopupOpen(handler) {
    popupOpenHandlers.add(handler);
    return () => popupOpenHandlers.delete(handler);
  },

  /** Delivers a `message` event to the window's listeners, as `postMessage` from `source` would. */
  dispatchMessage(data, { origin = SDK_PAGE_ORIGIN, source = null } = {}) {
    const event = { type: "message", data, origin, source };
    for (const listener of [...(listeners.get("message") ?? [])]) {
      try {
        const result = listener.call(windowShim, event);
        if (result && typeof result.catch === "function") result.catch(() => {});
      } catch {
        // A browser reports a listener's exception and carries on with the next listener.
      }
    }
  },
};

/** `promise`, or a rejection after `ms`; its timer keeps the event loop alive meanwhile. */
export async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = realSetTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    realClearTimeout(timer);
  }
}

/** Loads the SDK (after the shim is in place) and returns its `paragon` singleton. */
export function loadParagon() {
  const require = createRequire(import.meta.url);
  return require("@useparagon/connect").paragon;
}

/** Points the SDK at one Tether base URL for every service, headless, as the README shows. */
export function configureForTether(paragon, apiUrl) {
  const base = apiUrl.replace(/\/+$/, "");
  paragon.configureGlobal(
    { host: base },
    {
      ZEUS_PUBLIC_URL: base,
      HERMES_PUBLIC_URL: base,
      WORKER_PROXY_PUBLIC_URL: base,
      PASSPORT_PUBLIC_URL: base,
      CONNECT_PUBLIC_URL: `${base}/connect`,
    },
  );
  paragon.setHeadless(true);
}
