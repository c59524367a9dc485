// Posting a review. What is new — finding threads, "fixed" replies, the first summary — goes to GitLab as
// draft notes published once, the summary last: one review, one notification. Without a draft notes API for the
// token (404/403) the same posts go out as direct notes. An edited finding is edited in place, a summary that exists
// is edited in place; edits notify no one. Findings below the repo's `blocking` level are threads the bot resolves at
// once, or summary lines (`minor: summary`).
//
// Idempotent and crash safe: every post carries a marker. A retry lists the bot's drafts, keeps those this review
// still wants (by marker), deletes the rest, and publishes once; what was already published is found by marker and
// not posted again. GitLab drops a draft whose position no longer validates at publish (and still answers 204), so
// every finding is checked by marker after publishing and a missing one is posted as a general thread.
import { GitLabError } from '../gitlab/requester.js';
import { findingFingerprint, readMarker, withMarker } from '../gitlab/markers.js';
import type { DraftInfo } from '../gitlab/types.js';
import { anchorFinding, type Anchored } from '../review/anchor.js';
import type { Finding } from '../review/findings.js';
import { filterFindings, formatFindingBody } from '../review/format.js';
import { placement } from '../review/repo-config.js';
import { formatSummary, mergePreExisting, type PreExisting } from '../review/summary.js';
import type { ListedFinding, MrRecord, PendingPost, PostedFinding } from '../store/records.js';
import { postedIndex, type MrContext, type PostedIndex } from './context.js';
import type { Deps } from './deps.js';

type NewFinding = { kind: 'finding'; f: Finding; fp: string; anchored: Anchored; blocking: boolean; unverified?: boolean };
/** a finding the push fixed: a reply in its thread that resolves it */
type Fix = { kind: 'fixed'; fp: string; discussionId: string; reply: string };
type Post = NewFinding | Fix;
/** what a review about to be published will add: the summary drafted with it counts it already */
interface Ahead { findings: PostedFinding[]; fixed: string[] }
type Summary = (ahead: Ahead) => Promise<string>;
const NOTHING_AHEAD: Ahead = { findings: [], fixed: [] };

interface Plan {
  posts: Post[];
  /** new findings for the summary only */
  listed: ListedFinding[];
  /** open findings the model now words differently: edited in place */
  edits: { fp: string; noteId: number; body: string }[];
  /** findings already on GitLab but not in the store (a run that stopped after posting) */
  adopt: { f: Finding; fp: string; discussionId: string; noteId: number; resolved: boolean }[];
  /** fixes whose reply is already posted: only resolve and record */
  settle: { fp: string; discussionId: string }[];
}

const key = (m: { kind: string; fp?: string } | undefined) => (m ? `${m.kind}:${m.fp ?? ''}` : undefined);
const postKey = (p: Post) => `${p.kind}:${p.fp}`;
/** GitLab refused this post as such (validation): try the next form, never retry it */
const refused = (e: unknown) => e instanceof GitLabError && (e.status === 400 || e.status === 422);

