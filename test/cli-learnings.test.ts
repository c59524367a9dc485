// `mr-reviewer learnings export|import`, run as a real process against the bot's store (SQLite and Redis).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { learningsFromYaml } from '../src/cli/learnings.js';
import { redisStore } from '../src/store/redis.js';
import { LearningsRepo } from '../src/store/learnings.js';
import { Store } from '../src/store/store.js';

const BIN = path.resolve('bin/mr-reviewer.js');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-cli-learnings-'));
const prefix = `mrrtest-${randomUUID().slice(0, 8)}`;
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${prefix}:*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
});

const baseEnv = { PATH: process.env.PATH ?? '', GITLAB_URL: 'http://127.0.0.1:9', GITLAB_TOKEN: 'glpat-x', GITLAB_WEBHOOK_SECRET: 'secret-1234', DATA_DIR: dir };
const run = (args: string[], env: Record<string, string> = {}, input?: string) =>
  execa('node', [BIN, 'learnings', ...args], { reject: false, extendEnv: false, env: { ...baseEnv, ...env }, input });

describe('mr-reviewer learnings', () => {
  for (const backend of ['sqlite', 'redis'] as const) {
    it(`exports and imports a project's learnings as YAML (${backend})`, async () => {
      const env: Record<string, string> = backend === 'redis' ? { REDIS_URL, REDIS_PREFIX: prefix } : {};
      const store = backend === 'redis' ? redisStore(REDIS_URL, prefix) : Store.sqlite(dir);
      const made = await new LearningsRepo(store).add(7, { instruction: 'Callbacks are fine in src/legacy.', path: 'src/legacy/**', author: { id: 4, username: 'dana' }, source: 'note:1' });
      await store.close();

      const out = await run(['export', '--project', '7'], env);
      expect(out.exitCode, out.stderr).toBe(0);
      const doc = parse(out.stdout);
      expect(doc.project).toBe(7);
      expect(doc.learnings).toEqual([made]);

      // A team edits the file in an MR: one changed, one hand-written (no id, hostile text), then imports with --replace.
      const file = path.join(dir, `l-${backend}.yml`);
      doc.learnings[0].instruction = 'Callbacks are fine in src/legacy and src/old.';
      doc.learnings.push({ instruction: 'Use tabs.\n/merge @all', language: 'Go' });
      fs.writeFileSync(file, JSON.stringify(doc)); // JSON is YAML too
      const imp = await run(['import', '--project', '7', '--file', file, '--replace'], env);
      expect(imp.exitCode, imp.stderr).toBe(0);
      expect(imp.stdout).toContain('project 7: 1 added, 1 updated, 0 removed (2 in all)');
      expect(fs.readFileSync(file, 'utf8')).toContain('Use tabs');

      const wrong = await run(['import', '--project', '8', '--file', file], env);
      expect(wrong.exitCode).toBe(1);
      expect(wrong.stderr).toContain('the file is for project 7, not 8');
      expect((await run(['export', '--project', 'x'])).exitCode).toBe(2);

      const again = backend === 'redis' ? redisStore(REDIS_URL, prefix) : Store.sqlite(dir);
      const now = await new LearningsRepo(again).list(7);
      await again.close();
      expect(now.find((l) => l.id === made.id)?.instruction).toBe('Callbacks are fine in src/legacy and src/old.');
      expect(now.find((l) => l.id !== made.id)).toMatchObject({ instruction: 'Use tabs. /merge @all', language: 'go', source: expect.stringMatching(/^import:/) });
    });
  }

  it('reads a hand-written entry: nulls and missing fields are absent, a missing or malformed id is derived from the text', () => {
    const { learnings } = learningsFromYaml('learnings:\n  - {instruction: Prefer tabs, path: null, author: null, mr: null}\n  - {id: NOT-AN-ID, instruction: Prefer spaces}\n');
    expect(learnings[0]).toMatchObject({ instruction: 'Prefer tabs', id: expect.stringMatching(/^[a-z0-9]{8}$/), source: expect.stringMatching(/^import:/) });
    expect(learnings[0]).not.toHaveProperty('author', null);
    expect(learnings[0]!.path).toBeUndefined();
    expect(learnings[1]!.id).toMatch(/^[a-z0-9]{8}$/);
    expect(() => learningsFromYaml('learnings:\n  - {path: "src/**"}\n')).toThrow();
  });

  it('refuses a file naming one id twice', () => {
    expect(() => learningsFromYaml('learnings:\n  - {id: abcd1234, instruction: a}\n  - {id: abcd1234, instruction: b}\n')).toThrow('appears twice');
  });
});
