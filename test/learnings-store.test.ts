// The learnings repository on both backends: per project, short stable ids, idempotent per source, survives a restart
// (SQLite) and is shared by replicas without lost updates (Redis).
import { describe, expect, it } from 'vitest';
import { LearningsRepo, learningId } from '../src/store/learnings.js';
import { Store } from '../src/store/store.js';
import { testStores } from './support/stores.js';

const { sqliteStore, redisReplicas } = testStores('mrr-learnings');
const teach = (n: number, o: object = {}) => ({ instruction: `rule ${n}`, source: `note:${n}`, author: { id: 1, username: 'dana' }, ...o });

describe('learnings repository', () => {
  for (const backend of ['sqlite', 'redis'] as const) {
    describe(backend, () => {
      const pair = (): [LearningsRepo, LearningsRepo] => {
        if (backend === 'sqlite') {
          const s = sqliteStore();
          return [new LearningsRepo(s), new LearningsRepo(s)];
        }
        const [a, b] = redisReplicas();
        return [new LearningsRepo(a), new LearningsRepo(b)];
      };

      it('adds per project with short stable ids, once per source, and removes by id', async () => {
        const [repo] = pair();
        const a = await repo.add(7, teach(1, { path: 'src/**' }));
        expect(a.id).toMatch(/^[0-9a-f]{8}$/);
        expect(a.id).toBe(learningId(7, 'note:1'));
        expect(await repo.add(7, teach(1, { instruction: 'retried' }))).toEqual(a); // a retried job
        await repo.add(8, teach(2));
        expect((await repo.list(7)).map((l) => l.instruction)).toEqual(['rule 1']);
        expect([...(await repo.all()).keys()].sort()).toEqual([7, 8]);
        expect(await repo.remove(7, a.id.toUpperCase())).toMatchObject({ id: a.id });
        expect(await repo.remove(7, a.id)).toBeUndefined();
        expect(await repo.list(7)).toEqual([]);
      });

      it('loses no learning when two replicas (or two jobs) add at once', async () => {
        const [a, b] = pair();
        await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).add(9, teach(100 + i))));
        expect((await a.list(9)).length).toBe(20);
        expect(new Set((await b.list(9)).map((l) => l.id)).size).toBe(20);
      });

      it('imports: merge updates by id, replace also removes the rest', async () => {
        const [repo] = pair();
        const x = await repo.add(10, teach(1));
        await repo.add(10, teach(2));
        const at = new Date().toISOString();
        expect(await repo.importMany(10, [{ ...x, instruction: 'changed' }, { id: 'abcd1234', instruction: 'new', source: 'import', createdAt: at }], false)).toEqual({ added: 1, updated: 1, removed: 0 });
        expect((await repo.list(10)).map((l) => l.instruction).sort()).toEqual(['changed', 'new', 'rule 2']);
        expect(await repo.importMany(10, [{ id: 'abcd1234', instruction: 'only', source: 'import', createdAt: at }], true)).toEqual({ added: 0, updated: 1, removed: 2 });
        expect((await repo.list(10)).map((l) => l.instruction)).toEqual(['only']);
      });
    });
  }

  it('survives a restart (SQLite file)', async () => {
    const s = sqliteStore();
    const dir = (s.kv.opts.store as { opts: { uri: string } }).opts.uri.replace(/\/state\.sqlite$/, '');
    const made = await new LearningsRepo(s).add(3, teach(1));
    const again = Store.sqlite(dir);
    expect(await new LearningsRepo(again).list(3)).toEqual([made]);
    await again.close();
  });
});
