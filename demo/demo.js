// The demo page's logic: plain browser JavaScript over the Paragon Connect SDK.
(function () {
  "use strict";
  let config; // {apiUrl, projectId, userId, userToken}, from /demo/config.json?user=...
  const paragon = window.ParagonConnect.paragon;
  const $ = (id) => document.getElementById(id);

  function show(id, text, kind) {
    const el = $(id);
    el.textContent = text;
    el.className = kind || "muted";
  }

  // The SDK rejects with an Error whose message is the JSON error body ({"message", "code"}):
  // show Tether's message in words, with its code.
  function errorText(error) {
    const text = (error && (error.message || String(error))) || "Unknown error";
    try {
      const body = JSON.parse(text);
      if (body && typeof body.message === "string") {
        return body.code ? body.message + " (" + body.code + ")" : body.message;
      }
    } catch (ignored) {
      // Not JSON: the text itself is the message.
    }
    return text;
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
    $("connect").hidden = connected;
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
      if (!response.ok) {
        const reason = body.message || body.error || "HTTP " + response.status;
        throw new Error(body.code ? reason + " (" + body.code + ")" : reason);
      }
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

  // The user's latest workflow runs with their steps, from the demo server (dev-only: it
  // reads them in-process for this user only; the project secret key never reaches the page).
  async function latestRuns() {
    const query = "?user=" + encodeURIComponent(config.userId);
    const response = await fetch("/demo/runs" + query, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || ("HTTP " + response.status));
    return body.runs || [];
  }

  const RUN_POLL_MS = 300;
  const RUN_WAIT_MS = 30000;

  function brief(value) {
    const text = JSON.stringify(value, null, 1);
    return text && text.length > 600 ? text.slice(0, 600) + "\n…" : text;
  }

  function renderRun(run) {
    $("run").hidden = false;
    $("run-id").textContent = run.id;
    $("run-status").textContent = run.status;
    $("run-status").className = run.status === "SUCCEEDED" ? "ok" : run.status === "FAILED" ? "error" : "";
    const list = $("run-steps");
    list.textContent = "";
    for (const step of run.steps || []) {
      const item = document.createElement("li");
      item.dataset.stepId = step.id;
      item.dataset.status = step.status;
      const head = document.createElement("div");
      head.className = "step-head";
      head.textContent = step.id + ": " + step.status + " (HTTP " + step.httpStatus + ", attempts " + step.attempts + ")";
      const input = document.createElement("pre");
      input.className = "step-input";
      input.textContent = "input: " + brief(step.input);
      const output = document.createElement("pre");
      output.className = "step-output";
      output.textContent = "output: " + brief(step.output);
      item.append(head, input, output);
      list.appendChild(item);
    }
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function publishArticle(event) {
    event.preventDefault();
    show("event-result", "Sending the event…");
    try {
      const before = new Set((await latestRuns()).map((run) => run.id));
      await paragon.event("article.published", { title: $("article-title").value, body: $("article-body").value });
      // paragon.event answers nothing; Tether records a run before it answers the event, so the
      // new run (the one not listed before) is there at once, or no workflow ran for this user.
      let run = (await latestRuns()).find((candidate) => !before.has(candidate.id));
      if (!run) throw new Error("No run started: connect WordPress.com first (and keep the workflow enabled).");
      const deadline = Date.now() + RUN_WAIT_MS;
      renderRun(run);
      while (run.status === "RUNNING") {
        if (Date.now() > deadline) throw new Error("The run is still running; reload to see it end.");
        await sleep(RUN_POLL_MS);
        run = (await latestRuns()).find((candidate) => candidate.id === run.id) || run;
        renderRun(run);
      }
      show("event-result", "Run " + run.status.toLowerCase() + ".", run.status === "SUCCEEDED" ? "ok" : "error");
      if (run.status === "SUCCEEDED" && $("site").value) await listPosts();
    } catch (error) {
      show("event-result", errorText(error), "error");
    }
  }

  async function loadConfig() {
    const user = new URLSearchParams(window.location.search).get("user");
    const response = await fetch("/demo/config.json" + (user === null ? "" : "?user=" + encodeURIComponent(user)));
    const body = await response.json();
    if (!response.ok) throw new Error(JSON.stringify(body));
    return body;
  }

  async function start() {
    try {
      config = await loadConfig();
    } catch (error) {
      $("status").textContent = "not started";
      show("connect-result", errorText(error), "error");
      document.body.dataset.ready = "true";
      return;
    }
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
    $("event-form").addEventListener("submit", publishArticle);
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
