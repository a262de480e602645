/** Fake of the SDK's SNTP client (`network/sntp`): the test answers each request. */
export const sntpServer = {
  clients: [] as SNTP[],
  reset(): void {
    this.clients = [];
  },
};

export default class SNTP {
  closed = false;
  constructor(readonly options: { host: string; onTime: (ms: number) => void; onError?: () => void }) {
    if (!options.host) throw new Error("host required");
    sntpServer.clients.push(this);
  }
  close(): void {
    this.closed = true;
  }
  /** The server answers with the time in ms since the epoch. */
  answer(ms: number): void {
    if (this.closed) throw new Error("closed");
    this.options.onTime(ms);
  }
  /** The host does not resolve, or no answer comes. */
  fail(): void {
    if (this.closed) throw new Error("closed");
    this.options.onError?.();
  }
}
