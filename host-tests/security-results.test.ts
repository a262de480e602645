/**
 * Command results as the issuer sees them (`wearable command`): a result counts as the answer only
 * when it answers the command sent (device, role, id, op), is not older than the command, and is
 * the first one. A captured result from an earlier exchange, valid and signed by the device, is
 * refused as stale when an attacker puts it in place of the real answer.
 */
import assert from "node:assert/strict";
import { PendingCommands, isResultMessage, signCommand } from "../protocol/command.js";
import type { Command } from "../protocol/command.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import type { GatewayEvent } from "../host/gateway/gateway.js";
import { answerOf } from "../host/command/command-cli.js";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim } from "../host/sim/run-sim.js";
import { simKeys } from "../host/sim/sim-keys.js";

const crypto = new NodeCrypto();
const seed = 11;
const keys = simKeys(seed);
type Result = Extract<GatewayEvent, { kind: "result" }>;

/** One short simulator run that sends `command` at 3 s; `swap` may replace the device's result on its way. */
async function exchange(startIso: string, command: Command, swap?: (result: Uint8Array) => Uint8Array) {
  const results: Result[] = [];
  const sentResults: Uint8Array[] = [];
  await runSim({
    seconds: 8,
    speed: "max",
    seed,
    json: true,
    engine: "node",
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso,
    firmwareVersion: "1.0.0",
    centralMessages: [{ atS: 3, bytes: signCommand(crypto, "ES256", keys.roles[command.role].privateKey, command) }],
    intercept: (m) => {
      if (!isResultMessage(m)) return [m];
      sentResults.push(m.slice());
      return [swap ? swap(m) : m];
    },
    hooks: {
      gatewayEvent: (e) => {
        if (e.kind === "result") results.push(e);
      },
    },
    out: () => {},
    err: () => {},
  });
  return { results, sentResults };
}

describe("command results: freshness on the issuer's side", function () {
  this.timeout(120_000);

  it("a captured day-old result put in place of the real answer is refused as stale; the real one is taken", async () => {
    const day1 = Date.parse(DEFAULT_START);
    const day2 = day1 + 86_400_000;
    const iso2 = new Date(day2).toISOString();
    const cmd = (startMs: number): Command => ({ role: "clinician", deviceId: keys.deviceId, commandId: 1, expiresMs: startMs + 300_000, args: { op: "lab-mode-start" } });
    // Day 1: the attacker records the device's signed answer to clinician command #1.
    const first = await exchange(DEFAULT_START, cmd(day1));
    assert.equal(first.results.length, 1);
    assert.equal(first.results[0].status, "ok");
    const captured = first.sentResults[0];

    // Day 2 (a device whose command ids started again, as after a reset before this release): the
    // issuer sends clinician #1 again, and the attacker swaps the answer for the day-1 result.
    const pending = new PendingCommands();
    pending.sent({ deviceId: keys.deviceId, role: "clinician", commandId: 1, op: "lab-mode-start", expiresMs: day2 + 300_000, issuedAtMs: day2 + 3000 });
    const swapped = await exchange(iso2, cmd(day2), () => captured);
    assert.equal(swapped.results.length, 1, "the gateway verified the captured result (a valid signature)");
    assert.equal(swapped.results[0].deviceTimeMs < day1 + 10_000, true);
    const picked = answerOf(pending, swapped.results);
    assert.equal(picked.answer, null, "the stale result is not taken for the answer");
    assert.deepEqual(picked.ignored.map((x) => x.problem), ["stale"]);

    // Without the swap the fresh result answers the command, and only once.
    const pending2 = new PendingCommands();
    pending2.sent({ deviceId: keys.deviceId, role: "clinician", commandId: 1, op: "lab-mode-start", expiresMs: day2 + 300_000, issuedAtMs: day2 + 3000 });
    const fresh = await exchange(iso2, cmd(day2));
    const ok = answerOf(pending2, [...fresh.results, ...fresh.results]);
    assert.equal(ok.answer?.status, "ok");
    assert.ok(ok.answer!.deviceTimeMs >= day2 + 3000);
    assert.deepEqual(ok.ignored.map((x) => x.problem), ["duplicate"]);
    // A result for another command (unrelated id) is never the answer.
    const other = new PendingCommands();
    other.sent({ deviceId: keys.deviceId, role: "clinician", commandId: 2, op: "lab-mode-start", expiresMs: day2 + 300_000, issuedAtMs: day2 + 3000 });
    assert.deepEqual(answerOf(other, fresh.results).ignored.map((x) => x.problem), ["unexpected"]);
  });
});
