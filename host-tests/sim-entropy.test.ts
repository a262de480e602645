/**
 * No (key, nonce) pair is used by two simulator runs. The device's random source (its ephemeral
 * ECDH keys, hence its epoch keys) is the board's seeded generator mixed with a per-run nonce and
 * the run's configuration (simulator/sim-entropy.ts), so two runs with the same seed and different
 * data never seal under the same epoch keys, while the readings depend on the seed alone. The run
 * nonce is recorded in keys.json; the device's random bytes repeat exactly for the same
 * configuration (run nonce included). Checked on the recordings: announcements, and every frame's
 * key and nonce, derived from the seed's gateway key as docs/protocol.md says; and every signature
 * the runs made (announcements and the signed messages inside frames) is low-S.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim, type SimRunOptions } from "../host/sim/run-sim.js";
import { simKeys } from "../host/sim/sim-keys.js";
import { splitCborSequence } from "../host/replay/replay.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { SimRng } from "../hal/sim/rng.js";
import { findScenario } from "../hal/sim/scenarios.js";
import { decodeCbor } from "../protocol/cbor.js";
import { toHex } from "../protocol/bytes.js";
import { HEADER_CONTENT_TYPE, decodeEncrypt0, decodeSign1, es256IsLowS, openEncrypt0, partialIvNonce } from "../protocol/cose.js";
import { deriveEpochKeys, frameExternalAad } from "../protocol/frame.js";
import { simEntropySource } from "../simulator/sim-entropy.js";

const SEED = 5;
const noble = new NobleCrypto(() => {
  throw new Error("no randomness needed");
});

interface Recording {
  dir: string;
  runNonce: string;
  bytes: Buffer;
  /** Ephemeral public keys of the announcements (hex). */
  ephemeral: string[];
  /** Signatures seen (announcements, and the messages inside frames): all low-S. */
  signatures: number;
  /** The readings the gateway printed (JSON lines). */
  readings: string[];
  /** "content key:nonce" of every frame, and the frame's Partial IV and ciphertext (hex). */
  frames: { pair: string; piv: string; ciphertext: string }[];
}

async function record(o: Partial<SimRunOptions>): Promise<Recording> {
  const dir = mkdtempSync(join(tmpdir(), "sim-entropy-"));
  const readings: string[] = [];
  const summary = await runSim({
    seconds: 16,
    speed: "max",
    seed: SEED,
    json: true,
    engine: "node",
    record: dir,
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    out: (l) => readings.push(l),
    err: () => {},
    ...o,
  });
  assert.deepEqual(summary.rejected, {});
  const keysJson = JSON.parse(readFileSync(join(dir, "keys.json"), "utf8")) as { run?: { seed: number; runNonce: string }; deviceId: string; deviceIdentityPublicKey: string; gatewayKeyId: string };
  assert.deepEqual(keysJson.run, { seed: SEED, runNonce: summary.runNonce }, "keys.json records the seed and the run nonce");
  // The device's public identity as the recording lists it; the gateway's private key is the seed's.
  const gatewayPrivateKey = simKeys(SEED).gatewayPrivateKey;
  const deviceId = new Uint8Array(Buffer.from(keysJson.deviceId, "hex"));
  const identityPublicKey = new Uint8Array(Buffer.from(keysJson.deviceIdentityPublicKey, "hex"));
  const gatewayKeyId = new Uint8Array(Buffer.from(keysJson.gatewayKeyId, "hex"));
  const bytes = readFileSync(join(dir, "messages.cborseq"));
  const split = splitCborSequence(new Uint8Array(bytes));
  assert.equal(split.error, null);
  const epochs = new Map<number, { contentKey: Uint8Array; baseIv: Uint8Array }>();
  const out: Recording = { dir, runNonce: summary.runNonce, bytes, readings: readings.filter((l) => l.includes('"reading"')), ephemeral: [], signatures: 0, frames: [] };
  for (const item of split.items) {
    if (item[0] === 0xd2) {
      const s = decodeSign1(item);
      assert.ok(s.ok);
      assert.ok(es256IsLowS(s.value.signature), "every signature of the run is low-S");
      out.signatures++;
      if (s.value.protectedHeaders.get(HEADER_CONTENT_TYPE) === 65002) continue; // a command result
      const p = decodeCbor(s.value.payload);
      assert.ok(p.ok && p.value instanceof Map);
      const epoch = p.value.get(3) as number;
      const eph = p.value.get(4) as Uint8Array;
      out.ephemeral.push(toHex(eph));
      const z = noble.agree("P-256", gatewayPrivateKey, eph);
      assert.ok(z);
      epochs.set(
        epoch,
        deriveEpochKeys(noble, {
          sharedSecret: z,
          deviceId,
          identityPublicKey,
          epoch,
          aeadAlg: "A128GCM",
          agreementAlg: "P-256",
          signatureAlg: "ES256",
          ephemeralPublicKey: eph,
          gatewayKeyId,
        }),
      );
    } else {
      const f = decodeEncrypt0(item);
      assert.ok(f.ok);
      const kid = f.value.unprotectedHeaders.get(4) as Uint8Array;
      const piv = f.value.unprotectedHeaders.get(6) as Uint8Array;
      const epoch = ((kid[8] << 24) >>> 0) + ((kid[9] << 16) | (kid[10] << 8) | kid[11]);
      const keys = epochs.get(epoch);
      assert.ok(keys, `frame of epoch ${epoch} after its announcement`);
      // The keys derived here open the frame: they are the keys the device used.
      const opened = openEncrypt0(noble, f.value, keys.contentKey, partialIvNonce(keys.baseIv, piv), frameExternalAad(deviceId, epoch), "A128GCM");
      assert.ok(opened.ok, "the frame opens with the keys derived from the announcement");
      // The signed message inside (zero padding may follow it): its signature is low-S too.
      const first = decodeCbor(opened.value, { exact: false });
      assert.ok(first.ok);
      const inner = decodeSign1(opened.value.subarray(0, first.end));
      assert.ok(inner.ok);
      assert.ok(es256IsLowS(inner.value.signature), "every signature of the run is low-S");
      out.signatures++;
      out.frames.push({ pair: `${toHex(keys.contentKey)}:${toHex(partialIvNonce(keys.baseIv, piv))}`, piv: toHex(piv), ciphertext: toHex(f.value.ciphertext) });
    }
  }
  assert.ok(out.ephemeral.length >= 1 && out.frames.length >= 2, `${out.ephemeral.length} announcements, ${out.frames.length} frames`);
  assert.equal(out.signatures, out.ephemeral.length + out.frames.length);
  return out;
}

