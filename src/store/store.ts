// Typed state over keyv. One store for the embedded default (SQLite file under DATA_DIR), Redis for scale-out.
import fs from 'node:fs';
import path from 'node:path';
import Keyv, { type KeyvStoreAdapter } from 'keyv';
import { SqliteKeyvStore } from './sqlite-adapter.js';
import { newThreadRecord, type FailureRecord, type MrRecord, type QuestionTally, type ThreadRecord } from './records.js';
import { DAY_MS } from '../config.js';
import { lockKey, recordKey, recordPrefix } from '../keys.js';

export type RecordLock = <T>(key: string, fn: () => Promise<T>) => Promise<T>;

const FAILURE_TTL_MS = 14 * DAY_MS;
/** a day's tally outlives its UTC day by a margin, then expires */
const TALLY_TTL_MS = 2 * DAY_MS;

export class Store {
  readonly kv: Keyv;
  /** serialises read-modify-write per key within this process */
  private chains = new Map<string, Promise<unknown>>();

  /** Across replicas (Redis mode) read-modify-write also needs a shared lock; in-process chaining is enough alone. */
  constructor(adapter: KeyvStoreAdapter | Map<string, unknown>, private readonly lock?: RecordLock) {
    this.kv = new Keyv({ store: adapter, namespace: 'mrr' });
    this.kv.on('error', () => {
      /* surfaced by the failing call itself */
    });
  }

  static sqlite(dataDir: string): Store {
    fs.mkdirSync(dataDir, { recursive: true });
    return new Store(new SqliteKeyvStore(path.join(dataDir, 'state.sqlite')));
  }

  getMr(pid: number, iid: number): Promise<MrRecord | undefined> {
    return this.kv.get<MrRecord>(recordKey.mr(pid, iid));
  }

  /** Read, change and write an MR record; creates it when missing. */
  updateMr(pid: number, iid: number, projectPath: string, fn: (r: MrRecord) => void): Promise<MrRecord> {
    const key = recordKey.mr(pid, iid);
    const critical = async (): Promise<MrRecord> => {
      const now = new Date().toISOString();
      const r: MrRecord = (await this.getMr(pid, iid)) ?? {
        projectId: pid,
        iid,
        projectPath,
        findings: {},
        withdrawn: [],
        costUsd: 0,
        turns: 0,
        reviews: 0,
        createdAt: now,
        updatedAt: now,
      };
      fn(r);
      r.updatedAt = now;
      await this.kv.set(key, r);
      return r;
    };
    return this.serial(key, () => (this.lock ? this.lock(lockKey.record(key), critical) : critical()));
  }

  getThread(pid: number, iid: number, did: string): Promise<ThreadRecord | undefined> {
    return this.kv.get<ThreadRecord>(recordKey.thread(pid, iid, did));
  }

  async putThread(t: ThreadRecord): Promise<void> {
    t.updatedAt = new Date().toISOString();
    await this.kv.set(recordKey.thread(t.projectId, t.iid, t.discussionId), t);
  }

  /**
   * Read, change and write a thread record under the same per-key lock as updateMr: a reply (its thread's lane) and a
   * fix check (the MR's lane) may finish on one thread at once, and neither may lose the other's update. A missing
   * record stays missing (fn is not called).
   */
  updateThread(pid: number, iid: number, did: string, fn: (t: ThreadRecord) => void): Promise<ThreadRecord | undefined> {
    const key = recordKey.thread(pid, iid, did);
    const critical = async (): Promise<ThreadRecord | undefined> => {
      const t = await this.getThread(pid, iid, did);
      if (!t) return undefined;
      fn(t);
      await this.putThread(t);
      return t;
    };
    return this.serial(key, () => (this.lock ? this.lock(lockKey.record(key), critical) : critical()));
  }

  /**
   * A new session for a thread (its first, or a rebuilt one), under the thread's lock: the record it replaces is read
   * inside, so its history (answers, turns, a pending reply) is kept even if another lane changed it just before.
   */
  startThread(ids: Parameters<typeof newThreadRecord>[0]): Promise<ThreadRecord> {
    const key = recordKey.thread(ids.projectId, ids.iid, ids.discussionId);
    const critical = async (): Promise<ThreadRecord> => {
      const prior = await this.getThread(ids.projectId, ids.iid, ids.discussionId);
      // A reply's answer waiting to be posted belongs to the thread, not to the session being replaced.
      const t: ThreadRecord = { ...newThreadRecord(ids, prior), pendingReply: prior?.pendingReply };
      await this.putThread(t);
      return t;
    };
    return this.serial(key, () => (this.lock ? this.lock(lockKey.record(key), critical) : critical()));
  }

