/**
 * Signs update reports with the device's identity key and hands them to `send`, which seals them
 * under the open epoch's key and queues them to the gateway (WearableFirmware.sendStatusReport):
 * a report never travels in clear.
 */
import type { Crypto, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { encodeUpdateStatus } from "../../protocol/update-manifest.js";
import type { UpdateReport } from "./update-agent.js";

export interface ReportIdentity {
  deviceId: Uint8Array;
  signingKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
}

/**
 * `identity` is read when a report is made (a function), so that a device provisioned, or
 * provisioned again, after the agent was made signs with the identity it has then; null: no
 * identity, the report is dropped.
 */
export function signedReporter(
  crypto: Crypto,
  identity: ReportIdentity | null | (() => ReportIdentity | null),
  runningVersion: string,
  send: (message: Uint8Array) => void,
): (r: UpdateReport) => void {
  return (r) => {
    const id = typeof identity === "function" ? identity() : identity;
    if (!id) return;
    send(
      encodeUpdateStatus(crypto, id.signatureAlg, id.signingKey, {
        deviceId: id.deviceId,
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
