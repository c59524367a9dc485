// Before posting: a second, independent session checks each finding the review would post (review-guide §6.1).
import { ClaudeError } from '../claude/result.js';
import { findingFingerprint } from '../gitlab/markers.js';
import { filterFindings } from '../review/format.js';
import { parseTurn, verifyOutputSchema, VERIFY_SCHEMA, type Finding, type ReviewOutput } from '../review/outputs.js';
import { systemPrompt } from '../review/prompts.js';
import type { RenderedDiff } from '../review/render-diff.js';
import { verifierLearningsSection } from '../review/learnings.js';
import { applyVerdicts, verifyPrompt } from '../review/verifier.js';
import type { Verification } from '../store/records.js';
import { mrCheckout, type MrContext } from './context.js';
import type { Deps } from './deps.js';

export interface Verified {
  output: ReviewOutput;
  /** undefined when nothing was checked (the pass is off, or there was nothing new to check) */
  verification?: Verification;
  /** findings held back because the pass failed (`hold`): the next review verifies them again */
  held?: Finding[];
  costUsd: number;
}

/**
 * Drops candidates the verifier does not confirm, and suggestions it rejects. If the verifier itself fails, the new
 * findings are never posted as if verified: the repo config holds them back or has them labelled unverified.
 */
export async function verifyFindings(d: Deps, ctx: MrContext, rendered: RenderedDiff, output: ReviewOutput, signal?: AbortSignal): Promise<Verified> {
  // Only what would be posted now: above the threshold, and not already posted or withdrawn (a push's repeats).
  const rec = await d.store.getMr(ctx.project.id, ctx.mr.iid);
  const known = new Set([...Object.keys(rec?.findings ?? {}), ...(rec?.withdrawn ?? [])]);
  const kept = filterFindings(output.findings, { minSeverity: ctx.repoConfig.minSeverity, minConfidence: 80 }).kept.filter((f) => !known.has(findingFingerprint(f)));
  if (!d.config.VERIFY_FINDINGS || kept.length === 0) return { output, costUsd: 0 };
  try {
    const prompt = [
      verifyPrompt({ iid: ctx.mr.iid, title: ctx.mr.title, description: ctx.mr.description, candidates: kept, diff: rendered.text, intent: ctx.intent }),
      verifierLearningsSection(ctx.learnings ?? []),
    ].filter(Boolean).join('\n\n');
    const result = await d.sessions.verify(mrCheckout(ctx), prompt, {
      systemPrompt: systemPrompt(ctx.guidance),
      jsonSchema: VERIFY_SCHEMA,
      maxBudgetUsd: ctx.repoConfig.reviewBudgetUsd,
      signal,
    });
    const { verdicts } = parseTurn(verifyOutputSchema, result.structured, 'verification');
    const { dropped, badSuggestions } = applyVerdicts(kept, verdicts);
    const gone = new Set(dropped.map((x) => x.finding));
    const strip = new Set(badSuggestions);
    for (const x of dropped) d.log.info({ file: x.finding.file, line: x.finding.start_line, title: x.finding.title, verdict: x.verdict, evidence: x.evidence }, 'finding not confirmed; not posted');
    for (const f of badSuggestions) d.log.info({ file: f.file, line: f.start_line, title: f.title }, 'verifier rejected the suggestion; finding kept without it');
    const findings = output.findings.filter((f) => !gone.has(f)).map((f) => (strip.has(f) ? { ...f, suggestion: null } : f));
    return {
      output: { ...output, findings },
      verification: { checked: kept.length, dropped: dropped.length, ...(badSuggestions.length ? { suggestionsDropped: badSuggestions.length } : {}) },
      costUsd: result.costUsd,
    };
  } catch (e) {
    if (signal?.aborted) throw e;
    const mode = ctx.repoConfig.onVerificationFailure;
    const costUsd = e instanceof ClaudeError ? (e.details.costUsd ?? 0) : 0;
    d.log.warn({ err: e instanceof Error ? e.message : String(e), mode, findings: kept.length }, mode === 'hold' ? 'verification failed; holding the new findings back' : 'verification failed; posting the new findings labelled unverified');
    if (mode === 'hold') {
      const held = new Set(kept);
      return { output: { ...output, findings: output.findings.filter((f) => !held.has(f)) }, verification: { checked: 0, dropped: 0, failed: 'hold', held: kept.length }, held: kept, costUsd };
    }
    return { output, verification: { checked: 0, dropped: 0, failed: 'label', unverified: kept.map(findingFingerprint) }, costUsd };
  }
}
