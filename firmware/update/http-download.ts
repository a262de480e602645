/**
 * Downloads an update over HTTP (Wi-Fi): the manifest first, then the image in ranges
 * (`Range: bytes=a-b`), each range fed to the agent as it arrives. A failed range is asked for
 * again from the same offset (resume), a few times, before the update is abandoned.
 */
import type { Log } from "../../hal/contracts/log.js";
import type { Timers } from "../../hal/contracts/timer.js";
import { MAX_MANIFEST_BYTES } from "../../protocol/update-manifest.js";
import type { UpdateAgent } from "./update-agent.js";
import type { UpdateFetcher } from "./transfer.js";
import type { RangeClient } from "../../hal/contracts/http.js";

export type { RangeClient } from "../../hal/contracts/http.js";

export const RANGE_BYTES = 4096;
export const MAX_RETRIES = 5;
export const RETRY_DELAY_MS = 2000;

/** `image` next to `manifestUrl` (same folder). */
export function siblingUrl(manifestUrl: string, name: string): string {
  const q = manifestUrl.indexOf("?");
  const base = q >= 0 ? manifestUrl.slice(0, q) : manifestUrl;
  return base.slice(0, base.lastIndexOf("/") + 1) + name;
}

export class HttpUpdateDownloader implements UpdateFetcher {
  private busy = false;
  private retries = 0;
  /** Ranges fetched, retries made (for tests and logs). */
  readonly counters = { ranges: 0, retries: 0 };

  constructor(
    private readonly agent: UpdateAgent,
    private readonly client: RangeClient,
    private readonly timers: Timers,
    private readonly log: Log,
  ) {}

  start(manifestUrl: string): void {
    if (this.busy) return;
    this.busy = true;
    this.retries = 0;
    this.fetchManifest(manifestUrl);
  }

  private fetchManifest(url: string): void {
    this.client.get(url, 0, -1, MAX_MANIFEST_BYTES, (status, body) => {
      if (status !== 200 || !body) {
        if (this.retry(() => this.fetchManifest(url))) return;
        this.done(`manifest fetch failed (HTTP ${status})`);
        return;
      }
      const r = this.agent.offer(body);
      if (!r.ok) {
        this.busy = false;
        return;
      }
      this.retries = 0;
      const imageUrl = siblingUrl(url, r.manifest.imageName ?? "image.bin");
      if (this.client.stream) this.streamImage(imageUrl, r.manifest.imageSize);
      else this.fetchRange(imageUrl, r.manifest.imageSize);
    });
  }

  /** The image in one request from the agent's offset; an interrupted stream resumes where it stopped. */
  private streamImage(url: string, size: number): void {
    const start = this.agent.status.offset;
    if (start >= size) {
      this.agent.finish();
      this.busy = false;
      return;
    }
    let refused = false;
    this.client.stream!(
      url,
      start,
      (piece) => {
        if (this.agent.status.state !== "receiving") return false;
        const r = this.agent.chunk(this.agent.status.offset, piece);
        if (!r.ok) refused = true;
        return r.ok;
      },
      (status) => {
        if (refused || this.agent.status.state !== "receiving") {
          this.busy = false;
          return;
        }
        this.counters.ranges++;
        if (this.agent.status.offset >= size) {
          this.agent.finish();
          this.busy = false;
          return;
        }
        if (status !== 0 && status !== 206 && status !== 200 && status < 500) {
          this.agent.abort("download-failed", `HTTP ${status} for bytes ${this.agent.status.offset}-`);
          this.busy = false;
          return;
        }
        if (this.retry(() => this.streamImage(url, size))) return;
        this.agent.abort("download-failed", `the image stopped at byte ${this.agent.status.offset} of ${size} after ${MAX_RETRIES} tries`);
        this.busy = false;
      },
    );
  }

  private fetchRange(url: string, size: number): void {
    const start = this.agent.status.offset;
    if (start >= size) {
      this.agent.finish();
      this.busy = false;
      return;
    }
    const end = Math.min(start + RANGE_BYTES, size) - 1;
    this.client.get(url, start, end, RANGE_BYTES, (status, body) => {
      if (this.agent.status.state !== "receiving") {
        this.busy = false;
        return;
      }
      if (status === 0 || status >= 500) {
        if (this.retry(() => this.fetchRange(url, size))) return;
        this.agent.abort("download-failed", `no answer for bytes ${start}-${end} after ${MAX_RETRIES} tries`);
        this.busy = false;
        return;
      }
      if ((status !== 206 && status !== 200) || !body || body.length === 0) {
        // The server has no more bytes (a truncated image) or refuses: the agent decides.
        if (status === 416 || (body && body.length === 0)) this.agent.finish();
        else this.agent.abort("download-failed", `HTTP ${status} for bytes ${start}-${end}`);
        this.busy = false;
        return;
      }
      this.counters.ranges++;
      const r = this.agent.chunk(start, status === 200 ? body.subarray(start, end + 1) : body);
      if (!r.ok) {
        this.busy = false;
        return;
      }
      this.retries = 0;
      if (body.length < end - start + 1 && r.offset < size) {
        // Short range: the file on the server ends early.
        this.agent.finish();
        this.busy = false;
        return;
      }
      this.fetchRange(url, size);
    });
  }

  private retry(again: () => void): boolean {
    if (this.retries >= MAX_RETRIES) return false;
    this.retries++;
    this.counters.retries++;
    this.log.log("warn", `update download interrupted; resuming in ${RETRY_DELAY_MS} ms (try ${this.retries} of ${MAX_RETRIES})`);
    this.timers.set(() => again(), RETRY_DELAY_MS);
    return true;
  }

  private done(why: string): void {
    this.log.log("warn", `update download: ${why}`);
    this.busy = false;
  }
}
