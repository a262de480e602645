/**
 * Token buckets for the command path (firmware/security/command-handler.ts).
 *
 * A bucket holds at most `capacity` tokens and gains one every `refillMs` of monotonic time (the
 * HAL clock's `ticks`), up to its capacity. Taking a token when none is left fails; the caller
 * then drops the work it would have paid for. State is in RAM only: a reboot starts full.
 */
export interface TokenBucketConfig {
  /** Tokens when full: the burst allowed before the rate applies. */
  capacity: number;
  /** Milliseconds per token gained. */
  refillMs: number;
}

/**
 * Rejected commands (anything that fails before or at authentication: malformed, unknown role,
 * bad arguments, wrong device, not permitted, expired, replayed, bad signature). Each one answered
 * costs a result signature and is handed to the security log. 8 covers the burst a legitimate
 * operator produces (a tool retrying a batch of expired or already applied commands); one per 10 s
 * keeps the answered rejections of a flood at 6 per minute.
 */
export const REJECTION_BUCKET: TokenBucketConfig = { capacity: 8, refillMs: 10_000 };

/**
 * Signature verifications of commands that passed every cheap check. A signature that verifies
 * gives its token back, so valid commands never drain this bucket; only well-formed forgeries
 * (right device id, a role name, a fresh id, a future expiry, a wrong signature) do. 4 forgeries
 * in a burst, then one per 10 s: on the portable path a verification is about 4 M computrons.
 */
export const VERIFICATION_BUCKET: TokenBucketConfig = { capacity: 4, refillMs: 10_000 };

/** At most one security-log record of dropped commands per this interval. */
export const DROP_LOG_INTERVAL_MS = 60_000;

export interface CommandRateLimit {
  rejections: TokenBucketConfig;
  verifications: TokenBucketConfig;
  dropLogIntervalMs: number;
}

export const DEFAULT_COMMAND_RATE_LIMIT: CommandRateLimit = {
  rejections: REJECTION_BUCKET,
  verifications: VERIFICATION_BUCKET,
  dropLogIntervalMs: DROP_LOG_INTERVAL_MS,
};

export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly capacity: number;
  readonly refillMs: number;

  constructor(config: TokenBucketConfig, nowMs: number) {
    if (!(config.capacity >= 1) || !(config.refillMs > 0)) throw new RangeError("token bucket: capacity >= 1 and refillMs > 0");
    this.capacity = Math.floor(config.capacity);
    this.refillMs = config.refillMs;
    this.tokens = this.capacity;
    this.last = nowMs;
  }

  /** Tokens available at `nowMs`. */
  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }

  /** Takes one token; false (and nothing taken) when the bucket is empty. */
  take(nowMs: number): boolean {
    this.refill(nowMs);
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** Gives one token back (a verification that turned out to be for a valid command). */
  refund(nowMs: number): void {
    this.refill(nowMs);
    if (this.tokens < this.capacity) this.tokens++;
  }

  private refill(nowMs: number): void {
    if (!Number.isFinite(nowMs)) return;
    if (nowMs < this.last) {
      // A clock that went back (it should not: ticks are monotonic): restart the period from here.
      this.last = nowMs;
      return;
    }
    const gained = Math.floor((nowMs - this.last) / this.refillMs);
    if (gained <= 0) return;
    this.tokens = Math.min(this.capacity, this.tokens + gained);
    // Keep the fraction of a period already elapsed, unless full (a full bucket does not save up).
    this.last = this.tokens === this.capacity ? nowMs : this.last + gained * this.refillMs;
  }
}
