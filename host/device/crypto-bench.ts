/**
 * The device crypto benchmark (host/device/crypto-apps/bench.ts) in the Moddable SDK's desktop
 * simulator: one release build, one run, native ModdableCrypto (mbedTLS PSA) against NobleCrypto
 * sealing the same frames. `npm run bench` includes it as `deviceCrypto`; alone:
 *
 *   npx tsx host/device/crypto-bench.ts [--json]
 *
 * The times are the desktop simulator's (XS and mbedTLS compiled for this machine), not the
 * ESP32's; the ratios and the heap figures are what carries over. The frames each implementation
 * sealed are opened with the portable FrameOpener over node:crypto before the figures are
 * returned, so a broken seal cannot produce a figure.
 */
import { pathToFileURL } from "node:url";
import { FrameOpener } from "../../protocol/frame.js";
import { NodeCrypto } from "../crypto/node-crypto.js";
import { fromHex } from "../../protocol/bytes.js";
import { cryptoAppPrerequisites, startCryptoApp } from "./crypto-apps.js";

export interface ImplementationFigures {
  /** Import the module, construct it and a FrameSealer, open an epoch, seal the first frame. */
  bootToFirstFrameUs: number;
  /** One frame of a 5-reading record, steady state (median of 5 batch means). */
  sealUs: number;
  openEpochUs: number;
  signUs: number;
  verifyUs: number;
  agreeUs: number;
  keyPairUs: number;
  /** Allocated by one seal (no collection in between). */
  sealAllocatedSlots: number;
  sealAllocatedChunkBytes: number;
  /** Live after GC once the first frame is sealed, less live before the module was imported. */
  liveSlotsAfterFirstFrame: number;
  liveChunkBytesAfterFirstFrame: number;
  frameBytes: number;
}

interface Allocation {
  slots: number;
  chunkBytes: number;
}

export interface SymmetricFigure {
  psaUs: number;
  sdkUs: number;
  psaAllocation: Allocation;
  sdkAllocation: Allocation;
}

export interface DeviceCryptoBench {
  where: string;
  readingsPerFrame: number;
  native: ImplementationFigures;
  noble: ImplementationFigures;
  /** noble / native. */
  speedup: { seal: number; bootToFirstFrame: number; sign: number; verify: number; agree: number };
  /** PSA against the SDK's JavaScript gcm and hmac modules, on a 200-byte body. */
  symmetric: { gcmSeal200Bytes: SymmetricFigure; hmac200Bytes: SymmetricFigure };
}

interface Report {
  readingsPerFrame: number;
  native: ImplementationFigures;
  noble: ImplementationFigures;
  symmetric: DeviceCryptoBench["symmetric"];
  frames: Record<"native" | "noble", { announcement: string; first: string; later: string }>;
  keys: { deviceId: string; identityPublicKey: string; gatewayPrivateKey: string };
}

const bytes = (hex: string): Uint8Array => {
  const b = fromHex(hex);
  if (b === null) throw new Error("the benchmark app sent bad hex");
  return b;
};

/** Opens what each implementation sealed; throws unless every message is accepted. */
function checkFrames(report: Report): void {
  for (const name of ["native", "noble"] as const) {
    const opener = new FrameOpener({
      crypto: new NodeCrypto(),
      gatewayPrivateKey: bytes(report.keys.gatewayPrivateKey),
      agreementAlg: "P-256",
      lookupDevice: () => ({ identityPublicKey: bytes(report.keys.identityPublicKey), signatureAlg: "ES256" }),
    });
    const f = report.frames[name];
    for (const [what, hex] of [["announcement", f.announcement], ["first frame", f.first], ["a later frame", f.later]]) {
      const r = opener.accept(bytes(hex));
      if (r.kind === "rejected") throw new Error(`the gateway rejected the ${name} ${what}: ${r.reason} (${r.detail})`);
    }
  }
}

const ratio = (a: number, b: number) => Math.round((a / b) * 10) / 10;

