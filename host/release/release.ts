/**
 * `wearable release`: builds the firmware image and writes a manifest signed with the release
 * key (COSE_Sign1, docs/update.md). Output folder: image.bin, manifest.cbor (what devices get),
 * manifest.json (what it says, for people).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { ensurePrivateDir, restrictExistingFile, writeSecretFile } from "../fs/private-files.js";
import { dirname, join, resolve } from "node:path";
import type { SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { CLASS_ID, VENDOR_ID } from "../../protocol/device-class.js";
import { fromHex, toHex } from "../../protocol/bytes.js";
import { releaseKeyId, signManifest, type UpdateManifest } from "../../protocol/update-manifest.js";
import { findSdk } from "../device/moddable-build.js";
import { simRoleKeys, seededBytes } from "../sim/sim-keys.js";
import { repoRoot } from "../xs/build.js";
import { buildSimImage, type TestFault } from "./sim-image.js";

export interface ReleaseKeyFile {
  note: string;
  alg: SignatureAlgorithm;
  privateKey: string;
  publicKey: string;
}

export const DEFAULT_KEYS_DIR = join(repoRoot, "build", "keys");

/** The simulator's release key for `seed` (what `npm start --seed N` trusts): a TEST KEY. */
export function testReleaseKeyPath(seed: number, keysDir = DEFAULT_KEYS_DIR): string {
  return join(keysDir, `TEST-release-key-seed-${seed}.json`);
}

export function ensureTestReleaseKey(seed: number, keysDir = DEFAULT_KEYS_DIR): string {
  const path = testReleaseKeyPath(seed, keysDir);
  // The project's own keys folder is private; a key file an older version wrote with the default
  // mode is made private too.
  ensurePrivateDir(dirname(path), { restrictExisting: keysDir === DEFAULT_KEYS_DIR });
  restrictExistingFile(path);
  if (!existsSync(path)) {
    const k = simRoleKeys(seed).release;
    const file: ReleaseKeyFile = {
      note: `TEST release key derived from simulator seed ${seed}; the simulated wearable with this seed trusts it. Never sign a real release with it.`,
      alg: k.alg,
      privateKey: toHex(k.privateKey),
      publicKey: toHex(k.publicKey),
    };
    writeSecretFile(path, JSON.stringify(file, null, 2) + "\n", { atomic: true });
  }
  return path;
}

export function readReleaseKey(path: string): { alg: SignatureAlgorithm; privateKey: Uint8Array; publicKey: Uint8Array } | string {
  if (!existsSync(path)) return `no key file at ${path} (omit --key to use the simulator's test key)`;
  let j: Partial<ReleaseKeyFile>;
  try {
    j = JSON.parse(readFileSync(path, "utf8")) as Partial<ReleaseKeyFile>;
  } catch {
    return `${path} is not JSON: a release key file is {"alg":"ES256","privateKey":"<hex>","publicKey":"<hex>"}`;
  }
  const privateKey = typeof j.privateKey === "string" ? fromHex(j.privateKey) : null;
  const publicKey = typeof j.publicKey === "string" ? fromHex(j.publicKey) : null;
  if ((j.alg !== "ES256" && j.alg !== "EdDSA") || !privateKey || !publicKey) return `${path} lacks alg (ES256 or EdDSA), privateKey or publicKey (hex)`;
  return { alg: j.alg, privateKey, publicKey };
}

export interface ReleaseOptions {
  version: string;
  sequence: number;
  keyPath: string;
  outDir: string;
  minBatteryPercent: number;
  vendorId?: Uint8Array;
  classId?: Uint8Array;
  fault: TestFault | null;
  /** An image file to sign instead of building the simulator's (e.g. the mcconfig output). */
  imageFile?: string;
}

export interface ReleaseResult {
  outDir: string;
  imageBytes: number;
  manifestBytes: number;
  digest: string;
  kid: string;
  manifest: UpdateManifest;
}

export async function makeRelease(o: ReleaseOptions): Promise<ReleaseResult | string> {
  const key = readReleaseKey(o.keyPath);
  if (typeof key === "string") return key;
  let image: Uint8Array;
  if (o.imageFile) {
    if (!existsSync(o.imageFile)) return `no image at ${o.imageFile}`;
    image = new Uint8Array(readFileSync(o.imageFile));
  } else {
    image = await buildSimImage({ version: o.version, sequence: o.sequence, fault: o.fault });
  }
  const crypto = new NobleCrypto(seededBytes(o.sequence, "release-signing"));
  const manifest: UpdateManifest = {
    sequence: o.sequence,
    vendorId: o.vendorId ?? VENDOR_ID,
    classId: o.classId ?? CLASS_ID,
    version: o.version,
    imageSize: image.length,
    imageDigest: crypto.sha256(image),
    minBatteryPercent: o.minBatteryPercent,
    imageName: "image.bin",
  };
  const signed = signManifest({ crypto, alg: key.alg, privateKey: key.privateKey, publicKey: key.publicKey, manifest });
  const outDir = resolve(o.outDir);
  // What devices are sent: the signed manifest and the image are public (no key, no reading), so
  // they keep the default mode; the release key above is 0600 (docs/security.md, "Secrets at rest").
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "image.bin"), image);
  writeFileSync(join(outDir, "manifest.cbor"), signed);
  const kid = toHex(releaseKeyId(crypto, key.publicKey));
  writeFileSync(
    join(outDir, "manifest.json"),
    JSON.stringify(
      {
        note: "What manifest.cbor says (devices read only manifest.cbor, a COSE_Sign1; see docs/update.md).",
        version: manifest.version,
        sequence: manifest.sequence,
        vendorId: toHex(manifest.vendorId),
        classId: toHex(manifest.classId),
        imageSize: manifest.imageSize,
        imageSha256: toHex(manifest.imageDigest),
        minBatteryPercent: manifest.minBatteryPercent,
        imageName: manifest.imageName,
        signedBy: { kid, alg: key.alg },
        testFault: o.fault,
      },
      null,
      2,
    ) + "\n",
  );
  return { outDir, imageBytes: image.length, manifestBytes: signed.length, digest: toHex(manifest.imageDigest), kid, manifest };
}

/** One line about the device image (mcconfig output). */
export function deviceImageNote(): string {
  const sdk = findSdk();
  if (typeof sdk === "string") return `device image: skipped: ${sdk}`;
  return "device image: build it with `npm run build:esp32`, then sign the .bin with `wearable release --image FILE ...`";
}
