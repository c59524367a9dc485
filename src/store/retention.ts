// Retention: what a year of steady traffic leaves behind is deleted on a schedule, so DATA_DIR and the store stay
// bounded. Per sweep:
// - a closed or merged MR idle for `closedMrMs` (default 30 days, so late replies still resume their session) loses
//   its worktree, its transcripts and its thread records; a reply after that rebuilds the thread from GitLab's text
//   (flows/reply.ts). Its MR record (posted findings, withdrawn fingerprints) goes after `recordMs`.
// - worktrees and transcripts no record points at (another replica's MR, a purged MR, an old verification fork) go
//   after `orphanMs`.
// - the queue's failed jobs and expired delivery ids (its own windows), expired store entries (failure records).
// It also measures what it keeps (disk use of DATA_DIR's parts, record counts) for /metrics and the status page;
// those read the last measurement, never the disk or Redis at request time.
import fs from 'node:fs';
import path from 'node:path';
import { encodeProjectDir } from '../claude/paths.js';
import { DAY_MS } from '../config.js';
import type { Logger } from '../logger.js';
import type { MrRecord } from './records.js';
import type { Store } from './store.js';

export interface RetentionWindows {
  /** a closed or merged MR's sessions and worktree, after it closed and went quiet */
  closedMrMs: number;
  /** a closed or merged MR's record, after it went quiet */
  recordMs: number;
  /** worktrees and transcripts that no record refers to */
  orphanMs: number;
  /** failed jobs kept for inspection */
  failedJobMs: number;
}

export const DEFAULT_WINDOWS: RetentionWindows = {
  closedMrMs: 30 * DAY_MS,
  recordMs: 180 * DAY_MS,
  orphanMs: 7 * DAY_MS,
  failedJobMs: 30 * DAY_MS,
};

export interface MrState {
  state: 'opened' | 'closed' | 'merged' | 'locked' | 'gone';
  /** when it was merged or closed (GitLab's merged_at / closed_at) */
  closedAt?: string;
}

export interface RetentionDeps {
  store: Pick<Store, 'listMrs' | 'listThreads' | 'deleteThread' | 'deleteMr' | 'updateMr' | 'countRecords' | 'compact'>;
  dataDir: string;
  /** CLAUDE_CONFIG_DIR: transcripts live in `projects/` */
  claudeDir: string;
  /** the MR's state on GitLab; 'gone' when GitLab says 404 */
  mrState(projectId: number, iid: number): Promise<MrState>;
  /** removes an MR's worktree (and its ref in the project mirror) */
  removeWorktree(projectId: number, iid: number): Promise<void>;
  /** removes a project's spare worktree (DATA_DIR/spare/<project>, the next new MR's checkout) */
  removeSpare(projectId: number): Promise<void>;
  /** the queue's own retention (failed jobs, delivery ids) */
  queue?: { retain?(o: { now: number; failedJobMs: number }): Promise<number> };
  windows?: Partial<RetentionWindows>;
  /** the clock (tests and the soak bench run it fast) */
  now?: () => number;
  log?: Logger;
}

export interface Sizes {
  /** bytes on disk by part of DATA_DIR: work (worktrees, spares included), repos (mirrors), transcripts, state (SQLite files) */
  disk: Record<'work' | 'repos' | 'transcripts' | 'state', number>;
  records: { mrs: number; threads: number; failures: number };
  at: number;
}

export interface SweepReport {
  purgedMrs: number;
  deletedRecords: number;
  orphanWorktrees: number;
  orphanTranscripts: number;
  queueRemoved: number;
}

const RECHECK_MS = DAY_MS;
const WORKTREE_NAME = /^(\d+)-(\d+)$/;

export class Retention {
  readonly windows: RetentionWindows;
  private readonly now: () => number;
  /** when an idle, still open MR is asked about again */
  private nextCheck = new Map<string, number>();
  private last?: Sizes;
  private timer?: NodeJS.Timeout;
  private running?: Promise<SweepReport>;

  constructor(private readonly d: RetentionDeps) {
    this.windows = { ...DEFAULT_WINDOWS, ...d.windows };
    this.now = d.now ?? Date.now;
  }

