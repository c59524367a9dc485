// A thread is its own conversation: its first answer forks the MR's trunk session, later answers resume the fork.
import { ClaudeError } from '../claude/result.js';
import type { ThreadStart, ThreadTurn } from '../claude/session-service.js';
import type { NoteAdded } from '../events/types.js';
import { readMarker, withMarker } from '../gitlab/markers.js';
import { GitLabError } from '../gitlab/requester.js';
import type { DiscussionInfo, MergeRequestInfo, NoteInfo } from '../gitlab/types.js';
import { systemPrompt } from '../review/prompts.js';
import { parseTurn, replyOutputSchema, TURN_SCHEMA } from '../review/outputs.js';
import { threadPrompt } from '../review/thread.js';
import type { PendingReply, ThreadRecord } from '../store/records.js';
import { AwaitJob } from '../jobs/queue.js';
import { trunkJobFor } from '../jobs/specs.js';
import { parseCommand, runCommand } from './chat-commands.js';
import type { Deps } from './deps.js';
import { pendingLearning, replyWithLearning } from './learnings.js';
import { gateQuestion } from './questions.js';
import { replySuggestion } from './reply-suggestion.js';
import { noteFromApi } from './trusted-note.js';

export type ReplyOutcome = { skipped: string } | { command: string; refused?: true } | { answered: true; sessionId: string; forked: boolean; rebuilt: boolean };

/** Whether a note is for the bot: it mentions the bot, or it is in a thread the bot is part of and not addressed to someone else. */
export function addressedToBot(ev: NoteAdded, disc: DiscussionInfo, botId: number): boolean {
  if (ev.mentionsBot) return true;
  const botInThread = disc.notes.some((n) => n.author.id === botId);
  return botInThread && ev.mentionsOthers.length === 0;
}

/** `waited`: how often this job already waited for the MR's trunk review (JobContext.waited). */
export async function replyToNote(d: Deps, claimed: NoteAdded, signal?: AbortSignal, waited = 0): Promise<ReplyOutcome> {
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
  const cmd = ev.mentionsBot ? parseCommand(ev.body, d.bot.username) : undefined;
  // A question needs the MR: read it beside the thread's record and the 👀 (a note not for the bot never reads it).
  const mrRead = cmd ? undefined : d.gitlab.mergeRequest(project.id, iid);
  mrRead?.catch(() => undefined); // its error counts only where it is awaited
  const prior = await d.store.getThread(project.id, iid, ev.discussionId);
  if (prior?.answered?.includes(ev.noteId)) return skip(log, 'already answered');

  const eyes = d.gitlab.award(project.id, iid, ev.noteId, 'eyes');
  if (cmd) {
    await eyes;
    // The author as the API shows the note, not as the payload claims.
    const ran = await runCommand(d, ev, cmd, note.author);
    return ran === 'refused' ? { command: cmd.name, refused: true } : { command: cmd.name };
  }
  // The 👀 goes out while the answer is prepared; the job still fails if it does (a retry finds the answer posted).
  // The answer's own failure (or its wait for the trunk review) is what the job reports, not the 👀's.
  let outcome: ReplyOutcome;
  try {
    outcome = await answerNote(d, ev, disc, note, prior, mrRead ?? d.gitlab.mergeRequest(project.id, iid), log, waited, signal);
  } catch (e) {
    await eyes.catch(() => undefined);
    throw e;
  }
  await eyes;
  return outcome;
}

