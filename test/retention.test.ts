// Retention's decisions on a fake clock, over a real SQLite store and real files under a DATA_DIR: what a closed MR
// loses and when, what an open MR keeps, what no record refers to, and what it measures.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeProjectDir } from '../src/claude/paths.js';
import { SqliteQueue } from '../src/jobs/sqlite-queue.js';
import { newThreadRecord } from '../src/store/records.js';
import { Retention, type MrState } from '../src/store/retention.js';
import { Store } from '../src/store/store.js';

const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function world() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-retention-'));
  dirs.push(dataDir);
  const claudeDir = path.join(dataDir, 'claude');
  const store = Store.sqlite(dataDir);
  const t0 = Date.now();
  let now = t0;
  const gitlab = new Map<string, MrState>();
  const asked: string[] = [];
  const queue = new SqliteQueue({ file: path.join(dataDir, 'queue.sqlite'), concurrency: 1, policy: { maxAttempts: 1, delayFor: () => null } });
  const retention = new Retention({
    store,
    dataDir,
    claudeDir,
    queue,
    now: () => now,
    mrState: async (pid, iid) => {
      asked.push(`${pid}:${iid}`);
      return gitlab.get(`${pid}:${iid}`) ?? { state: 'gone' };
    },
    removeWorktree: async (pid, iid) => fs.rmSync(path.join(dataDir, 'work', `${pid}-${iid}`), { recursive: true, force: true }),
    removeSpare: async (pid) => fs.rmSync(path.join(dataDir, 'spare', String(pid)), { recursive: true, force: true }),
  });
  const worktree = (iid: number) => path.join(dataDir, 'work', `1-${iid}`);
  const transcript = (iid: number, id: string) => path.join(claudeDir, 'projects', encodeProjectDir(worktree(iid)), `${id}.jsonl`);
  /** An MR reviewed by the bot, with one answered thread: a worktree, two transcripts, two records. */
  async function reviewed(iid: number) {
    fs.mkdirSync(worktree(iid), { recursive: true });
    fs.writeFileSync(path.join(worktree(iid), 'a.js'), 'x'.repeat(10_000));
    for (const id of [`trunk-${iid}`, `fork-${iid}`]) {
      fs.mkdirSync(path.dirname(transcript(iid, id)), { recursive: true });
      fs.writeFileSync(transcript(iid, id), '{}\n');
    }
    await store.updateMr(1, iid, 'acme/x', (r) => {
      r.trunkSessionId = `trunk-${iid}`;
      r.trunkStatus = 'done';
      r.workspace = worktree(iid);
    });
    await store.putThread({ ...newThreadRecord({ projectId: 1, iid, discussionId: `d${iid}`, forkSessionId: `fork-${iid}`, trunkSessionId: `trunk-${iid}` }), status: 'done' });
  }
  return {
    dataDir, store, retention, gitlab, asked, worktree, transcript, reviewed, queue, t0,
    at: (ms: number) => (now = t0 + ms),
    close: async () => {
      await queue.close();
      await store.close();
    },
  };
}

