/**
 * Command results as the issuer sees them (`wearable command`): a result counts as the answer only
 * when it answers the command sent (device, role, id, op), is not older than the command, and is
 * the first one. A captured result from an earlier exchange, valid and signed by the device, is
 * refused as stale when an attacker puts it in place of the real answer.
 *
 * Results travel sealed in data frames under the epoch's key (docs/protocol.md 13.1): a passive
 * eavesdropper can neither read one nor tell which frame holds one. The attacker here is an
 * insider holding the gateway's keys (the run's `gatewayKeysOut` file): it finds the result among
 * the frames, takes the device's signed result out of its frame, and later seals it into the
 * frame of another answer, under that frame's epoch key and number, so that the gateway accepts
 * the frame and verifies the (genuine, old) result inside. The issuer's check is what refuses it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PendingCommands, signCommand } from "../protocol/command.js";
import type { Command } from "../protocol/command.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import { Gateway, type GatewayEvent } from "../host/gateway/gateway.js";
import { answerOf } from "../host/command/command-cli.js";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim } from "../host/sim/run-sim.js";
import { simKeys } from "../host/sim/sim-keys.js";
import { fromHex } from "../protocol/bytes.js";
import type { CborValue } from "../protocol/cbor.js";
import { decodeEncrypt0, encStructure, partialIvNonce, sealEncrypt0 } from "../protocol/cose.js";
import { frameExternalAad } from "../protocol/frame.js";
import { MESSAGE_PADDED_LENGTH, padPlaintext, unpadPlaintext } from "../protocol/padding.js";

const crypto = new NodeCrypto();
const seed = 11;
const keys = simKeys(seed);
const START = Date.parse(DEFAULT_START);
type Result = Extract<GatewayEvent, { kind: "result" }>;

/** The insider's gateway, from the run's gateway keys file (written once the device is provisioned). */
function insiderGateway(keysFile: string): Gateway | null {
  let k: Record<string, string>;
  try {
    k = JSON.parse(readFileSync(keysFile, "utf8")) as Record<string, string>;
  } catch {
    return null;
  }
  if (!k.deviceIdentityPublicKey) return null;
  const g = new Gateway({ crypto, gatewayPrivateKey: fromHex(k.gatewayPrivateKey)!, agreementAlg: keys.agreementAlg });
  g.registerDevice({ deviceId: keys.deviceId, identityPublicKey: fromHex(k.deviceIdentityPublicKey)!, signatureAlg: keys.signatureAlg });
  return g;
}

/** The epoch key and nonce of a data frame, from a gateway that opened its epoch. */
function frameKeys(spy: Gateway, frame: Uint8Array) {
  const d = decodeEncrypt0(frame);
  assert.ok(d.ok);
  const kid = d.value.unprotectedHeaders.get(4) as Uint8Array;
  const piv = d.value.unprotectedHeaders.get(6) as Uint8Array;
  const epoch = new DataView(kid.buffer, kid.byteOffset).getUint32(8);
  const e = spy.exportEpochSecrets()[0].epochs.find((x) => x.epoch === epoch);
  assert.ok(e, `the insider knows epoch ${epoch}`);
  return { msg: d.value, kid, piv, epoch, key: fromHex(e.contentKey)!, nonce: partialIvNonce(fromHex(e.baseIv)!, piv) };
}

/** The device's signed result inside a result frame (decrypted, unpadded). */
function innerResult(spy: Gateway, frame: Uint8Array): Uint8Array {
  const k = frameKeys(spy, frame);
  const opened = crypto.aeadOpen("A128GCM", k.key, k.nonce, encStructure(k.msg.protectedBytes, frameExternalAad(keys.deviceId, k.epoch)), k.msg.ciphertext);
  assert.ok(opened);
  const u = unpadPlaintext(opened);
  assert.ok(u.ok);
  return u.inner.slice();
}

