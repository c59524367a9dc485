/**
 * GitLab's draft notes (API::DraftNotes, DraftNotes::CreateService / PublishService, DraftNote), as the stand-in's
 * REST routes: pending review comments visible only to their author; a bulk publish turns them into notes and
 * threads in one go and sends one email for the review.
 *
 * What is copied on purpose: a draft's position is not checked when it is created (its `line_code` is null when
 * GitLab cannot place it); at publish a draft whose position does not validate is dropped and the publish still
 * answers 204; every published draft without a position becomes a resolvable DiscussionNote thread (DraftNote#type);
 * a reply draft resolves its thread with `resolve_discussion`, and unresolves it without (a new thread cannot take
 * `resolve_discussion`); one draft reply per author and thread; a project can have the API switched off (404 like an
 * older GitLab, 403 like missing rights). Read from lib/api/draft_notes.rb and app/services/draft_notes/*.
 */
import { HttpError, toBool, type Params } from './body.js';
import { diffLines, lineCode } from './git.js';
import type { DraftRec, MrRec, NoteRec, UserRec, World } from './model.js';

interface Ctx { world: World; user: UserRec; p: Record<string, string>; params: Params }
interface Reply { status?: number; json: unknown }
type Handler = (c: Ctx) => Reply;

const iso = () => new Date().toISOString();

/** The MR, once the project answers the draft notes API at all. */
function mrOf(c: Ctx): MrRec {
  const project = c.world.project(c.p.id);
  if (project.draftNotes === 404) throw new HttpError(404, { error: '404 Not Found' });
  if (project.draftNotes === 403) throw new HttpError(403, { message: '403 Forbidden' });
  return c.world.mr(project, c.p.iid);
}

/** DraftNote.authored_by(current_user): another user's draft does not exist for you. */
function ownDraft(c: Ctx, mr: MrRec): DraftRec {
  const d = mr.drafts.find((x) => x.id === Number(c.p.did) && x.authorId === c.user.id);
  if (!d) throw new HttpError(404, { message: '404 Not found' });
  return d;
}

/** DraftNote#line_code: the line the position names in its version's diff, or null. */
function draftLineCode(world: World, mr: MrRec, d: DraftRec): string | null {
  const p = d.position;
  if (!p) return null;
  const v = mr.versions.find((x) => x.headSha === p.head_sha && x.baseSha === p.base_sha && x.startSha === p.start_sha);
  const file = v?.diffs.find((f) => f.new_path === p.new_path) ?? v?.diffs.find((f) => f.old_path === p.old_path);
  const want = (x: unknown) => (x === undefined || x === null || x === '' ? null : Number(x));
  const line = file && diffLines(file.diff).find((l) => l.oldLine === want(p.old_line) && l.newLine === want(p.new_line));
  return line ? lineCode(String(p.new_path ?? file!.new_path), line.oldPos, line.newPos) : null;
}

/** API::Entities::DraftNote */
export function draftJson(world: World, mr: MrRec, d: DraftRec) {
  const p = d.position ?? {};
  const f = (k: string) => (p[k] === undefined || p[k] === '' ? null : p[k]);
  const n = (k: string) => (f(k) === null ? null : Number(p[k]));
  return {
    id: d.id, author_id: d.authorId, merge_request_id: mr.id, resolve_discussion: d.resolveDiscussion, discussion_id: d.discussionId,
    note: d.note, commit_id: d.commitId, line_code: draftLineCode(world, mr, d),
    position: {
      base_sha: f('base_sha'), start_sha: f('start_sha'), head_sha: f('head_sha'), old_path: f('old_path'), new_path: f('new_path'),
      position_type: f('position_type') ?? 'text', old_line: n('old_line'), new_line: n('new_line'), line_range: f('line_range'),
    },
  };
}

/** Notes::CreateService for one draft; undefined when the note fails validation (then it is silently not saved). */
function noteFromDraft(world: World, mr: MrRec, d: DraftRec, inReview: boolean): NoteRec | undefined {
  if (!d.note.trim()) return undefined; // Note validates what DraftNote does not: a blank note is not saved
  if (d.discussionId) {
    const thread = mr.discussions.find((x) => x.id === d.discussionId);
    if (!thread) return undefined;
    const note = world.createNote(mr, d.authorId, d.note, { kind: 'discussion', replyTo: thread, inReview });
    if (note.commandsOnly) return undefined;
    // PublishService#set_discussion_resolve_status
    if (d.resolveDiscussion && world.discussionResolvable(thread)) world.setResolved(thread.notes, true, d.authorId);
    else world.setResolved(thread.notes, false, d.authorId);
    return note;
  }
  let position = null;
  if (d.position) {
    position = world.tryPosition(mr, d.position);
    if (!position) return undefined;
  }
  const note = world.createNote(mr, d.authorId, d.note, { kind: 'discussion', position, inReview });
  return note.commandsOnly ? undefined : note;
}

