// Before posting: a second, independent session checks each finding the review would post (review/verifier.ts).
import { ClaudeError } from '../claude/result.js';
import { findingFingerprint } from '../gitlab/markers.js';
import { filterFindings } from '../review/format.js';
import { parseTurn, verifyOutputSchema, VERIFY_SCHEMA, type ReviewOutput } from '../review/outputs.js';
import { systemPrompt } from '../review/prompts.js';
import type { RenderedDiff } from '../review/render-diff.js';
import { verifierLearningsSection } from '../review/learnings.js';
import { applyVerdicts, verifyPrompt } from '../review/verifier.js';
import { mrCheckout, type MrContext } from './context.js';
import type { Deps } from './deps.js';

export interface Verified {
  output: ReviewOutput;
  checked: number;
  dropped: number;
  costUsd: number;
}

/** Drops candidates the verifier does not confirm. Fails open: if the verifier itself fails, the review is posted as is. */
export async function verifyFindings(d: Deps, ctx: MrContext, rendered: RenderedDiff, output: ReviewOutput, signal?: AbortSignal): Promise<Verified> {
  // Only what would be posted now: above the threshold, and not already posted or withdrawn (a push's repeats).
  const rec = await d.store.getMr(ctx.project.id, ctx.mr.iid);
  const known = new Set([...Object.keys(rec?.findings ?? {}), ...(rec?.withdrawn ?? [])]);
  const kept = filterFindings(output.findings, { minSeverity: ctx.repoConfig.minSeverity, minConfidence: 80 }).kept.filter((f) => !known.has(findingFingerprint(f)));
  if (!d.config.VERIFY_FINDINGS || kept.length === 0) return { output, checked: 0, dropped: 0, costUsd: 0 };
  try {
    const result = await d.sessions.verify(mrCheckout(ctx), [verifyPrompt({ iid: ctx.mr.iid, candidates: kept, diff: rendered.text }), verifierLearningsSection(ctx.learnings ?? [])].filter(Boolean).join('\n\n'), {
      systemPrompt: systemPrompt(ctx.guidance),
      jsonSchema: VERIFY_SCHEMA,
      maxBudgetUsd: ctx.repoConfig.reviewBudgetUsd,
      signal,
    });
    const { verdicts } = parseTurn(verifyOutputSchema, result.structured, 'verification');
    const { dropped } = applyVerdicts(kept, verdicts);
    const gone = new Set(dropped.map((x) => x.finding));
    for (const x of dropped) d.log.info({ file: x.finding.file, line: x.finding.start_line, title: x.finding.title, verdict: x.verdict, evidence: x.evidence }, 'finding not confirmed; not posted');
    return { output: { ...output, findings: output.findings.filter((f) => !gone.has(f)) }, checked: kept.length, dropped: dropped.length, costUsd: result.costUsd };
  } catch (e) {
    if (signal?.aborted) throw e;
    d.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'verification failed; posting the findings unverified');
    return { output, checked: 0, dropped: 0, costUsd: e instanceof ClaudeError ? (e.details.costUsd ?? 0) : 0 };
  }
}
