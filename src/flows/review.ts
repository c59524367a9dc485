// The trunk review: check the MR out, run one new Claude session over it, post the findings and the summary.
import type { TrunkTurn } from '../claude/session-service.js';
import type { ProjectRef } from '../events/types.js';
import { findingFingerprint } from '../gitlab/markers.js';
import { parseTurn, reviewOutputSchema, TURN_SCHEMA, type Finding, type ReviewOutput } from '../review/outputs.js';
import { learningsSection } from '../review/learnings.js';
import { reviewPrompt, systemPrompt } from '../review/prompts.js';
import { pathFilter } from '../review/repo-config.js';
import { renderDiff, type RenderedDiff } from '../review/render-diff.js';
import type { PendingPost } from '../store/records.js';
import { loadMrContext, mrCheckout, type MrContext, type PostedIndex } from './context.js';
import type { Deps } from './deps.js';
import { publishReview } from './publish.js';
import { addDrops, checkFindings } from './check-findings.js';
import { verifyFindings } from './verify-findings.js';

export interface ReviewJob {
  project: ProjectRef;
  iid: number;
  /** why: an automatic review skips drafts, paused MRs and heads already reviewed; a command does not */
  reason: 'open' | 'reopen' | 'ready' | 'command' | 'missing_trunk';
  /** queued for a thread (ReviewRequested.forThread): skipped when a trunk was made meanwhile */
  forThread?: { staleTrunk?: string };
}

export type ReviewOutcome = { skipped: string } | { trunkSessionId: string; posted: number };

export async function reviewMr(d: Deps, job: ReviewJob, signal?: AbortSignal): Promise<ReviewOutcome> {
  const { project, iid } = job;
  const log = d.log.child({ project: project.path, iid });
  const auto = job.reason !== 'command' && job.reason !== 'missing_trunk';
  const mr = await d.gitlab.mergeRequest(project.id, iid);
  if (mr.state !== 'opened' && auto) return skipped(log, `mr is ${mr.state}`);
  const rec = await d.store.getMr(project.id, iid);
  if (auto && rec?.paused) return skipped(log, 'reviews paused on this MR');
  if (auto && rec?.reviewedSha === mr.sha && rec.trunkStatus === 'done') return skipped(log, 'head already reviewed');
  // A thread asked for a trunk while the MR's review ran (or was queued): that review made one.
  if (job.forThread && rec?.trunkStatus === 'done' && rec.trunkSessionId !== job.forThread.staleTrunk) return skipped(log, 'the MR has a trunk now');

  const ctx = await loadMrContext(d, project, iid, mr);
  if (auto && ctx.mr.draft && !ctx.repoConfig.reviewDrafts) return skipped(log, 'draft (review_drafts is off)');
  if (auto && !ctx.repoConfig.autoReview) return skipped(log, 'auto_review is off in repo config');

  const rendered = renderDiff(ctx.diffs, { maxChars: d.config.MAX_DIFF_CHARS, skip: pathFilter(ctx.repoConfig) });

  // A retried job whose CLI run already finished goes straight to posting: never pay for a review twice.
  let pending = rec?.pendingPost?.sha === ctx.mr.sha ? rec.pendingPost : undefined;
  if (!pending) {
    log.info({ files: rendered.included.length, omitted: rendered.omitted.length }, 'trunk review starting');
    pending = await runReviewTurn(d, ctx, rendered, () => d.sessions.review(mrCheckout(ctx), trunkPrompt(ctx, rendered), {
      systemPrompt: systemPrompt(ctx.guidance),
      jsonSchema: TURN_SCHEMA,
      maxBudgetUsd: ctx.repoConfig.reviewBudgetUsd,
      signal,
    }), signal);
  }
  const posted = await publishAndMark(d, ctx, pending);
  return { trunkSessionId: pending.sessionId, posted };
}

/**
 * One trunk turn (a new review or a push's update), then its verification. The finished output is stored before
 * anything is posted, so a retry after a GitLab outage only posts.
 */
