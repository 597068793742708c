// The demo page's logic: plain browser JavaScript over the Paragon Connect SDK.
(function () {
  "use strict";
  const config = window.TETHER_DEMO; // {apiUrl, projectId, userId, userToken}, from /demo/config.js
  const paragon = window.ParagonConnect.paragon;
  const $ = (id) => document.getElementById(id);

  function show(id, text, kind) {
    const el = $(id);
    el.textContent = text;
    el.className = kind || "muted";
  }

  function errorText(error) {
    return (error && (error.message || String(error))) || "Unknown error";
  }

  function wordpressState() {
    const user = paragon.getUser();
    return (user && user.integrations && user.integrations.wordpress) || {};
  }

  function renderStatus() {
    const state = wordpressState();
    const connected = Boolean(state.enabled);
    $("status").textContent = connected
      ? "connected (" + (state.providerData && state.providerData.username || state.providerId) + ")"
      : state.credentialStatus === "INVALID" ? "needs reconnecting" : "not connected";
    $("disconnect").hidden = !connected;
  }

  async function refreshUser() {
    await paragon.authenticate(config.projectId, config.userToken);
    renderStatus();
  }

  async function connect() {
    show("connect-result", "Waiting for WordPress.com…");
    try {
      const result = await paragon.installIntegration("wordpress", {});
      show("connect-result", "Connected: credential " + (result && result.credentialId || ""), "ok");
    } catch (error) {
      show("connect-result", errorText(error), "error");
    }
    await refreshUser();
  }

  async function disconnect() {
    try {
      await paragon.uninstallIntegration("wordpress");
      show("connect-result", "Disconnected.", "ok");
    } catch (error) {
      show("connect-result", errorText(error), "error");
    }
    await refreshUser();
  }

  async function proxyJson(path, options) {
    const response = await paragon.request("wordpress", path, options || { method: "GET" });
    // The SDK hands proxy answers back parsed (or as a Response in some versions).
    if (response && typeof response.json === "function") {
      const body = await response.json();
      if (!response.ok) throw new Error(body.message || body.error || ("HTTP " + response.status));
      return body;
    }
    return response;
  }

  async function listSites() {
    show("sites-result", "Loading…");
    try {
      const body = await proxyJson("v1.1/me/sites", { method: "GET" });
      const sites = body.sites || [];
      const list = $("sites");
      const select = $("site");
      list.textContent = "";
      select.textContent = "";
      for (const site of sites) {
        const item = document.createElement("li");
        item.textContent = site.name + " — " + site.URL + " (ID " + site.ID + ")";
        item.dataset.siteId = String(site.ID);
        list.appendChild(item);
        const option = document.createElement("option");
        option.value = String(site.ID);
        option.textContent = site.name;
        select.appendChild(option);
      }
      show("sites-result", sites.length + " site(s).", "ok");
      if (sites.length) await listPosts();
    } catch (error) {
      show("sites-result", errorText(error), "error");
    }
  }

  async function listPosts() {
    const siteId = $("site").value;
    if (!siteId) return;
    const body = await proxyJson("v1.1/sites/" + siteId + "/posts?number=5&fields=ID,title,URL");
    const list = $("posts");
    list.textContent = "";
    for (const post of body.posts || []) {
      const item = document.createElement("li");
      item.textContent = post.title + " (ID " + post.ID + ")";
      item.dataset.postId = String(post.ID);
      list.appendChild(item);
    }
  }

  async function createPost(event) {
    event.preventDefault();
    const siteId = $("site").value;
    if (!siteId) {
      show("post-result", "List your sites first.", "error");
      return;
    }
    show("post-result", "Creating…");
    try {
      const post = await proxyJson("sites/" + siteId + "/posts/new", {
        method: "POST",
        body: { title: $("title").value, content: $("content").value, tags: $("tags").value },
      });
      show("post-result", "Created post " + post.ID + ": " + post.title, "ok");
      await listPosts();
    } catch (error) {
      show("post-result", errorText(error), "error");
    }
  }

  async function start() {
    $("api-url").textContent = config.apiUrl;
    $("user-id").textContent = config.userId;
    const base = config.apiUrl;
    paragon.configureGlobal({ host: base }, {
      ZEUS_PUBLIC_URL: base,
      HERMES_PUBLIC_URL: base,
      WORKER_PROXY_PUBLIC_URL: base,
      PASSPORT_PUBLIC_URL: base,
      CONNECT_PUBLIC_URL: base + "/connect",
    });
    paragon.setHeadless(true);
    $("connect").addEventListener("click", connect);
    $("disconnect").addEventListener("click", disconnect);
    $("list-sites").addEventListener("click", listSites);
    $("post-form").addEventListener("submit", createPost);
    $("site").addEventListener("change", () => listPosts().catch((e) => show("post-result", errorText(e), "error")));
    try {
      await refreshUser();
    } catch (error) {
      $("status").textContent = "authentication failed";
      show("connect-result", errorText(error), "error");
    }
    document.body.dataset.ready = "true";
  }

  start();
})();
