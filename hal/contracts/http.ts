/**
 * HTTP GETs for the update downloader (firmware/update/http-download.ts): over the SDK's HTTP
 * client on the device (hal/moddable/http-range-client.ts), over the host's network in the
 * simulator.
 *
 * One HTTP GET. `start`/`end` (inclusive) ask for a range; `end` < 0 asks for the whole resource
 * (at most `maxBytes`). `done` gets the status code (0 when no response) and the body.
 */
export interface RangeClient {
  get(url: string, start: number, end: number, maxBytes: number, done: (status: number, body: Uint8Array | null) => void): void;
  /**
   * Optional: one GET from byte `start` to the end, the body handed over piece by piece as it
   * arrives (each piece at most a few kilobytes; `onData` returns false to stop), then `done`
   * with the status (0 when the connection failed or was stopped). One request for a whole
   * image instead of one per range: what a device's HTTP client does best.
   */
  stream?(url: string, start: number, onData: (piece: Uint8Array) => boolean, done: (status: number) => void): void;
}
