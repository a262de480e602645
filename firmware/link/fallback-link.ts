import type { FrameLink } from "../../hal/contracts/link.js";
import { SelectingLink } from "./selecting-link.js";

/**
 * Two links as one, for the "both" transport: the preferred link (BLE: cheaper in energy) while
 * it is connected, else the fallback (MQTT over Wi-Fi). Switching rules: SelectingLink.
 */
export class FallbackLink extends SelectingLink {
  constructor(
    readonly preferred: FrameLink,
    readonly fallback: FrameLink,
  ) {
    super([preferred, fallback]);
  }

  protected pick(): FrameLink | null {
    if (this.preferred.connected) return this.preferred;
    if (this.fallback.connected) return this.fallback;
    return null;
  }
}
