// The seed's snippets, verbatim, through the real @useparagon/connect SDK's `request` against a
// running Tether stack, for a user who has connected a sandbox WordPress.com account.
//
// Environment: TETHER_API_URL, TETHER_PROJECT_ID, TETHER_PROXY_USER_TOKEN (a user token of a
// user already connected to WordPress.com; tests/test_devstack.py connects one).

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { configureForTether, loadParagon, withTimeout } from "./shim.mjs";

const API_URL = process.env.TETHER_API_URL;
const PROJECT_ID = process.env.TETHER_PROJECT_ID;
const USER_TOKEN = process.env.TETHER_PROXY_USER_TOKEN;
const STEP_TIMEOUT_MS = 10_000;

const paragon = loadParagon();

describe("paragon.request through Tether's proxy", () => {
  before(async () => {
    assert.ok(API_URL && PROJECT_ID && USER_TOKEN, "TETHER_API_URL, TETHER_PROJECT_ID, TETHER_PROXY_USER_TOKEN");
    configureForTether(paragon, API_URL);
    await withTimeout(paragon.authenticate(PROJECT_ID, USER_TOKEN), STEP_TIMEOUT_MS, "authenticate");
    assert.equal(paragon.getUser().integrations.wordpress.credentialStatus, "VALID");
  });

  test("the seed's snippets: sites, likes, a new post, and the new post read back", async () => {
    const sites = await withTimeout(
      paragon.request("wordpress", "v1.1/me/sites", { method: "GET" }),
      STEP_TIMEOUT_MS,
      "GET v1.1/me/sites",
    );
    assert.ok(Array.isArray(sites.sites) && sites.sites.length > 0, "the user has sites");
    const site_ID = sites.sites[0].ID;

    const posts = await paragon.request("wordpress", `v1.1/sites/${site_ID}/posts?number=1`, { method: "GET" });
    const post_ID = posts.posts[0].ID;

    const likes = await paragon.request("wordpress", `v1.1/sites/${site_ID}/posts/${post_ID}/likes`, {
      method: "GET",
    });
    assert.equal(likes.post_ID, post_ID);
    assert.equal(typeof likes.found, "number");
    assert.ok(Array.isArray(likes.likes));

    const created = await paragon.request("wordpress", `sites/${site_ID}/posts/new`, {
      method: "POST",
      body: {
        title: "My Post",
        content: "This is my post",
        tags: "api_posts",
        categories: "API",
      },
    });
    assert.equal(created.title, "My Post");

    const fetched = await paragon.request("wordpress", `sites/${site_ID}/posts/${created.ID}`, { method: "GET" });
    assert.equal(fetched.title, "My Post");
    assert.ok("api_posts" in fetched.tags, `tags: ${Object.keys(fetched.tags)}`);
    assert.ok("API" in fetched.categories, `categories: ${Object.keys(fetched.categories)}`);
  });

  test("a refused path comes back as an error, not as data", async () => {
    // (A `%2e%2e` segment would not even reach Tether: WHATWG URL parsing in fetch resolves it.)
    await assert.rejects(
      paragon.request("wordpress", "v1.1/me%40evil.example", { method: "GET" }),
      (error) => /not allowed/.test(String(error.message)),
    );
  });
});
