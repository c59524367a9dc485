// A push: check the bot's open findings the push touched (in their threads' forks), then resume the trunk with
// what changed; the publish posts the new findings and the fixes as one review and edits the summary in place.
import { ClaudeError } from '../claude/result.js';
import type { CodePushed } from '../events/types.js';
import { fixCheckPrompt, systemPrompt, updatePrompt } from '../review/prompts.js';
import { fixCheckOutputSchema, TURN_SCHEMA } from '../review/outputs.js';
import { parseEvidence, quoteMatches, type EvidenceRef } from '../review/evidence.js';
import { splitGitDiff, touches, type FilePatch } from '../review/interdiff.js';
import { pathFilter } from '../review/repo-config.js';
import { renderDiff } from '../review/render-diff.js';
import type { MrRecord, PostedFinding } from '../store/records.js';
import { loadMrContext, mrCheckout, postedIndex, type MrContext, type PostedIndex } from './context.js';
import type { Deps } from './deps.js';
import { publishAndMark, reviewMr, runReviewTurn, withLearnings, type ReviewOutcome } from './review.js';

export async function updateMr(d: Deps, ev: CodePushed, signal?: AbortSignal): Promise<ReviewOutcome> {
  const { project, iid } = ev;
  const log = d.log.child({ project: project.path, iid });
  const rec = await d.store.getMr(project.id, iid);
  if (rec?.paused) return skipped(log, 'reviews paused on this MR');
  // Never reviewed: this push gets a full review.
  if (!rec?.reviewedSha) return reviewMr(d, { project, iid, reason: 'open' }, signal);

  // The cheap checks first: no checkout for a closed MR or a head already reviewed.
  const mr = await d.gitlab.mergeRequest(project.id, iid);
  if (mr.state !== 'opened') return skipped(log, `mr is ${mr.state}`);
  if (mr.sha === rec.reviewedSha) return skipped(log, 'head already reviewed');

  const ctx = await loadMrContext(d, project, iid, mr);
  if (ctx.mr.draft && !ctx.repoConfig.reviewDrafts) return skipped(log, 'draft (review_drafts is off)');
  if (!ctx.repoConfig.autoReview) return skipped(log, 'auto_review is off in repo config');
  if (!(await d.sessions.hasTrunk(mrCheckout(ctx)))) {
    log.warn('no trunk session to continue (its last turn failed, or its transcript is gone); reviewing the MR afresh');
    return reviewMr(d, { project, iid, reason: 'missing_trunk' }, signal);
  }

  let pending = rec.pendingPost?.sha === ctx.mr.sha ? rec.pendingPost : undefined;
  let idx: PostedIndex | undefined;
  if (!pending) {
    const known = (await d.workspaces.has(project.id, rec.reviewedSha!)) ? rec.reviewedSha! : undefined;
    const interdiff = known ? await d.workspaces.diff(project.id, known, ctx.mr.sha) : '';
    const patches = splitGitDiff(interdiff);
    idx = await postedIndex(d, project.id, iid);
    const fixed = await fixChecks(d, ctx, rec, idx, patches, signal);

    const fresh = (await d.store.getMr(project.id, iid))!;
    const rendered = renderDiff(ctx.diffs, { maxChars: d.config.MAX_DIFF_CHARS, skip: pathFilter(ctx.repoConfig) });
    const prompt = updatePrompt({
      iid,
      fromSha: rec.reviewedSha!,
      toSha: ctx.mr.sha,
      interdiff: known ? truncate(interdiff, Math.floor(d.config.MAX_DIFF_CHARS / 2)) : '(the previous head is gone, e.g. after a force-push: review the whole diff below)',
      diff: rendered.text,
      omitted: rendered.omitted,
      threads: threadOutcomes(fresh, idx, d.bot.id, fixed),
    });
    log.info({ from: rec.reviewedSha, to: ctx.mr.sha }, 'resuming the trunk for new commits');
    pending = await runReviewTurn(d, ctx, rendered, () =>
      d.sessions.reviewPush(mrCheckout(ctx), withLearnings(prompt, ctx), {
        systemPrompt: systemPrompt(ctx.guidance),
        jsonSchema: TURN_SCHEMA,
        maxBudgetUsd: ctx.repoConfig.reviewBudgetUsd,
        signal,
      }),
      signal,
    );
  }
  const posted = await publishAndMark(d, ctx, pending, idx);
  return { trunkSessionId: pending.sessionId, posted };
}

/**
 * For each open finding whose lines the push touched: ask its thread's session whether it is fixed. The verdicts
 * are posted with the review of this push (flows/publish.ts), batched into its one published review.
 */
