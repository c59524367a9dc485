// The in-process session locks: a trunk turn is exclusive, forks share the trunk, a waiting writer goes first.
import { describe, expect, it } from 'vitest';
import { LocalLocks } from '../src/claude/locks.js';

const tick = () => new Promise((r) => setImmediate(r));

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe('LocalLocks', () => {
  it('runs exclusive holders of one key one at a time, in order; other keys in parallel', async () => {
    const locks = new LocalLocks();
    const log: string[] = [];
    const g1 = gate();
    const a = locks.exclusive('S', async () => (log.push('a+'), await g1.p, log.push('a-')));
    const b = locks.exclusive('S', async () => void log.push('b'));
    const other = locks.exclusive('T', async () => void log.push('other'));
    await other;
    await tick();
    expect(log).toEqual(['a+', 'other']); // b waits for a; T does not
    g1.open();
    await Promise.all([a, b]);
    expect(log).toEqual(['a+', 'other', 'a-', 'b']);
  });

  it('lets several shared holders in together, but not while an exclusive holder runs', async () => {
    const locks = new LocalLocks();
    let inside = 0;
    let peak = 0;
    const g = gate();
    const reader = () => locks.shared('trunk', async () => {
      peak = Math.max(peak, ++inside);
      await g.p;
      inside--;
    });
    const readers = [reader(), reader(), reader()];
    await tick();
    expect(peak).toBe(3);
    let wrote = false;
    const writer = locks.exclusive('trunk', async () => {
      expect(inside).toBe(0);
      wrote = true;
    });
    await tick();
    expect(wrote).toBe(false);
    g.open();
    await Promise.all([...readers, writer]);
    expect(wrote).toBe(true);
  });

  it('a waiting writer holds back later readers (a trunk turn is not starved by forks)', async () => {
    const locks = new LocalLocks();
    const order: string[] = [];
    const g = gate();
    const r1 = locks.shared('trunk', async () => (order.push('r1'), await g.p));
    const w = locks.exclusive('trunk', async () => void order.push('w'));
    const r2 = locks.shared('trunk', async () => void order.push('r2'));
    await tick();
    expect(order).toEqual(['r1']);
    g.open();
    await Promise.all([r1, w, r2]);
    expect(order).toEqual(['r1', 'w', 'r2']);
  });

  it('releases on failure', async () => {
    const locks = new LocalLocks();
    await expect(locks.exclusive('S', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(locks.exclusive('S', async () => 'next')).resolves.toBe('next');
  });
});
