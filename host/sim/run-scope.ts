/**
 * What one command run started (child processes such as mosquitto and xsnap-worker, temporary
 * folders, servers, connections), released on every way out: the normal end, an error, SIGINT
 * (Ctrl-C) or SIGTERM.
 *
 * While a scope is open those two signals do not end the process: they ask the run to stop
 * (`stopping`, `signal`), so that it ends its current step, prints its summary and releases what
 * it started, newest first. A signal that comes again while stopping changes nothing: a terminal's
 * Ctrl-C reaches the process more than once (directly, and relayed by `tsx`), and it reaches the
 * child processes in the same process group too, which may fail before the signal is seen here
 * (`stopExplains`). A run stopped this way exits with code 0; a signal that comes before any scope
 * is open (nothing started yet) ends the process as usual (130 for SIGINT).
 */

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

export class RunScope {
  private readonly releases: { what: string; release: () => unknown }[] = [];
  private readonly controller = new AbortController();
  private closed = false;
  private signalled = false;
  private readonly onSignal = (): void => {
    this.signalled = true;
    this.controller.abort();
  };
  private readonly onOuterStop = (): void => this.controller.abort();

  /**
   * `stop`: a stop asked for from outside (an enclosing scope); `warn`: where a release that fails
   * is reported (the others still run).
   */
  constructor(private readonly options: { stop?: AbortSignal; warn?: (line: string) => void } = {}) {
    for (const s of SIGNALS) process.on(s, this.onSignal);
    const outer = options.stop;
    if (outer?.aborted) this.controller.abort();
    else outer?.addEventListener("abort", this.onOuterStop, { once: true });
  }

  /** Aborted once the run should stop. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopping(): boolean {
    return this.controller.signal.aborted;
  }

  /** Registers how to release a resource (`what` names it in a warning); returns the resource. */
  hold<T>(what: string, resource: T, release: (r: T) => unknown): T {
    this.releases.push({ what, release: () => release(resource) });
    return resource;
  }

  /** Releases everything held, newest first, once; then signals end the process again. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      for (const r of this.releases.splice(0).reverse()) {
        try {
          await r.release();
        } catch (e) {
          this.options.warn?.(`could not release the ${r.what}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    } finally {
      for (const s of SIGNALS) process.removeListener(s, this.onSignal);
      this.options.stop?.removeEventListener("abort", this.onOuterStop);
      if (this.signalled) ignoreEchoes();
    }
  }
}

/** How long after a stop by signal the same signal is still taken as its echo (tsx relays it about 30 ms later). */
const ECHO_MS = 2000;

/** After a stop by signal: the signal's echoes must not end the process while it prints its summary. */
function ignoreEchoes(): void {
  const ignore = (): void => {};
  for (const s of SIGNALS) process.on(s, ignore);
  setTimeout(() => {
    for (const s of SIGNALS) process.removeListener(s, ignore);
  }, ECHO_MS).unref();
}

/**
 * Whether a failure is the stop itself: a stop was asked for already, or is within `graceMs` (a
 * terminal's Ctrl-C also reaches the child processes, whose end may be noticed first).
 */
export async function stopExplains(signal: AbortSignal | undefined, graceMs = 300): Promise<boolean> {
  if (!signal) return false;
  if (signal.aborted) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", done);
      resolve();
    }, graceMs);
    signal.addEventListener("abort", done, { once: true });
  });
  return signal.aborted;
}

/** Runs `body` in a scope that is closed whatever happens. */
export async function withRunScope<T>(body: (scope: RunScope) => Promise<T>, options: { stop?: AbortSignal; warn?: (line: string) => void } = {}): Promise<T> {
  const scope = new RunScope(options);
  try {
    return await body(scope);
  } finally {
    await scope.close();
  }
}