/** The note is for the bot and not answered yet: gate it, then fork or resume the thread's session and post. */
async function answerNote(
  d: Deps, ev: NoteAdded, disc: DiscussionInfo, note: NoteInfo, prior: ThreadRecord | undefined, mrRead: Promise<MergeRequestInfo>, log: Deps['log'], waited: number, signal?: AbortSignal,
): Promise<ReplyOutcome> {
  const { project, iid } = ev;
  // Answered by the model already, posting failed: post that answer, never pay for it twice.
  if (prior?.pendingReply?.noteId === ev.noteId) return postReply(d, ev, disc, prior.pendingReply, log);

  const [mr, known] = await Promise.all([mrRead, d.store.getMr(project.id, iid)]);
  // On a closed or merged MR only a mention gets an answer (made here too: intake may not have known the bot yet).
  if ((mr.state === 'closed' || mr.state === 'merged') && !ev.mentionsBot) return skip(log, `note on ${mr.state} mr`);
  const { refused, repoConfig, guidance } = await gateQuestion(d, ev, note.author, mr, known);
  if (refused) return skip(log, refused);
  // The MR's review is under way in its own lane: this job waits for it (holding no worker slot), then runs again
  // and answers with the review in context (read again: a review may have started during the gate).
  const rec = await d.store.getMr(project.id, iid);
  if (rec?.trunkStatus === 'running') throw new AwaitJob(trunkJobFor(trunkReviewOf(ev, mr)), 'the MR review is running; the answer follows it');
  const mrRef = { project, iid, sha: mr.sha, targetBranch: mr.targetBranch };
  // No trunk (the MR predates the bot, its review failed, its transcript is gone): the MR is reviewed first, then
  // this job runs again and forks. Still none after that review: a clear failure.
  if (!(await d.sessions.hasTrunk(mrRef))) {
    if (waited > 0) throw new ClaudeError('session_missing', 'the trunk review did not produce a session');
    log.info({ sessionId: rec?.trunkSessionId, status: rec?.trunkStatus }, 'no usable trunk session; reviewing the MR first');
    throw new AwaitJob(trunkJobFor(trunkReviewOf(ev, mr), rec?.trunkSessionId), 'no usable trunk session: the MR is reviewed first');
  }

  const location = threadLocation(disc, ev);
  const findingNote = findingNoteOf(d, disc);
  const unseen = disc.notes.filter((n) => n.id > (prior?.lastSeenNoteId ?? 0) && n.author.id !== d.bot.id && !n.system);
  const others = disc.notes.filter((n) => !n.system && n.id !== findingNote?.id);
  // What the session does not know yet: a resumed one the notes since its last turn; a new fork the thread (as
  // questions), a rebuilt one the whole thread with the bot's answers.
  const prompt = (start: ThreadStart) => start === 'resume'
    ? threadPrompt({ iid, note: noteOf(note), unseen, botId: d.bot.id, location })
    : threadPrompt({
      iid,
      note: noteOf(note),
      unseen: start === 'rebuild' ? [] : others.filter((n) => n.author.id !== d.bot.id),
      history: start === 'rebuild' ? others : undefined,
      botId: d.bot.id,
      location,
      findingNote: findingNote?.body,
    });
  // The link from the API's MR (a payload's `url` could point anywhere).
  const thread = { ...mrRef, discussionId: ev.discussionId, seed: { url: `${mr.webUrl}#note_${ev.noteId}` } };
  // The same system prompt and schema as the trunk's turns (thread rules are in the turn's prompt): cacheable.
  const turn = { systemPrompt: systemPrompt(guidance), jsonSchema: TURN_SCHEMA, maxBudgetUsd: repoConfig.threadBudgetUsd, signal };
  // The answer is paid for: keep it with the session's state before posting, so a failed post is only re-posted.
  const answer = (r: ThreadTurn): PendingReply => {
    const out = parseTurn(replyOutputSchema, r.structured, 'reply');
    return {
      noteId: ev.noteId, reply: out.reply, verdict: out.verdict, forkSessionId: r.sessionId, forked: r.forked, rebuilt: r.rebuilt,
      learning: pendingLearning(out.learning, `${mr.webUrl}#note_${ev.noteId}`),
      suggestion: out.suggestion?.trim() ? { sha: mr.sha, text: out.suggestion } : undefined,
    };
  };
  let pending: PendingReply | undefined;
  const result = await d.sessions.continueThread(thread, prompt, turn, (t, r) => {
    t.pendingReply = pending = answer(r);
  });
  pending ??= answer(result); // the thread was forgotten (`@bot forget`) during the turn: answer all the same
  log.info({ sessionId: result.sessionId, forked: result.forked, rebuilt: result.rebuilt, verdict: pending.verdict, costUsd: result.costUsd }, 'thread answer ready');
  return postReply(d, ev, disc, pending, log, findingNote);
}

/** Post a finished answer once: a retry after a lost response finds the reply marked with the note it answers. */
async function postReply(d: Deps, ev: NoteAdded, disc: DiscussionInfo, p: PendingReply, log: Deps['log'], findingNote = findingNoteOf(d, disc)): Promise<ReplyOutcome> {
  const { project, iid } = ev;
  const already = disc.notes.find((n) => n.author.id === d.bot.id && readMarker(n.body)?.kind === 'reply' && readMarker(n.body)?.re === ev.noteId);
  const noteId = already?.id ?? (await d.gitlab.reply(project.id, iid, ev.discussionId, withMarker(await replyText(d, ev, disc, p), { kind: 'reply', verdict: p.verdict, re: ev.noteId }))).noteId;
  if (p.verdict === 'withdrawn' && findingNote) await withdraw(d, ev, disc, findingNote);
  await d.store.updateThread(project.id, iid, ev.discussionId, (t) => {
    t.lastSeenNoteId = Math.max(noteId, ...disc.notes.map((n) => n.id));
    t.answered = [...(t.answered ?? []), ev.noteId].slice(-100);
    t.pendingReply = undefined;
  });
  log.info({ sessionId: p.forkSessionId, verdict: p.verdict }, 'thread answered');
  return { answered: true, sessionId: p.forkSessionId, forked: p.forked, rebuilt: p.rebuilt };
}

/** The answer as posted: with the learning it keeps, and its suggestion block if that applies cleanly. */
async function replyText(d: Deps, ev: NoteAdded, disc: DiscussionInfo, p: PendingReply): Promise<string> {
  const text = await replyWithLearning(d, ev, disc, p);
  const block = p.suggestion ? await replySuggestion(d, ev.project.id, p.suggestion.sha, disc, p.suggestion.text) : '';
  return block ? `${text}\n\n${block}` : text;
}

function findingNoteOf(d: Deps, disc: DiscussionInfo): NoteInfo | undefined {
  const first = disc.notes[0];
  return first && first.author.id === d.bot.id && readMarker(first.body)?.kind === 'finding' ? first : undefined;
}

/** The review event of the trunk job a thread waits for (the MR as the API has it; the note's author asked). */
function trunkReviewOf(ev: NoteAdded, mr: MergeRequestInfo) {
  const { project, iid } = ev;
  return { project, iid, title: mr.title, headSha: mr.sha, sourceBranch: mr.sourceBranch, targetBranch: mr.targetBranch, draft: mr.draft, state: mr.state, actor: ev.author, url: mr.webUrl };
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
