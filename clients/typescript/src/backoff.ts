// Reconnect pauses: exponential, with jitter, so clients cut off together do not all come back
// in the same instant (PROTOCOL §8.9, §8.10).

export interface BackoffOptions {
  /** The first pause, before jitter (default 250 ms). */
  initialMs?: number;
  /** The largest pause, before jitter (default 30 s). */
  maxMs?: number;
  /** Growth per failed try (default 2). */
  factor?: number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private tries = 0;

  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.initialMs = options.initialMs ?? 250;
    this.maxMs = options.maxMs ?? 30_000;
    this.factor = options.factor ?? 2;
  }

  /** The pause before the next try: between half and all of the current step ("equal jitter"). */
  next(): number {
    const step = Math.min(this.maxMs, this.initialMs * this.factor ** this.tries);
    this.tries += 1;
    return step / 2 + this.random() * (step / 2);
  }

  /** A connection succeeded: the next failure starts from the first step again. */
  reset(): void {
    this.tries = 0;
  }

  get attempts(): number {
    return this.tries;
  }
}
