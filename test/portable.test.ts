// Transcripts copied between replicas through Redis: two replicas are two CLAUDE_CONFIG_DIRs on one Redis.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { transcriptPath } from '../src/claude/paths.js';
import { PortableSessions } from '../src/claude/portable.js';
import { createLogger } from '../src/logger.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `mrrtest-${randomUUID().slice(0, 8)}`;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-portable-'));
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  fs.rmSync(root, { recursive: true, force: true });
});

const logs: { msg: string; level: string }[] = [];
const log = createLogger({
  level: 'debug',
  redact: (s) => s,
  destination: new Writable({
    write(chunk, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(l));
      cb();
    },
  }),
});

function replica(name: string, o: { warnBytes?: number } = {}) {
  const configDir = path.join(root, name);
  return { configDir, p: new PortableSessions({ redis, prefix, configDir, log, ...o }) };
}
const cwd = path.join(root, 'work', '1-2'); // the MR's workspace path, the same on every replica
const write = (configDir: string, id: string, text: string) => {
  const file = transcriptPath(configDir, cwd, id);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
};
const read = (configDir: string, id: string) => fs.readFileSync(transcriptPath(configDir, cwd, id), 'utf8');

describe('PortableSessions', () => {
  it('a transcript saved after a run on one replica is restored on another before it resumes', async () => {
    const a = replica('a');
    const b = replica('b');
    const id = randomUUID();
    write(a.configDir, id, '{"turn":1}\n');
    await a.p.afterRun(cwd, id);
    await b.p.beforeRun(cwd, [id]);
    expect(read(b.configDir, id)).toBe('{"turn":1}\n');
    expect(await redis.exists(`${prefix}:session:${id}`)).toBe(1);
  });

  it('a newer generation replaces an older local copy; a current local copy is kept', async () => {
    const a = replica('a2');
    const b = replica('b2');
    const id = randomUUID();
    write(a.configDir, id, 'v1\n');
    await a.p.afterRun(cwd, id);
    await b.p.beforeRun(cwd, [id]);
    write(b.configDir, id, 'v1\nv2 from b\n');
    await b.p.afterRun(cwd, id);
    await a.p.beforeRun(cwd, [id]);
    expect(read(a.configDir, id)).toBe('v1\nv2 from b\n');
    write(a.configDir, id, 'local edit, current generation\n'); // a's copy is as new as Redis's: not overwritten
    await a.p.beforeRun(cwd, [id]);
    expect(read(a.configDir, id)).toBe('local edit, current generation\n');
  });

  it('a session never saved is left to the CLI; a missing transcript after a run is logged, not thrown', async () => {
    const a = replica('a3');
    const id = randomUUID();
    await a.p.beforeRun(cwd, [id]);
    expect(fs.existsSync(transcriptPath(a.configDir, cwd, id))).toBe(false);
    await a.p.afterRun(cwd, id);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringContaining('transcript missing after a run') }));
  });

  it('warns when a transcript grows past the size it should stay under', async () => {
    const a = replica('a4', { warnBytes: 10 });
    const id = randomUUID();
    write(a.configDir, id, randomUUID().repeat(50));
    await a.p.afterRun(cwd, id);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringContaining('transcript is large') }));
  });
});
