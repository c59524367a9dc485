// Per-project pacing of jobs: a token bucket per project id, so one noisy project cannot take every CLI slot
// and starve the others. Over the limit a job is not refused (GitLab would lose the event and count the answer
// against the hook): it is queued with a later start time, one token's worth after the previous one.
// Handwritten on purpose: it is a few lines, synchronous and in-memory; rate-limiter-flexible is only a transitive
// dependency of gitbeaker here.

interface Bucket {
  /** may go below 0: the debt of jobs already scheduled into the future */
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
  private readonly buckets = new Map<number, Bucket>();
  private readonly perMs: number;
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly o: RateLimiterOptions) {
    this.perMs = o.perMinute / 60_000;
    this.now = o.now ?? Date.now;
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  /** Takes one token from the project's bucket; returns how many ms the job must wait for it (0 = run now). */
  delayFor(projectId: number): number {
    if (this.o.perMinute <= 0) return 0;
    const now = this.now();
    const b = this.refill(this.buckets.get(projectId), now);
    b.tokens -= 1;
    this.buckets.set(projectId, b);
    if (this.buckets.size > this.maxKeys) this.prune(now);
    return b.tokens >= 0 ? 0 : Math.ceil(-b.tokens / this.perMs);
  }

  /** Gives back the token of a job that was not queued after all (a duplicate delivery). */
  refund(projectId: number): void {
    const b = this.buckets.get(projectId);
    if (b) b.tokens = Math.min(this.o.perMinute, b.tokens + 1);
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
