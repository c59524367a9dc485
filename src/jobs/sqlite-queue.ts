// The embedded durable queue: one table in a SQLite file under DATA_DIR (better-sqlite3, WAL).
// Chosen over sidequest (needs Node 22) and over a generic queue library because per-key ordering and
// multi-key dedupe are two SQL statements here. A webhook is answered only after enqueue() committed and synced.
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { settledWithin } from '../deadline.js';
import { AwaitJob, awaitRefusal, interruptLimit, waitUntilDrained, type EnqueueResult, type Job, type JobHandler, type JobSpec, type Queue, type QueueEvents, type QueueStats, type RetryPolicy } from './queue.js';
import { isTransient, PermanentError } from './retry.js';
import { WalCheckpointer } from './wal-checkpointer.js';

interface Row {
  id: string;
  seq: number;
  kind: string;
  order_key: string;
  data: string;
  dedupe: string;
  attempts: number;
  interrupts: number;
  waits: number;
  created_at: number;
}

export interface SqliteQueueOptions {
  file: string;
  concurrency: number;
  policy: RetryPolicy;
  events?: QueueEvents;
  /** how long dedupe keys are remembered */
  dedupeTtlMs?: number;
  pollMs?: number;
  /** the queue's own trouble (a full disk): logged by the caller, never thrown at a timer */
  onError?(err: unknown, where: string): void;
}

export class SqliteQueue implements Queue {
  private db: Database.Database;
  private handler?: JobHandler;
  private running = new Map<string, { promise: Promise<void>; abort: AbortController }>();
  /** order keys with a job running in this process */
  private busyLanes = new Set<string>();
  private stopping = false;
  private timer?: NodeJS.Timeout;
  private pumping = false;
  private repump = false;
  private q!: ReturnType<SqliteQueue['statements']>;
  private insertGroup!: ReturnType<SqliteQueue['insertTx']>;
  private readonly wal: WalSync;
  private readonly checkpointer: WalCheckpointer;
  /** enqueues waiting for the next group commit */
  private waiting: Waiting[] = [];
  private groupScheduled = false;
  /** groups whose WAL sync runs */
  private syncing = new Set<Promise<void>>();
  /** why the file could not be set up (a full disk at start-up): the queue runs degraded and tries again */
  initError?: unknown;
  private started = false;

  constructor(private readonly o: SqliteQueueOptions) {
    fs.mkdirSync(path.dirname(o.file), { recursive: true });
    this.db = new Database(o.file);
    this.wal = new WalSync(`${o.file}-wal`);
    this.checkpointer = new WalCheckpointer({
      file: o.file,
      onFailed: (err) => {
        this.o.onError?.(err, 'checkpoint');
        if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000'); // SQLite's own, inside commits, as before
      },
    });
    try {
      this.init();
    } catch (e) {
      if (!isTransient(e)) throw e;
      this.initError = e;
      this.o.onError?.(e, 'open');
    }
  }