describe('Retention', () => {
  it('keeps a merged MR\'s sessions for the window after it closed, then removes worktree, transcripts and threads; an open MR keeps everything', async () => {
    const w = await world();
    await w.reviewed(1); // merged
    await w.reviewed(2); // open
    await w.reviewed(3); // closed later
    w.gitlab.set('1:1', { state: 'merged', closedAt: new Date(w.t0).toISOString() });
    w.gitlab.set('1:2', { state: 'opened' });
    w.gitlab.set('1:3', { state: 'closed', closedAt: new Date(w.t0 + 25 * DAY).toISOString() });

    w.at(10 * DAY);
    expect(await w.retention.sweep()).toMatchObject({ purgedMrs: 0, orphanTranscripts: 0, orphanWorktrees: 0 });
    expect(w.asked).toEqual([]); // nothing quiet long enough to ask GitLab about

    w.at(31 * DAY);
    expect((await w.retention.sweep()).purgedMrs).toBe(1);
    expect(fs.existsSync(w.worktree(1))).toBe(false);
    expect(fs.existsSync(w.transcript(1, 'trunk-1'))).toBe(false);
    expect(fs.existsSync(w.transcript(1, 'fork-1'))).toBe(false);
    expect(await w.store.listThreads(1, 1)).toEqual([]);
    const purged = await w.store.getMr(1, 1);
    expect(purged).toMatchObject({ purgedAt: new Date(w.t0 + 31 * DAY).toISOString() });
    expect(purged?.trunkSessionId).toBeUndefined();
    // The open MR and the MR closed 6 days ago keep everything.
    for (const iid of [2, 3]) {
      expect(fs.existsSync(w.worktree(iid))).toBe(true);
      expect(fs.existsSync(w.transcript(iid, `trunk-${iid}`))).toBe(true);
      expect(fs.existsSync(w.transcript(iid, `fork-${iid}`))).toBe(true);
      expect(await w.store.listThreads(1, iid)).toHaveLength(1);
    }
    expect(w.asked.sort()).toEqual(['1:1', '1:2', '1:3']);

    // An hour later GitLab is not asked again about the open MR.
    w.at(31 * DAY + 3_600_000);
    await w.retention.sweep();
    expect(w.asked).toHaveLength(3);

    // The closed one goes 30 days after it closed; the merged one's record after the record window.
    w.at(56 * DAY);
    expect((await w.retention.sweep()).purgedMrs).toBe(1);
    expect(fs.existsSync(w.worktree(3))).toBe(false);
    w.at(31 * DAY + 181 * DAY);
    expect((await w.retention.sweep()).deletedRecords).toBe(2);
    expect(await w.store.getMr(1, 1)).toBeUndefined();
    expect(fs.existsSync(w.worktree(2))).toBe(true);
    expect(fs.existsSync(w.transcript(2, 'trunk-2'))).toBe(true);
    await w.close();
  });

  it('an MR GitLab no longer knows (404) is purged like a closed one', async () => {
    const w = await world();
    await w.reviewed(7);
    w.at(40 * DAY);
    expect((await w.retention.sweep()).purgedMrs).toBe(1);
    expect(fs.existsSync(w.worktree(7))).toBe(false);
    await w.close();
  });

  it('removes transcripts and worktrees no record refers to once they are older than the orphan window', async () => {
    const w = await world();
    await w.reviewed(2);
    w.gitlab.set('1:2', { state: 'opened' });
    // A verification fork (never referenced by a record) and a worktree of an MR whose record is gone.
    fs.writeFileSync(w.transcript(2, 'verify-fork'), '{}\n');
    fs.mkdirSync(w.worktree(9), { recursive: true });
    w.at(1 * DAY);
    expect(await w.retention.sweep()).toMatchObject({ orphanTranscripts: 0, orphanWorktrees: 0 });
    w.at(8 * DAY);
    expect(await w.retention.sweep()).toMatchObject({ orphanTranscripts: 1, orphanWorktrees: 1 });
    expect(fs.existsSync(w.transcript(2, 'verify-fork'))).toBe(false);
    expect(fs.existsSync(w.transcript(2, 'trunk-2'))).toBe(true);
    expect(fs.existsSync(w.worktree(9))).toBe(false);
    expect(fs.existsSync(w.worktree(2))).toBe(true);
    await w.close();
  });

  it('removes a project\'s spare worktree that waited the orphan window for a new MR, and counts spares as work', async () => {
    const w = await world();
    const spare = (pid: number) => path.join(w.dataDir, 'spare', String(pid));
    fs.mkdirSync(spare(3), { recursive: true });
    fs.writeFileSync(path.join(spare(3), 'a.js'), 'x'.repeat(20_000));
    w.at(1 * DAY);
    expect(await w.retention.sweep()).toMatchObject({ orphanWorktrees: 0 });
    expect(w.retention.sizes()!.disk.work).toBeGreaterThanOrEqual(20_000);
    w.at(8 * DAY);
    fs.mkdirSync(spare(4), { recursive: true }); // made just now (its mtime is the real clock's, days before `now`)
    fs.utimesSync(spare(4), new Date(w.t0 + 8 * DAY), new Date(w.t0 + 8 * DAY));
    expect(await w.retention.sweep()).toMatchObject({ orphanWorktrees: 1 });
    expect(fs.existsSync(spare(3))).toBe(false);
    expect(fs.existsSync(spare(4))).toBe(true);
    await w.close();
  });

  it('drops the queue\'s expired delivery ids and old failed jobs, and measures disk and records', async () => {
    const w = await world();
    await w.reviewed(2);
    await w.store.recordFailure({ at: new Date().toISOString(), jobId: 'j1', kind: 'review', reason: 'x' });
    await w.queue.enqueue({ kind: 'review', orderKey: 'mr:1:2', dedupeKeys: ['delivery:old'], data: {} });
    w.queue.start(async () => {
      throw new Error('permanent');
    });
    await w.queue.drained(5_000);
    w.at(1 * DAY);
    await w.retention.sweep();
    const s = w.retention.sizes()!;
    expect(s.records).toEqual({ mrs: 1, threads: 1, failures: 1 });
    expect(s.disk.work).toBeGreaterThan(10_000);
    expect(s.disk.transcripts).toBeGreaterThan(0);
    expect(s.disk.state).toBeGreaterThan(0);
    expect((await w.queue.stats()).failed).toBe(1);
    w.at(31 * DAY);
    expect((await w.retention.sweep()).queueRemoved).toBe(1); // the failed job (its delivery id was released when it failed)
    expect((await w.queue.stats()).failed).toBe(0);
    expect((await w.queue.enqueue({ kind: 'review', orderKey: 'mr:1:2', dedupeKeys: ['delivery:old'], data: {} })).duplicate).toBe(false);
    await w.close();
  });
});
