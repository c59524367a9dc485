// 6. Store: lookups of trunk ids (MR records) and fork ids (thread records) with 1,000 MRs × 10 threads stored,
// through the Store the flows use: SQLite (the default) and Redis when one answers at REDIS_URL (127.0.0.1:6379).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { MrRecord, ThreadRecord } from '../src/store/records.js';
import { redisStore } from '../src/store/redis.js';
import { Store } from '../src/store/store.js';
import { median, percentile, quick, us, type Row, type Section } from './support.js';

const MRS = quick(1_000, 100);
const THREADS = 10;
const LOOKUPS = quick(5_000, 500);
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Project ids far from any test's, so a shared Redis is not disturbed; the bench's keys are deleted afterwards. */
const PID0 = 7_700_000;

/** A realistic MR record: a reviewed trunk with five posted findings. */
function mrRecord(i: number): MrRecord {
  const now = new Date().toISOString();
  const findings = Object.fromEntries(
    Array.from({ length: 5 }, (_, f) => [
      `fp${i}x${f}`,
      { fp: `fp${i}x${f}`, discussionId: randomUUID().replace(/-/g, ''), noteId: i * 100 + f, file: `src/mod${f}.ts`, line: 10 + f, severity: 'major', title: `Finding ${f}`, inline: true, status: 'open' as const },
    ]),
  );
  return {
    projectId: PID0 + (i % 50), iid: i, projectPath: `group/project-${i % 50}`, title: `MR ${i}`, webUrl: `https://gitlab.example.com/group/project/-/merge_requests/${i}`,
    trunkSessionId: randomUUID(), trunkStatus: 'done', workspace: `/var/lib/mrr/work/${i}`, reviewedSha: 'a'.repeat(40), summaryNoteId: i * 100,
    findings, withdrawn: [], costUsd: 0.42, turns: 3, reviews: 1, createdAt: now, updatedAt: now,
  };
}

function threadRecord(mr: MrRecord, t: number): ThreadRecord {
  const now = new Date().toISOString();
  return {
    projectId: mr.projectId, iid: mr.iid, discussionId: `d${mr.iid}x${t}`, forkSessionId: randomUUID(), trunkSessionId: mr.trunkSessionId!,
    lastSeenNoteId: mr.iid * 100 + t, status: 'done', turns: 2, costUsd: 0.05, rebuilds: 0, answered: [mr.iid * 100 + t], url: mr.webUrl, createdAt: now, updatedAt: now,
  } as ThreadRecord;
}

async function fill(store: Store): Promise<MrRecord[]> {
  const mrs = Array.from({ length: MRS }, (_, i) => mrRecord(i + 1));
  // 100 writes in flight at a time: how a busy bot writes, and it keeps a Redis fill short.
  for (let i = 0; i < mrs.length; i += 100) {
    await Promise.all(
      mrs.slice(i, i + 100).flatMap((m) => [store.kv.set(`mr:${m.projectId}:${m.iid}`, m), ...Array.from({ length: THREADS }, (_, t) => store.putThread(threadRecord(m, t)))]),
    );
  }
  return mrs;
}

/** Sequential lookups of random keys, as the flows do them (one await each); µs per lookup. */
async function lookups(store: Store, mrs: MrRecord[]): Promise<{ trunk: number[]; fork: number[] }> {
  const trunk: number[] = [];
  const fork: number[] = [];
  let seed = 42;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let i = 0; i < LOOKUPS; i++) {
    const m = mrs[rnd(mrs.length)]!;
    let t = performance.now();
    const r = await store.getMr(m.projectId, m.iid);
    trunk.push((performance.now() - t) * 1000);
    if (r?.trunkSessionId !== m.trunkSessionId) throw new Error('store returned the wrong trunk');
    t = performance.now();
    const th = await store.getThread(m.projectId, m.iid, `d${m.iid}x${rnd(THREADS)}`);
    fork.push((performance.now() - t) * 1000);
    if (!th?.forkSessionId) throw new Error('store lost a thread');
  }
  return { trunk, fork };
}

function rows(backend: string, r: { trunk: number[]; fork: number[] }): Row[] {
  return [
    { metric: `${backend}: trunk id (MR record) p99`, value: us(percentile(r.trunk, 99)), note: `p50 ${us(median(r.trunk))}` },
    { metric: `${backend}: fork id (thread record) p99`, value: us(percentile(r.fork, 99)), note: `p50 ${us(median(r.fork))}` },
  ];
}

export async function redisUp(): Promise<boolean> {
  const { createConnection } = await import('node:net');
  const u = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const s = createConnection({ host: u.hostname, port: Number(u.port || 6379) }, () => (s.end(), resolve(true)));
    s.once('error', () => resolve(false));
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
  });
}

export async function run(): Promise<Section> {
  const out: Row[] = [];
  const notes: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-bench-store-'));
  const sqlite = Store.sqlite(dir);
  try {
    const mrs = await fill(sqlite);
    await lookups(sqlite, mrs.slice(0, 200)); // warm-up: statement cache, page cache
    out.push(...rows('SQLite', await lookups(sqlite, mrs)));
  } finally {
    await sqlite.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  if (await redisUp()) {
    const prefix = `mrr-bench-${process.pid}`;
    const redis = redisStore(REDIS_URL, prefix);
    try {
      const mrs = await fill(redis);
      await lookups(redis, mrs.slice(0, 200));
      out.push(...rows('Redis', await lookups(redis, mrs)));
    } finally {
      await redis.kv.clear(); // only this run's prefix
      await redis.close();
    }
  } else {
    notes.push(`no Redis at ${REDIS_URL}: only SQLite measured`);
  }
  out[0]!.note = `${MRS} MRs × ${THREADS} threads, ${LOOKUPS} random lookups each; ${out[0]!.note}`;
  return { id: '6', title: 'Store lookups', rows: out, notes };
}