  /** Set up the file; a disk that is full makes this throw until space returns (WAL needs its -shm file). */
  private init(): void {
    this.db.pragma('journal_mode = WAL');
    // NORMAL: a commit is durable against a process crash at once; enqueue() adds durability against power loss by
    // syncing the WAL itself, off the event loop (see WalSync). Claims and finishes need no more: a lost one only
    // runs a job again, and posting is idempotent.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    // Checkpoints run on a worker thread (WalCheckpointer), not inside a webhook's commit on the event loop.
    if (this.checkpointer.active) this.db.pragma('wal_autocheckpoint = 0');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        order_key TEXT NOT NULL,
        data TEXT NOT NULL,
        dedupe TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        run_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_error TEXT
      );
      CREATE INDEX IF NOT EXISTS jobs_pick ON jobs (state, run_at, seq);
      CREATE INDEX IF NOT EXISTS jobs_lane ON jobs (state, order_key, seq);
      CREATE TABLE IF NOT EXISTS dedupe (key TEXT PRIMARY KEY, job_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
    `);
    // Added with the retry horizon: crashes are counted apart from attempts, which are no longer capped.
    const cols = this.db.prepare<[], { name: string }>('PRAGMA table_info(jobs)').all();
    if (!cols.some((c) => c.name === 'interrupts')) this.db.exec('ALTER TABLE jobs ADD COLUMN interrupts INTEGER NOT NULL DEFAULT 0');
    // Added with dependent jobs (AwaitJob): a 'waiting' job names the job it waits for.
    if (!cols.some((c) => c.name === 'waiting_on')) this.db.exec('ALTER TABLE jobs ADD COLUMN waiting_on TEXT; ALTER TABLE jobs ADD COLUMN waits INTEGER NOT NULL DEFAULT 0');
    this.db.exec('CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs (waiting_on) WHERE waiting_on IS NOT NULL');
    this.q = this.statements();
    this.insertGroup = this.insertTx();
    this.initError = undefined;
  }

  /** Set up again after a failed start-up; false while the disk is still full. */
  private ensure(): boolean {
    if (!this.initError) return true;
    try {
      this.init();
      return true;
    } catch (e) {
      this.initError = e;
      return false;
    }
  }

  private statements() {
    return {
      seen: this.db.prepare<[string, number], { job_id: string }>('SELECT job_id FROM dedupe WHERE key = ? AND expires_at > ?'),
      remember: this.db.prepare('INSERT OR REPLACE INTO dedupe (key, job_id, expires_at) VALUES (?, ?, ?)'),
      insert: this.db.prepare(
        'INSERT INTO jobs (id, kind, order_key, data, dedupe, run_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      // The head of each order key, if nothing of that key is running and its time has come. The keys with pending
      // jobs are walked on the jobs_lane index (a skip scan written out as a recursive CTE), so the cost grows with
      // the number of distinct keys, not with a long backlog on one busy MR.
      ready: this.db.prepare<[number, number], Row>(`
        WITH RECURSIVE lanes(k) AS (
          SELECT (SELECT order_key FROM jobs WHERE state = 'pending' ORDER BY order_key LIMIT 1)
          UNION ALL
          SELECT (SELECT order_key FROM jobs WHERE state = 'pending' AND order_key > lanes.k ORDER BY order_key LIMIT 1)
          FROM lanes WHERE lanes.k IS NOT NULL
        )
        SELECT j.* FROM lanes
        JOIN jobs j ON j.seq = (SELECT MIN(seq) FROM jobs WHERE state = 'pending' AND order_key = lanes.k)
        WHERE lanes.k IS NOT NULL AND j.run_at <= ?
          AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.state IN ('running', 'waiting') AND r.order_key = lanes.k)
        ORDER BY j.seq LIMIT ?`),
      claim: this.db.prepare("UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ? WHERE id = ? AND state = 'pending'"),
      finish: this.db.prepare('DELETE FROM jobs WHERE id = ?'),
      // Dependent jobs (AwaitJob): a job still to run (or running, or itself waiting) is waited for; a waiting job
      // keeps its lane and its place at the lane's head, holds no slot, and its attempt is not counted.
      live: this.db.prepare<[string], { id: string }>("SELECT id FROM jobs WHERE id = ? AND state IN ('pending', 'running', 'waiting')"),
      park: this.db.prepare("UPDATE jobs SET state = 'waiting', waiting_on = ?, attempts = attempts - 1, waits = waits + 1, updated_at = ? WHERE id = ?"),
      wake: this.db.prepare("UPDATE jobs SET state = 'pending', waiting_on = NULL, updated_at = ? WHERE state = 'waiting' AND waiting_on = ?"),
      // At start-up, a safety net: a job waiting for one that is no longer there runs now (finishing or failing a job
      // wakes its waiters in the same transaction, so only a file changed by hand has these).
      orphans: this.db.prepare(`UPDATE jobs SET state = 'pending', waiting_on = NULL, updated_at = ? WHERE state = 'waiting'
        AND waiting_on NOT IN (SELECT id FROM jobs WHERE state IN ('pending', 'running', 'waiting'))`),
      retry: this.db.prepare("UPDATE jobs SET state = 'pending', run_at = ?, last_error = ?, updated_at = ? WHERE id = ?"),
      // Put back without counting the attempt (shutdown).
      requeue: this.db.prepare("UPDATE jobs SET state = 'pending', attempts = attempts - 1, updated_at = ? WHERE id = ?"),
      fail: this.db.prepare("UPDATE jobs SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ?"),
      interrupted: this.db.prepare<[], Row>("SELECT * FROM jobs WHERE state = 'running' ORDER BY seq"),
      recover: this.db.prepare("UPDATE jobs SET state = 'pending', interrupts = interrupts + 1, updated_at = ? WHERE state = 'running'"),
      // Failed for good: its dedupe keys are let go, so a resend of the same event runs again.
      release: this.db.prepare('DELETE FROM dedupe WHERE job_id = ?'),
      // Only jobs waiting for their time (retries): a due job that waits for a slot or its lane is started by the
      // kick of the job that frees them, so a backlog does not make the timer spin.
      nextRunAt: this.db.prepare<[number], { t: number | null }>("SELECT MIN(run_at) AS t FROM jobs WHERE state = 'pending' AND run_at > ?"),
      stats: this.db.prepare<[], { state: string; n: number; oldest: number | null }>(
        'SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs GROUP BY state',
      ),
      prune: this.db.prepare('DELETE FROM dedupe WHERE expires_at <= ?'),
      pruneFailed: this.db.prepare("DELETE FROM jobs WHERE state = 'failed' AND updated_at <= ?"),
    };
  }

  /**
   * One transaction for a group of enqueues. Each spec runs in a savepoint of it (a nested better-sqlite3
   * transaction), so a spec that fails to insert fails alone; later specs see the dedupe keys of earlier ones, so
   * one delivery twice in a group is still one job.
   */
  private insertTx() {
    const ttl = this.o.dedupeTtlMs ?? 7 * 24 * 3600_000;
    const one = this.db.transaction((spec: JobSpec, data: string): EnqueueResult => {
      const now = Date.now();
      for (const key of spec.dedupeKeys) {
        const hit = this.q.seen.get(key, now);
        if (hit) return { id: hit.job_id, duplicate: true, key };
      }
      const id = randomUUID();
      this.q.insert.run(id, spec.kind, spec.orderKey, data, JSON.stringify(spec.dedupeKeys), Math.max(now, spec.notBefore ?? 0), now, now);
      for (const key of spec.dedupeKeys) this.q.remember.run(key, id, now + ttl);
      return { id, duplicate: false };
    });
    return this.db.transaction((group: Waiting[]): void => {
      for (const w of group) {
        try {
          w.result = one(w.spec, JSON.stringify(w.spec.data));
        } catch (err) {
          w.error = err;
        }
      }
    });
  }

  /** A job's terminal failure, one transaction: marked failed, its dedupe keys released, the jobs waiting for it woken. */
  private failFor(id: string, message: string, now: number): void {
    this.db.transaction(() => {
      this.q.fail.run(message, now, id);
      this.q.release.run(id);
      this.q.wake.run(now, id);
    })();
  }

  /** Done: the row goes and the jobs waiting for it become runnable, in one transaction. */
  private finishFor(id: string, now: number): void {
    this.db.transaction(() => {
      this.q.finish.run(id);
      this.q.wake.run(now, id);
    })();
  }

  /**
   * Park `job` behind `spec` (AwaitJob), in one transaction: a live job sharing one of spec's dedupe keys is waited
   * for, otherwise spec is added (and owns its keys). Returns the id waited for.
   */
  private parkFor(job: Job, spec: JobSpec): string {
    const ttl = this.o.dedupeTtlMs ?? 7 * 24 * 3600_000;
    return this.db.transaction((): string => {
      const now = Date.now();
      for (const key of spec.dedupeKeys) {
        const hit = this.q.seen.get(key, now);
        if (hit && this.q.live.get(hit.job_id)) {
          this.q.park.run(hit.job_id, now, job.id);
          return hit.job_id;
        }
      }
      const id = randomUUID();
      this.q.insert.run(id, spec.kind, spec.orderKey, JSON.stringify(spec.data), JSON.stringify(spec.dedupeKeys), Math.max(now, spec.notBefore ?? 0), now, now);
      for (const key of spec.dedupeKeys) this.q.remember.run(key, id, now + ttl);
      this.q.park.run(id, now, job.id);
      return id;
    }).immediate();
  }

  /**
   * Resolves once the job is on disk: the webhook is answered only then. Group commit: the enqueues of one
   * event-loop turn are committed in one transaction (synchronous=NORMAL: no fsync inside better-sqlite3's
   * synchronous call) and made durable by one fdatasync of the WAL on libuv's thread pool, so the event loop never
   * waits for the disk. Up to SYNCS_IN_FLIGHT syncs overlap (a slow disk then costs a delivery one sync, not the rest
   * of the running one and then its own); past that, arrivals wait and form one larger group. A lone enqueue is
   * committed in the same turn (setImmediate) and waits only for its own sync.
   */
  enqueue(spec: JobSpec): Promise<EnqueueResult> {
    // Cannot store it at all (the disk was full at start-up and still is): the caller answers 5xx, GitLab resends.
    if (!this.ensure()) return Promise.reject(this.initError);
    return new Promise((resolve, reject) => {
      this.waiting.push({ spec, resolve, reject });
      this.scheduleGroup();
    });
  }

  /** After this turn's other deliveries are parsed (they join the group), if a sync may start. */
  private scheduleGroup(): void {
    if (this.groupScheduled || this.syncing.size >= SYNCS_IN_FLIGHT || !this.waiting.length) return;
    this.groupScheduled = true;
    setImmediate(() => {
      this.groupScheduled = false;
      this.commitGroup();
    });
  }

  private commitGroup(): void {
    const group = this.waiting.splice(0);
    if (!group.length) return;
    try {
      // IMMEDIATE: take the write lock first, so enqueues of one delivery from two processes cannot both pass the check.
      this.insertGroup.immediate(group);
    } catch (err) {
      // The transaction itself failed (a full disk, the file locked past busy_timeout): nobody's job is stored.
      for (const w of group) w.reject(err);
      return this.scheduleGroup();
    }
    this.checkpointer.wrote();
    // When every slot or the job's own lane is busy, the job that frees it starts this one: no need to look now.
    if (group.some((w) => w.result && !w.result.duplicate && !this.busyLanes.has(w.spec.orderKey)) && this.running.size < this.o.concurrency) this.kick();
    // A duplicate waits too: the job it duplicates may have been committed a moment ago and not be on disk yet.
    // The sync starts after the commit, so it covers the group's frames even while an earlier sync is still running.
    const synced: Promise<void> = this.wal.sync().then(
      () => {
        for (const w of group) {
          if (w.result) w.resolve(w.result);
          else w.reject(w.error);
        }
      },
      (err: unknown) => {
        for (const w of group) w.reject(err ?? new Error('WAL sync failed'));
      },
    );
    this.syncing.add(synced);
    void synced.finally(() => {
      this.syncing.delete(synced);
      this.scheduleGroup();
    });
  }

  start(handler: JobHandler): void {
    this.handler = handler;
    this.stopping = false;
    this.started = false;
    this.kick();
  }

  /**
   * Jobs that were running when the process died run again; a job that takes the process down every time (out of
   * memory, say) ends as dead instead of crash-looping the bot. Runs on the first pump that can write the file.
   */
  private recover(): void {
    const now = Date.now();
    const limit = interruptLimit(this.o.policy);
    const dead: { row: Row; err: Error }[] = [];
    this.db.transaction(() => {
      for (const row of this.q.interrupted.all()) {
        if (row.interrupts + 1 < limit) continue;
        const err = new PermanentError(`interrupted ${row.interrupts + 1} times: the bot stopped while the job ran`);
        this.failFor(row.id, err.message, now);
        dead.push({ row, err });
      }
      this.q.recover.run(now);
      this.q.orphans.run(now);
      this.q.prune.run(now);
    })();
    this.started = true;
    for (const { row, err } of dead) {
      void Promise.resolve()
        .then(() => this.o.events?.onDead?.(this.toJob(row, row.attempts), err))
        .catch(() => undefined); // onDead logs its own failures
    }
  }

  /**
   * The whole stop fits in deadlineMs: running jobs get most of it, then they are aborted (CLI children get
   * SIGTERM) and put back as pending. A job that does not settle within the last part stays 'running' in the
   * table and is recovered at the next start, like after a crash.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const all = Promise.allSettled([...this.running.values()].map((r) => r.promise)).then(() => true);
    const grace = Math.min(2_000, Math.floor(deadlineMs / 4));
    if (await settledWithin(all, deadlineMs - grace)) return;
    for (const r of this.running.values()) r.abort.abort(new Error('shutting down'));
    await settledWithin(all, grace);
  }

  async stats(): Promise<QueueStats> {
    const s: QueueStats = { pending: 0, running: 0, failed: 0, oldestPendingAgeMs: 0 };
    if (!this.ensure()) return s;
    for (const row of this.q.stats.all()) {
      if (row.state === 'pending' || row.state === 'waiting') {
        s.pending += row.n;
        if (row.oldest) s.oldestPendingAgeMs = Math.max(s.oldestPendingAgeMs, Date.now() - row.oldest);
      } else if (row.state === 'running') s.running = row.n;
      else if (row.state === 'failed') s.failed = row.n;
    }
    return s;
  }

  drained(timeoutMs = 60_000): Promise<void> {
    return waitUntilDrained({ stats: () => this.stats(), localRunning: () => this.running.size }, timeoutMs, 50);
  }

  async close(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    // Enqueues already taken are committed and synced before the file closes.
    while (this.groupScheduled || this.syncing.size || this.waiting.length) {
      if (this.syncing.size) await Promise.all(this.syncing);
      else await new Promise((r) => setImmediate(r));
    }
    await this.checkpointer.close();
    await this.wal.close();
    this.db.close();
  }

  async retain(o: { now: number; failedJobMs: number }): Promise<number> {
    if (!this.db.open) return 0;
    const removed = this.q.prune.run(o.now).changes + this.q.pruneFailed.run(o.now - o.failedJobMs).changes;
    // The WAL keeps the largest size it ever had; deleted rows' pages are reused by the main file.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return removed;
  }

  private kick(): void {
    if (this.pumping) {
      this.repump = true;
      return;
    }
    this.pumping = true;
    setImmediate(() => {
      try {
        do {
          this.repump = false;
          this.pump();
        } while (this.repump);
      } catch (e) {
        // A full disk (claim or recovery cannot be written): log, and look again at the next tick.
        this.o.onError?.(e, 'pump');
        this.schedule();
      } finally {
        this.pumping = false;
      }
    });
  }

  private pump(): void {
    if (!this.handler || this.stopping || !this.db.open) return;
    if (!this.ensure()) return this.schedule();
    if (!this.started) this.recover();
    const free = this.o.concurrency - this.running.size;
    if (free > 0) {
      const now = Date.now();
      for (const row of this.q.ready.all(now, free)) {
        if (this.q.claim.run(now, row.id).changes === 1) this.launch(row);
      }
    }
    this.schedule();
  }

  /** Wake up for the next delayed job (retries with backoff). */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    const next = this.initError ? undefined : this.q.nextRunAt.get(Date.now())?.t;
    const poll = this.o.pollMs ?? 1_000;
    const wait = next == null ? poll : Math.min(poll, Math.max(5, next - Date.now()));
    this.timer = setTimeout(() => this.kick(), wait);
    this.timer.unref();
  }

  /**
   * A job's state change, written even if the disk is full: the job holds its slot and lane (the row stays
   * 'running') and the write is tried again until space returns. Gives up only when the queue stops.
   */
  private async durably(what: string, write: () => unknown): Promise<void> {
    for (let wait = DISK_WAIT_MS.first; ; wait = Math.min(DISK_WAIT_MS.max, wait * 2)) {
      if (!this.db.open) throw new Error(`queue closed before the job's ${what} was written`);
      try {
        write();
        return;
      } catch (e) {
        if (!isTransient(e) || this.stopping) throw e;
        this.o.onError?.(e, what);
        await sleep(wait);
      }
    }
  }

  private toJob(row: Row, attempt: number): Job {
    return {
      id: row.id,
      kind: row.kind as Job['kind'],
      orderKey: row.order_key,
      dedupeKeys: JSON.parse(row.dedupe),
      data: JSON.parse(row.data),
      attempt,
      createdAt: row.created_at,
    };
  }

  private launch(row: Row): void {
    const job = this.toJob(row, row.attempts + 1);
    const waited = row.waits ?? 0;
    const abort = new AbortController();
    const started = Date.now();
    this.busyLanes.add(job.orderKey);
    const promise = (async () => {
      let outcome: { ok: true } | { ok: false; err: unknown };
      try {
        await this.handler!(job, { signal: abort.signal, waited });
        outcome = { ok: true };
      } catch (err) {
        outcome = { ok: false, err };
      }
      try {
        const refused = !outcome.ok && outcome.err instanceof AwaitJob ? awaitRefusal(job, outcome.err, waited) : undefined;
        if (outcome.ok) {
          await this.durably('finish', () => this.finishFor(job.id, Date.now()));
          this.o.events?.onDone?.(job, Date.now() - started);
        } else if (outcome.err instanceof AwaitJob && !refused) {
          const spec = outcome.err.spec;
          await this.durably('park', () => this.parkFor(job, spec));
        } else if (refused) {
          await this.settleFailure(job, new PermanentError(refused), false);
        } else {
          await this.settleFailure(job, outcome.err, abort.signal.aborted);
        }
      } catch (e) {
        // Still not written at shutdown: the row stays 'running' and is recovered at the next start.
        this.o.onError?.(e, 'settle');
      } finally {
        this.running.delete(job.id);
        this.busyLanes.delete(job.orderKey);
        this.kick();
      }
    })();
    this.running.set(job.id, { promise, abort });
  }

  private async settleFailure(job: Job, err: unknown, aborted: boolean): Promise<void> {
    const now = Date.now();
    if (!this.db.open) return;
    if (aborted && this.stopping) {
      await this.durably('requeue', () => this.q.requeue.run(now, job.id));
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    const delay = this.o.policy.delayFor(err, job.attempt, now - job.createdAt);
    if (delay !== null && job.attempt < this.o.policy.maxAttempts) {
      await this.durably('retry', () => this.q.retry.run(Date.now() + delay, message, now, job.id));
      this.o.events?.onRetry?.(job, err, delay);
      return;
    }
    await this.durably('fail', () => this.failFor(job.id, message, now));
    try {
      await this.o.events?.onDead?.(job, err);
    } catch {
      /* onDead logs its own failures */
    }
  }
}

