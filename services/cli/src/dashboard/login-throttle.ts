/**
 * A light brake on guessing the dashboard's token: after `limit` wrong tokens from one
 * address within `windowMs`, that address is refused until the oldest of them is
 * `windowMs` old. A token of 16 characters or more cannot be guessed at that pace; the
 * brake only keeps a script from hammering the server.
 */
export class LoginThrottle {
  readonly #failures = new Map<string, number[]>();

  constructor(
    private readonly limit = 5,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds `address` must wait before it may try again; 0 when it may now. */
  waitFor(address: string): number {
    const recent = this.#recent(address);
    if (recent.length < this.limit) return 0;
    return (recent[0] ?? 0) + this.windowMs - this.now();
  }

  failed(address: string): void {
    const recent = this.#recent(address);
    recent.push(this.now());
    this.#failures.set(address, recent);
  }

  #recent(address: string): number[] {
    const since = this.now() - this.windowMs;
    const recent = (this.#failures.get(address) ?? []).filter((at) => at > since);
    if (recent.length === 0) this.#failures.delete(address);
    return recent;
  }
}