/** Posts what is new; returns how many finding threads were created. */
/** `known`: the bot's notes as the caller just listed them (a push's fix checks do), to spare a second listing. */
export async function publishReview(d: Deps, ctx: MrContext, p: PendingPost, known?: PostedIndex): Promise<number> {
  const { project, mr } = ctx;
  const rec = await d.store.getMr(project.id, mr.iid);
  const idx = known ?? (await postedIndex(d, project.id, mr.iid));
  const drafts = await d.gitlab.drafts(project.id, mr.iid);
  const mode = drafts ? 'review' : 'direct';
  const { kept, dropped } = filterFindings(p.output.findings, { minSeverity: ctx.repoConfig.minSeverity, minConfidence: 80 });
  // Pre-existing items stay listed across pushes: a push's review rarely repeats them.
  const preExisting = mergePreExisting(rec?.preExisting, dropped.filter((x) => x.reason === 'pre-existing').map((x) => x.finding));
  const plan = await planPosts(d, ctx, p, rec, idx, kept);

  for (const a of plan.adopt) {
    const blocking = placement(ctx.repoConfig, a.f.severity) === 'blocking';
    const inline = noteOf(idx, a.noteId)?.type === 'DiffNote';
    await remember(d, ctx, a.f, a.fp, { discussionId: a.discussionId, noteId: a.noteId, inline, blocking, sha: p.sha });
    if (!blocking && !a.resolved) await d.gitlab.resolve(project.id, mr.iid, a.discussionId, true);
  }
  for (const e of plan.edits) {
    await d.gitlab.editNote(project.id, mr.iid, e.noteId, e.body);
    await d.store.updateMr(project.id, mr.iid, project.path, (r) => {
      if (r.findings[e.fp]) r.findings[e.fp]!.editedSha = p.sha;
    });
  }
  for (const s of plan.settle) await markFixed(d, ctx, s, p.sha, idx);
  if (plan.listed.length) await list(d, ctx, plan.listed);

  const summaryId = idx.summary?.noteId ?? rec?.summaryNoteId;
  const summary: Summary = async (ahead) => formatSummary(summaryInput(d, ctx, p, (await d.store.getMr(project.id, mr.iid))!, preExisting, mode, ahead));
  const { created, after } =
    mode === 'review'
      ? await viaDrafts(d, ctx, p, plan.posts, drafts!, summaryId === undefined ? summary : undefined)
      : { created: await direct(d, ctx, p, plan.posts, idx), after: await postedIndex(d, project.id, mr.iid) };

  // The summary from the store as it is now. One drafted with the review was written before the publish gave the
  // findings their note ids: an edit fixes its links (an edit notifies no one); an unchanged one is left alone.
  const body = await summary(NOTHING_AHEAD);
  const own = after.summary && noteOf(after, after.summary.noteId);
  const noteId = own && visible(body) === visible(own.body) ? own.id : await editOrCreateSummary(d, ctx, own?.id ?? summaryId, body);
  // A summary published from a draft is a resolvable thread (DraftNote#type): resolved, it never blocks merging.
  if (own?.resolvable && !own.resolved && rec?.summaryNoteId !== own.id) await d.gitlab.resolve(project.id, mr.iid, after.summary!.discussionId, true);
  await d.store.updateMr(project.id, mr.iid, project.path, (r) => {
    r.summaryNoteId = noteId;
    r.preExisting = preExisting;
  });
  d.log.info({ project: project.path, iid: mr.iid, mode, created, kept: kept.length, dropped: dropped.length, edited: plan.edits.length }, 'review posted');
  return created;
}

/** What this review has to say that GitLab does not show yet. */
async function planPosts(d: Deps, ctx: MrContext, p: PendingPost, rec: MrRecord | undefined, idx: PostedIndex, kept: Finding[]): Promise<Plan> {
  const { mr } = ctx;
  const plan: Plan = { posts: [], listed: [], edits: [], adopt: [], settle: [] };
  const known = new Set([...Object.keys(rec?.findings ?? {}), ...(rec?.withdrawn ?? []), ...Object.keys(rec?.listed ?? {})]);
  // A push's fix checks leave their verdicts on the threads (pendingFix): each fixed finding gets its reply here.
  const fixes = new Set<string>();
  for (const pf of Object.values(rec?.findings ?? {})) {
    if (pf.status !== 'open' || !pf.discussionId) continue;
    const fix = (await d.store.getThread(ctx.project.id, mr.iid, pf.discussionId))?.pendingFix;
    // Only a fix whose fixing line was found in the code (flows/update.ts) resolves its thread.
    if (fix?.sha !== p.sha || !fix.addressed || !fix.fixedBy) continue;
    fixes.add(pf.fp);
    if (idx.kinds.has(`fixed:${pf.fp}`)) plan.settle.push({ fp: pf.fp, discussionId: pf.discussionId });
    else plan.posts.push({ kind: 'fixed', fp: pf.fp, discussionId: pf.discussionId, reply: `${fix.reply}\n\nFixed by ${fix.fixedBy}` });
  }
  for (const f of kept) {
    const fp = findingFingerprint(f);
    const already = idx.findings.get(fp);
    const stored = rec?.findings[fp];
    if (already && !stored) plan.adopt.push({ f, fp, ...already });
    if (already && stored?.status === 'open' && !already.resolved && !fixes.has(fp)) {
      // Said before and still open: never again, but a changed wording replaces the old one in place.
      const anchored = anchorFinding(f, ctx.diffs, mr.diffRefs);
      const body = formatFindingBody(f, anchored, { fingerprint: fp });
      const current = noteOf(idx, already.noteId)?.body;
      const sameKind = (anchored.kind === 'inline') === stored.inline; // a thread cannot move between diff and general
      if (current !== undefined && sameKind && visible(current) !== visible(body)) plan.edits.push({ fp, noteId: already.noteId, body });
    }
    if (already || known.has(fp)) continue;
    const where = placement(ctx.repoConfig, f.severity);
    if (where === 'summary') {
      plan.listed.push({ fp, file: f.file, line: f.start_line, severity: f.severity, title: f.title, reason: 'minor' });
      continue;
    }
    plan.posts.push({ kind: 'finding', f, fp, anchored: anchorFinding(f, ctx.diffs, mr.diffRefs), blocking: where === 'blocking', unverified: p.verification?.unverified?.includes(fp) });
  }
  return plan;
}

