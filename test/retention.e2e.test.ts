// Retention end to end: the real bot reviews two MRs with the real CLI; one is merged on GitLab, the other stays
// open. With a retention window of seconds, the merged MR's worktree and transcripts go; the open MR's stay.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeProjectDir } from '../src/claude/paths.js';
import { readMarker } from '../src/gitlab/markers.js';
import { reviewOutput, sampleMr, startHarness, waitFor, type Harness } from '../standins/harness.js';

const WINDOW_S = 2;

describe('retention, end to end', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ RETENTION_CLOSED_MR_DAYS: String(WINDOW_S / 86_400), RETENTION_SWEEP_MINUTES: String(0.5 / 60) });
  });
  afterAll(async () => h?.close());

  it('removes a merged MR\'s worktree and transcripts after the window and keeps an open MR\'s', async () => {
    h.model.setDefault({ structured: reviewOutput([]) });
    const merged = await sampleMr(h, { path: 'acme/merged' });
    const open = await sampleMr(h, { path: 'acme/open' });
    for (const m of [merged, open]) {
      expect((await h.send(h.gitlab.mrHook(m.project, m.mr.iid, 'open'))).status).toBe(200);
      await waitFor(() => h.gitlab.notes(m.project, m.mr.iid).some((n) => readMarker(n.body)?.kind === 'summary'), 60_000, 'a review');
    }
    await h.bot.queue.drained();
    const files = async (m: typeof merged) => {
      const rec = (await h.bot.deps.store.getMr(m.project.id, m.mr.iid))!;
      return { worktree: rec.workspace!, transcripts: path.join(h.dataDir, 'claude', 'projects', encodeProjectDir(rec.workspace!)), trunk: rec.trunkSessionId! };
    };
    const [m, o] = [await files(merged), await files(open)];
    for (const f of [m, o]) {
      expect(fs.existsSync(f.worktree)).toBe(true);
      expect(fs.existsSync(path.join(f.transcripts, `${f.trunk}.jsonl`))).toBe(true);
    }

    h.gitlab.setMrState(merged.project, merged.mr.iid, 'merged');
    await waitFor(async () => (await h.bot.deps.store.getMr(merged.project.id, merged.mr.iid))?.purgedAt, 60_000, 'the merged MR to be purged');
    expect(fs.existsSync(m.worktree)).toBe(false);
    expect(fs.existsSync(m.transcripts)).toBe(false);
    // Two more sweeps, each of which saw the open MR quiet for longer than the window.
    const since = Date.now();
    await waitFor(() => (h.bot.retention.sizes()?.at ?? 0) > since, 30_000, 'a later sweep');
    const later = h.bot.retention.sizes()!.at;
    await waitFor(() => h.bot.retention.sizes()!.at > later, 30_000, 'one more sweep');
    expect(fs.existsSync(o.worktree)).toBe(true);
    expect(fs.existsSync(path.join(o.transcripts, `${o.trunk}.jsonl`))).toBe(true);
    expect((await h.bot.deps.store.getMr(open.project.id, open.mr.iid))?.purgedAt).toBeUndefined();
    // The mirror no longer has the merged MR's worktree registered (the project's spare worktree may be).
    const registered = path.join(h.dataDir, 'repos', `${merged.project.id}.git`, 'worktrees');
    const paths = (fs.existsSync(registered) ? fs.readdirSync(registered) : []).map((n) => fs.readFileSync(path.join(registered, n, 'gitdir'), 'utf8').trim());
    expect(paths.filter((p) => !p.startsWith(path.join(fs.realpathSync(h.dataDir), 'spare')))).toEqual([]);
    // What is kept is measured for /metrics.
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/mr_reviewer_data_dir_bytes\{part="work"\} [1-9]/);
    expect(metrics).toContain('mr_reviewer_store_records{kind="mrs"} 2');
  }, 180_000);
});
