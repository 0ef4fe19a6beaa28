import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, closeKind, stopReasonFor } from "../dist/index.js";

test("backoff grows exponentially with jitter and stays under the cap", () => {
  const opts = { initialMs: 100, maxMs: 1000, factor: 2 };
  assert.equal(backoffDelay(1, opts, () => 0), 50);
  assert.equal(backoffDelay(1, opts, () => 0.999999), 99);
  assert.equal(backoffDelay(3, opts, () => 0), 200);
  assert.equal(backoffDelay(20, opts, () => 0.999999), 999);
  for (let n = 1; n < 50; n++) {
    const d = backoffDelay(n, opts);
    assert.ok(d >= Math.min(1000, 100 * 2 ** (n - 1)) / 2 - 1 && d < 1000, `attempt ${n}: ${d}`);
  }
  // Defaults: 500 ms at first, capped at 30 s.
  assert.equal(backoffDelay(1, {}, () => 0.5), 375);
  assert.equal(backoffDelay(100, {}, () => 0), 15000);
});

test("auth, policy and protocol close codes stop the client; the others are retried", () => {
  assert.equal(stopReasonFor(4001), "unauthorized");
  assert.equal(stopReasonFor(1008), "policy");
  assert.equal(stopReasonFor(1009), "protocol");
  assert.equal(stopReasonFor(1003), "protocol");
  for (const code of [1000, 1001, 1006, 1011, 1013, 4000, 4008]) assert.equal(stopReasonFor(code), null, String(code));
});

test("close codes have names", () => {
  assert.equal(closeKind(4008), "slow_consumer");
  assert.equal(closeKind(1013), "try_later");
  assert.equal(closeKind(1001), "going_away");
  assert.equal(closeKind(1006), "dropped");
});
