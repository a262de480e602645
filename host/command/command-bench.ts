/**
 * Cost of the command path on XS (compute meter): verifying and answering a command, rejecting a
 * forged one, answering garbage, appending to the security log, and dropping garbage and
 * forgeries once the rate limit's buckets are empty. Used by `npm run bench`.
 */
import { join } from "node:path";
import type { CommandBenchSetup } from "../../entry/xs-command-bench.js";
import { toHex as bytesToHex } from "../../protocol/bytes.js";
import { signCommand } from "../../protocol/command.js";
import { NodeCrypto } from "../crypto/node-crypto.js";
import { simKeys } from "../sim/sim-keys.js";
import { buildForXs } from "../xs/build.js";
import { XsWorker } from "../xs/driver.js";

export interface CommandCost {
  /** Computrons to verify, apply and answer (sign) a valid clinician command, ES256, logged. */
  acceptComputrons: number;
  /** Computrons to reject a forged command (verification fails), answer it and log it. */
  rejectForgedComputrons: number;
  /** Computrons to answer a message that is not a command at all (no verification), logged. */
  rejectMalformedComputrons: number;
  /** Computrons to drop garbage with the rejection bucket empty (no answer, no signature, no write). */
  dropMalformedComputrons: number;
  /** Computrons to drop a well-formed forgery with the verification bucket empty (no verification). */
  dropForgedComputrons: number;
  /** Garbage answered before the rejection bucket was empty (its capacity). */
  garbageAnswered: number;
  /** Computrons to append one entry to the hash-chained security log. */
  securityLogAppendComputrons: number;
  /** Computrons to record a repeated rejection within its summary window (counted in RAM, no write). */
  securityLogRepeatComputrons: number;
  commandBytes: number;
  resultBytes: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export async function measureCommands(): Promise<CommandCost> {
  const dir = await buildForXs();
  const worker = await XsWorker.start();
  try {
    await worker.loadModule(join(dir, "entry/xs-command-bench.js"));
    const keys = simKeys(1);
    const nowMs = 1767254400000;
    const setup: CommandBenchSetup = {
      seed: 1,
      deviceId: keys.provisioning.deviceId,
      signingKey: keys.provisioning.signingKey,
      signatureAlg: "ES256",
      clinicianKey: bytesToHex(keys.roles.clinician.publicKey),
      nowMs,
    };
    const call = async (op: string, body: Uint8Array = new Uint8Array(0)) => {
      const msg = new Uint8Array(body.length + 1);
      msg[0] = op.charCodeAt(0);
      msg.set(body, 1);
      const r = await worker.command(msg);
      return { value: JSON.parse(dec.decode(r.result)) as { status?: string; bytes?: number }, compute: r.meter.compute };
    };
    await call("K", enc.encode(JSON.stringify(setup)));
    const crypto = new NodeCrypto();
    const command = (id: number, signer: Uint8Array) =>
      signCommand(crypto, "ES256", signer, { role: "clinician", deviceId: keys.deviceId, commandId: id, expiresMs: nowMs + 60000, args: { op: "set-frame-period", seconds: 10 } });
    await call("C", command(1, keys.roles.clinician.privateKey)); // first use: tables
    const ok = command(2, keys.roles.clinician.privateKey);
    const accept = await call("C", ok);
    if (accept.value.status !== "ok") throw new Error(`command bench: expected ok, got ${String(accept.value.status)}`);
    const forged = await call("C", command(3, keys.roles.maintainer.privateKey));
    if (forged.value.status !== "bad-signature") throw new Error(`command bench: expected bad-signature, got ${String(forged.value.status)}`);
    const junk = new Uint8Array([0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40]);
    const garbage = await call("C", junk);
    // Empty the rejection bucket, then measure garbage once drops are already counted (steady state).
    let garbageAnswered = 2; // the forgery and the garbage above took a rejection token each
    for (;;) {
      const g = await call("C", junk);
      if (g.value.status === "dropped") break;
      garbageAnswered++;
      if (garbageAnswered > 1000) throw new Error("command bench: the rate limit never dropped garbage");
    }
    const droppedGarbage = await call("C", junk);
    if (droppedGarbage.value.status !== "dropped") throw new Error(`command bench: expected a drop, got ${String(droppedGarbage.value.status)}`);
    // Empty the verification bucket with forgeries (each verified, then dropped), then measure one more.
    let id = 4;
    for (;;) {
      const f = await call("C", command(id++, keys.roles.maintainer.privateKey));
      if (f.value.status !== "dropped") throw new Error(`command bench: expected a drop, got ${String(f.value.status)}`);
      if (f.compute < forged.compute / 4) break; // dropped before the verification: the bucket is empty
      if (id > 1000) throw new Error("command bench: forgeries were always verified");
    }
    const droppedForged = await call("C", command(id++, keys.roles.maintainer.privateKey));
    if (droppedForged.value.status !== "dropped") throw new Error(`command bench: expected a drop, got ${String(droppedForged.value.status)}`);
    const logAppend = await call("L");
    await call("R");
    const logRepeat = await call("R");
    return {
      acceptComputrons: accept.compute,
      rejectForgedComputrons: forged.compute,
      rejectMalformedComputrons: garbage.compute,
      dropMalformedComputrons: droppedGarbage.compute,
      dropForgedComputrons: droppedForged.compute,
      garbageAnswered,
      securityLogAppendComputrons: logAppend.compute,
      securityLogRepeatComputrons: logRepeat.compute,
      commandBytes: ok.length,
      resultBytes: accept.value.bytes ?? 0,
    };
  } finally {
    await worker.close();
  }
}
