/** Signs update reports with the device's identity key and hands them to the update channel. */
import type { Crypto, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { encodeUpdateStatus } from "../../protocol/update-manifest.js";
import type { UpdateReport } from "./update-agent.js";

export interface ReportIdentity {
  deviceId: Uint8Array;
  signingKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
}

export function signedReporter(crypto: Crypto, identity: ReportIdentity | null, runningVersion: string, send: (message: Uint8Array) => void): (r: UpdateReport) => void {
  return (r) => {
    if (!identity) return;
    send(
      encodeUpdateStatus(crypto, identity.signatureAlg, identity.signingKey, {
        deviceId: identity.deviceId,
        outcome: r.outcome,
        reason: r.reason,
        version: r.version,
        sequence: r.sequence,
        offset: r.offset,
        detail: r.detail,
        running: runningVersion,
      }),
    );
  };
}
