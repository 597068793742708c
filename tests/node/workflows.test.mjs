// Workflows through the real @useparagon/connect SDK under Node.js, against a running `tether dev`
// whose step runner and state machines run locally: `paragon.event` runs the dev project's demo
// workflow (`post-articles`, demo/workflows/post-articles.json), `paragon.workflow` answers a
// request workflow's response step, and `enableWorkflow` / `disableWorkflow` decide whose events
// run what, and `updateWorkflowUserSettings` reaches the templates. Runs are read back through
// the admin runs API.
//
// Both users connect first with the SDK's own headless `installIntegration` (the popup played over
// HTTP by tests/node/popup.mjs, approving at the sandbox's consent page).
//
// Environment: TETHER_API_URL, TETHER_PROJECT_ID, TETHER_WPCOM_ORIGIN, TETHER_PROJECT_SECRET_KEY
// (the admin API: deploy the test's own workflows, read runs), and the tokens of two users no other
// test uses, not connected yet: TETHER_WORKFLOW_USER_TOKEN and TETHER_WORKFLOW_OTHER_USER_TOKEN.
// Started by tests/test_devstack.py.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { drivePopup } from "./popup.mjs";
import { configureForTether, loadParagon, realSetTimeout, withTimeout } from "./shim.mjs";

const API_URL = (process.env.TETHER_API_URL ?? "").replace(/\/+$/, "");
const PROJECT_ID = process.env.TETHER_PROJECT_ID;
const SECRET_KEY = process.env.TETHER_PROJECT_SECRET_KEY;
const USER_TOKEN = process.env.TETHER_WORKFLOW_USER_TOKEN;
const OTHER_TOKEN = process.env.TETHER_WORKFLOW_OTHER_USER_TOKEN;

const STEP_TIMEOUT_MS = 10_000;
const RUN_TIMEOUT_MS = 20_000;
const POLL_MS = 100;
const CONNECT_TIMEOUT_MS = 20_000;

// The demo workflow `tether dev` deploys (defaultEnabled: true).
const DEMO_WORKFLOW = "post-articles";
// Deployed by this file.
const SUMMARY_WORKFLOW = "node-site-summary";
const OPT_IN_WORKFLOW = "node-opt-in";
const OPT_IN_EVENT = "node.note-created";
const SETTINGS_WORKFLOW = "node-settings";

const paragon = loadParagon();

function subject(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8")).sub;
}

