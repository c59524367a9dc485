// A thread is its own conversation: its first answer forks the MR's trunk session, later answers resume the fork.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClaudeError, type ClaudeResult } from '../claude/result.js';
import type { NoteAdded } from '../events/types.js';
import { readMarker, withMarker } from '../gitlab/markers.js';
import { GitLabError } from '../gitlab/requester.js';
import type { DiscussionInfo, MergeRequestInfo, NoteInfo } from '../gitlab/types.js';
import { systemPrompt } from '../review/prompts.js';
import { parseTurn, replyOutputSchema, TURN_SCHEMA } from '../review/outputs.js';
import { threadPrompt } from '../review/thread.js';
import { newThreadRecord, type MrRecord, type PendingReply, type ThreadRecord } from '../store/records.js';
import type { TurnOptions } from '../claude/sessions.js';
import { parseCommand, runCommand } from './chat-commands.js';
import type { Deps } from './deps.js';
import { gateQuestion } from './questions.js';
import { replySuggestion } from './reply-suggestion.js';
import { reviewMr } from './review.js';
import { noteFromApi } from './trusted-note.js';

export type ReplyOutcome = { skipped: string } | { command: string; refused?: true } | { answered: true; sessionId: string; forked: boolean; rebuilt: boolean };

/** Whether a note is for the bot: it mentions the bot, or it is in a thread the bot is part of and not addressed to someone else. */
export function addressedToBot(ev: NoteAdded, disc: DiscussionInfo, botId: number): boolean {
  if (ev.mentionsBot) return true;
  const botInThread = disc.notes.some((n) => n.author.id === botId);
  return botInThread && ev.mentionsOthers.length === 0;
}

export async function replyToNote(d: Deps, claimed: NoteAdded, signal?: AbortSignal): Promise<ReplyOutcome> {
  const { project, iid } = claimed;
  const log = d.log.child({ project: project.path, iid, discussion: claimed.discussionId, note: claimed.noteId });
  const disc = await d.gitlab.discussion(project.id, iid, claimed.discussionId).catch((e) => {
    if (e instanceof GitLabError && e.status === 404) return undefined; // gone, or never was: nothing to answer
    throw e;
  });
  if (!disc) return skip(log, 'no such discussion on this MR');
  // Author, body and mentions as GitLab has them; a hook that disagrees is ignored.
  const trusted = noteFromApi(claimed, disc, d.bot);
  if ('skip' in trusted) return skip(log, trusted.skip);
  const ev = trusted.ev;
  const note = disc.notes.find((n) => n.id === ev.noteId)!;
  if (!addressedToBot(ev, disc, d.bot.id)) return skip(log, 'not addressed to the bot');
  const prior = await d.store.getThread(project.id, iid, ev.discussionId);
  if (prior?.answered?.includes(ev.noteId)) return skip(log, 'already answered');

  await d.gitlab.award(project.id, iid, ev.noteId, 'eyes');

  const cmd = ev.mentionsBot ? parseCommand(ev.body, d.bot.username) : undefined;
  if (cmd) {
    // The author as the API shows the note, not as the payload claims.
    const ran = await runCommand(d, ev, cmd, note.author);
    return ran === 'refused' ? { command: cmd.name, refused: true } : { command: cmd.name };
  }

  // Answered by the model already, posting failed: post that answer, never pay for it twice.
  if (prior?.pendingReply?.noteId === ev.noteId) return postReply(d, ev, disc, prior.pendingReply, log);

  const mr = await d.gitlab.mergeRequest(project.id, iid);
  // On a closed or merged MR only a mention gets an answer (made here too: intake may not have known the bot yet).
  if ((mr.state === 'closed' || mr.state === 'merged') && !ev.mentionsBot) return skip(log, `note on ${mr.state} mr`);
  const { refused, repoConfig, guidance } = await gateQuestion(d, ev, note.author, mr);
  if (refused) return skip(log, refused);
  let rec = await waitForTrunk(d, project.id, iid, signal);
  rec = await onThisReplica(d, project, mr, rec, prior);
  // No trunk (the MR predates the bot, or its review failed): review first, then fork.
  if (!trunkUsable(d, rec)) {
    log.info('no usable trunk session; reviewing the MR first');
    await reviewMr(d, { project, iid, reason: 'missing_trunk' }, signal);
    rec = await d.store.getMr(project.id, iid);
    if (!trunkUsable(d, rec)) throw new ClaudeError('session_missing', 'the trunk review did not produce a session');
  }
  const trunkId = rec!.trunkSessionId!;
  const cwd = rec!.workspace!;
  // The same system prompt and schema as the trunk's turns (thread rules are in the turn's prompt): cacheable.
  const turn = { systemPrompt: systemPrompt(guidance), jsonSchema: TURN_SCHEMA, maxBudgetUsd: repoConfig.threadBudgetUsd, signal, model: rec!.trunkModel };

  const location = threadLocation(disc, ev);
  const findingNote = findingNoteOf(d, disc);
  const unseen = disc.notes.filter((n) => n.id > (prior?.lastSeenNoteId ?? 0) && n.author.id !== d.bot.id && !n.system);

  let result: ClaudeResult | undefined;
  let forkId = prior?.forkSessionId;
  // A previous attempt that died mid-run leaves a half-written fork (status 'running'): rebuild rather than replay it.
  if (prior && prior.status !== 'running' && d.sessions.exists(cwd, prior.forkSessionId)) {
    await d.store.updateThread(project.id, iid, ev.discussionId, (t) => {
      t.status = 'running';
    });
    result = await d.sessions
      .resume(cwd, prior.forkSessionId, threadPrompt({ iid, note: noteOf(note), unseen, botId: d.bot.id, location }), turn)
      .catch((e) => {
        if (!(e instanceof ClaudeError) || e.kind !== 'session_missing') throw e;
        return undefined; // the transcript vanished between the check and the call
      });
  }
  const forked = !result;
  const rebuilt = forked && !!prior;
  if (rebuilt) log.warn({ sessionId: prior!.forkSessionId, status: prior!.status }, 'thread session unusable or its transcript is gone; rebuilding it from the thread');
  if (!result) ({ result, forkId } = await freshFork(d, { ev, cwd, trunkId, prior, disc, note, location, findingNote, turn, rebuild: rebuilt, url: `${mr.webUrl}#note_${ev.noteId}` }));

  const out = parseTurn(replyOutputSchema, result.structured, 'reply');
  // The answer is paid for: keep it (and the session's state) before posting, so a failed post is only re-posted.
  const block = await replySuggestion(d, project.id, mr.sha, disc, out.suggestion);
  const pending: PendingReply = { noteId: ev.noteId, reply: block ? `${out.reply}\n\n${block}` : out.reply, verdict: out.verdict, forkSessionId: forkId!, forked, rebuilt };
  const { numTurns, costUsd } = result;
  await d.store.updateThread(project.id, iid, ev.discussionId, (t) => {
    t.status = 'done';
    t.forkSessionId = forkId!;
    t.turns += numTurns;
    t.costUsd += costUsd;
    if (rebuilt) t.rebuilds += 1;
    t.pendingReply = pending;
  });
  log.info({ sessionId: forkId, forked, rebuilt, verdict: out.verdict, costUsd: result.costUsd }, 'thread answer ready');
  return postReply(d, ev, disc, pending, log, findingNote);
}