describe("simulator runs with one seed never share (key, nonce) pairs", function () {
  this.timeout(300_000);

  for (const engine of ["xs", "node"] as const)
  it(`on ${engine}: the same seed with different scenarios: different epoch keys, and no (key, nonce) pair is used by both runs`, async () => {
    const rest = await record({ engine, scenario: findScenario("rest")! });
    const run = await record({ engine, scenario: findScenario("run")! });
    // The same frame sequence numbers (so the same nonces, had the keys been the same) carry different data.
    const common = rest.frames.filter((a) => run.frames.some((b) => b.piv === a.piv));
    assert.ok(common.length >= 2, "both runs sealed frames with the same sequence numbers");
    for (const a of common) assert.notEqual(a.ciphertext, run.frames.find((b) => b.piv === a.piv)!.ciphertext);
    assert.deepEqual(rest.ephemeral.filter((e) => run.ephemeral.includes(e)), [], "no ephemeral key in both runs");
    const pairs = new Set(rest.frames.map((f) => f.pair));
    assert.deepEqual(run.frames.filter((f) => pairs.has(f.pair)), [], "no (key, nonce) pair in both runs");
  });

  it("without a run nonce given, every run draws a fresh one: the same options give other epoch keys", async () => {
    const a = await record({});
    const b = await record({});
    assert.notEqual(a.runNonce, b.runNonce);
    assert.match(a.runNonce, /^[0-9a-f]{32}$/);
    assert.deepEqual(a.ephemeral.filter((e) => b.ephemeral.includes(e)), []);
  });

  it("the run nonce is the one given (and recorded); the readings depend on the seed only, the keys also on the run nonce", async () => {
    const a = await record({ runNonce: "00112233445566778899aabbccddeeff" });
    const b = await record({ runNonce: "00112233445566778899aabbccddeef0" });
    assert.equal(a.runNonce, "00112233445566778899aabbccddeeff");
    assert.deepEqual(a.readings, b.readings, "the same readings");
    assert.ok(a.readings.length >= 8);
    assert.deepEqual(a.ephemeral.filter((e) => b.ephemeral.includes(e)), [], "another run nonce, other keys");
    await assert.rejects(record({ runNonce: "xyz" }), /run nonce/);
  });

  it("the entropy source: the board generator is drawn as before; its output follows the configuration", () => {
    const hash = () => noble;
    const draw = (json: string) => {
      const rng = new SimRng(SEED);
      const source = simEntropySource(rng, json, hash);
      const bytes = toHex(new Uint8Array([...source(48), ...source(5), ...source(40)]));
      return { bytes, next: rng.nextUint32() };
    };
    const plain = new SimRng(SEED);
    const raw = new Uint8Array(93);
    plain.fillBytes(raw.subarray(0, 48));
    plain.fillBytes(raw.subarray(48, 53));
    plain.fillBytes(raw.subarray(53));
    const a = draw('{"seed":5,"scenario":"rest"}');
    assert.equal(a.next, plain.nextUint32(), "the board generator advanced exactly as without mixing");
    assert.notEqual(a.bytes, toHex(raw), "mixed");
    assert.equal(draw('{"seed":5,"scenario":"rest"}').bytes, a.bytes, "the same configuration reproduces");
    assert.notEqual(draw('{"seed":5,"scenario":"run"}').bytes, a.bytes, "another configuration, other bytes");
    assert.notEqual(draw('{"seed":5,"scenario":"rest","runNonce":"00"}').bytes, a.bytes, "another run nonce, other bytes");
  });
});
