/**
 * Fake of the SDK's `wifi` module (ESP32 station), with the access point played by the test
 * through `wifiRadio`.
 *
 * As on the ESP32: the constructor connects with its dictionary, then registers the callback and
 * calls it with "init" at once; `WiFi.connect(dictionary)` disconnects a station that is
 * connecting or connected first; `WiFi.disconnect()` is `WiFi.connect()` without a dictionary;
 * events ("connect", "gotIP", "lostIP", "disconnect") reach every registered callback.
 */
export type StationState = "idle" | "connecting" | "associated" | "up";

/** The access point and the station's radio, driven by the test. */
export const wifiRadio = {
  mode: 0,
  state: "idle" as StationState,
  /** Dictionaries of every connection attempt, in order. */
  joins: [] as { ssid: string; password?: string }[],
  /** Times a connecting or connected station was disconnected by a connect or disconnect call. */
  dropped: 0,
  /** When set, the next connect throws this message (as esp_wifi_connect failing does). */
  failNextConnect: "" as string,
  instances: [] as WiFi[],
  reset(): void {
    this.mode = 0;
    this.state = "idle";
    this.joins = [];
    this.dropped = 0;
    this.failNextConnect = "";
    this.instances = [];
  },
  emit(message: string): void {
    for (const w of [...this.instances]) w.notify(message);
  },
  /** The station associated and got an address. */
  gotIP(): void {
    this.state = "up";
    this.emit(WiFi.connected);
    this.emit(WiFi.gotIP);
  },
  /** The attempt failed (no access point, wrong password) or the association was lost. */
  disconnected(): void {
    this.state = "idle";
    this.emit(WiFi.disconnected);
  },
  /** The address was lost (the association may come back with a new lease: gotIP again). */
  lostIP(): void {
    this.state = "associated";
    this.emit(WiFi.lostIP);
  },
};

export default class WiFi {
  static readonly Mode = Object.freeze({ off: -5, none: 0, station: 1, accessPoint: 2 });
  static readonly gotIP = "gotIP";
  static readonly lostIP = "lostIP";
  static readonly connected = "connect";
  static readonly disconnected = "disconnect";

  private callback: ((message: string) => void) | null = null;

  constructor(dictionary: { ssid: string; password?: string } | undefined, onNotify?: (message: string) => void) {
    if (dictionary) WiFi.connect(dictionary);
    if (onNotify) {
      this.callback = onNotify;
      wifiRadio.instances.push(this);
      onNotify("init");
    }
  }

  static get mode(): number {
    return wifiRadio.mode;
  }

  static set mode(mode: number) {
    if (mode !== WiFi.Mode.station && mode !== WiFi.Mode.accessPoint) throw new Error("invalid mode");
    wifiRadio.mode = mode;
  }

  static connect(dictionary?: { ssid: string; password?: string }): void {
    if (wifiRadio.state !== "idle") {
      wifiRadio.dropped++;
      wifiRadio.state = "idle";
    }
    if (!dictionary) return;
    if (!dictionary.ssid) throw new Error("ssid required");
    if (wifiRadio.failNextConnect) {
      const message = wifiRadio.failNextConnect;
      wifiRadio.failNextConnect = "";
      throw new Error(message);
    }
    wifiRadio.joins.push({ ...dictionary });
    wifiRadio.state = "connecting";
  }

  static disconnect(): void {
    WiFi.connect();
  }

  close(): void {
    wifiRadio.instances = wifiRadio.instances.filter((w) => w !== this);
    this.callback = null;
  }

  notify(message: string): void {
    this.callback?.(message);
  }
}
