// The verification pass: a separate session checks each candidate; only confirmed findings are posted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { finding, reviewOutput, sampleMr, startHarness, waitFor, type Harness } from '../standins/harness.js';

describe('verification pass', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ VERIFY_FINDINGS: 'true' });
  });
  afterAll(async () => h?.close());

  it('posts only what an independent session confirms, and says so in the summary', async () => {
    const { project, mr } = await sampleMr(h);
    const REAL = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'CANDIDATE-REAL' });
    const WRONG = finding({ file: 'src/list.js', start_line: 2, anchor_text: '  return xs[0].value;', title: 'CANDIDATE-WRONG' });
    h.model.script(
      { structured: reviewOutput([REAL, WRONG]) },
      { structured: { verdicts: [
        { id: 1, verdict: 'confirmed', evidence: 'src/math.js:6 `return a / b;` with b = 0' },
        { id: 2, verdict: 'refuted', evidence: 'src/list.js is only called with non-empty lists (src/app.js:3)' },
      ] } },
    );
    await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
    const summary = await waitFor(() => h.gitlab.notes(project, mr.iid).find((n) => readMarker(n.body)?.kind === 'summary'), 60_000, 'summary');

    const posted = h.gitlab.notes(project, mr.iid).filter((n) => readMarker(n.body)?.kind === 'finding');
    expect(posted.map((n) => n.body.includes('CANDIDATE-REAL'))).toEqual([true]);
    expect(summary.body).toContain('1 of 2 new candidates confirmed');

    // The verifier is its own session (not the trunk, not a fork of it) and saw both candidates.
    const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    const [trunkReq, verifyReq] = h.model.requests.slice(-2);
    expect(trunkReq!.headers['x-claude-code-session-id']).toBe(rec.trunkSessionId);
    expect(verifyReq!.headers['x-claude-code-session-id']).not.toBe(rec.trunkSessionId);
    expect(verifyReq!.text).not.toContain('Review merge request !'); // nothing of the reviewing session's conversation
    expect(verifyReq!.messages.filter((m: { role: string }) => m.role === 'assistant')).toHaveLength(0);
    expect(verifyReq!.lastUserText).toContain('CANDIDATE-REAL');
    expect(verifyReq!.lastUserText).toContain('CANDIDATE-WRONG');
    expect(h.logs.some((l) => l.includes('finding not confirmed') && l.includes('CANDIDATE-WRONG'))).toBe(true);
  });

  it('a verifier that fails does not block the review: by default its findings are posted labelled unverified', async () => {
    const { project, mr } = await sampleMr(h, { path: 'acme/failopen' });
    h.model.script(
      { structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'KEPT' })]) },
      { error: { status: 400, message: 'bad request' } },
    );
    await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
    await waitFor(() => h.gitlab.notes(project, mr.iid).some((n) => readMarker(n.body)?.kind === 'summary'), 60_000, 'summary');
    const kept = h.gitlab.notes(project, mr.iid).filter((n) => n.body.includes('KEPT') && readMarker(n.body)?.kind === 'finding');
    expect(kept).toHaveLength(1);
    expect(kept[0]!.body).toContain('**Unverified:**');
    expect(h.gitlab.notes(project, mr.iid).find((n) => readMarker(n.body)?.kind === 'summary')!.body).toContain('1 new finding posted labelled unverified');
    expect(h.logs.some((l) => l.includes('verification failed'))).toBe(true);
  });
});
