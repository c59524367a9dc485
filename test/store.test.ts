// The store's record updates on both backends: read-modify-write under one per-key lock.
import { describe, expect, it } from 'vitest';
import { testStores } from './support/stores.js';

const { sqliteStore, redisReplicas } = testStores('mrr-store');

describe('Store.updateThread', () => {
  const thread = (pid: number) => ({
    projectId: pid, iid: 1, discussionId: 'd', forkSessionId: 'f', trunkSessionId: 't', lastSeenNoteId: 0, status: 'done' as const,
    turns: 0, costUsd: 0, rebuilds: 0, answered: [], createdAt: '', updatedAt: '',
  });

  it('serialises concurrent read-modify-writes of one thread (a reply and a fix check finishing at once lose nothing)', async () => {
    const s = sqliteStore();
    await s.putThread(thread(1));
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.updateThread(1, 1, 'd', (t) => {
      t.turns += 1;
      t.answered = [...(t.answered ?? []), i];
    })));
    const t = await s.getThread(1, 1, 'd');
    expect(t?.turns).toBe(20);
    expect([...(t?.answered ?? [])].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(await s.updateThread(1, 1, 'missing', () => undefined)).toBeUndefined();
    expect(await s.getThread(1, 1, 'missing')).toBeUndefined();
  });

  it('a new session for a thread (startThread) keeps what its lane recorded meanwhile: answers, a pending reply', async () => {
    const s = sqliteStore();
    await s.putThread(thread(3));
    const pendingReply = { noteId: 7, reply: 'r', verdict: 'answered' as const, forkSessionId: 'f', forked: false, rebuilt: false };
    // a reply finishing in the thread's lane while a fix check (the MR's lane) starts a new fork of the thread
    await Promise.all([
      s.updateThread(3, 1, 'd', (t) => {
        t.answered = [...t.answered, 7];
        t.pendingReply = pendingReply;
      }),
      s.startThread({ projectId: 3, iid: 1, discussionId: 'd', forkSessionId: 'f2', trunkSessionId: 't', lastSeenNoteId: 5 }),
    ]);
    const t = await s.getThread(3, 1, 'd');
    expect(t).toMatchObject({ forkSessionId: 'f2', status: 'running', answered: [7], pendingReply, lastSeenNoteId: 5 });
  });

  it('holds across replicas on Redis', async () => {
    const [a, b] = redisReplicas();
    await a.putThread(thread(2));
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).updateThread(2, 1, 'd', (t) => {
      t.turns += 1;
    })));
    expect((await a.getThread(2, 1, 'd'))?.turns).toBe(10);
  });
});

describe('Store scans', () => {
  it('list records on both backends (Redis: keyv\'s own iterator found none under a prefixed namespace)', async () => {
    const [a, b] = redisReplicas();
    for (const s of [sqliteStore(), a]) {
      await s.updateMr(5, 1, 'p/a', () => undefined);
      await s.recordFailure({ at: new Date().toISOString(), jobId: 'j1', kind: 'review', reason: 'x' });
      expect((await s.listMrs()).map((r) => `${r.projectId}!${r.iid}`)).toEqual(['5!1']);
      expect(await s.countRecords()).toEqual({ mrs: 1, threads: 0, failures: 1 });
    }
    expect((await b.listFailures()).map((f) => f.jobId)).toEqual(['j1']); // the other replica sees them
  });
});