async function fixChecks(d: Deps, ctx: MrContext, rec: MrRecord, idx: PostedIndex, patches: FilePatch[], signal?: AbortSignal): Promise<Set<string>> {
  const { project, mr } = ctx;
  const fixed = new Set<string>();
  const open = Object.values(rec.findings).filter((f) => f.status === 'open' && !idx.findings.get(f.fp)?.resolved);
  for (const f of open) {
    if (!touches(patches, f.file, f.line)) continue;
    const patch = patches.find((p) => p.oldPath === f.file || p.newPath === f.file)!;
    try {
      // A retry after a failed post reuses the verdict it paid for at this head.
      const kept = (await d.store.getThread(project.id, mr.iid, f.discussionId))?.pendingFix;
      // The verdict stays with the thread (pendingFix); the review's publish posts the reply and resolves the thread.
      const verdict = kept?.sha === mr.sha ? kept : await checkOne(d, ctx, f, patch.diff, signal);
      if (!verdict.addressed) continue;
      // "Fixed" must point at the line that fixes it, and that line must be in the code: no quote, no resolve.
      const fixedBy = await fixingLine(d, ctx, verdict.fixed_by);
      if (!fixedBy) {
        d.log.info({ fp: f.fp, fixedBy: verdict.fixed_by }, 'fix check quoted no fixing line found in the code; thread left open');
        continue;
      }
      await d.store.updateThread(project.id, mr.iid, f.discussionId, (t) => {
        if (t.pendingFix?.sha === mr.sha) t.pendingFix.fixedBy = `\`${fixedBy.path}:${fixedBy.line}\`: \`${fixedBy.quote.replace(/`/g, "'")}\``;
      });
      fixed.add(f.fp);
    } catch (e) {
      // One thread's trouble must not block the review of the push.
      if (e instanceof ClaudeError && !e.transient) d.log.warn({ fp: f.fp, err: e.message }, 'fix check failed');
      else throw e;
    }
  }
  return fixed;
}

async function checkOne(d: Deps, ctx: MrContext, f: PostedFinding, interdiff: string, signal?: AbortSignal) {
  const { project, mr } = ctx;
  const prompt = fixCheckPrompt({ file: f.file, line: f.line, title: f.title, interdiff: truncate(interdiff, 40_000) });
  const thread = { ...mrCheckout(ctx), discussionId: f.discussionId, seed: { findingFp: f.fp, lastSeenNoteId: f.noteId } };
  // Parsed before anything is written: the verdict is paid for and kept with the thread (pendingFix).
  let v: ReturnType<typeof fixCheckOutputSchema.safeParse> | undefined;
  const result = await d.sessions.checkFix(thread, prompt, { systemPrompt: systemPrompt(ctx.guidance), jsonSchema: TURN_SCHEMA, maxBudgetUsd: ctx.repoConfig.threadBudgetUsd, signal }, (t, turn) => {
    v = fixCheckOutputSchema.safeParse(turn.structured);
    t.pendingFix = v.success ? { sha: mr.sha, ...v.data } : undefined;
  });
  v ??= fixCheckOutputSchema.safeParse(result.structured); // the thread record was deleted during the turn
  await d.store.updateMr(project.id, mr.iid, project.path, (r) => {
    r.costUsd += result.costUsd;
  });
  if (!v.success) {
    const issue = v.error.issues[0];
    throw new ClaudeError('schema', `fix check output invalid: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  d.log.info({ fp: f.fp, sessionId: result.sessionId, addressed: v.data.addressed }, 'fix check');
  return v.data;
}

/** The fix check's quoted fixing line, if it is what the file says at the new head. */
async function fixingLine(d: Deps, ctx: MrContext, fixedBy: string | undefined): Promise<EvidenceRef | undefined> {
  const ref = fixedBy ? parseEvidence(fixedBy) : undefined;
  if (!ref) return undefined;
  const files = await d.workspaces.readManyAt(ctx.project.id, ctx.mr.sha, [ref.path]);
  return quoteMatches(ref, files.get(ref.path)) ? ref : undefined;
}

/** Each finding, its state, and the author's words in its thread since. */
function threadOutcomes(rec: MrRecord, idx: PostedIndex, botId: number, fixedNow: Set<string>): string[] {
  return Object.values(rec.findings).map((f) => {
    const disc = idx.discussions.find((x) => x.id === f.discussionId);
    const resolved = idx.findings.get(f.fp)?.resolved;
    const state = rec.withdrawn.includes(f.fp) ? 'withdrawn' : f.status === 'fixed' || fixedNow.has(f.fp) ? 'fixed' : f.blocking === false ? 'non-blocking (its thread was resolved when posted)' : resolved ? 'resolved by the author' : 'open';
    const words = (disc?.notes ?? [])
      .filter((n) => n.author.id !== botId && !n.system)
      .map((n) => `@${n.author.username}: ${n.body.replace(/\s+/g, ' ').slice(0, 400)}`);
    return `- "${f.title}" at ${f.file}:${f.line} — ${state}${words.length ? `; in the thread: ${words.join(' | ')}` : ''}`;
  });
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}\n[... cut at ${max} characters ...]`;
}

function skipped(log: Deps['log'], why: string): ReviewOutcome {
  log.info({ why }, 'update skipped');
  return { skipped: why };
}
