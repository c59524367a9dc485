import { describe, expect, it } from 'vitest';
import { ProjectRateLimiter } from '../src/server/rate-limit.js';

describe('ProjectRateLimiter', () => {
  it('is a token bucket per project id: bursts up to the rate, then schedules each job one token later; ids are independent', () => {
    let now = 0;
    const l = new ProjectRateLimiter({ perMinute: 60, now: () => now });
    for (let i = 0; i < 60; i++) expect(l.delayFor(1)).toBe(0);
    expect(l.delayFor(1)).toBe(1_000); // one token per second
    expect(l.delayFor(1)).toBe(2_000); // the next one queues behind it
    expect(l.delayFor(2)).toBe(0);
    l.refund(1); // a duplicate gave its token back
    expect(l.delayFor(1)).toBe(2_000);
    now += 3_000; // the debt is paid off
    expect(l.delayFor(1)).toBe(0);
    now += 10 * 60_000; // never more than a full bucket
    for (let i = 0; i < 60; i++) expect(l.delayFor(1)).toBe(0);
    expect(l.delayFor(1)).toBeGreaterThan(0);
  });

  it('is off at 0 and forgets idle projects past maxKeys', () => {
    const off = new ProjectRateLimiter({ perMinute: 0 });
    for (let i = 0; i < 1000; i++) expect(off.delayFor(1)).toBe(0);
    let now = 0;
    const l = new ProjectRateLimiter({ perMinute: 2, now: () => now, maxKeys: 2 });
    expect(l.delayFor(1)).toBe(0);
    expect(l.delayFor(1)).toBe(0);
    expect(l.delayFor(1)).toBe(30_000);
    now += 120_000; // 1 is full again: pruning it loses nothing
    l.delayFor(2);
    l.delayFor(3);
    expect((l as unknown as { buckets: Map<number, unknown> }).buckets.has(1)).toBe(false);
    expect(l.delayFor(2)).toBe(0);
    expect(l.delayFor(2)).toBeGreaterThan(0);
  });
});