/** fdatasyncs of the WAL running at once (libuv's pool has 4 threads, shared with every other file operation). */
const SYNCS_IN_FLIGHT = 2;

/** How long a write that failed on a full disk waits before it tries again (capped doubling). */
const DISK_WAIT_MS = { first: 200, max: 10_000 };


/** An enqueue waiting for its group's commit and sync. */
interface Waiting {
  spec: JobSpec;
  resolve: (r: EnqueueResult) => void;
  reject: (e: unknown) => void;
  /** set by the group's transaction: what the insert returned, or why it failed */
  result?: EnqueueResult;
  error?: unknown;
}

/**
 * fdatasync of the WAL file, on libuv's thread pool. Syncing the WAL after a commit gives that commit what
 * synchronous=FULL would (its frames and the WAL header are on stable storage; a checkpoint in between syncs the
 * database file itself), without a blocking fsync inside better-sqlite3's synchronous call. Written here because no
 * library does this for SQLite.
 */
class WalSync {
  private fd?: Promise<fs.promises.FileHandle>;
  private running = new Set<Promise<void>>();

  constructor(private readonly file: string) {}

  sync(): Promise<void> {
    const p = this.once();
    this.running.add(p);
    void p.catch(() => undefined).finally(() => this.running.delete(p));
    return p;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.running]);
    const fd = this.fd;
    this.fd = undefined;
    if (fd) await (await fd).close().catch(() => undefined);
  }

  private async once(): Promise<void> {
    // The WAL exists from the first commit on and keeps its inode while the database is open (it is reset, not replaced).
    const fd = (this.fd ??= fs.promises.open(this.file, 'r'));
    try {
      await (await fd).datasync();
    } catch (e) {
      if (this.fd === fd) this.fd = undefined; // reopen next time; this group's enqueues fail and their webhooks are not acknowledged
      throw e;
    }
  }
}
