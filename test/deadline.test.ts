// Bounded waits: the wait ends, the work goes on.
import { describe, expect, it } from 'vitest';
import { settledWithin, within } from '../src/deadline.js';

const never = new Promise<never>(() => undefined);

describe('within', () => {
  it('passes a prompt answer or failure through, and rejects a late one naming what it waited for', async () => {
    expect(await within(Promise.resolve(7), 50)).toBe(7);
    await expect(within(Promise.reject(new Error('boom')), 50)).rejects.toThrow('boom');
    await expect(within(never, 20, 'redis enqueue')).rejects.toThrow('redis enqueue: no answer within 20 ms');
  });

  it('settledWithin: true for anything settled in time, false for a wait that ran out', async () => {
    expect(await settledWithin(Promise.resolve(), 50)).toBe(true);
    expect(await settledWithin(Promise.reject(new Error('x')), 50)).toBe(true);
    expect(await settledWithin(never, 20)).toBe(false);
  });
});