/** Post a finished answer once: a retry after a lost response finds the reply marked with the note it answers. */
async function postReply(d: Deps, ev: NoteAdded, disc: DiscussionInfo, p: PendingReply, log: Deps['log'], findingNote = findingNoteOf(d, disc)): Promise<ReplyOutcome> {
  const { project, iid } = ev;
  const already = disc.notes.find((n) => n.author.id === d.bot.id && readMarker(n.body)?.kind === 'reply' && readMarker(n.body)?.re === ev.noteId);
  const noteId = already?.id ?? (await d.gitlab.reply(project.id, iid, ev.discussionId, withMarker(p.reply, { kind: 'reply', verdict: p.verdict, re: ev.noteId }))).noteId;
  if (p.verdict === 'withdrawn' && findingNote) await withdraw(d, ev, disc, findingNote);
  await d.store.updateThread(project.id, iid, ev.discussionId, (t) => {
    t.lastSeenNoteId = Math.max(noteId, ...disc.notes.map((n) => n.id));
    t.answered = [...(t.answered ?? []), ev.noteId].slice(-100);
    t.pendingReply = undefined;
  });
  log.info({ sessionId: p.forkSessionId, verdict: p.verdict }, 'thread answered');
  return { answered: true, sessionId: p.forkSessionId, forked: p.forked, rebuilt: p.rebuilt };
}

function findingNoteOf(d: Deps, disc: DiscussionInfo): NoteInfo | undefined {
  const first = disc.notes[0];
  return first && first.author.id === d.bot.id && readMarker(first.body)?.kind === 'finding' ? first : undefined;
}