async function admin(method, path, body) {
  const response = await fetch(`${API_URL}/projects/${PROJECT_ID}${path}`, {
    method,
    headers: { Authorization: `Bearer ${SECRET_KEY}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  const json = await response.json();
  assert.ok(response.ok, `${method} ${path} -> ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Every run of `workflowId` (all users), newest first. */
async function runsOf(workflowId) {
  const runs = [];
  let cursor = "";
  do {
    const query = new URLSearchParams({ workflowId, limit: "100", ...(cursor ? { cursor } : {}) });
    const page = await admin("GET", `/runs?${query}`);
    runs.push(...page.runs);
    cursor = page.nextCursor ?? "";
  } while (cursor);
  return runs;
}

async function sleep(ms) {
  await new Promise((resolve) => realSetTimeout(resolve, ms));
}

/** The run once it has ended (the runs API with its steps). */
async function finished(runId) {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  for (;;) {
    const run = await admin("GET", `/runs/${runId}`);
    if (run.status !== "RUNNING") return run;
    assert.ok(Date.now() < deadline, `run ${runId} still RUNNING after ${RUN_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** Runs of `workflowId` that were not in `before` (a list of runs). */
async function newRuns(workflowId, before) {
  const known = new Set(before.map((run) => run.id));
  return (await runsOf(workflowId)).filter((run) => !known.has(run.id));
}

/** A real connect: the SDK's headless installIntegration, consent approved as `wpcomUser`. */
async function connectWordPress(token, wpcomUser) {
  configureForTether(paragon, API_URL);
  await withTimeout(paragon.authenticate(PROJECT_ID, token), STEP_TIMEOUT_MS, "authenticate");
  const driver = drivePopup({ decision: "approve", wpcomUser });
  try {
    const [installed] = await withTimeout(
      Promise.all([paragon.installIntegration("wordpress", {}), driver.finished]),
      CONNECT_TIMEOUT_MS,
      `installIntegration as ${wpcomUser}`,
    );
    assert.equal(installed.credential.status, "VALID");
  } finally {
    driver.stop();
  }
}

async function signIn(token) {
  configureForTether(paragon, API_URL);
  await withTimeout(paragon.authenticate(PROJECT_ID, token), STEP_TIMEOUT_MS, "authenticate");
  const wordpress = paragon.getUser().integrations.wordpress;
  assert.equal(wordpress.credentialStatus, "VALID", `the user is connected: ${JSON.stringify(wordpress)}`);
  return wordpress;
}

/** The user's workflowSettings entry for `workflowId`, as the SDK holds it. */
function sdkWorkflowSetting(workflowId) {
  const [credential] = paragon.getUser().integrations.wordpress.allCredentials;
  return credential.configurations[0].workflowSettings[workflowId];
}

describe("workflows through the real SDK", () => {
  before(async () => {
    assert.ok(process.env.TETHER_WPCOM_ORIGIN, "TETHER_WPCOM_ORIGIN");
    assert.ok(API_URL && PROJECT_ID && SECRET_KEY, "TETHER_API_URL, TETHER_PROJECT_ID, TETHER_PROJECT_SECRET_KEY");
    assert.ok(USER_TOKEN && OTHER_TOKEN, "TETHER_WORKFLOW_USER_TOKEN, TETHER_WORKFLOW_OTHER_USER_TOKEN");
    // Deployed before any authenticate(): the SDK reads the workflow list when it signs in.
    await admin("PUT", `/workflows/${SUMMARY_WORKFLOW}`, {
      name: "Site summary",
      integration: "wordpress",
      defaultEnabled: true,
      trigger: { type: "request" },
      steps: [
        { id: "sites", type: "request", method: "GET", path: "v1.1/me/sites" },
        {
          id: "answer",
          type: "response",
          status: 200,
          body: {
            firstSite: "{{ steps.sites.output.sites[0].name }}",
            siteCount: "{{ length(steps.sites.output.sites) }}",
            note: "{{ trigger.body.note }}",
            tags: "{{ trigger.body.tags }}",
          },
        },
      ],
    });
    await admin("PUT", `/workflows/${OPT_IN_WORKFLOW}`, {
      name: "Opt-in: read my profile",
      integration: "wordpress",
      defaultEnabled: false,
      trigger: { type: "app_event", event: OPT_IN_EVENT },
      steps: [{ id: "me", type: "request", method: "GET", path: "v1.1/me" }],
    });
    await admin("PUT", `/workflows/${SETTINGS_WORKFLOW}`, {
      name: "Greets with the user's setting",
      integration: "wordpress",
      defaultEnabled: true,
      trigger: { type: "request" },
      steps: [{ id: "answer", type: "response", status: 200, body: { greeting: "{{ settings.greeting }}" } }],
    });
    await connectWordPress(USER_TOKEN, "alicebaker");
    await connectWordPress(OTHER_TOKEN, "bobortega");
  });

  test("paragon.event runs the two-step workflow: the post is on the first site and the run shows both steps", async () => {
    const userId = subject(USER_TOKEN);
    await signIn(USER_TOKEN);
    assert.deepEqual(sdkWorkflowSetting(DEMO_WORKFLOW), { enabled: true, settings: {} }, "defaultEnabled");
    const before = await runsOf(DEMO_WORKFLOW);
    const title = `Published from Node ${Date.now()} · déjà vu`;
    const body = "Sent with paragon.event(\"article.published\").";

    await withTimeout(paragon.event("article.published", { title, body }), STEP_TIMEOUT_MS, "paragon.event");

    const started = await newRuns(DEMO_WORKFLOW, before);
    assert.equal(started.length, 1, `one run: ${JSON.stringify(started)}`);
    assert.equal(started[0].userId, userId);
    const run = await finished(started[0].id);
    assert.equal(run.status, "SUCCEEDED", JSON.stringify(run));
    assert.equal(run.error, null);
    assert.deepEqual(run.trigger, { type: "app_event", event: "article.published", payload: { title, body } });
    assert.match(run.executionArn, /^arn:aws:states:/);

    const [sites, post] = run.steps;
    assert.deepEqual(
      run.steps.map((step) => [step.id, step.status, step.attempts, step.httpStatus]),
      [
        ["sites", "SUCCEEDED", 1, 200],
        ["post", "SUCCEEDED", 1, 200],
      ],
    );
    assert.deepEqual(sites.input, { method: "GET", path: "v1.1/me/sites" });
    const siteId = sites.output.sites[0].ID;
    assert.equal(typeof siteId, "number");
    // The second step's path came from the first step's output, its body from the event's payload.
    assert.deepEqual(post.input, {
      method: "POST",
      path: `v1.1/sites/${siteId}/posts/new`,
      body: { title, content: body },
    });
    assert.equal(post.output.title, title);
    assert.equal(post.output.site_ID, siteId);
    for (const step of run.steps) {
      assert.ok(step.startedAt && step.endedAt, `timestamps of ${step.id}`);
    }

    // The post exists in the sandbox: read it back through the SDK's proxy.
    const stored = await withTimeout(
      paragon.request("wordpress", `v1.1/sites/${siteId}/posts/${post.output.ID}`, { method: "GET" }),
      STEP_TIMEOUT_MS,
      "read the post back",
    );
    assert.equal(stored.ID, post.output.ID);
    assert.equal(stored.title, title);
  });

  test("paragon.workflow returns the response step's body", async () => {
    await signIn(USER_TOKEN);
    const mySites = await paragon.request("wordpress", "v1.1/me/sites", { method: "GET" });
    const before = await runsOf(SUMMARY_WORKFLOW);

    const answer = await withTimeout(
      paragon.workflow(SUMMARY_WORKFLOW, { body: { note: "from Node", tags: ["a", "b"] } }),
      STEP_TIMEOUT_MS,
      "paragon.workflow",
    );

    assert.deepEqual(answer, {
      firstSite: mySites.sites[0].name,
      siteCount: mySites.sites.length,
      note: "from Node",
      tags: ["a", "b"],
    });
    const [run] = await newRuns(SUMMARY_WORKFLOW, before);
    assert.equal((await finished(run.id)).status, "SUCCEEDED");
    assert.deepEqual(run.trigger.body, { note: "from Node", tags: ["a", "b"] });
  });

  test("enableWorkflow / disableWorkflow: a disabled workflow does not run, and another user's event never runs it for this user", async () => {
    const userId = subject(USER_TOKEN);
    const otherId = subject(OTHER_TOKEN);
    const before = await runsOf(OPT_IN_WORKFLOW);
    const started = async () => (await newRuns(OPT_IN_WORKFLOW, before)).map((run) => run.userId).sort();

    // Off by default: the user's event runs nothing.
    await signIn(USER_TOKEN);
    assert.deepEqual(sdkWorkflowSetting(OPT_IN_WORKFLOW), { enabled: false, settings: {} });
    await paragon.event(OPT_IN_EVENT, { n: 1 });
    assert.deepEqual(await started(), []);

    // Enabled through the SDK: the SDK and Tether agree, and the next event runs it for this user.
    await withTimeout(paragon.enableWorkflow(OPT_IN_WORKFLOW), STEP_TIMEOUT_MS, "enableWorkflow");
    assert.equal(sdkWorkflowSetting(OPT_IN_WORKFLOW).enabled, true);
    await signIn(USER_TOKEN); // a fresh /sdk/me
    assert.equal(sdkWorkflowSetting(OPT_IN_WORKFLOW).enabled, true);
    await paragon.event(OPT_IN_EVENT, { n: 2 });
    const [mine] = await newRuns(OPT_IN_WORKFLOW, before);
    assert.equal(mine.userId, userId);
    const ran = await finished(mine.id);
    assert.equal(ran.status, "SUCCEEDED", JSON.stringify(ran));
    assert.deepEqual(ran.trigger.payload, { n: 2 });

    // The other user has not enabled it: their event runs nothing, for them or for this user.
    await signIn(OTHER_TOKEN);
    assert.equal(sdkWorkflowSetting(OPT_IN_WORKFLOW).enabled, false, "enabling is per user");
    await paragon.event(OPT_IN_EVENT, { n: 3 });
    assert.deepEqual(await started(), [userId]);
    // Once they enable it, their event runs it for them only.
    await paragon.enableWorkflow(OPT_IN_WORKFLOW);
    await paragon.event(OPT_IN_EVENT, { n: 4 });
    assert.deepEqual(await started(), [userId, otherId].sort());
    const theirs = (await newRuns(OPT_IN_WORKFLOW, before)).find((run) => run.userId === otherId);
    assert.deepEqual(theirs.trigger.payload, { n: 4 });

    // Disabled again through the SDK: this user's events run nothing.
    await signIn(USER_TOKEN);
    await withTimeout(paragon.disableWorkflow(OPT_IN_WORKFLOW), STEP_TIMEOUT_MS, "disableWorkflow");
    assert.equal(sdkWorkflowSetting(OPT_IN_WORKFLOW).enabled, false);
    await signIn(USER_TOKEN);
    assert.equal(sdkWorkflowSetting(OPT_IN_WORKFLOW).enabled, false);
    await paragon.event(OPT_IN_EVENT, { n: 5 });
    assert.deepEqual(await started(), [userId, otherId].sort());
    for (const run of await newRuns(OPT_IN_WORKFLOW, before)) {
      assert.equal((await finished(run.id)).status, "SUCCEEDED");
    }
  });

  test("updateWorkflowUserSettings: the workflow's templates read the user's settings", async () => {
    await signIn(USER_TOKEN);
    assert.deepEqual(await paragon.workflow(SETTINGS_WORKFLOW, { body: {} }), { greeting: null });

    const { errors } = await withTimeout(
      paragon.updateWorkflowUserSettings("wordpress", SETTINGS_WORKFLOW, { greeting: "hej" }),
      STEP_TIMEOUT_MS,
      "updateWorkflowUserSettings",
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(sdkWorkflowSetting(SETTINGS_WORKFLOW), { enabled: true, settings: { greeting: "hej" } });
    await signIn(USER_TOKEN); // the settings are Tether's, not only the SDK's
    assert.deepEqual(sdkWorkflowSetting(SETTINGS_WORKFLOW).settings, { greeting: "hej" });
    assert.deepEqual(await paragon.workflow(SETTINGS_WORKFLOW, { body: {} }), { greeting: "hej" });

    // Settings are per user: the other user's run does not see them.
    await signIn(OTHER_TOKEN);
    assert.deepEqual(await paragon.workflow(SETTINGS_WORKFLOW, { body: {} }), { greeting: null });
  });
});