/** DraftNotes::PublishService#publish_draft_notes: every draft of the user, in order, then one review email. */
export function publishAll(world: World, mr: MrRec, userId: number): NoteRec[] {
  const drafts = mr.drafts.filter((d) => d.authorId === userId).sort((a, b) => a.id - b.id);
  if (!drafts.length) return [];
  const notes = drafts.map((d) => noteFromDraft(world, mr, d, true)).filter((n): n is NoteRec => !!n);
  mr.drafts = mr.drafts.filter((d) => d.authorId !== userId);
  mr.emails.push({ kind: 'review', userId, noteIds: notes.map((n) => n.id) });
  return notes;
}

function positionParam(c: Ctx): Params | null {
  const p = c.params.position;
  return p && typeof p === 'object' ? { ...p } : null;
}

export const draftNoteRoutes: [method: string, pattern: string, handler: Handler][] = [
  ['GET', 'projects/:id/merge_requests/:iid/draft_notes', (c) => {
    const mr = mrOf(c);
    return { json: mr.drafts.filter((d) => d.authorId === c.user.id).map((d) => draftJson(c.world, mr, d)) };
  }],
  ['GET', 'projects/:id/merge_requests/:iid/draft_notes/:did', (c) => {
    const mr = mrOf(c);
    return { json: draftJson(c.world, mr, ownDraft(c, mr)) };
  }],
  ['POST', 'projects/:id/merge_requests/:iid/draft_notes', (c) => {
    const mr = mrOf(c);
    if (c.params.note === undefined || c.params.note === null) throw new HttpError(400, { error: 'note is missing' });
    const reply = c.params.in_reply_to_discussion_id;
    const resolveDiscussion = toBool(c.params.resolve_discussion, 'resolve_discussion') ?? false;
    const base = (text: string) => new HttpError(400, { message: { base: [text] } }); // DraftNotes::CreateService#base_error
    let thread;
    if (reply !== undefined && reply !== null && reply !== '') {
      thread = mr.discussions.find((x) => x.id === String(reply));
      if (!thread) throw base('Thread to reply to cannot be found');
      if (thread.notes[0]?.system) throw base('Replies to system notes are not allowed');
    }
    // only a reply can resolve: a new thread has no discussion to resolve yet
    if (resolveDiscussion && !(thread && c.world.discussionResolvable(thread))) throw base('User is not allowed to resolve thread');
    const discussionId = thread?.id ?? null;
    if (discussionId && mr.drafts.some((d) => d.authorId === c.user.id && d.discussionId === discussionId)) {
      throw new HttpError(400, { message: { author_id: ['has already been taken'] } });
    }
    const d: DraftRec = {
      id: c.world.nextId('draft'), authorId: c.user.id, note: String(c.params.note), position: positionParam(c), discussionId, resolveDiscussion,
      commitId: c.params.commit_id ? String(c.params.commit_id) : null, createdAt: iso(),
    };
    mr.drafts.push(d);
    return { status: 201, json: draftJson(c.world, mr, d) };
  }],
  ['PUT', 'projects/:id/merge_requests/:iid/draft_notes/:did', (c) => {
    const mr = mrOf(c);
    if (c.params.note === undefined || c.params.note === null || String(c.params.note) === '') throw new HttpError(400, { message: '400 Bad request - Missing params to modify' });
    const d = ownDraft(c, mr);
    Object.assign(d, { note: String(c.params.note), position: positionParam(c) }); // update!(note:, position:): no position clears it
    return { json: draftJson(c.world, mr, d) };
  }],
  ['DELETE', 'projects/:id/merge_requests/:iid/draft_notes/:did', (c) => {
    const mr = mrOf(c);
    const d = ownDraft(c, mr);
    mr.drafts = mr.drafts.filter((x) => x !== d);
    return { status: 204, json: '' };
  }],
  ['PUT', 'projects/:id/merge_requests/:iid/draft_notes/:did/publish', (c) => {
    const mr = mrOf(c);
    const d = ownDraft(c, mr);
    noteFromDraft(c.world, mr, d, false); // a single publish is an ordinary note, with its own email
    mr.drafts = mr.drafts.filter((x) => x !== d);
    return { status: 204, json: '' };
  }],
  ['POST', 'projects/:id/merge_requests/:iid/draft_notes/bulk_publish', (c) => {
    publishAll(c.world, mrOf(c), c.user.id);
    return { status: 204, json: '' };
  }],
];