/** `inner` sealed into the frame `frame` stands for (same epoch, same frame number), as a key holder can. */
function reseal(spy: Gateway, frame: Uint8Array, inner: Uint8Array): Uint8Array {
  const k = frameKeys(spy, frame);
  return sealEncrypt0({
    crypto,
    alg: "A128GCM",
    key: k.key,
    nonce: k.nonce,
    plaintext: padPlaintext(inner, MESSAGE_PADDED_LENGTH),
    externalAad: frameExternalAad(keys.deviceId, k.epoch),
    unprotectedHeaders: new Map<number, CborValue>([[4, k.kid], [6, k.piv]]),
  });
}

const command = (issuedAtS: number): Command => ({ role: "clinician", deviceId: keys.deviceId, commandId: 1, expiresMs: START + (issuedAtS + 300) * 1000, args: { op: "lab-mode-start" } });

/**
 * One simulator run: clinician command #1 at 3 s (answered "ok"), and the same command id again,
 * from an issuer that lost track of its ids, at 400 s (answered "replay"). `swap` may put the
 * first answer's signed result into the second answer's frame.
 */
async function exchange(swap: boolean): Promise<Result[]> {
  const results: Result[] = [];
  const keysFile = join(mkdtempSync(join(tmpdir(), "wearable-insider-")), "gateway-keys.json");
  let spy: Gateway | null = null;
  let captured: Uint8Array | null = null;
  await runSim({
    seconds: 410,
    speed: "max",
    seed,
    json: true,
    engine: "node",
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    gatewayKeysOut: keysFile,
    centralMessages: [3, 400].map((atS) => ({ atS, bytes: signCommand(crypto, "ES256", keys.roles.clinician.privateKey, command(atS)) })),
    intercept: (m) => {
      spy ??= insiderGateway(keysFile);
      if (spy === null || spy.receive(m).kind !== "result") return [m];
      if (captured === null) {
        captured = innerResult(spy, m);
        return [m];
      }
      return [swap ? reseal(spy, m, captured) : m];
    },
    hooks: {
      gatewayEvent: (e) => {
        if (e.kind === "result") results.push(e);
      },
    },
    out: () => {},
    err: () => {},
  });
  assert.ok(captured, "the insider found the first result");
  return results;
}

describe("command results: freshness on the issuer's side", function () {
  this.timeout(120_000);

  it("a captured old result put in place of the real answer is refused as stale; the real one is taken", async () => {
    // The second issuer sent clinician #1 at 400 s and waits for its answer.
    const pendingAt400 = () => {
      const p = new PendingCommands();
      p.sent({ deviceId: keys.deviceId, role: "clinician", commandId: 1, op: "lab-mode-start", expiresMs: START + 700_000, issuedAtMs: START + 400_000 });
      return p;
    };

    // The attacker swaps the answer for the 3 s result: the gateway verifies it (a valid signature).
    const swapped = await exchange(true);
    assert.deepEqual(swapped.map((r) => r.status), ["ok", "ok"], "the gateway verified the old result in the new frame");
    assert.ok(swapped[1].deviceTimeMs < START + 10_000);
    const picked = answerOf(pendingAt400(), swapped);
    assert.equal(picked.answer, null, "the stale result is not taken for the answer");
    assert.deepEqual(picked.ignored.map((x) => x.problem), ["stale", "stale"]);

    // Without the swap the real answer (the device refused the reused id) answers the command, once.
    const fresh = await exchange(false);
    assert.deepEqual(fresh.map((r) => r.status), ["ok", "replay"]);
    const ok = answerOf(pendingAt400(), [...fresh, fresh[1]]);
    assert.equal(ok.answer?.status, "replay");
    assert.ok(ok.answer!.deviceTimeMs >= START + 400_000);
    assert.deepEqual(ok.ignored.map((x) => x.problem), ["stale", "duplicate"]);
    // A result for another command (unrelated id) is never the answer.
    const other = new PendingCommands();
    other.sent({ deviceId: keys.deviceId, role: "clinician", commandId: 2, op: "lab-mode-start", expiresMs: START + 700_000, issuedAtMs: START + 400_000 });
    assert.deepEqual(answerOf(other, fresh).ignored.map((x) => x.problem), ["unexpected", "unexpected"]);
  });
});
