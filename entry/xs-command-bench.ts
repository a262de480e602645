/**
 * Benchmark entry inside XS for the command path: the host reads the compute meter around each
 * request (host/command/command-bench.ts).
 *
 * Host -> XS: "K" + JSON CommandBenchSetup (creates a CommandHandler on a fresh store);
 * "C" + command bytes (handles one command, replies {status, bytes}; status "dropped" when the
 * rate limit dropped it); "L" (appends one security-log entry); "R" (records a rejection: the first
 * of a window is an entry, a repeat is counted in RAM).
 */
import type { SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { SimPreferenceStore } from "../hal/sim/preference-store.js";
import { SimRng } from "../hal/sim/rng.js";
import { CommandHandler } from "../firmware/security/command-handler.js";
import { SecurityLog } from "../firmware/security/security-log.js";
import { storeRoleKey } from "../firmware/security/trust.js";
import { decodeSign1 } from "../protocol/cose.js";
import { decodeCbor } from "../protocol/cbor.js";
import { hexToBytes, utf8DecodeOrThrow as utf8Decode, utf8Encode } from "../protocol/bytes.js";

export interface CommandBenchSetup {
  seed: number;
  deviceId: string;
  signingKey: string;
  signatureAlg: SignatureAlgorithm;
  clinicianKey: string;
  nowMs: number;
}

const host = globalThis as unknown as { handleCommand: (request: ArrayBuffer) => ArrayBuffer };
let handler: CommandHandler | null = null;
let log: SecurityLog | null = null;

function reply(value: unknown): ArrayBuffer {
  return utf8Encode(JSON.stringify(value)).buffer as ArrayBuffer;
}

host.handleCommand = (request: ArrayBuffer): ArrayBuffer => {
  const bytes = new Uint8Array(request);
  const op = String.fromCharCode(bytes[0]);
  if (op === "K") {
    const s = JSON.parse(utf8Decode(bytes.subarray(1))) as CommandBenchSetup;
    const rng = new SimRng(s.seed);
    const crypto = new NobleCrypto((n) => {
      const out = new Uint8Array(n);
      rng.fillBytes(out);
      return out;
    });
    const store = new SimPreferenceStore();
    storeRoleKey(store, "clinician", { alg: "ES256", publicKey: hexToBytes(s.clinicianKey) });
    log = new SecurityLog(store, crypto, () => s.nowMs);
    handler = new CommandHandler({
      crypto,
      store,
      wallTime: () => s.nowMs,
      deviceId: hexToBytes(s.deviceId),
      signingKey: hexToBytes(s.signingKey),
      signatureAlg: s.signatureAlg,
      events: log,
      actions: {
        framePeriodChanged: () => {},
        transportChanged: () => {},
        labMode: () => {},
        rotateKeys: () => 0,
        factoryReset: () => {},
        readSecurityLog: (from, count) => log!.read(from, count),
      },
    });
    return reply({ ok: true });
  }
  if (!handler || !log) throw new Error("command bench: set up first");
  if (op === "C") {
    const result = handler.handle(bytes.slice(1));
    if (result === null) return reply({ status: "dropped", bytes: 0 });
    const d = decodeSign1(result);
    const p = d.ok ? decodeCbor(d.value.payload) : null;
    const status = p && p.ok && p.value instanceof Map ? p.value.get(3) : null;
    return reply({ status, bytes: result.length });
  }
  if (op === "L") {
    log.record("command", "bench entry of a typical length: clinician set-frame-period #12 (seconds 10)");
    return reply({ next: log.nextSeq });
  }
  if (op === "R") {
    log.record("command-rejected", "bench entry of a typical length: bad-signature clinician set-frame-period #12");
    return reply({ next: log.nextSeq });
  }
  throw new Error(`command bench: unknown operation ${op}`);
};
