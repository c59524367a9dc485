// Scale-out intake that survives a Redis outage. A delivery that cannot reach Redis within a second or two is written
// to a local SQLite file (DATA_DIR/spool.sqlite, synchronous=FULL) and acknowledged; a forwarder moves spooled jobs
// into the shared queue, oldest first, once Redis answers again. While anything is spooled, new deliveries queue
// behind it, so the order GitLab sent them in is kept. Duplicates are caught twice: in the spool (a GitLab retry
// during the outage) and by the shared queue's dedupe keys when forwarded (an enqueue that timed out here but still
// reached Redis later, from ioredis's offline queue).
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { EnqueueResult, JobHandler, JobSpec, Queue, QueueStats } from './queue.js';
import { within } from '../deadline.js';

export interface SpoolOptions {
  file: string;
  /** the shared queue (Redis) */
  inner: Queue;
  /** false while the shared queue's connection is down: spool at once instead of waiting */
  connected: () => boolean;
  /** how long an enqueue may wait for the shared queue before the delivery is spooled */
  enqueueTimeoutMs?: number;
  /** how often the forwarder looks at the spool */
  forwardMs?: number;
  /** how long stats() waits for the shared queue before it answers with the last value it got */
  statsTimeoutMs?: number;
  onSpooled?(spec: JobSpec, reason: string): void;
  onForwarded?(spec: JobSpec, result: EnqueueResult): void;
  onError?(err: unknown, where: string): void;
}

interface SpoolRow {
  seq: number;
  spec: string;
}

export class SpoolingQueue implements Queue {
  private readonly db: Database.Database;
  private readonly q;
  private readonly put;
  private readonly timer: NodeJS.Timeout;
  private forwarding?: Promise<void>;
  private closed = false;
  private lastStats: QueueStats = { pending: 0, running: 0, failed: 0, oldestPendingAgeMs: 0 };

  constructor(private readonly o: SpoolOptions) {
    fs.mkdirSync(path.dirname(o.file), { recursive: true });
    this.db = new Database(o.file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a spooled delivery is acknowledged, so it must be on stable storage first. Spooling is rare (outages only).
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, spec TEXT NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS spool_keys (key TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    `);
    this.q = {
      seen: this.db.prepare<[string], { seq: number }>('SELECT seq FROM spool_keys WHERE key = ?'),
      insert: this.db.prepare<[string, number]>('INSERT INTO spool (spec, created_at) VALUES (?, ?)'),
      key: this.db.prepare<[string, number]>('INSERT OR IGNORE INTO spool_keys (key, seq) VALUES (?, ?)'),
      head: this.db.prepare<[], SpoolRow>('SELECT seq, spec FROM spool ORDER BY seq LIMIT 1'),
      count: this.db.prepare<[], { n: number; oldest: number | null }>('SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM spool'),
      drop: this.db.prepare<[number]>('DELETE FROM spool WHERE seq = ?'),
      dropKeys: this.db.prepare<[number]>('DELETE FROM spool_keys WHERE seq = ?'),
    };
    this.put = this.db.transaction((spec: JobSpec): EnqueueResult => {
      for (const key of spec.dedupeKeys) {
        const hit = this.q.seen.get(key);
        if (hit) return { id: `spool-${hit.seq}`, duplicate: true, key };
      }
      const seq = Number(this.q.insert.run(JSON.stringify(spec), Date.now()).lastInsertRowid);
      for (const key of spec.dedupeKeys) this.q.key.run(key, seq);
      return { id: `spool-${seq}`, duplicate: false };
    });
    this.timer = setInterval(() => this.forward(), o.forwardMs ?? 500);
    this.timer.unref();
    this.forward();
  }

  /** deliveries waiting in the local spool */
  spooled(): number {
    return this.db.open ? this.q.count.get()!.n : 0;
  }

  async enqueue(spec: JobSpec): Promise<EnqueueResult> {
    if (this.spooled() === 0 && this.o.connected()) {
      try {
        return await within(this.o.inner.enqueue(spec), this.o.enqueueTimeoutMs ?? 1_500, 'redis enqueue');
      } catch (e) {
        return this.spool(spec, e instanceof Error ? e.message : String(e));
      }
    }
    return this.spool(spec, this.spooled() > 0 ? 'earlier deliveries are still spooled' : 'redis is not connected');
  }

  private spool(spec: JobSpec, reason: string): EnqueueResult {
    const r = this.put.immediate(spec);
    if (!r.duplicate) this.o.onSpooled?.(spec, reason);
    return r;
  }

  /** Moves spooled jobs into the shared queue, oldest first; stops at the first failure and tries again later. */
  private forward(): void {
    if (this.forwarding || this.closed || !this.o.connected()) return;
    this.forwarding = (async () => {
      for (let row = this.q.head.get(); row && !this.closed && this.o.connected(); row = this.q.head.get()) {
        const spec = JSON.parse(row.spec) as JobSpec;
        const r = await within(this.o.inner.enqueue(spec), this.o.enqueueTimeoutMs ?? 1_500, 'redis forward');
        this.db.transaction(() => {
          this.q.drop.run(row!.seq);
          this.q.dropKeys.run(row!.seq);
        })();
        this.o.onForwarded?.(spec, r);
      }
    })()
      .catch((e) => this.o.onError?.(e, 'spool forward'))
      .finally(() => (this.forwarding = undefined));
  }

  start(handler: JobHandler): void {
    this.o.inner.start(handler);
  }

  stop(deadlineMs: number): Promise<void> {
    return this.o.inner.stop(deadlineMs);
  }

  /** Never waits long on Redis (metrics and the status page call this): the last answer if Redis is slow or down. */
  async stats(): Promise<QueueStats> {
    const local = this.db.open ? this.q.count.get()! : { n: 0, oldest: null };
    try {
      this.lastStats = await within(this.o.inner.stats(), this.o.statsTimeoutMs ?? 500, 'redis stats');
    } catch {
      /* keep the last value */
    }
    const s = this.lastStats;
    const spooledAge = local.oldest ? Date.now() - local.oldest : 0;
    return { ...s, pending: s.pending + local.n, oldestPendingAgeMs: Math.max(s.oldestPendingAgeMs, spooledAge) };
  }

  async drained(timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.spooled() > 0) {
      if (Date.now() > end) throw new Error(`spool not empty after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.o.inner.drained(Math.max(1, end - Date.now()));
  }

  retain(o: { now: number; failedJobMs: number }): Promise<number> {
    return this.o.inner.retain?.(o) ?? Promise.resolve(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.forwarding;
    await this.o.inner.close();
    this.db.close();
  }
}

