/**
 * The device side of the update characteristic (the messages are protocol/update-transfer.ts):
 * decodes the central's writes, drives the update agent and answers with acknowledgements,
 * link-framed, kept while no central listens.
 */
import type { FrameLink } from "../../hal/contracts/link.js";
import { fragmentMessage } from "../../protocol/link-framing.js";
import { decodeTransferMessage, encodeAck } from "../../protocol/update-transfer.js";
import type { UpdateAgent } from "./update-agent.js";

/** Something that can fetch a manifest and image over HTTP for the agent (see http-download.ts). */
export interface UpdateFetcher {
  start(manifestUrl: string): void;
}

/**
 * The device side of the update characteristic: decodes writes, drives the agent, answers with
 * acknowledgements.
 */
export class UpdateTransferHandler {
  private messageNumber = 0;
  private readonly pending: Uint8Array[] = [];
  /** Largest number of notifications kept while no central listens. */
  static readonly PENDING_CAPACITY = 8;

  constructor(
    private readonly agent: UpdateAgent,
    private readonly channel: FrameLink,
    private readonly fetcher: UpdateFetcher | null,
  ) {
    channel.onWrite = (payload) => this.onWrite(payload);
    channel.onConnectionChange = (connected) => {
      if (connected) this.flush();
    };
  }

  /** Sends one message (an acknowledgement) to the central, or keeps it until it connects. */
  send(message: Uint8Array): void {
    if (this.pending.length >= UpdateTransferHandler.PENDING_CAPACITY) this.pending.shift();
    this.pending.push(message);
    this.flush();
  }

  private flush(): void {
    while (this.pending.length && this.channel.connected) {
      const m = this.pending[0];
      const fragments = fragmentMessage(m, this.channel.maxPayload, this.messageNumber);
      let sent = true;
      for (const f of fragments) if (!this.channel.notify(f)) sent = false;
      if (!sent) return;
      this.messageNumber = (this.messageNumber + 1) & 0x3f;
      this.pending.shift();
    }
  }

  private ack(reason: string): void {
    const s = this.agent.status;
    this.send(encodeAck({ offset: s.offset, state: s.state, reason }));
  }

  private onWrite(payload: Uint8Array): void {
    const d = decodeTransferMessage(payload);
    if (!d.ok) {
      this.ack("malformed");
      return;
    }
    const m = d.message;
    switch (m.kind) {
      case "offer": {
        const r = this.agent.offer(m.manifest);
        this.ack(r.ok ? "" : r.reason);
        return;
      }
      case "chunk": {
        const r = this.agent.chunk(m.offset, m.data);
        if (!r.ok) this.ack(r.reason);
        return;
      }
      case "finish": {
        const r = this.agent.finish();
        this.ack(r.ok ? "" : r.reason);
        return;
      }
      case "query":
        this.ack("");
        return;
      case "fetch":
        if (!this.fetcher) {
          this.ack("no-http");
          return;
        }
        this.fetcher.start(m.url);
        this.ack("");
        return;
      case "abort":
        this.agent.abort("aborted", "the central abandoned the update");
        this.ack("aborted");
        return;
    }
  }
}
