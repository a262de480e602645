/**
 * The radio link that carries sealed frames off the device and commands onto it.
 *
 * Shaped after what the SDK's `bleserver` offers a GATT server: a notification to a connected,
 * subscribed central (`notifyValue`) limited by the negotiated ATT MTU, and writes from the
 * central. Frames larger than one notification are split by the link layer of the firmware.
 */
export interface FrameLink {
  /** True while a central is connected and subscribed. */
  readonly connected: boolean;
  /** Largest payload of one notification: ATT MTU minus 3. */
  readonly maxPayload: number;
  /** Sends one notification; returns false when it could not be queued (not connected, busy). */
  notify(payload: Uint8Array): boolean;
  /** Called for each write from the central (commands, acknowledgements). */
  onWrite: ((payload: Uint8Array) => void) | null;
  /** Called when the connection state changes. */
  onConnectionChange: ((connected: boolean) => void) | null;
  /**
   * Sets the value of a standard characteristic (encoded by protocol/gatt.ts) and notifies or
   * indicates it to a subscribed central. Links without standard services leave it out.
   */
  publishCharacteristic?(name: StandardCharacteristic, value: Uint8Array): void;
  /**
   * Links that carry more than one radio follow the stored transport ("ble", "mqtt" or "both");
   * the firmware calls this at start and when the signed set-transport command changes it.
   */
  useTransport?(transport: "ble" | "mqtt" | "both"): void;
}

/** Heart Rate Measurement 0x2A37, Temperature Measurement 0x2A1C, Battery Level 0x2A19, Firmware Revision 0x2A26. */
export type StandardCharacteristic = "heart-rate" | "temperature" | "battery" | "firmware";
