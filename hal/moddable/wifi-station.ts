/// <reference path="../../typings/index.d.ts" />
/**
 * Wi-Fi in station mode over the SDK's `wifi` module (ESP-IDF's Wi-Fi on the ESP32; the SDK's
 * simulated access point in the desktop simulator, where the host's network stands in), with the
 * clock set by SNTP once an address is obtained if nothing set it before.
 *
 * Nothing waits for it: sensing and queueing run from boot, and the MQTT link connects when the
 * station reports up. A failed join or a lost association is retried with exponential backoff
 * (1 s doubling to 60 s, with jitter so that a ward's devices do not retry in step).
 */
import WiFi from "wifi";
import SNTP from "network/sntp";
import Time from "time";
import type { Log } from "../contracts/log.js";
import type { Timers } from "../contracts/timer.js";

export const WIFI_BACKOFF_FIRST_MS = 1_000;
export const WIFI_BACKOFF_MAX_MS = 60_000;
/** Wall-clock values before 2020 mean the clock was never set. */
const EARLIEST_PLAUSIBLE_MS = 1_577_836_800_000;

export interface WifiStationOptions {
  ssid: string;
  password: string;
  sntpHost: string;
  timers: Timers;
  log: Log;
}

export class WifiStation {
  /** Called with true when the station has an address, false when it loses it. */
  onChange: ((up: boolean) => void) | null = null;
  readonly counters = { joins: 0, failures: 0, retries: 0 };
  private wifi: WiFi | null = null;
  private up = false;
  private wanted = false;
  private backoff = WIFI_BACKOFF_FIRST_MS;
  private retry: number | null = null;
  private sntp: SNTP | null = null;

  constructor(private readonly o: WifiStationOptions) {}

  get connected(): boolean {
    return this.up;
  }

  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.join();
  }

  stop(): void {
    this.wanted = false;
    if (this.retry !== null) this.o.timers.clear(this.retry);
    this.retry = null;
    this.sntp?.close();
    this.sntp = null;
    if (this.wifi) WiFi.disconnect();
    this.changed(false);
  }

  private join(): void {
    if (!this.wanted) return;
    this.counters.joins++;
    const credentials = { ssid: this.o.ssid, password: this.o.password };
    try {
      if (!this.wifi) {
        WiFi.mode = WiFi.Mode.station;
        this.wifi = new WiFi(credentials, (message: string) => this.event(message));
      } else WiFi.connect(credentials);
    } catch (e) {
      this.failed(`cannot start Wi-Fi: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private event(message: string): void {
    if (!this.wanted) return;
    if (message === WiFi.gotIP) {
      // An address can come back without a new join (a renewed lease after lostIP): a retry
      // still pending would disconnect the station that is up.
      if (this.retry !== null) this.o.timers.clear(this.retry);
      this.retry = null;
      this.backoff = WIFI_BACKOFF_FIRST_MS;
      this.o.log.log("info", `Wi-Fi: joined "${this.o.ssid}"`);
      this.setClock();
      this.changed(true);
    } else if (message === WiFi.disconnected || message === WiFi.lostIP) {
      this.failed(this.up ? "association lost" : `could not join "${this.o.ssid}"`);
    }
  }

  private failed(why: string): void {
    this.counters.failures++;
    this.changed(false);
    if (!this.wanted || this.retry !== null) return;
    const delay = Math.round(this.backoff * (0.8 + 0.4 * Math.random()));
    this.o.log.log("warn", `Wi-Fi: ${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.backoff = Math.min(WIFI_BACKOFF_MAX_MS, this.backoff * 2);
    this.retry = this.o.timers.set(() => {
      this.retry = null;
      this.counters.retries++;
      this.join();
    }, delay);
  }

  private changed(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    this.onChange?.(up);
  }

  /** SNTP once, when nothing (a phone, an earlier sync, the host) has set the clock. */
  private setClock(): void {
    if (Date.now() >= EARLIEST_PLAUSIBLE_MS || this.sntp) return;
    try {
      this.sntp = new SNTP({
        host: this.o.sntpHost,
        onTime: (ms: number) => {
          Time.set(Math.round(ms / 1000));
          this.o.log.log("info", "clock set by SNTP");
          this.sntp?.close();
          this.sntp = null;
        },
        onError: () => {
          this.o.log.log("warn", `SNTP: cannot resolve ${this.o.sntpHost}; readings carry no wall time until the clock is set`);
          this.sntp = null;
        },
      });
    } catch (e) {
      this.o.log.log("warn", `SNTP: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
