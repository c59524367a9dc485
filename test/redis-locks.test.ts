// Session locks across replicas, against the real Redis on this machine; each test has its own key prefix.
import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisLocks } from '../src/claude/redis-locks.js';
import { waitFor } from '../standins/harness.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = path.resolve(import.meta.dirname, '..');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RedisLocks (session locks across replicas)', () => {
  function locks(ttlMs = 1_000) {
    const prefix = `mrrtest-${randomUUID().slice(0, 8)}`;
    const conns = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
    cleanups.push(async () => {
      const keys = await conns[0]!.keys(`${prefix}:*`);
      if (keys.length) await conns[0]!.del(...keys);
      for (const c of conns) c.disconnect();
    });
    return { prefix, a: new RedisLocks(conns[0]!, { prefix, ttlMs, pollMs: 20 }), b: new RedisLocks(conns[1]!, { prefix, ttlMs, pollMs: 20 }) };
  }

  it('exclusive excludes across instances, shared admits several readers, a waiting writer goes before new readers', async () => {
    const { a, b } = locks();
    const events: string[] = [];
    const hold = (name: string, ms: number) => async () => {
      events.push(`${name}+`);
      await sleep(ms);
      events.push(`${name}-`);
    };
    const x1 = a.exclusive('s', hold('x1', 150));
    await waitFor(() => events.includes('x1+'), 10_000, 'x1 to hold the lock');
    await Promise.all([x1, b.exclusive('s', hold('x2', 10))]);
    expect(events).toEqual(['x1+', 'x1-', 'x2+', 'x2-']);

    events.length = 0;
    const r1 = a.shared('t', hold('r1', 200));
    const r2 = b.shared('t', hold('r2', 200));
    await waitFor(() => events.includes('r1+') && events.includes('r2+'), 10_000, 'both readers to hold the lock');
    const w = b.exclusive('t', hold('w', 10));
    await sleep(50);
    const r3 = a.shared('t', hold('r3', 10));
    await Promise.all([r1, r2, w, r3]);
    expect(events.slice(0, 2).sort()).toEqual(['r1+', 'r2+']);
    expect(events.indexOf('w+')).toBeGreaterThan(Math.max(events.indexOf('r1-'), events.indexOf('r2-')));
    expect(events.indexOf('r3+')).toBeGreaterThan(events.indexOf('w-'));
  });

  it('a killed holder blocks the session only until its lock expires', async () => {
    const { prefix, b } = locks(1_000);
    const child = execa('node', ['--import', 'tsx', '--input-type=module', '-e', `
      import { Redis } from 'ioredis';
      import { RedisLocks } from './src/claude/redis-locks.ts';
      const l = new RedisLocks(new Redis(${JSON.stringify(REDIS_URL)}), { prefix: ${JSON.stringify(prefix)}, ttlMs: 1000 });
      l.exclusive('trunk', async () => { console.log('held'); await new Promise(() => {}); });
    `], { cwd: ROOT, reject: false, buffer: false });
    await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && resolve()));
    let got = false;
    const waiting = b.shared('trunk', async () => void (got = true));
    await sleep(1_500); // renewed while the holder lives: longer than the ttl
    expect(got).toBe(false);
    child.kill('SIGKILL');
    await child;
    await waiting;
    expect(got).toBe(true);
  });
});
