// Runs the real @useparagon/connect SDK under Node.js against a running Tether stack.
//
// Environment: TETHER_API_URL (base URL), TETHER_PROJECT_ID, TETHER_USER_TOKEN (a user token
// whose `sub` is "node-sdk-user", e.g. from `tether token --user node-sdk-user`).
// Started by tests/test_devstack.py; run by hand with `node --test tests/node/`.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { loadParagon, configureForTether } from "./shim.mjs";

const API_URL = process.env.TETHER_API_URL;
const PROJECT_ID = process.env.TETHER_PROJECT_ID;
const USER_TOKEN = process.env.TETHER_USER_TOKEN;
const EXPECTED_USER_ID = "node-sdk-user";

const paragon = loadParagon();

function decodeJwtPayload(token) {
  const payload = token.split(".")[1];
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
}

function withForgedSignature(token) {
  const [header, payload, signature] = token.split(".");
  // Flip bits in the middle of the signature: still base64url, still the right length.
  const bytes = Buffer.from(signature, "base64url");
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  bytes[0] ^= 0x01;
  return [header, payload, bytes.toString("base64url")].join(".");
}

function configure() {
  configureForTether(paragon, API_URL);
}

describe("@useparagon/connect against Tether", () => {
  before(() => {
    assert.ok(API_URL, "TETHER_API_URL is not set");
    assert.ok(PROJECT_ID, "TETHER_PROJECT_ID is not set");
    assert.ok(USER_TOKEN, "TETHER_USER_TOKEN is not set");
    assert.ok(!API_URL.includes("proxy"), "the SDK treats URLs containing 'proxy' as proxy calls");
  });

  test("authenticate() resolves and getUser() reflects the user and integrations", async () => {
    configure();
    assert.equal(decodeJwtPayload(USER_TOKEN).sub, EXPECTED_USER_ID);

    await paragon.authenticate(PROJECT_ID, USER_TOKEN);

    const user = paragon.getUser();
    assert.equal(user.authenticated, true);
    assert.equal(user.userId, EXPECTED_USER_ID);
    assert.equal("token" in user, false, "getUser() must not expose the token");
    assert.ok(user.integrations && typeof user.integrations === "object", "integrations missing");
    assert.ok(user.integrations.wordpress, `no wordpress entry: ${JSON.stringify(user.integrations)}`);
    assert.equal(user.integrations.wordpress.enabled, false);
    assert.deepEqual(user.integrations.wordpress.allCredentials, []);
    assert.deepEqual(user.meta, {});
  });

  test("authenticate() rejects a token with a forged signature", async () => {
    configure();
    const forged = withForgedSignature(USER_TOKEN);
    assert.notEqual(forged, USER_TOKEN);

    await assert.rejects(paragon.authenticate(PROJECT_ID, forged), /Failed to authenticate user with Paragon/);

    assert.equal(paragon.getUser().authenticated, false);
  });
});
