// Tether's Connect Portal: the page `paragon.connect(type, options)` shows, in the frame the
// Paragon SDK (@useparagon/connect 2.4) creates at `CONNECT_PUBLIC_URL/ui`.
//
// The protocol, as the SDK bundle (dist/src/ConnectSDK.js) implements it:
//
// - The SDK creates the frame (hidden, `display: none`, fixed over the whole page) when it is
//   loaded, and sets its `src` again on `configureGlobal`; `?projectId=` only when the SDK already
//   knows the project (state kept in localStorage). On each frame `load` and on every state change
//   it posts, with target origin CONNECT_PUBLIC_URL:
//     {messageType: "UI_UPDATE",
//      nextContext: {user: <the SDK's userState: authenticated, token, userId, integrations, meta>,
//                    projectId, environments, project, endUserIntegrationConfig},
//      nextModalState: {integration: <the /sdk/integrations entry, or null when closed>,
//                       config: <its configs[0].values: description, overview, accentColor,
//                                workflowMeta, sharedMeta.inputs>,
//                       apiInstallationOptions, selectedCredentialId, connectionError, ...}}
//   `connect()` sets `integration` (open); the user token travels in `user.token`: this page
//   copies what it shows and drops the rest at once (it never stores or sends the token).
// - The frame calls SDK methods by name:
//     {messageType: "SDK_FUNCTION_INVOCATION", type: <method>, parameters: [...], id}
//   The SDK runs `this[type](...parameters)` and answers the message's source, target origin
//   CONNECT_PUBLIC_URL, with {messageType: "SDK_FUNCTION_RESPONSE", type, result, id} or
//   {messageType: "SDK_FUNCTION_ERROR", error: true, message, id}.
// - Showing and hiding: the frame calls `updateContainerStyle({isModalShown})` (the SDK sets the
//   frame's display) and `onOpen()` (fires the connect() options' `onOpen` and "onPortalOpen").
//   Closing calls `closePortal()`: the SDK fires `onClose` ("onPortalClose") and posts a UI_UPDATE
//   with `integration: null`.
// - Connecting calls `startOAuthFlow(type, apiInstallationOptions)`: the SDK opens its popup, and
//   when the popup has closed polls the connect session; on success it fires the connect()
//   options' `onInstall`, or `onSuccess` when there is no `onInstall` ("onIntegrationInstall"),
//   and posts the new credential in a UI_UPDATE. (`installIntegration` would first close the
//   portal and replace the connect() callbacks, so the portal does not use it.)
// - Disconnecting calls `uninstallIntegration(type, {selectedCredentialId})`: `onUninstall`.
// - A workflow switch calls `enableWorkflow` / `disableWorkflow(id, {selectedCredentialId})`, then
//   `triggerSDKEvent({type: "onWorkflowChange", integrationId, integrationType, workflowId,
//   workflowStateChange: {enabled}})`: the SDK fires `onWorkflowChange` only when told so.
// - Settings call `updateIntegrationUserSettings(type, values, {selectedCredentialId})`
//   (PATCH /sdk/credentials/{id} `{config: {sharedSettings}}`).
// The SDK fires each connect() callback once (it deletes it after the call).
//
// Security: messages are accepted only from the parent window and its origin (the browser's
// `location.ancestorOrigins`, else the first message's, which must be one of the project's
// allowed origins when it lists any); this page posts to that origin only. Everything from the
// project or the SDK is written with textContent (the page's CSP enforces Trusted Types, so no
// HTML sink works at all).
(function () {
  "use strict";

  const root = document.documentElement;
  const PROJECT_ID = root.dataset.project || "";
  const ALLOWED = (root.dataset.origins || "").split(" ").filter(Boolean);
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const COLOR = /^#[0-9a-fA-F]{6}$/;
  const ICONS = { wordpress: "ui/assets/wordpress.svg" };

  let parentOrigin = null;
  if (window.location.ancestorOrigins && window.location.ancestorOrigins.length > 0) {
    parentOrigin = window.location.ancestorOrigins[0];
  }

  function originAccepted(origin) {
    return ALLOWED.length === 0 || ALLOWED.indexOf(origin) !== -1;
  }

  // Accept a message only from the parent window, from the origin it has.
  function fromParent(event) {
    if (event.source !== window.parent || window.parent === window) return false;
    if (parentOrigin === null) {
      if (!originAccepted(event.origin)) return false;
      parentOrigin = event.origin;
    }
    return event.origin === parentOrigin && originAccepted(event.origin);
  }

  // ---- the project-less first load: learn the project, then reload with it ------------------
  if (!PROJECT_ID) {
    window.addEventListener("message", function onFirst(event) {
      if (!fromParent(event)) return;
      const data = event.data;
      if (!data || data.messageType !== "UI_UPDATE" || !data.nextContext) return;
      const projectId = String(data.nextContext.projectId || "").toLowerCase();
      if (!UUID.test(projectId)) return; // not authenticated yet: wait for the next update
      window.removeEventListener("message", onFirst);
      window.location.replace("ui?projectId=" + encodeURIComponent(projectId));
    });
    return;
  }

  // ---- calling the SDK ---------------------------------------------------------------------
  let sequence = 0;
  const pending = new Map();

  function invoke(type, ...parameters) {
    return new Promise((resolve, reject) => {
      if (parentOrigin === null) {
        reject(new Error("The portal is not connected to your app yet."));
        return;
      }
      sequence += 1;
      const id = "tether-portal-" + sequence + "-" + Math.random().toString(36).slice(2);
      pending.set(id, { resolve, reject });
      window.parent.postMessage({ messageType: "SDK_FUNCTION_INVOCATION", type, parameters, id }, parentOrigin);
    });
  }

  // ---- state (what is shown; never the token) --------------------------------------------
  let user = null; // {userId, integrations}
  let modal = null; // {integration, config, apiInstallationOptions, selectedCredentialId}
  let shown = false;
  let busy = false;
  let waitingForPopup = false;
  let connectedBefore = 0; // accounts before the popup opened

  const $ = (id) => document.getElementById(id);

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "className") node.className = value;
      else if (name === "htmlFor") node.setAttribute("for", value);
      else if (name in node && typeof value !== "string") node[name] = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function text(value, limit) {
    const s = typeof value === "string" ? value : "";
    return s.length > limit ? s.slice(0, limit) + "…" : s;
  }

  function onUpdate(data) {
    const context = data.nextContext || {};
    const sdkUser = context.user || {};
    // Copy only what the portal shows: the SDK's user state carries the user token.
    user = sdkUser.authenticated ? { userId: sdkUser.userId, integrations: sdkUser.integrations || {} } : null;
    if (waitingForPopup && user && modal) {
      const state = user.integrations[String(modal.integration.type || "")] || {};
      if ((state.allCredentials || []).length > connectedBefore) {
        waitingForPopup = false;
        say("Connected.");
      }
    }
    const next = data.nextModalState || {};
    modal = next.integration
      ? {
          integration: next.integration,
          config: next.config || {},
          apiInstallationOptions: next.apiInstallationOptions || {},
          selectedCredentialId: next.selectedCredentialId,
          connectionError: next.connectionError ? String(next.connectionError.message || "") : "",
        }
      : null;
    render();
  }

  window.addEventListener("message", (event) => {
    if (!fromParent(event)) return;
    const data = event.data;
    if (!data || typeof data !== "object") return;
    if (data.messageType === "UI_UPDATE") {
      onUpdate(data);
    } else if (data.messageType === "SDK_FUNCTION_RESPONSE" || data.messageType === "SDK_FUNCTION_ERROR") {
      const call = pending.get(data.id);
      if (!call) return;
      pending.delete(data.id);
      if (data.messageType === "SDK_FUNCTION_RESPONSE") call.resolve(data.result);
      else call.reject(new Error(typeof data.message === "string" ? data.message : "The request failed."));
    }
  });

  // ---- words for errors -------------------------------------------------------------------
  function plainError(error) {
    let message = String((error && error.message) || error || "Something went wrong.");
    // The SDK makes an HTTP error's message the JSON body Tether answered: show its words.
    try {
      const body = JSON.parse(message);
      if (body && typeof body.message === "string") message = body.message;
    } catch (_) {
      /* not JSON: already words */
    }
    return message.length > 400 ? message.slice(0, 400) + "…" : message;
  }

  function showError(message) {
    const node = $("error");
    node.textContent = message || "";
    node.hidden = !message;
  }

  function say(message) {
    $("status").textContent = message || "";
  }

  function setControlsDisabled(disabled) {
    for (const node of $("content").querySelectorAll("button, input, select")) node.disabled = disabled;
  }

  // Run one SDK action at a time: controls are disabled meanwhile, the outcome is said in the
  // live region (or shown as an error). After it the content is drawn again from the SDK's state,
  // except after a failed settings save, which keeps what the user typed.
  async function act(status, work, keepOnError) {
    if (busy) return;
    busy = true;
    const active = document.activeElement;
    focusAfterAction = active && $("content").contains(active) ? active.id : "";
    showError("");
    say(status);
    setControlsDisabled(true);
    let failed = false;
    try {
      const done = await work();
      say(done || "");
    } catch (error) {
      failed = true;
      say("");
      showError(plainError(error));
    } finally {
      busy = false;
      if (failed && keepOnError) {
        setControlsDisabled(false);
        const again = focusAfterAction && document.getElementById(focusAfterAction);
        focusAfterAction = "";
        if (again) again.focus();
      } else {
        renderContent();
      }
    }
  }

  // ---- what is shown ------------------------------------------------------------------------
  function integrationType() {
    return modal ? String(modal.integration.type || "") : "";
  }

  function integrationState() {
    return (user && user.integrations[integrationType()]) || { allCredentials: [] };
  }

  function selectedCredential() {
    const state = integrationState();
    const credentials = state.allCredentials || [];
    const wanted = modal.selectedCredentialId || state.credentialId;
    return credentials.find((c) => c.id === wanted) || credentials.find((c) => c.status === "VALID") || null;
  }

  function defaultConfiguration(credential) {
    const configurations = (credential && credential.configurations) || [];
    return configurations.find((c) => c.isDefault) || configurations[0] || {};
  }

  function accountLabel(credential) {
    const data = credential.providerData || {};
    const name = data.display_name || data.username || credential.providerId || "Connected account";
    const site = data.primary_blog_url || data.blog_url || "";
    return { name: text(String(name), 120), site: text(String(site), 200) };
  }

  function render() {
    if (!modal) {
      if (shown) hide();
      return;
    }
    const integration = modal.integration;
    const config = modal.config;
    const accent = COLOR.test(config.accentColor || "") ? config.accentColor : "";
    if (accent) root.style.setProperty("--accent", accent);
    else root.style.removeProperty("--accent");
    $("title").textContent = text(integration.name, 80) || integrationType();
    $("description").textContent = text(config.description, 300) || "Connect your " + (text(integration.name, 80) || "account") + " account.";
    const icon = ICONS[integrationType()];
    $("icon").hidden = !icon;
    if (icon) $("icon").src = icon;
    if (modal.connectionError) showError(plainError(modal.connectionError));
    renderContent();
    if (!shown) show();
  }

  // The id of the control that had the focus when an action started: disabling it meanwhile
  // takes the focus away, and drawing again must give it back.
  let focusAfterAction = "";

  function renderContent() {
    const content = $("content");
    const active = document.activeElement && content.contains(document.activeElement) ? document.activeElement.id : "";
    const focused = active || focusAfterAction;
    if (!busy) focusAfterAction = "";
    content.replaceChildren();
    if (!modal) return;
    try {
      fillContent(content);
      if (busy) setControlsDisabled(true);
    } finally {
      // Drawing again must not lose the keyboard user's place.
      const again = focused && document.getElementById(focused);
      if (again) again.focus();
      else if (focused) $("close").focus();
    }
  }

  function fillContent(content) {
    if (!user) {
      content.appendChild(el("p", { className: "empty", text: "Sign in to your app to connect an account." }));
      return;
    }
    content.appendChild(accountsSection());
    const credential = selectedCredential();
    const connected = credential !== null && credential.status === "VALID";
    const workflows = workflowsSection(credential, connected);
    if (workflows) content.appendChild(workflows);
    const settings = settingsSection(credential, connected);
    if (settings) content.appendChild(settings);
    const overview = text(modal.config.overview, 4000);
    if (overview) {
      content.appendChild(el("h2", { id: "overview-heading", text: "Overview" }));
      content.appendChild(el("p", { id: "overview", className: "overview", text: overview }));
    }
  }

  function accountsSection() {
    const state = integrationState();
    const credentials = state.allCredentials || [];
    const section = el("section", { "aria-labelledby": "accounts-heading" }, [
      el("h2", { id: "accounts-heading", text: credentials.length > 1 ? "Connected accounts" : "Account" }),
    ]);
    if (credentials.length === 0) {
      section.appendChild(el("p", { id: "not-connected", className: "muted", text: "No account connected yet." }));
      const connect = el("button", {
        id: "connect",
        className: "button",
        type: "button",
        text: waitingForPopup ? "Connect again" : "Connect",
        disabled: busy,
      });
      connect.addEventListener("click", onConnect);
      section.appendChild(connect);
      return section;
    }
    const list = el("ul", { id: "accounts", className: "list" });
    for (const credential of credentials) {
      const label = accountLabel(credential);
      const valid = credential.status === "VALID";
      const disconnect = el("button", {
        id: "disconnect-" + credential.id,
        className: "button danger",
        type: "button",
        text: "Disconnect",
        disabled: busy,
        "aria-label": "Disconnect " + label.name,
        "data-credential": credential.id,
      });
      disconnect.addEventListener("click", () => onDisconnect(credential.id, label.name));
      list.appendChild(
        el("li", { className: "account", "data-credential": credential.id }, [
          el("div", { className: "grow" }, [
            el("div", { className: "account-name", text: label.name }),
            label.site ? el("div", { className: "muted", text: label.site }) : null,
          ]),
          el("span", { className: valid ? "badge" : "badge bad", text: valid ? "Connected" : "Needs reconnecting" }),
          disconnect,
        ]),
      );
    }
    section.appendChild(list);
    return section;
  }

  function workflowsSection(credential, connected) {
    const integration = modal.integration;
    const meta = modal.config.workflowMeta || {};
    const workflows = (integration.workflows || [])
      .filter((w) => !(meta[w.id] && meta[w.id].hidden))
      .sort((a, b) => ((meta[a.id] && meta[a.id].order) ?? 1e9) - ((meta[b.id] && meta[b.id].order) ?? 1e9));
    if (workflows.length === 0) return null;
    const settings = defaultConfiguration(credential).workflowSettings || {};
    const list = el("ul", { id: "workflows", className: "list" });
    for (const workflow of workflows) {
      const name = text(workflow.description, 200) || String(workflow.id);
      const enabled = Boolean(settings[workflow.id] && settings[workflow.id].enabled);
      const info = meta[workflow.id] && meta[workflow.id].infoText;
      const toggle = el("input", {
        type: "checkbox",
        role: "switch",
        className: "switch",
        id: "workflow-" + workflow.id,
        "data-workflow": workflow.id,
        checked: enabled,
        disabled: busy || !connected,
        "aria-label": name,
      });
      toggle.addEventListener("change", () => onToggle(workflow.id, name, toggle.checked, credential));
      list.appendChild(
        el("li", { className: "workflow" }, [
          el("div", { className: "grow" }, [
            el("label", { htmlFor: "workflow-" + workflow.id, text: name }),
            info ? el("div", { className: "muted", text: text(info, 300) }) : null,
          ]),
          toggle,
        ]),
      );
    }
    return el("section", { "aria-labelledby": "workflows-heading" }, [
      el("h2", { id: "workflows-heading", text: "Workflows" }),
      connected ? null : el("p", { className: "muted", text: "Connect an account to turn workflows on." }),
      list,
    ]);
  }

  function settingsSection(credential, connected) {
    const inputs = ((modal.config.sharedMeta && modal.config.sharedMeta.inputs) || []).filter(
      (input) => input && typeof input.id === "string" && !input.hidden,
    );
    if (inputs.length === 0 || !connected) return null;
    const values = defaultConfiguration(credential).sharedSettings || {};
    const form = el("form", { id: "settings-form", novalidate: true });
    for (const input of inputs) form.appendChild(settingField(input, values[input.id]));
    form.appendChild(el("button", { id: "save-settings", className: "button", type: "submit", text: "Save settings", disabled: busy }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      onSaveSettings(form, inputs, credential);
    });
    return el("section", { "aria-labelledby": "settings-heading" }, [el("h2", { id: "settings-heading", text: "Settings" }), form]);
  }

  function settingField(input, value) {
    const id = "setting-" + input.id;
    const title = text(input.title, 100) || input.id;
    const required = input.required === true;
    const current = value === undefined ? input.defaultValue : value;
    if (input.type === "BOOLEAN_INPUT" || input.type === "SWITCH") {
      return el("div", { className: "field inline" }, [
        el("input", { type: "checkbox", id, name: input.id, checked: current === true }),
        el("label", { htmlFor: id, text: title }),
      ]);
    }
    let control;
    if (input.type === "CUSTOM_DROPDOWN" || input.type === "ENUM") {
      control = el("select", { id, name: input.id, required });
      control.appendChild(el("option", { value: "", text: "Choose…" }));
      for (const option of input.customDropdownOptions || []) {
        control.appendChild(
          el("option", { value: String(option.value), text: text(option.label, 100), selected: option.value === current }),
        );
      }
    } else {
      const number = input.type === "NUMBER";
      control = el("input", {
        type: number ? "number" : "text",
        step: number ? "any" : null,
        id,
        name: input.id,
        required,
        placeholder: text(input.placeholder, 200) || null,
        value: current === undefined || current === null ? "" : String(current),
      });
    }
    return el("div", { className: "field" }, [el("label", { htmlFor: id, text: title + (required ? " (required)" : "") }), control]);
  }

  function readSettings(form, inputs) {
    const values = {};
    const problems = [];
    for (const input of inputs) {
      const control = form.elements.namedItem(input.id);
      const title = text(input.title, 100) || input.id;
      if (input.type === "BOOLEAN_INPUT" || input.type === "SWITCH") {
        values[input.id] = control.checked;
        continue;
      }
      const raw = String(control.value || "").trim();
      if (raw === "") {
        if (input.required === true) problems.push(title + " is required.");
        values[input.id] = null;
      } else if (input.type === "NUMBER") {
        const number = Number(raw);
        if (!Number.isFinite(number)) problems.push(title + " must be a number.");
        else values[input.id] = number;
      } else {
        values[input.id] = raw;
      }
    }
    return { values, problems };
  }

  // ---- actions ------------------------------------------------------------------------------
  function onConnect() {
    const type = integrationType();
    const options = Object.assign({}, modal.apiInstallationOptions);
    connectedBefore = (integrationState().allCredentials || []).length;
    waitingForPopup = true;
    act("Finish connecting in the pop-up window.", async () => {
      await invoke("startOAuthFlow", type, options);
      return "Finish connecting in the pop-up window. If it closed without connecting, press Connect again.";
    });
  }

  function onDisconnect(credentialId, name) {
    act("Disconnecting " + name + "…", async () => {
      await invoke("uninstallIntegration", integrationType(), { selectedCredentialId: credentialId });
      return name + " is disconnected.";
    });
  }

  function onToggle(workflowId, name, enabled, credential) {
    act((enabled ? "Turning on " : "Turning off ") + name + "…", async () => {
      const options = { selectedCredentialId: credential.id };
      await invoke(enabled ? "enableWorkflow" : "disableWorkflow", workflowId, options);
      await invoke("triggerSDKEvent", {
        type: "onWorkflowChange",
        integrationId: modal.integration.id,
        integrationType: integrationType(),
        workflowId,
        workflowStateChange: { enabled },
      });
      return name + (enabled ? " is on." : " is off.");
    });
  }

  function onSaveSettings(form, inputs, credential) {
    const { values, problems } = readSettings(form, inputs);
    if (problems.length) {
      showError(problems.join(" "));
      return;
    }
    act("Saving settings…", async () => {
      const answer = await invoke("updateIntegrationUserSettings", integrationType(), values, {
        selectedCredentialId: credential.id,
      });
      const errors = (answer && Array.isArray(answer.errors) ? answer.errors : []).map(String);
      if (errors.length) throw new Error(errors.join(" "));
      return "Settings saved.";
    }, true);
  }

  // ---- opening, closing, keyboard -------------------------------------------------------
  function focusables() {
    return Array.from($("modal").querySelectorAll("button, input, select, [href], [tabindex]")).filter(
      (node) => !node.disabled && !node.hidden && node.tabIndex !== -1 && node.offsetParent !== null,
    );
  }

  function show() {
    shown = true;
    $("backdrop").hidden = false;
    invoke("updateContainerStyle", { isModalShown: true })
      .then(() => {
        // The frame is visible now, so it can take the focus: the main action first.
        window.focus();
        const first = document.getElementById("connect") || focusables()[0];
        if (first) first.focus();
      })
      .catch((error) => showError(plainError(error)));
    invoke("onOpen").catch(() => {});
  }

  function hide() {
    shown = false;
    waitingForPopup = false;
    $("backdrop").hidden = true;
    showError("");
    say("");
    invoke("updateContainerStyle", { isModalShown: false }).catch(() => {});
  }

  function close() {
    if (!shown) return;
    invoke("closePortal").catch((error) => showError(plainError(error)));
  }

  $("close").addEventListener("click", close);
  $("backdrop").addEventListener("click", (event) => {
    if (event.target === $("backdrop")) close();
  });
  document.addEventListener("keydown", (event) => {
    if (!shown) return;
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "Tab") {
      // Keep focus inside the dialog.
      const nodes = focusables();
      if (nodes.length === 0) return;
      const first = nodes[0];
      const last = nodes[nodes.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    }
  });
})();