export async function runReviewTurn(d: Deps, ctx: MrContext, rendered: RenderedDiff, run: () => Promise<TrunkTurn>, signal?: AbortSignal): Promise<PendingPost> {
  const { project, mr } = ctx;
  await d.store.updateMr(project.id, mr.iid, project.path, (r) => {
    r.title = mr.title;
    r.webUrl = mr.webUrl;
    r.guidanceDirs = { base: mr.diffRefs.base_sha, head: mr.diffRefs.head_sha, dirs: ctx.guidanceDirs };
  });
  const result = await run();
  // Findings an earlier failed verification held back are candidates again; checks in code first (free), then the
  // verifier's second look (paid) on what is left.
  const proposed = parseTurn(reviewOutputSchema, result.structured, 'review');
  const checked = await checkFindings(d, ctx, withHeld(proposed, (await d.store.getMr(project.id, mr.iid))?.held));
  const verified = await verifyFindings(d, ctx, rendered, checked.output, signal);
  const pending: PendingPost = {
    sha: mr.sha,
    sessionId: result.sessionId,
    output: verified.output,
    costUsd: result.costUsd + verified.costUsd,
    omitted: rendered.omitted,
    reviewedFiles: rendered.included.length,
    verification: verified.verification,
    checks: addDrops(checked.checks, 'verifier', verified.verification?.dropped ?? 0),
    learnings: ctx.learnings?.length || undefined,
  };
  await d.store.updateMr(project.id, mr.iid, project.path, (r) => {
    r.pendingPost = pending;
    r.held = verified.held?.length ? verified.held : undefined;
    r.costUsd += pending.costUsd;
    r.turns += result.numTurns;
    r.reviews += 1;
  });
  d.log.info({ sessionId: result.sessionId, costUsd: result.costUsd, findings: pending.output.findings.length }, 'trunk turn finished');
  // An audit trail: a model reaching outside the checkout usually means the MR is trying to steer it.
  if (result.permissionDenials.length) d.log.warn({ sessionId: result.sessionId, denied: result.permissionDenials }, 'tool calls denied');
  return pending;
}

export async function publishAndMark(d: Deps, ctx: MrContext, pending: PendingPost, known?: PostedIndex): Promise<number> {
  const posted = await publishReview(d, ctx, pending, known);
  await d.store.updateMr(ctx.project.id, ctx.mr.iid, ctx.project.path, (r) => {
    r.reviewedSha = pending.sha;
    r.pendingPost = undefined;
  });
  return posted;
}

function trunkPrompt(ctx: MrContext, rendered: RenderedDiff): string {
  return withLearnings(reviewPrompt({
    projectPath: ctx.project.path,
    iid: ctx.mr.iid,
    title: ctx.mr.title,
    description: ctx.mr.description,
    sourceBranch: ctx.mr.sourceBranch,
    targetBranch: ctx.mr.targetBranch,
    headSha: ctx.mr.sha,
    files: ctx.diffs.map((f) => f.new_path),
    omitted: rendered.omitted,
    diff: rendered.text,
    intent: ctx.intent,
  }), ctx);
}

/** A review turn's prompt with the team learnings that apply (fenced data; see review/learnings.ts). */
export function withLearnings(prompt: string, ctx: MrContext): string {
  const section = learningsSection(ctx.learnings ?? []);
  return section ? `${prompt}\n\n${section}` : prompt;
}

/** The model's findings plus the held ones it did not repeat. */
function withHeld(output: ReviewOutput, held: Finding[] | undefined): ReviewOutput {
  if (!held?.length) return output;
  const fps = new Set(output.findings.map(findingFingerprint));
  return { ...output, findings: [...output.findings, ...held.filter((f) => !fps.has(findingFingerprint(f)))] };
}

function skipped(log: Deps['log'], why: string): ReviewOutcome {
  log.info({ why }, 'review skipped');
  return { skipped: why };
}
