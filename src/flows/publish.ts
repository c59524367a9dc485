// Posting a review: each finding as an inline diff thread (or a general thread when GitLab cannot place it),
// then the summary note, edited in place. Idempotent: what the bot already posted is found by its markers.
import { GitLabError } from '../gitlab/requester.js';
import { findingFingerprint } from '../gitlab/markers.js';
import { anchorFinding, type Anchored } from '../review/anchor.js';
import type { Finding } from '../review/findings.js';
import { filterFindings, formatFindingBody } from '../review/format.js';
import { formatSummary, mergePreExisting } from '../review/summary.js';
import type { PendingPost, PostedFinding } from '../store/records.js';
import { postedIndex, type MrContext, type PostedIndex } from './context.js';
import type { Deps } from './deps.js';

/** Posts what is new; returns how many finding threads were created. */
/** `known`: the bot's notes as the caller just listed them (a push's fix checks do), to spare a second listing. */
export async function publishReview(d: Deps, ctx: MrContext, p: PendingPost, known?: PostedIndex): Promise<number> {
  const { project, mr } = ctx;
  const rec = await d.store.getMr(project.id, mr.iid);
  const idx = known ?? (await postedIndex(d, project.id, mr.iid));
  const { kept, dropped } = filterFindings(p.output.findings, { minSeverity: ctx.repoConfig.minSeverity, minConfidence: 80 });
  // Pre-existing items stay listed across pushes: a push's review rarely repeats them.
  const preExisting = mergePreExisting(rec?.preExisting, dropped.filter((x) => x.reason === 'pre-existing').map((x) => x.finding));
  const recorded = new Set([...Object.keys(rec?.findings ?? {}), ...(rec?.withdrawn ?? [])]);

  let created = 0;
  for (const f of kept) {
    const fp = findingFingerprint(f);
    const already = idx.findings.get(fp);
    if (already || recorded.has(fp)) {
      if (already && !rec?.findings[fp]) await remember(d, ctx, f, fp, already.discussionId, already.noteId, true);
      continue;
    }
    const anchored = anchorFinding(f, ctx.diffs, mr.diffRefs);
    const posted = await postFinding(d, ctx, f, fp, anchored, p.verification?.unverified?.includes(fp));
    await remember(d, ctx, f, fp, posted.discussionId, posted.noteId, posted.inline);
    created++;
  }

  const after = await d.store.getMr(project.id, mr.iid);
  const body = formatSummary({
    summary: p.output.summary,
    risk: p.output.risk,
    headSha: p.sha,
    findings: Object.values(after?.findings ?? {}),
    preExisting,
    omitted: p.omitted,
    reviewedFiles: p.reviewedFiles,
    costUsd: after?.costUsd ?? p.costUsd,
    reviews: after?.reviews ?? 1,
    botUsername: d.bot.username,
    verification: p.verification,
    checks: p.checks,
    mrUrl: mr.webUrl,
    guidanceFiles: ctx.guidance.sources?.map((g) => g.path),
  });
  const summaryId = idx.summary?.noteId ?? rec?.summaryNoteId;
  let noteId = summaryId;
  if (summaryId) {
    try {
      await d.gitlab.editNote(project.id, mr.iid, summaryId, body);
    } catch (e) {
      if (!(e instanceof GitLabError) || e.status !== 404) throw e;
      noteId = (await d.gitlab.createNote(project.id, mr.iid, body)).noteId; // someone deleted it
    }
  } else {
    noteId = (await d.gitlab.createNote(project.id, mr.iid, body)).noteId;
  }
  await d.store.updateMr(project.id, mr.iid, project.path, (r) => {
    r.summaryNoteId = noteId;
    r.preExisting = preExisting;
  });
  d.log.info({ project: project.path, iid: mr.iid, created, kept: kept.length, dropped: dropped.length }, 'review posted');
  return created;
}

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
  const general: Anchored =
    anchored.kind === 'general' ? anchored : { kind: 'general', file: anchored.file, line: anchored.line, reason: 'GitLab could not place it on the diff' };
  const r = await d.gitlab.createDiscussion(project.id, mr.iid, formatFindingBody(f, general, { fingerprint: fp, unverified }));
  return { ...r, inline: false };
}

async function remember(d: Deps, ctx: MrContext, f: Finding, fp: string, discussionId: string, noteId: number, inline: boolean) {
  const pf: PostedFinding = { fp, discussionId, noteId, file: f.file, line: f.start_line, severity: f.severity, title: f.title, inline, status: 'open' };
  await d.store.updateMr(ctx.project.id, ctx.mr.iid, ctx.project.path, (r) => {
    r.findings[fp] = pf;
  });
}