/** Builds and runs the benchmark app; `log` gets progress lines. Throws when the SDK is missing. */
export async function runDeviceCryptoBench(log: (line: string) => void = () => {}): Promise<DeviceCryptoBench> {
  const app = await startCryptoApp("bench", log);
  try {
    log("crypto-bench: running (noble's first frame builds its tables; about half a minute)");
    const reply = await app.connection.request<{ report?: Report; error?: string }>({ op: "run" });
    if (!reply.report) throw new Error(`the benchmark app failed: ${reply.error}`);
    const r = reply.report;
    checkFrames(r);
    return {
      where: "Moddable SDK desktop simulator (lin, release build, this machine's CPU)",
      readingsPerFrame: r.readingsPerFrame,
      native: r.native,
      noble: r.noble,
      speedup: {
        seal: ratio(r.noble.sealUs, r.native.sealUs),
        bootToFirstFrame: ratio(r.noble.bootToFirstFrameUs, r.native.bootToFirstFrameUs),
        sign: ratio(r.noble.signUs, r.native.signUs),
        verify: ratio(r.noble.verifyUs, r.native.verifyUs),
        agree: ratio(r.noble.agreeUs, r.native.agreeUs),
      },
      symmetric: r.symmetric,
    };
  } finally {
    await app.stop();
  }
}

/** Lines for a person. */
export function describeDeviceCryptoBench(b: DeviceCryptoBench): string[] {
  const ms = (us: number) => `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
  const row = (label: string, n: number, o: number) => `  ${label.padEnd(22)} native ${ms(n).padStart(10)}   noble ${ms(o).padStart(10)}   ${ratio(o, n)}x`;
  const kb = (n: number) => `${Math.round(n / 1024)} KB`;
  const s = b.symmetric;
  return [
    `device crypto (${b.where}), ${b.readingsPerFrame} readings per frame, ES256 + P-256 + A128GCM:`,
    row("seal one frame", b.native.sealUs, b.noble.sealUs),
    row("boot to first frame", b.native.bootToFirstFrameUs, b.noble.bootToFirstFrameUs),
    row("open an epoch", b.native.openEpochUs, b.noble.openEpochUs),
    row("ES256 sign", b.native.signUs, b.noble.signUs),
    row("ES256 verify", b.native.verifyUs, b.noble.verifyUs),
    row("P-256 ECDH", b.native.agreeUs, b.noble.agreeUs),
    row("P-256 key pair", b.native.keyPairUs, b.noble.keyPairUs),
    `  live heap after the first frame: native ${b.native.liveSlotsAfterFirstFrame} slots + ${kb(b.native.liveChunkBytesAfterFirstFrame)} chunks, noble ${b.noble.liveSlotsAfterFirstFrame} slots + ${kb(b.noble.liveChunkBytesAfterFirstFrame)} chunks`,
    `  allocated per seal: native ${b.native.sealAllocatedSlots} slots + ${b.native.sealAllocatedChunkBytes} B, noble ${b.noble.sealAllocatedSlots} slots + ${b.noble.sealAllocatedChunkBytes} B`,
    `  AES-128-GCM seal of 200 B: PSA ${s.gcmSeal200Bytes.psaUs} us (${s.gcmSeal200Bytes.psaAllocation.slots} slots, ${s.gcmSeal200Bytes.psaAllocation.chunkBytes} B), SDK gcm ${s.gcmSeal200Bytes.sdkUs} us (${s.gcmSeal200Bytes.sdkAllocation.slots} slots, ${s.gcmSeal200Bytes.sdkAllocation.chunkBytes} B)`,
    `  HMAC-SHA256 of 200 B: PSA ${s.hmac200Bytes.psaUs} us (${s.hmac200Bytes.psaAllocation.slots} slots, ${s.hmac200Bytes.psaAllocation.chunkBytes} B), SDK hmac ${s.hmac200Bytes.sdkUs} us (${s.hmac200Bytes.sdkAllocation.slots} slots, ${s.hmac200Bytes.sdkAllocation.chunkBytes} B)`,
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const json = process.argv.includes("--json");
  const why = cryptoAppPrerequisites();
  if (typeof why === "string") {
    process.stdout.write(json ? `${JSON.stringify({ skipped: why })}\n` : `crypto-bench: skipped: ${why}\n`);
  } else {
    runDeviceCryptoBench((line) => process.stderr.write(`${line}\n`)).then(
      (b) => process.stdout.write(json ? `${JSON.stringify(b)}\n` : `${describeDeviceCryptoBench(b).join("\n")}\n`),
      (e: unknown) => {
        process.stderr.write(`crypto-bench: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      },
    );
  }
}
