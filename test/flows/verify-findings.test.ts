// The verification pass (src/flows/verify-findings.ts) with a fake session service: a second session checks what
// the review would post; what it does not confirm is dropped; if it fails, the review is posted as it is.
import { describe, expect, it } from 'vitest';
import { ClaudeError } from '../../src/claude/result.js';
import { loadMrContext } from '../../src/flows/context.js';
import { verifyFindings } from '../../src/flows/verify-findings.js';
import { findingFingerprint } from '../../src/gitlab/markers.js';
import { renderDiff } from '../../src/review/render-diff.js';
import { finding, reviewOutput } from '../../standins/harness.js';
import { flowWorlds, type FlowWorld } from '../support/flow-world.js';

const world = flowWorlds({ VERIFY_FINDINGS: 'true' });
const DIV = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' });
const FIRST = finding({ file: 'src/list.js', start_line: 2, anchor_text: '  return xs[0].value;', title: 'Empty list' });
const UNSURE = finding({ file: 'src/list.js', start_line: 1, anchor_text: 'export function first(xs) {', title: 'Unsure', confidence: 30 });

async function candidates(w: FlowWorld) {
  const { ref, mr } = await w.newMr();
  const ctx = await loadMrContext(w.deps, ref, mr.iid);
  const rendered = renderDiff(ctx.diffs, { maxChars: 100_000 });
  return { ctx, rendered, verify: (d = w.deps) => verifyFindings(d, ctx, rendered, reviewOutput([DIV, FIRST, UNSURE])) };
}

describe('verifyFindings', () => {
  it('asks a verifier session about each finding that would be posted and drops the ones it does not confirm', async () => {
    const w = await world();
    const { verify } = await candidates(w);
    w.sessions.script({ verdicts: [{ id: 1, verdict: 'confirmed', evidence: 'b comes from input' }, { id: 2, verdict: 'refuted', evidence: 'xs is never empty' }] });
    const v = await verify();
    expect(v.output.findings.map((f) => f.title)).toEqual(['Division by zero', 'Unsure']); // below the bar: not a candidate, left for publish to filter
    expect(v).toMatchObject({ verification: { checked: 2, dropped: 1 }, costUsd: 0.01 });
    const call = w.sessions.of('verify')[0]!;
    expect(call.prompt).toContain('Division by zero');
    expect(call.prompt).toContain('Empty list');
    expect(call.prompt).not.toContain('Unsure');
    expect(w.logs.some((l) => l.includes('finding not confirmed') && l.includes('xs is never empty'))).toBe(true);
  });

  it('fails open by default: when the verifier fails, the findings go out labelled unverified and what it cost is counted', async () => {
    const w = await world();
    const { verify } = await candidates(w);
    w.sessions.script(new ClaudeError('budget', 'budget exceeded', { costUsd: 0.2 }));
    const v = await verify();
    expect(v).toMatchObject({ verification: { checked: 0, dropped: 0, failed: 'label' }, costUsd: 0.2 });
    expect(v.output.findings).toHaveLength(3);
    // the candidates it was to check are the ones labelled; the one below the bar was never a candidate
    expect(v.verification?.unverified).toEqual([findingFingerprint(DIV), findingFingerprint(FIRST)]);
    expect(w.logs.some((l) => l.includes('verification failed'))).toBe(true);
  });

  it('asks nothing when verification is off, or when every candidate was posted before', async () => {
    const w = await world();
    const { ctx, verify } = await candidates(w);
    expect((await verify({ ...w.deps, config: { ...w.deps.config, VERIFY_FINDINGS: false } })).verification).toBeUndefined();
    await w.store.updateMr(ctx.project.id, ctx.mr.iid, ctx.project.path, (r) => {
      r.withdrawn.push(findingFingerprint(DIV), findingFingerprint(FIRST));
    });
    const none = await verify();
    expect(none.verification).toBeUndefined();
    expect(none.output.findings).toHaveLength(3); // nothing dropped: publish knows what was posted
    expect(w.sessions.calls).toHaveLength(0);
  });
});