/**
 * The review as drafts, published once. Drafts of an earlier, unpublished attempt are kept when this review still
 * wants them (same marker, a position GitLab can place) and deleted otherwise; the summary draft is always made last.
 */
async function viaDrafts(d: Deps, ctx: MrContext, p: PendingPost, posts: Post[], existing: DraftInfo[], summary?: Summary): Promise<{ created: number; after: PostedIndex }> {
  const { project, mr } = ctx;
  const wanted = new Set(posts.map(postKey));
  const have = new Set<string>();
  for (const dr of existing) {
    const k = key(readMarker(dr.body));
    const keep = k !== undefined && wanted.has(k) && !have.has(k) && (!dr.hasPosition || dr.lineCode !== null);
    if (keep) have.add(k);
    else await d.gitlab.deleteDraft(project.id, mr.iid, dr.id);
  }
  const lateReplies: Fix[] = [];
  for (const post of posts) {
    if (have.has(postKey(post))) continue;
    if (post.kind === 'fixed') {
      try {
        await d.gitlab.createDraft(project.id, mr.iid, fixBody(post), { inReplyTo: post.discussionId, resolve: true });
      } catch (e) {
        if (!refused(e)) throw e;
        d.log.warn({ fp: post.fp, error: (e as Error).message }, 'GitLab refused the reply draft; replying directly after the review');
        lateReplies.push(post);
      }
    } else if (!(await draftFinding(d, ctx, post))) {
      await list(d, ctx, [listedOf(post, 'refused')]);
    }
  }
  if (summary) {
    const listed = (await d.store.getMr(project.id, mr.iid))?.listed ?? {};
    const ahead: Ahead = {
      findings: posts.flatMap((x) => (x.kind === 'finding' && !listed[x.fp] ? [{ ...listedOf(x, 'minor'), discussionId: '', noteId: 0, inline: x.anchored.kind === 'inline', status: 'open' as const, blocking: x.blocking, sha: p.sha }] : [])),
      fixed: posts.flatMap((x) => (x.kind === 'fixed' ? [x.fp] : [])),
    };
    await d.gitlab.createDraft(project.id, mr.iid, await summary(ahead));
  }
  if (have.size || posts.length || summary) await d.gitlab.publishDrafts(project.id, mr.iid);

  // What the publish made, found by marker; what GitLab dropped is posted now, directly.
  const after = await postedIndex(d, project.id, mr.iid);
  let created = 0;
  for (const post of posts) {
    if (post.kind === 'fixed') {
      const gone = (!after.kinds.has(`fixed:${post.fp}`) || lateReplies.includes(post)) && !(await replyFixed(d, ctx, post));
      await markFixed(d, ctx, post, p.sha, after, gone);
      continue;
    }
    const at = after.findings.get(post.fp);
    if (!at && (await d.store.getMr(project.id, mr.iid))?.listed?.[post.fp]) continue; // refused: in the summary
    if (!at) d.log.warn({ file: post.f.file, line: post.f.start_line }, 'GitLab dropped the draft at publish; posting it as a general thread');
    const r = at ? { ...at, inline: noteOf(after, at.noteId)?.type === 'DiffNote' } : await postFinding(d, ctx, post.f, post.fp, generalOf(post.anchored));
    if (!r) continue;
    await remember(d, ctx, post.f, post.fp, { ...r, blocking: post.blocking, sha: p.sha });
    if (!post.blocking && !('resolved' in r && r.resolved)) await d.gitlab.resolve(project.id, mr.iid, r.discussionId, true);
    created++;
  }
  return { created, after };
}