  /** The last measurement (undefined before the first sweep). */
  sizes(): Sizes | undefined {
    return this.last;
  }

  start(everyMs: number): void {
    const tick = () => void this.sweep().catch((e) => this.d.log?.warn({ err: (e as Error).message }, 'retention sweep failed; next one later'));
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass; concurrent calls share it. */
  sweep(): Promise<SweepReport> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<SweepReport> {
    const now = this.now();
    const r: SweepReport = { purgedMrs: 0, deletedRecords: 0, orphanWorktrees: 0, orphanTranscripts: 0, queueRemoved: 0 };
    const threads = await this.d.store.listThreads();
    const lastActivity = new Map<string, number>();
    for (const t of threads) {
      const k = `${t.projectId}:${t.iid}`;
      lastActivity.set(k, Math.max(lastActivity.get(k) ?? 0, Date.parse(t.updatedAt)));
    }
    const mrs = await this.d.store.listMrs(Number.MAX_SAFE_INTEGER);
    for (const mr of mrs) {
      const k = `${mr.projectId}:${mr.iid}`;
      const quietSince = Math.max(Date.parse(mr.updatedAt), lastActivity.get(k) ?? 0);
      const outcome = await this.retainMr(mr, now - quietSince, now);
      if (outcome === 'purged') r.purgedMrs++;
      if (outcome === 'deleted') r.deletedRecords++;
    }
    const live = await this.liveReferences();
    r.orphanWorktrees = await this.sweepWorktrees(live.worktrees, now);
    r.orphanTranscripts = this.sweepTranscripts(live.sessions, now);
    r.queueRemoved = (await this.d.queue?.retain?.({ now, failedJobMs: this.windows.failedJobMs })) ?? 0;
    this.d.store.compact();
    this.last = { disk: this.measureDisk(), records: await this.d.store.countRecords(), at: now };
    if (r.purgedMrs + r.deletedRecords + r.orphanWorktrees + r.orphanTranscripts + r.queueRemoved > 0) this.d.log?.info({ ...r }, 'retention sweep');
    return r;
  }

  /** Decides one MR: keep, purge its sessions (closed long enough), or delete its record too. */
  private async retainMr(mr: MrRecord, quietMs: number, now: number): Promise<'kept' | 'purged' | 'deleted'> {
    if (quietMs < this.windows.closedMrMs) return 'kept';
    const key = `${mr.projectId}:${mr.iid}`;
    if (purged(mr)) {
      if (quietMs < this.windows.recordMs) return 'kept';
      await this.d.store.deleteMr(mr.projectId, mr.iid);
      this.nextCheck.delete(key);
      return 'deleted';
    }
    if ((this.nextCheck.get(key) ?? 0) > now) return 'kept';
    const s = await this.d.mrState(mr.projectId, mr.iid);
    const closedFor = s.closedAt ? now - Date.parse(s.closedAt) : Infinity;
    if (s.state === 'gone' || ((s.state === 'closed' || s.state === 'merged') && closedFor >= this.windows.closedMrMs)) {
      await this.purgeMr(mr);
      this.nextCheck.delete(key);
      return 'purged';
    }
    // Open (or closed too recently): ask again later, not on every sweep.
    this.nextCheck.set(key, now + Math.min(RECHECK_MS, this.windows.closedMrMs / 4));
    return 'kept';
  }

  /** Worktree, transcripts and thread records go; the MR record stays (findings, withdrawn) with its sessions cut. */
  private async purgeMr(mr: MrRecord): Promise<void> {
    const worktree = path.join(this.d.dataDir, 'work', `${mr.projectId}-${mr.iid}`);
    // The transcripts' folder is named after the worktree's real path: work it out before the worktree goes.
    fs.rmSync(path.join(this.d.claudeDir, 'projects', encodeProjectDir(worktree)), { recursive: true, force: true });
    await this.d.removeWorktree(mr.projectId, mr.iid);
    for (const t of await this.d.store.listThreads(mr.projectId, mr.iid)) await this.d.store.deleteThread(t.projectId, t.iid, t.discussionId);
    await this.d.store.updateMr(mr.projectId, mr.iid, mr.projectPath, (r) => {
      r.purgedAt = new Date(this.now()).toISOString();
      delete r.trunkSessionId;
      delete r.trunkStatus;
      delete r.workspace;
      delete r.pendingPost;
    });
  }

  /** Worktree names and session ids the store still refers to (after this pass's own deletions). */
  private async liveReferences(): Promise<{ worktrees: Set<string>; sessions: Set<string> }> {
    const worktrees = new Set<string>();
    const sessions = new Set<string>();
    for (const mr of await this.d.store.listMrs(Number.MAX_SAFE_INTEGER)) {
      if (!purged(mr)) worktrees.add(`${mr.projectId}-${mr.iid}`);
      if (mr.trunkSessionId) sessions.add(mr.trunkSessionId);
      if (mr.pendingPost) sessions.add(mr.pendingPost.sessionId);
    }
    for (const t of await this.d.store.listThreads()) {
      sessions.add(t.forkSessionId);
      sessions.add(t.trunkSessionId);
    }
    return { worktrees, sessions };
  }

  private async sweepWorktrees(live: Set<string>, now: number): Promise<number> {
    let n = 0;
    for (const name of readdir(path.join(this.d.dataDir, 'work'))) {
      const m = WORKTREE_NAME.exec(name);
      if (!m || live.has(name)) continue;
      const full = path.join(this.d.dataDir, 'work', name);
      if (now - mtime(full) < this.windows.orphanMs) continue;
      fs.rmSync(path.join(this.d.claudeDir, 'projects', encodeProjectDir(full)), { recursive: true, force: true });
      await this.d.removeWorktree(Number(m[1]), Number(m[2]));
      n++;
    }
    // A project's spare waits for its next new MR: one that waited the orphan window goes (a full checkout each).
    for (const name of readdir(path.join(this.d.dataDir, 'spare'))) {
      if (!/^\d+$/.test(name) || now - mtime(path.join(this.d.dataDir, 'spare', name)) < this.windows.orphanMs) continue;
      await this.d.removeSpare(Number(name));
      n++;
    }
    return n;
  }

  /** Transcripts (and their tool-result folders and portable-copy markers) no record refers to. */
  private sweepTranscripts(live: Set<string>, now: number): number {
    let n = 0;
    const root = path.join(this.d.claudeDir, 'projects');
    for (const dir of readdir(root)) {
      const full = path.join(root, dir);
      for (const f of readdir(full)) {
        if (!f.endsWith('.jsonl')) continue;
        const id = f.slice(0, -'.jsonl'.length);
        const file = path.join(full, f);
        if (live.has(id) || now - mtime(file) < this.windows.orphanMs) continue;
        fs.rmSync(file, { force: true });
        fs.rmSync(path.join(full, id), { recursive: true, force: true });
        fs.rmSync(path.join(this.d.claudeDir, 'portable', `${id}.gen`), { force: true });
        n++;
      }
      if (readdir(full).length === 0) fs.rmSync(full, { recursive: true, force: true });
    }
    return n;
  }

  private measureDisk(): Sizes['disk'] {
    const state = readdir(this.d.dataDir)
      .filter((f) => /\.sqlite(-wal|-shm)?$/.test(f))
      .reduce((sum, f) => sum + du(path.join(this.d.dataDir, f)), 0);
    return {
      work: du(path.join(this.d.dataDir, 'work')) + du(path.join(this.d.dataDir, 'spare')),
      repos: du(path.join(this.d.dataDir, 'repos')),
      transcripts: du(path.join(this.d.claudeDir, 'projects')),
      state,
    };
  }
}

/** Purged, and no review since (a reopened MR is reviewed again and writes its record). */
function purged(mr: MrRecord): boolean {
  return !!mr.purgedAt && Date.parse(mr.updatedAt) <= Date.parse(mr.purgedAt);
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function mtime(p: string): number {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

/** Bytes allocated under a path (lstat: links are not followed). Written here: one small walk, no dependency. */
export function du(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.blocks * 512 || st.size;
  let sum = st.blocks * 512;
  for (const f of readdir(p)) sum += du(path.join(p, f));
  return sum;
}
