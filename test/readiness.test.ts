// /readyz reports the dependencies (GitLab at start-up, a writable DATA_DIR, Redis when set); /healthz is liveness.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from './support/ports.js';
import { checkReadiness, GitLabStatus, mountReadiness, probeWritable } from '../src/server/readiness.js';

const URL_ = 'https://gitlab.example.com';

describe('GitLabStatus', () => {
  it('waits from start-up, names the latest cause, and clears once GitLab answers', () => {
    const s = new GitLabStatus(URL_, new Date('2026-01-01T10:00:00Z'));
    expect(s.isUp).toBe(false);
    expect(s.problem).toBe(`waiting for GitLab at ${URL_} since 2026-01-01T10:00:00.000Z: no answer yet`);
    s.waiting('fetch failed: connect ECONNREFUSED 10.0.0.1:443', new Date('2026-01-01T10:01:00Z'));
    s.waiting('fetch failed: getaddrinfo ENOTFOUND gitlab.example.com', new Date('2026-01-01T10:05:00Z'));
    expect(s.problem).toBe(`waiting for GitLab at ${URL_} since 2026-01-01T10:00:00.000Z: fetch failed: getaddrinfo ENOTFOUND gitlab.example.com`);
    s.reachable();
    expect(s.isUp).toBe(true);
    expect(s.problem).toBeUndefined();
    s.waiting('GitLab GET /api/v4/user → 502: Bad Gateway', new Date('2026-01-01T11:00:00Z'));
    expect(s.problem).toContain('since 2026-01-01T11:00:00.000Z: GitLab GET /api/v4/user → 502');
  });
});

describe('checkReadiness', () => {
  let dir: string;
  let redis: Redis;
  let deadRedis: Redis;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-ready-'));
    redis = new Redis('redis://127.0.0.1:6379');
    deadRedis = new Redis(`redis://127.0.0.1:${await closedPort()}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    deadRedis.on('error', () => undefined);
  });
  afterAll(async () => {
    await redis.quit();
    deadRedis.disconnect();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is ready when GitLab answered, DATA_DIR is writable and Redis answers PING', async () => {
    const gitlab = new GitLabStatus(URL_);
    gitlab.reachable();
    const r = await checkReadiness({ gitlab, dataDir: dir, redisPing: () => redis.ping() });
    expect(r.checks.map((c) => [c.name, c.ok])).toEqual([['gitlab', true], ['store', true], ['redis', true]]);
    expect(r.ready).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]); // the probe file is gone
  });

  it('names each failing dependency: GitLab still waiting, DATA_DIR not writable, Redis not answering', async () => {
    const gitlab = new GitLabStatus(URL_);
    gitlab.waiting('fetch failed: connect ECONNREFUSED 127.0.0.1:1234');
    const notADir = path.join(dir, 'file');
    fs.writeFileSync(notADir, 'x');
    const r = await checkReadiness({ gitlab, dataDir: path.join(notADir, 'data'), redisPing: () => deadRedis.ping() });
    expect(r.ready).toBe(false);
    const by = Object.fromEntries(r.checks.map((c) => [c.name, c]));
    expect(by.gitlab).toMatchObject({ ok: false });
    expect(by.gitlab!.detail).toMatch(/^waiting for GitLab at https:\/\/gitlab\.example\.com since \S+: fetch failed: connect ECONNREFUSED 127\.0\.0\.1:1234$/);
    expect(by.store).toMatchObject({ ok: false });
    expect(by.store!.detail).toContain('is not writable: ENOTDIR');
    expect(by.redis).toMatchObject({ ok: false });
    expect(by.redis!.detail).toMatch(/^PING failed: /);
  });

  it('gives up on a Redis that never answers after the timeout', async () => {
    const gitlab = new GitLabStatus(URL_);
    gitlab.reachable();
    const r = await checkReadiness({ gitlab, dataDir: dir, redisPing: () => new Promise(() => undefined), timeoutMs: 50 });
    expect(r.checks.find((c) => c.name === 'redis')).toEqual({ name: 'redis', ok: false, detail: 'PING failed: no answer within 50 ms' });
  });

  it('is not ready while shutting down', async () => {
    const gitlab = new GitLabStatus(URL_);
    gitlab.reachable();
    const r = await checkReadiness({ gitlab, dataDir: dir, isShuttingDown: () => true });
    expect(r.ready).toBe(false);
    expect(r.checks.at(-1)).toEqual({ name: 'process', ok: false, detail: 'shutting down' });
  });

  it('GET /readyz answers 503 with one line per dependency, then 200 once GitLab answered', async () => {
    const gitlab = new GitLabStatus(URL_);
    gitlab.waiting('fetch failed: connect ECONNREFUSED 127.0.0.1:1234');
    const app = new Hono();
    mountReadiness(app, { gitlab, dataDir: dir });
    const waiting = await app.request('/readyz');
    expect(waiting.status).toBe(503);
    const lines = (await waiting.text()).trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^FAIL gitlab: waiting for GitLab at .* ECONNREFUSED 127\.0\.0\.1:1234$/);
    expect(lines[1]).toBe(`ok   store: ${dir} is writable`);
    gitlab.reachable();
    expect((await app.request('/readyz')).status).toBe(200);
  });

  it('probeWritable creates DATA_DIR when missing', () => {
    const fresh = path.join(dir, 'a', 'b');
    probeWritable(fresh);
    expect(fs.readdirSync(fresh)).toEqual([]);
  });
});