  async deleteThread(pid: number, iid: number, did: string): Promise<void> {
    await this.kv.delete(recordKey.thread(pid, iid, did));
  }

  /** Most recently active first; `offset` skips that many (pages of the status page). */
  async listMrs(limit = 200, offset = 0): Promise<MrRecord[]> {
    const out = await this.scan<MrRecord>(recordPrefix.mr);
    return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt)).slice(offset, offset + limit);
  }

  /** One MR's threads, or (without arguments) every thread in one scan. */
  listThreads(pid?: number, iid?: number): Promise<ThreadRecord[]> {
    return this.scan<ThreadRecord>(recordPrefix.thread(pid, iid));
  }

  /**
   * Count a user's question on an MR against today's (UTC) limit. A note counts once, so a retried job is not charged
   * twice. `firstRefusal` is true for the first note of the day over the limit: that one gets the polite reply.
   */
  takeQuestion(pid: number, iid: number, userId: number, noteId: number, limit: number): Promise<{ allowed: boolean; firstRefusal: boolean }> {
    const key = recordKey.questions(pid, iid, userId, new Date().toISOString().slice(0, 10));
    const critical = async () => {
      const t: QuestionTally = (await this.kv.get<QuestionTally>(key)) ?? { answered: [], refused: [] };
      let verdict: { allowed: boolean; firstRefusal: boolean };
      if (t.answered.includes(noteId) || limit === 0) verdict = { allowed: true, firstRefusal: false };
      else if (t.answered.length < limit) {
        t.answered.push(noteId);
        verdict = { allowed: true, firstRefusal: false };
      } else {
        if (!t.refused.includes(noteId)) t.refused.push(noteId);
        verdict = { allowed: false, firstRefusal: t.refused[0] === noteId };
        t.refused = t.refused.slice(0, 100);
      }
      await this.kv.set(key, t, TALLY_TTL_MS);
      return verdict;
    };
    return this.serial(key, () => (this.lock ? this.lock(lockKey.record(key), critical) : critical()));
  }

  async deleteMr(pid: number, iid: number): Promise<void> {
    await this.kv.delete(recordKey.mr(pid, iid));
  }

  /** Records by kind, in one scan (which also drops expired entries: keyv deletes what it finds expired). */
  async countRecords(): Promise<{ mrs: number; threads: number; failures: number }> {
    const n = { mrs: 0, threads: 0, failures: 0 };
    const entries = this.entries();
    if (!entries) return n;
    for await (const [key] of entries) {
      if (typeof key !== 'string') continue;
      if (key.startsWith(recordPrefix.mr)) n.mrs++;
      else if (key.startsWith(recordPrefix.thread())) n.threads++;
      else if (key.startsWith(recordPrefix.failure)) n.failures++;
    }
    return n;
  }

  /** Retention: shrink the embedded store's write-ahead log (nothing to do on Redis). */
  compact(): void {
    const adapter = this.kv.opts.store as { checkpoint?: () => void };
    adapter.checkpoint?.();
  }

  async recordFailure(f: FailureRecord): Promise<void> {
    await this.kv.set(recordKey.failure(f.at, f.jobId), f, FAILURE_TTL_MS);
  }

  async listFailures(limit = 50): Promise<FailureRecord[]> {
    const out = await this.scan<FailureRecord>(recordPrefix.failure);
    return out.sort((a, b) => b.at.localeCompare(a.at)).slice(0, limit);
  }

  async close(): Promise<void> {
    await this.kv.disconnect();
  }

  /**
   * Run a read-modify-write of `key` under the same locks as the record updates above: chained in this process, and
   * under the shared lock across replicas (Redis mode). For records kept by other modules (store/learnings.ts).
   */
  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.serial(key, () => (this.lock ? this.lock(lockKey.record(key), fn) : fn()));
  }

  /** Every record whose key starts with `prefix`, in one scan. */
  async scan<T>(prefix: string): Promise<T[]> {
    const out: T[] = [];
    const entries = this.entries();
    if (!entries) return out;
    for await (const [key, value] of entries) {
      if (typeof key === 'string' && key.startsWith(prefix) && value) out.push(value as T);
    }
    return out;
  }

  /** Every record as [key, value]: keyv's iterator, or the adapter's own listing where keyv's misses keys (Redis). */
  private entries(): AsyncIterable<[unknown, unknown]> | undefined {
    const store = this.kv.opts.store as { records?: () => AsyncIterable<[string, unknown]> };
    if (store.records) return store.records();
    return this.kv.iterator?.(this.kv.namespace) as AsyncIterable<[unknown, unknown]> | undefined;
  }

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }
}
