/**
 * The self-test a new image must pass before it confirms itself: the sensors answer, the keys
 * are readable, a frame has been sealed, and the link is up.
 */
import type { FrameLink } from "../../hal/contracts/link.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { loadCredentials } from "../security/credentials.js";
import { loadRoleKey } from "../security/trust.js";
import type { SelfTestResult } from "./update-agent.js";

export interface SelfTestSubject {
  getStatus(): { state: string; frames: number };
}

export function updateSelfTest(firmware: SelfTestSubject, store: PreferenceStore, link: FrameLink, fault: string | null = null): () => SelfTestResult {
  return () => {
    const failing: string[] = [];
    const s = firmware.getStatus();
    if (s.state !== "running") failing.push(`sensors (${s.state})`);
    if (!loadCredentials(store).ok) failing.push("device keys unreadable");
    if (!loadRoleKey(store, "release")) failing.push("release key unreadable");
    if (s.frames < 1) failing.push("no frame sealed yet");
    if (!link.connected) failing.push("link down");
    // A test image built to fail its self-test (release --test-fault self-test).
    if (fault === "self-test") failing.push("test image: self-test forced to fail");
    return { ok: failing.length === 0, failing: failing.join(", ") };
  };
}
