// A model that never answers: the CLI call is stopped at CLAUDE_TIMEOUT_MS, and after the last try the MR says why.
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { running } from '../src/claude/run.js';
import { sampleMr, startHarness, waitFor, type Harness } from '../standins/harness.js';

describe('CLI timeout', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ CLAUDE_TIMEOUT_MS: '2000', JOB_ATTEMPTS: '1' });
  });
  afterAll(async () => h?.close());

  it('kills a hanging CLI call and posts one failure note', async () => {
    const { project, mr } = await sampleMr(h);
    h.model.setDefault({ hang: true });
    await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
    const note = await waitFor(() => h.gitlab.notes(project, mr.iid).find((n) => readMarker(n.body)?.kind === 'failure'), 30_000, 'failure note');
    expect(note.body).toContain('review failed');
    expect(note.body).toMatch(/timed out/);
    await h.bot.queue.drained();
    const rec = await h.bot.deps.store.getMr(project.id, mr.iid);
    // the child is gone: no process still runs with the trunk's session id
    const left = await execa('pgrep', ['-f', rec!.trunkSessionId!], { reject: false });
    expect(left.stdout.trim()).toBe('');
    expect(running.count).toBe(0);
    expect(rec?.trunkStatus).toBe('failed');
    expect(h.gitlab.notes(project, mr.iid).filter((n) => readMarker(n.body)?.kind === 'failure')).toHaveLength(1);
  });
});