/** A finding's draft: on its diff line, or, where GitLab cannot place that line (line_code null), a general thread. */
async function draftFinding(d: Deps, ctx: MrContext, post: NewFinding): Promise<boolean> {
  const { project, mr } = ctx;
  if (post.anchored.kind === 'inline') {
    try {
      const dr = await d.gitlab.createDraft(project.id, mr.iid, formatFindingBody(post.f, post.anchored, { fingerprint: post.fp, unverified: post.unverified }), { position: post.anchored.position });
      if (dr.lineCode !== null) return true;
      await d.gitlab.deleteDraft(project.id, mr.iid, dr.id);
      d.log.warn({ file: post.f.file, line: post.f.start_line }, 'GitLab cannot place the draft on the diff; posting it as a general thread');
    } catch (e) {
      if (!refused(e)) throw e;
      d.log.warn({ file: post.f.file, line: post.f.start_line, error: (e as Error).message }, 'GitLab refused the diff draft; posting it as a general thread');
    }
  }
  try {
    await d.gitlab.createDraft(project.id, mr.iid, formatFindingBody(post.f, generalOf(post.anchored), { fingerprint: post.fp, unverified: post.unverified }));
    return true;
  } catch (e) {
    if (!refused(e)) throw e;
    d.log.warn({ file: post.f.file, line: post.f.start_line, error: (e as Error).message }, 'GitLab refused the finding; listing it in the summary');
    return false;
  }
}

/** Without a draft notes API: each post on its own, as GitLab without draft notes requires. */
async function direct(d: Deps, ctx: MrContext, p: PendingPost, posts: Post[], idx: PostedIndex): Promise<number> {
  const { project, mr } = ctx;
  let created = 0;
  for (const post of posts) {
    if (post.kind === 'fixed') {
      await markFixed(d, ctx, post, p.sha, idx, !(await replyFixed(d, ctx, post)));
      continue;
    }
    const r = await postFinding(d, ctx, post.f, post.fp, post.anchored, post.unverified);
    if (!r) {
      await list(d, ctx, [listedOf(post, 'refused')]);
      continue;
    }
    await remember(d, ctx, post.f, post.fp, { ...r, blocking: post.blocking, sha: p.sha });
    if (!post.blocking) await d.gitlab.resolve(project.id, mr.iid, r.discussionId, true);
    created++;
  }
  return created;
}

/** A thread on the diff line, else a general thread (line → file); undefined when GitLab takes neither (→ summary). */
async function postFinding(d: Deps, ctx: MrContext, f: Finding, fp: string, anchored: Anchored, unverified = false) {
  const { project, mr } = ctx;
  if (anchored.kind === 'inline') {
    try {
      const r = await d.gitlab.createDiffDiscussion(project.id, mr.iid, formatFindingBody(f, anchored, { fingerprint: fp, unverified }), anchored.position);
      return { ...r, inline: true };
    } catch (e) {
      // GitLab's "line_code can't be blank": the position is not in its diff. Never lose the finding.
      if (!(e instanceof GitLabError) || e.status !== 400) throw e;
      d.log.warn({ file: f.file, line: f.start_line, error: e.message }, 'GitLab refused the diff position; posting as a general thread');
    }
  }
  try {
    const r = await d.gitlab.createDiscussion(project.id, mr.iid, formatFindingBody(f, generalOf(anchored), { fingerprint: fp, unverified }));
    return { ...r, inline: false };
  } catch (e) {
    if (!refused(e)) throw e;
    d.log.warn({ file: f.file, line: f.start_line, error: (e as Error).message }, 'GitLab refused the finding; listing it in the summary');
    return undefined;
  }
}

function generalOf(anchored: Anchored): Anchored {
  return anchored.kind === 'general' ? anchored : { kind: 'general', file: anchored.file, line: anchored.line, reason: 'GitLab could not place it on the diff' };
}

const fixBody = (x: Fix) => withMarker(`✅ ${x.reply}`, { kind: 'fixed', fp: x.fp });

/** The "fixed" reply as a direct note; false when its thread is gone (someone deleted it): nothing to say it in. */
async function replyFixed(d: Deps, ctx: MrContext, x: Fix): Promise<boolean> {
  try {
    await d.gitlab.reply(ctx.project.id, ctx.mr.iid, x.discussionId, fixBody(x));
    return true;
  } catch (e) {
    if (!(e instanceof GitLabError) || e.status !== 404) throw e;
    d.log.warn({ fp: x.fp, discussionId: x.discussionId }, 'the fixed finding\'s thread is gone; recording the fix only');
    return false;
  }
}