interface ForkInput {
  ev: NoteAdded;
  cwd: string;
  trunkId: string;
  prior?: ThreadRecord;
  disc: DiscussionInfo;
  note: NoteInfo;
  location?: { file: string; line?: number | null };
  findingNote?: NoteInfo;
  turn: TurnOptions;
  /** the thread had a session that is lost: tell the new one the thread so far */
  rebuild: boolean;
  /** the note's link, from the API's MR (a payload's `url` could point anywhere) */
  url: string;
}

/** Fork the trunk under a new id, recorded before the CLI starts; a rebuilt thread gets its history as text. */
async function freshFork(d: Deps, i: ForkInput): Promise<{ result: ClaudeResult; forkId: string }> {
  const { ev, disc, findingNote, rebuild } = i;
  const forkId = d.sessions.newId();
  await d.store.putThread(newThreadRecord({ projectId: ev.project.id, iid: ev.iid, discussionId: ev.discussionId, forkSessionId: forkId, trunkSessionId: i.trunkId, url: i.url }, i.prior));
  const others = disc.notes.filter((n) => !n.system && n.id !== findingNote?.id);
  const prompt = threadPrompt({
    iid: ev.iid,
    note: noteOf(i.note),
    unseen: rebuild ? [] : others.filter((n) => n.author.id !== d.bot.id),
    history: rebuild ? others : undefined,
    botId: d.bot.id,
    location: i.location,
    findingNote: findingNote?.body,
  });
  const result = await d.sessions.fork(i.cwd, i.trunkId, forkId, prompt, i.turn);
  return { result, forkId };
}

/** The MR's review may be under way in its own lane: answer once it is done, with it in context. */
async function waitForTrunk(d: Deps, pid: number, iid: number, signal?: AbortSignal): Promise<MrRecord | undefined> {
  const deadline = Date.now() + d.config.CLAUDE_TIMEOUT_MS + 60_000;
  for (;;) {
    const rec = await d.store.getMr(pid, iid);
    if (rec?.trunkStatus !== 'running') return rec;
    if (Date.now() > deadline || signal?.aborted) {
      throw Object.assign(new Error('the MR review is still running; the answer follows it'), { transient: true, retryAfterMs: 5_000 });
    }
    await sleep(500);
  }
}

/**
 * Workspaces and transcripts are per-replica caches (scale-out): check the MR out again when this replica lacks the
 * checkout, and fetch the trunk's and the thread's transcripts from the portable store (a no-op without one).
 */
async function onThisReplica(d: Deps, project: NoteAdded['project'], mr: MergeRequestInfo, rec: MrRecord | undefined, prior: ThreadRecord | undefined): Promise<MrRecord | undefined> {
  if (!rec?.trunkSessionId || rec.trunkStatus !== 'done' || !rec.workspace) return rec;
  let cwd = rec.workspace;
  if (!fs.existsSync(cwd)) cwd = await d.workspaces.prepare(project, rec.iid, rec.reviewedSha ?? mr.sha, mr.targetBranch);
  await d.sessions.restore(cwd, prior ? [rec.trunkSessionId, prior.forkSessionId] : [rec.trunkSessionId]);
  return { ...rec, workspace: cwd };
}

function trunkUsable(d: Deps, rec: MrRecord | undefined): boolean {
  return !!rec?.trunkSessionId && rec.trunkStatus === 'done' && !!rec.workspace && fs.existsSync(rec.workspace) && d.sessions.exists(rec.workspace, rec.trunkSessionId);
}

function threadLocation(disc: DiscussionInfo, ev: NoteAdded): { file: string; line?: number | null } | undefined {
  const p = ev.position ?? disc.notes[0]?.position;
  const file = p?.new_path ?? p?.old_path;
  return file ? { file, line: p?.new_line ?? p?.old_line } : undefined;
}

function noteOf(n: NoteInfo) {
  return { id: n.id, author: n.author.username, body: n.body };
}

/** The author was right: resolve the thread and never raise this finding again. */
async function withdraw(d: Deps, ev: NoteAdded, disc: DiscussionInfo, findingNote: NoteInfo): Promise<void> {
  const fp = readMarker(findingNote.body)?.fp;
  await d.gitlab.resolve(ev.project.id, ev.iid, disc.id, true).catch((e) => d.log.warn({ err: (e as Error).message }, 'could not resolve thread'));
  if (!fp) return;
  await d.store.updateMr(ev.project.id, ev.iid, ev.project.path, (r) => {
    if (!r.withdrawn.includes(fp)) r.withdrawn.push(fp);
    if (r.findings[fp]) r.findings[fp].status = 'withdrawn';
  });
}

function skip(log: Deps['log'], why: string): ReplyOutcome {
  log.info({ why }, 'note not answered');
  return { skipped: why };
}
