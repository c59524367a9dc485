// A push: check the bot's open findings the push touched (in their threads' forks), then resume the trunk with
// what changed, post only new findings and edit the summary in place.
import { ClaudeError } from '../claude/result.js';
import type { CodePushed } from '../events/types.js';
import { readMarker, withMarker } from '../gitlab/markers.js';
import { fixCheckPrompt, systemPrompt, updatePrompt } from '../review/prompts.js';
import { fixCheckOutputSchema, TURN_SCHEMA } from '../review/outputs.js';
import { parseEvidence, quoteMatches, type EvidenceRef } from '../review/evidence.js';
import { splitGitDiff, touches, type FilePatch } from '../review/interdiff.js';
import { pathFilter } from '../review/repo-config.js';
import { renderDiff } from '../review/render-diff.js';
import { newThreadRecord, type MrRecord, type PostedFinding } from '../store/records.js';
import { loadMrContext, postedIndex, type MrContext, type PostedIndex } from './context.js';
import type { Deps } from './deps.js';
import { publishAndMark, reviewMr, runReviewTurn, type ReviewOutcome } from './review.js';

export async function updateMr(d: Deps, ev: CodePushed, signal?: AbortSignal): Promise<ReviewOutcome> {
  const { project, iid } = ev;
  const log = d.log.child({ project: project.path, iid });
  const rec = await d.store.getMr(project.id, iid);
  if (rec?.paused) return skipped(log, 'reviews paused on this MR');
  // Never reviewed: this push gets a full review.
  if (!rec?.trunkSessionId || rec.trunkStatus !== 'done' || !rec.reviewedSha) return reviewMr(d, { project, iid, reason: 'open' }, signal);

  // The cheap checks first: no checkout for a closed MR or a head already reviewed.
  const mr = await d.gitlab.mergeRequest(project.id, iid);
  if (mr.state !== 'opened') return skipped(log, `mr is ${mr.state}`);
  if (mr.sha === rec.reviewedSha) return skipped(log, 'head already reviewed');

  const ctx = await loadMrContext(d, project, iid, mr);
  if (ctx.mr.draft && !ctx.repoConfig.reviewDrafts) return skipped(log, 'draft (review_drafts is off)');
  if (!ctx.repoConfig.autoReview) return skipped(log, 'auto_review is off in repo config');
  // Scale-out: this replica may never have run this MR; fetch the trunk's transcript (a no-op when embedded).
  await d.sessions.restore(ctx.cwd, [rec.trunkSessionId]);
  if (!d.sessions.exists(ctx.cwd, rec.trunkSessionId)) {
    log.warn({ sessionId: rec.trunkSessionId }, 'the trunk transcript is gone; reviewing the MR afresh');
    return reviewMr(d, { project, iid, reason: 'missing_trunk' }, signal);
  }

  let pending = rec.pendingPost?.sha === ctx.mr.sha ? rec.pendingPost : undefined;
  let idx: PostedIndex | undefined;
  if (!pending) {
    const known = (await d.workspaces.has(project.id, rec.reviewedSha!)) ? rec.reviewedSha! : undefined;
    const interdiff = known ? await d.workspaces.diff(project.id, known, ctx.mr.sha) : '';
    const patches = splitGitDiff(interdiff);
    idx = await postedIndex(d, project.id, iid);
    await fixChecks(d, ctx, rec, idx, patches, signal);

    const fresh = (await d.store.getMr(project.id, iid))!;
    const rendered = renderDiff(ctx.diffs, { maxChars: d.config.MAX_DIFF_CHARS, skip: pathFilter(ctx.repoConfig) });
    const prompt = updatePrompt({
      iid,
      fromSha: rec.reviewedSha!,
      toSha: ctx.mr.sha,
      interdiff: known ? truncate(interdiff, Math.floor(d.config.MAX_DIFF_CHARS / 2)) : '(the previous head is gone, e.g. after a force-push: review the whole diff below)',
      diff: rendered.text,
      omitted: rendered.omitted,
      threads: threadOutcomes(fresh, idx, d.bot.id),
    });
    const trunkId = rec.trunkSessionId!;
    log.info({ sessionId: trunkId, from: rec.reviewedSha, to: ctx.mr.sha }, 'resuming the trunk for new commits');
    pending = await runReviewTurn(d, ctx, rendered, trunkId, () =>
      d.sessions.resume(ctx.cwd, trunkId, prompt, {
        systemPrompt: systemPrompt(ctx.guidance),
        jsonSchema: TURN_SCHEMA,
        model: rec.trunkModel,
        maxBudgetUsd: ctx.repoConfig.reviewBudgetUsd,
        signal,
      }),
      signal,
    );
  }
  const posted = await publishAndMark(d, ctx, pending, idx);
  return { trunkSessionId: pending.sessionId, posted };
}