async function editOrCreateSummary(d: Deps, ctx: MrContext, summaryId: number | undefined, body: string): Promise<number> {
  const { project, mr } = ctx;
  if (summaryId !== undefined) {
    try {
      await d.gitlab.editNote(project.id, mr.iid, summaryId, body);
      return summaryId;
    } catch (e) {
      if (!(e instanceof GitLabError) || e.status !== 404) throw e; // someone deleted it
    }
  }
  return (await d.gitlab.createNote(project.id, mr.iid, body)).noteId;
}

function summaryInput(d: Deps, ctx: MrContext, p: PendingPost, rec: MrRecord, preExisting: PreExisting[], mode: 'review' | 'direct', ahead: Ahead) {
  const fixed = (f: PostedFinding): PostedFinding => (ahead.fixed.includes(f.fp) ? { ...f, status: 'fixed', fixedSha: p.sha } : f);
  const findings = [...Object.values(rec.findings).map(fixed), ...ahead.findings];
  const prior = rec.reviewedSha && rec.reviewedSha !== p.sha ? rec.reviewedSha : undefined;
  return {
    summary: p.output.summary,
    risk: p.output.risk,
    headSha: p.sha,
    findings,
    preExisting,
    omitted: p.omitted,
    reviewedFiles: p.reviewedFiles,
    costUsd: rec.costUsd ?? p.costUsd,
    reviews: rec.reviews ?? 1,
    botUsername: d.bot.username,
    verification: p.verification,
    learnings: p.learnings,
    checks: p.checks,
    mrUrl: ctx.mr.webUrl,
    guidanceFiles: ctx.guidance.sources?.map((g) => g.path),
    listed: Object.values(rec.listed ?? {}),
    mode,
    since: prior === undefined ? undefined : {
      fromSha: prior,
      posted: findings.filter((f) => f.sha === p.sha).length + Object.values(rec.listed ?? {}).filter((f) => f.sha === p.sha).length,
      fixed: findings.filter((f) => f.fixedSha === p.sha).length,
      updated: findings.filter((f) => f.editedSha === p.sha).length,
    },
  };
}

async function markFixed(d: Deps, ctx: MrContext, x: { fp: string; discussionId: string }, sha: string, idx: PostedIndex, gone = false) {
  const { project, mr } = ctx;
  const thread = idx.discussions.find((t) => t.id === x.discussionId);
  const open = !gone && (!thread || thread.notes.some((n) => n.resolvable && !n.resolved));
  if (open) await d.gitlab.resolve(project.id, mr.iid, x.discussionId, true);
  await d.store.updateMr(project.id, mr.iid, project.path, (r) => {
    const f = r.findings[x.fp];
    if (f) Object.assign(f, { status: 'fixed', fixedSha: sha });
  });
}

function listedOf(post: NewFinding, reason: ListedFinding['reason']): ListedFinding {
  return { fp: post.fp, file: post.f.file, line: post.f.start_line, severity: post.f.severity, title: post.f.title, reason };
}

async function list(d: Deps, ctx: MrContext, items: ListedFinding[]) {
  const sha = ctx.mr.sha;
  await d.store.updateMr(ctx.project.id, ctx.mr.iid, ctx.project.path, (r) => {
    r.listed ??= {};
    for (const it of items) r.listed[it.fp] = { ...it, sha };
  });
}

async function remember(d: Deps, ctx: MrContext, f: Finding, fp: string, at: { discussionId: string; noteId: number; inline: boolean; blocking: boolean; sha: string }) {
  const pf: PostedFinding = {
    fp, discussionId: at.discussionId, noteId: at.noteId, file: f.file, line: f.start_line, severity: f.severity, title: f.title,
    inline: at.inline, status: 'open', blocking: at.blocking, sha: at.sha,
  };
  await d.store.updateMr(ctx.project.id, ctx.mr.iid, ctx.project.path, (r) => {
    r.findings[fp] = pf;
  });
}

function noteOf(idx: PostedIndex, noteId: number) {
  for (const t of idx.discussions) for (const n of t.notes) if (n.id === noteId) return n;
  return undefined;
}

/** A note's text as a reader sees it: the marker and the neutralising of quick actions and mentions do not count. */
function visible(body: string): string {
  return body.replace(/<!--[\s\S]*?-->/g, '').replace(/[\\`]/g, '').replace(/\s+/g, ' ').trim();
}
