// Per-project admission for webhooks: a token bucket per project, so one noisy project cannot fill the queue
// and starve the others. Handwritten on purpose: it is a few lines, synchronous and in-memory;
// rate-limiter-flexible is only a transitive dependency of gitbeaker here.

interface Bucket {
  tokens: number;
  at: number;
}

export interface RateLimiterOptions {
  /** sustained rate and burst size per key; 0 disables the limit */
  perMinute: number;
  now?: () => number;
  /** buckets kept before idle (full) ones are dropped */
  maxKeys?: number;
}

export class ProjectRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly o: RateLimiterOptions) {
    this.perMs = o.perMinute / 60_000;
    this.now = o.now ?? Date.now;
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  /** Takes one token from `key`'s bucket; false when it is empty (answer 429). */
  admit(key: string): boolean {
    if (this.o.perMinute <= 0) return true;
    const now = this.now();
    const b = this.refill(this.buckets.get(key), now);
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.prune(now);
    return ok;
  }

  private refill(b: Bucket | undefined, now: number): Bucket {
    if (!b) return { tokens: this.o.perMinute, at: now };
    return { tokens: Math.min(this.o.perMinute, b.tokens + (now - b.at) * this.perMs), at: now };
  }

  /** A full bucket carries no state worth keeping. */
  private prune(now: number): void {
    for (const [k, b] of this.buckets) {
      if (this.refill(b, now).tokens >= this.o.perMinute) this.buckets.delete(k);
    }
  }
}