/** For each open finding whose lines the push touched: ask its thread's session whether it is fixed. */
async function fixChecks(d: Deps, ctx: MrContext, rec: MrRecord, idx: PostedIndex, patches: FilePatch[], signal?: AbortSignal): Promise<void> {
  const { project, mr } = ctx;
  const open = Object.values(rec.findings).filter((f) => f.status === 'open' && !idx.findings.get(f.fp)?.resolved);
  for (const f of open) {
    if (!touches(patches, f.file, f.line)) continue;
    const patch = patches.find((p) => p.oldPath === f.file || p.newPath === f.file)!;
    try {
      // A retry after a failed post reuses the verdict it paid for at this head.
      const kept = (await d.store.getThread(project.id, mr.iid, f.discussionId))?.pendingFix;
      const verdict = kept?.sha === mr.sha ? kept : await checkOne(d, ctx, rec, f, patch.diff, signal);
      if (!verdict.addressed) continue;
      // "Fixed" must point at the line that fixes it, and that line must be in the code: no quote, no resolve.
      const fixedBy = await fixingLine(d, ctx, verdict.fixed_by);
      if (!fixedBy) {
        d.log.info({ fp: f.fp, fixedBy: verdict.fixed_by }, 'fix check quoted no fixing line found in the code; thread left open');
        continue;
      }
      const disc = idx.discussions.find((x) => x.id === f.discussionId);
      const said = disc?.notes.some((n) => n.author.id === d.bot.id && readMarker(n.body)?.kind === 'fixed' && readMarker(n.body)?.fp === f.fp);
      if (!said) await d.gitlab.reply(project.id, mr.iid, f.discussionId, withMarker(`✅ ${verdict.reply}\n\nFixed by \`${fixedBy.path}:${fixedBy.line}\`: \`${fixedBy.quote.replace(/`/g, "'")}\``, { kind: 'fixed', fp: f.fp }));
      await d.gitlab.resolve(project.id, mr.iid, f.discussionId, true);
      await d.store.updateMr(project.id, mr.iid, project.path, (r) => {
        if (r.findings[f.fp]) r.findings[f.fp]!.status = 'fixed';
      });
    } catch (e) {
      // One thread's trouble must not block the review of the push.
      if (e instanceof ClaudeError && !e.transient) d.log.warn({ fp: f.fp, err: e.message }, 'fix check failed');
      else throw e;
    }
  }
}

async function checkOne(d: Deps, ctx: MrContext, rec: MrRecord, f: PostedFinding, interdiff: string, signal?: AbortSignal) {
  const { project, mr } = ctx;
  const turn = { systemPrompt: systemPrompt(ctx.guidance), jsonSchema: TURN_SCHEMA, maxBudgetUsd: ctx.repoConfig.threadBudgetUsd, signal, purpose: 'fix_check', model: rec.trunkModel };
  const prompt = fixCheckPrompt({ file: f.file, line: f.line, title: f.title, interdiff: truncate(interdiff, 40_000) });
  const t = await d.store.getThread(project.id, mr.iid, f.discussionId);
  if (t) await d.sessions.restore(ctx.cwd, [t.forkSessionId]);
  let result;
  let sessionId: string;
  if (t && t.status !== 'running' && d.sessions.exists(ctx.cwd, t.forkSessionId)) {
    sessionId = t.forkSessionId;
    result = await d.sessions.resume(ctx.cwd, sessionId, prompt, turn);
  } else {
    // The thread has no session yet: fork one from the trunk, and keep it as the thread's.
    sessionId = d.sessions.newId();
    await d.store.putThread(newThreadRecord({ projectId: project.id, iid: mr.iid, discussionId: f.discussionId, forkSessionId: sessionId, trunkSessionId: rec.trunkSessionId!, lastSeenNoteId: f.noteId, findingFp: f.fp }));
    result = await d.sessions.fork(ctx.cwd, rec.trunkSessionId!, sessionId, prompt, turn);
  }
  // Parsed before anything is written: the verdict is paid for and kept with the thread (pendingFix).
  const v = fixCheckOutputSchema.safeParse(result.structured);
  const pendingFix = v.success ? { sha: mr.sha, ...v.data } : undefined;
  await d.store.updateThread(project.id, mr.iid, f.discussionId, (t) => {
    Object.assign(t, { forkSessionId: sessionId, status: 'done', turns: t.turns + result.numTurns, costUsd: t.costUsd + result.costUsd, pendingFix });
  });
  await d.store.updateMr(project.id, mr.iid, project.path, (r) => {
    r.costUsd += result.costUsd;
  });
  if (!v.success) throw new ClaudeError('schema', `fix check output invalid: ${v.error.issues[0]?.path.join('.')}: ${v.error.issues[0]?.message}`);
  d.log.info({ fp: f.fp, sessionId, addressed: v.data.addressed }, 'fix check');
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
function threadOutcomes(rec: MrRecord, idx: PostedIndex, botId: number): string[] {
  return Object.values(rec.findings).map((f) => {
    const disc = idx.discussions.find((x) => x.id === f.discussionId);
    const resolved = idx.findings.get(f.fp)?.resolved;
    const state = rec.withdrawn.includes(f.fp) ? 'withdrawn' : f.status === 'fixed' ? 'fixed' : resolved ? 'resolved by the author' : 'open';
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
