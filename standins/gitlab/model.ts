/**
 * In-memory GitLab: users, projects, MRs with diff versions, discussions and notes, hooks.
 * Records are internal; the `*Json` methods render them in GitLab's REST shapes.
 */
import { randomBytes } from 'node:crypto';
import { HttpError, toInt, type Params } from './body.js';
import { diffLines, lineCode, type DiffJson } from './git.js';
import type { MemberRec, ProtectedBranchRec } from './access.js';
import { hookHealthJson } from './hook-delivery.js';
import { applyCommands, extractCommands, extractMentions, type ExecutedCommand, type Notification } from './quick-actions.js';

export interface UserRec { id: number; username: string; name: string; bot: boolean; token?: string }
export interface CommitRec { id: string; message: string; title: string; timestamp: string; authorName: string; authorEmail: string }
export interface HookRec { id: number; projectId: number; url: string; token?: string; createdAt: string; [event: string]: unknown }
export interface ProjectRec {
  id: number; path: string; name: string; defaultBranch: string; gitDir: string; createdAt: string;
  nextIid: number; mrs: Map<number, MrRec>; hooks: HookRec[]; commits: Map<string, CommitRec>;
  /** direct members by user id (group members are in World.groupMembers) */
  members: Map<number, MemberRec>; protectedBranches: ProtectedBranchRec[];
  /** users who are not members of this private project: it is 404 to them, in the API and over git */
  hiddenFrom?: Set<number>;
  /** the draft notes API: 'on', or the status an instance without it answers (404 older GitLab, 403 missing rights) */
  draftNotes: DraftNotesMode;
}
export type DraftNotesMode = 'on' | 404 | 403;
/** `overflow`: GitLab stored only the first files of a diff over its limits (`diffs` holds those). */
export interface VersionRec { id: number; headSha: string; baseSha: string; startSha: string; createdAt: string; diffs: DiffJson[]; overflow?: { limit: number } }
export type MrState = 'opened' | 'closed' | 'merged' | 'locked';
export interface MrRec {
  id: number; iid: number; project: ProjectRec; title: string; description: string; state: MrState;
  sourceBranch: string; targetBranch: string; authorId: number; createdAt: string; updatedAt: string;
  versions: VersionRec[]; discussions: DiscussionRec[];
  /** GET …/merge_requests/:iid answers this many more times with `diff_refs: null` (GitLab still computing the version) */
  diffPendingFetches?: number;
  mergedAt: string | null; mergedById: number | null; closedAt: string | null; closedById: number | null;
  /** what quick actions in notes changed, and what they and mentions did */
  approvedBy: number[]; labels: string[]; assignees: number[]; reviewers: number[]; discussionLocked: boolean;
  executed: ExecutedCommand[]; notifications: Notification[];
  /** a fork MR: the project the source branch lives in (target is `project`) */
  sourceProject?: ProjectRec;
  /** "Allow commits from members who can merge to the target branch" (fork MRs only) */
  allowCollaboration?: boolean;
  /** pending review comments, each visible only to its author until published (DraftNote) */
  drafts: DraftRec[];
  /** the emails GitLab would send about new notes: one per direct note, one per published review (NotificationService) */
  emails: EmailRec[];
}
/** `position`: as given (Grape params), checked only at publish, like DraftNotes::CreateService. */
export interface DraftRec {
  id: number; authorId: number; note: string; position: Params | null; discussionId: string | null;
  resolveDiscussion: boolean; commitId: string | null; createdAt: string;
}
export interface EmailRec { kind: 'note' | 'review'; userId: number; noteIds: number[] }
export interface PositionRec {
  base_sha: string; start_sha: string; head_sha: string; old_path: string; new_path: string;
  position_type: 'text'; old_line: number | null; new_line: number | null; line_range: unknown; ignore_whitespace_change: boolean;
}
export type NoteType = 'DiffNote' | 'DiscussionNote' | null;
export interface AwardRec { id: number; name: string; userId: number; createdAt: string }
export interface NoteRec {
  id: number; type: NoteType; body: string; authorId: number; createdAt: string; updatedAt: string; system: boolean;
  position: PositionRec | null; resolved: boolean; resolvedById: number | null; resolvedAt: string | null;
  discussion: DiscussionRec; mr: MrRec; awards: AwardRec[];
  /** the body was only quick actions: GitLab ran them and saved no note */
  commandsOnly?: boolean;
}
export interface DiscussionRec { id: string; individualNote: boolean; notes: NoteRec[] }

/** A note as GET …/notes returns it (API::Entities::Note). Test-side copies also carry `discussion_id`. */
export type NoteJson = {
  id: number; type: NoteType; body: string; author: { id: number; username: string; name: string; [k: string]: unknown };
  created_at: string; updated_at: string; system: boolean; noteable_id: number; noteable_type: 'MergeRequest'; noteable_iid: number;
  resolvable: boolean; resolved?: boolean; resolved_by?: unknown; resolved_at?: string | null; position?: PositionRec;
  discussion_id?: string; [k: string]: unknown;
};
export type DiscussionJson = { id: string; individual_note: boolean; notes: NoteJson[] };

export const LINE_CODE_ERROR = { message: '400 Bad request - Note {:line_code=>["can\'t be blank", "must be a valid line code"]}' };

const iso = () => new Date().toISOString();

export class World {
  users = new Map<number, UserRec>();
  projects = new Map<number, ProjectRec>();
  /** group full path → members by user id; projects under a group inherit them */
  groupMembers = new Map<string, Map<number, MemberRec>>();
  private seq = { project: 1, mr: 100, version: 500, note: 1000, hook: 1, award: 1, protection: 1, draft: 1 };

  /** GitLab's clock for hook backoff (tests move it forward) */
  clock: () => number = Date.now;

  constructor(public url: string) {}

  nextId(kind: keyof World['seq']): number { return this.seq[kind]++; }

  // ---- lookups ------------------------------------------------------------

  user(id: number): UserRec {
    return this.users.get(id) ?? { id, username: `user${id}`, name: `User ${id}`, bot: false };
  }

  userByToken(token: string | undefined): UserRec | undefined {
    if (!token) return undefined;
    for (const u of this.users.values()) if (u.token === token) return u;
    return undefined;
  }

  /** A project by numeric id or path_with_namespace. */
  findProject(ref: number | string | { id: number }): ProjectRec | undefined {
    if (typeof ref === 'object') return this.projects.get(ref.id);
    if (typeof ref === 'number' || /^\d+$/.test(ref)) return this.projects.get(Number(ref));
    for (const p of this.projects.values()) if (p.path === ref) return p;
    return undefined;
  }

  project(ref: number | string | { id: number }): ProjectRec {
    const p = this.findProject(ref);
    if (!p) throw new HttpError(404, { message: '404 Project Not Found' });
    return p;
  }

  mr(project: ProjectRec, iid: number | string): MrRec {
    const mr = project.mrs.get(Number(iid));
    if (!mr) throw new HttpError(404, { message: '404 Merge Request Not Found' });
    return mr;
  }

  discussion(mr: MrRec, id: string): DiscussionRec {
    const d = mr.discussions.find((x) => x.id === id);
    if (!d) throw new HttpError(404, { message: '404 Discussion Not Found' });
    return d;
  }

  note(mr: MrRec, id: number | string): NoteRec {
    for (const d of mr.discussions) for (const n of d.notes) if (n.id === Number(id)) return n;
    throw new HttpError(404, { message: '404 Note Not Found' });
  }

  allNotes(mr: MrRec): NoteRec[] {
    return mr.discussions.flatMap((d) => d.notes).sort((a, b) => a.id - b.id);
  }

  latest(mr: MrRec): VersionRec { return mr.versions[mr.versions.length - 1]; }

  /** The new version is not ready yet: no diff_refs, no diff files (MergeRequests::CreatePipelineService and friends run async). */
  diffPending(mr: MrRec): boolean { return (mr.diffPendingFetches ?? 0) > 0; }

  isDraft(title: string): boolean { return /^\s*(\[draft\]|\(draft\)|draft:|draft\s-\s|\[wip\]|wip:)/i.test(title); }

  // ---- mutations ----------------------------------------------------------

  /** Validate a position like GitLab (Grape params, then the line_code lookup) and normalise it. */
  position(mr: MrRec, raw: Params): PositionRec {
    for (const k of ['base_sha', 'start_sha', 'head_sha', 'position_type']) {
      if (raw[k] === undefined || raw[k] === null || raw[k] === '') throw new HttpError(400, { error: `position[${k}] is missing` });
    }
    if (!['text', 'image'].includes(String(raw.position_type))) throw new HttpError(400, { error: 'position[position_type] does not have a valid value' });
    const pos: PositionRec = {
      base_sha: String(raw.base_sha), start_sha: String(raw.start_sha), head_sha: String(raw.head_sha),
      old_path: raw.old_path == null ? '' : String(raw.old_path), new_path: raw.new_path == null ? '' : String(raw.new_path),
      position_type: 'text',
      old_line: toInt(raw.old_line, 'position[old_line]'), new_line: toInt(raw.new_line, 'position[new_line]'),
      line_range: raw.line_range ?? null, ignore_whitespace_change: false,
    };
    const v = this.latest(mr);
    const shasOk = pos.base_sha === v.baseSha && pos.start_sha === v.startSha && pos.head_sha === v.headSha;
    if (raw.position_type !== 'text' || !shasOk || !pos.old_path || !pos.new_path) throw new HttpError(400, LINE_CODE_ERROR);
    const file = v.diffs.find((f) => f.new_path === pos.new_path) ?? v.diffs.find((f) => f.old_path === pos.old_path);
    const line = file && diffLines(file.diff).find((l) => l.oldLine === pos.old_line && l.newLine === pos.new_line);
    if (!line) throw new HttpError(400, LINE_CODE_ERROR);
    return pos;
  }

  /** The same check without the error: what a draft's `line_code` and its publishing need. */
  tryPosition(mr: MrRec, raw: Params): PositionRec | undefined {
    try { return this.position(mr, raw); } catch (e) { if (e instanceof HttpError) return undefined; throw e; }
  }

  /** Create a note the way Notes::CreateService does: a new discussion, or a reply in an existing one. */
  createNote(mr: MrRec, authorId: number, rawBody: string, opts: { kind: 'note' | 'discussion'; position?: PositionRec | null; replyTo?: DiscussionRec; system?: boolean; inReview?: boolean }): NoteRec {
    const now = iso();
    const { content: body, commands } = opts.system ? { content: rawBody, commands: [] } : extractCommands(rawBody);
    if (commands.length && body === '') {
      const phantom = { id: 0, body: '', authorId, commandsOnly: true } as NoteRec;
      applyCommands(mr, authorId, 0, commands, (n) => this.userIdByName(n));
      return phantom;
    }
    let d = opts.replyTo;
    let type: NoteType = opts.position ? 'DiffNote' : opts.kind === 'discussion' ? 'DiscussionNote' : null;
    let position = opts.position ?? null;
    if (d) {
      const first = d.notes[0];
      if (d.individualNote) {
        if (first.system) throw new HttpError(400, { message: '400 Bad request - Discussion can not be replied to.' });
        d.individualNote = false; // convert_to_discussion!
        first.type = 'DiscussionNote';
      }
      type = first.type === 'DiffNote' ? 'DiffNote' : 'DiscussionNote';
      position = first.position;
    } else {
      d = { id: randomBytes(20).toString('hex'), individualNote: type === null, notes: [] };
      mr.discussions.push(d);
    }
    const note: NoteRec = {
      id: this.nextId('note'), type, body, authorId, createdAt: now, updatedAt: now, system: !!opts.system,
      position, resolved: false, resolvedById: null, resolvedAt: null, discussion: d, mr, awards: [],
    };
    if (opts.replyTo && this.discussionResolved(d) && this.resolvable(note)) {
      Object.assign(note, { resolved: true, resolvedById: authorId, resolvedAt: now });
    }
    d.notes.push(note);
    mr.updatedAt = now;
    if (commands.length) applyCommands(mr, authorId, note.id, commands, (n) => this.userIdByName(n));
    if (!note.system) this.notify(note, []);
    // Note#skip_notification?: a note published in a review is told in the review's one email
    if (!note.system && !opts.inReview) mr.emails.push({ kind: 'note', userId: authorId, noteIds: [note.id] });
    return note;
  }

  /** Notes::UpdateService: quick actions run on edits too; a note left with only commands is deleted. */
  updateNoteBody(n: NoteRec, rawBody: string): NoteRec | undefined {
    const before = extractMentions(n.body);
    const { content, commands } = extractCommands(rawBody);
    if (commands.length) applyCommands(n.mr, n.authorId, n.id, commands, (x) => this.userIdByName(x));
    if (commands.length && content === '') {
      n.discussion.notes = n.discussion.notes.filter((x) => x !== n);
      if (!n.discussion.notes.length) n.mr.discussions = n.mr.discussions.filter((x) => x !== n.discussion);
      return undefined;
    }
    Object.assign(n, { body: content, updatedAt: iso() });
    this.notify(n, before);
    return n;
  }

  /** New mentions notify (`@all`/`@here` everyone); recorded so tests can see who GitLab would have told. */
  private notify(n: NoteRec, already: string[]): void {
    for (const mention of extractMentions(n.body)) {
      if (already.includes(mention)) continue;
      const lower = mention.toLowerCase();
      const kind = lower === 'all' || lower === 'here' ? lower : this.userIdByName(mention) !== undefined ? 'user' : 'group';
      n.mr.notifications.push({ noteId: n.id, userId: n.authorId, mention, kind });
    }
  }

  userIdByName(name: string): number | undefined {
    for (const u of this.users.values()) if (u.username.toLowerCase() === name.toLowerCase()) return u.id;
    return undefined;
  }

  resolvable(n: NoteRec): boolean { return !n.system && (n.type === 'DiffNote' || n.type === 'DiscussionNote'); }

  discussionResolvable(d: DiscussionRec): boolean { return d.notes.some((n) => this.resolvable(n)); }

  discussionResolved(d: DiscussionRec): boolean {
    const r = d.notes.filter((n) => this.resolvable(n));
    return r.length > 0 && r.every((n) => n.resolved);
  }

  setResolved(notes: NoteRec[], resolved: boolean, userId: number): void {
    const now = iso();
    for (const n of notes) {
      if (!this.resolvable(n)) continue;
      if (resolved && !n.resolved) Object.assign(n, { resolved: true, resolvedById: userId, resolvedAt: now });
      if (!resolved) Object.assign(n, { resolved: false, resolvedById: null, resolvedAt: null });
    }
  }

  // ---- REST shapes --------------------------------------------------------

  userBasic(id: number) {
    const u = this.user(id);
    return {
      id: u.id, username: u.username, public_email: null, name: u.name, state: 'active', locked: false,
      avatar_url: `https://www.gravatar.com/avatar/${u.id}?s=80&d=identicon`, web_url: `${this.url}/${u.username}`,
    };
  }

  userFull(id: number) {
    const u = this.user(id);
    return {
      ...this.userBasic(id), created_at: '2024-01-01T00:00:00.000Z', bio: '', location: '', linkedin: '', twitter: '', discord: '',
      website_url: '', github: '', job_title: '', pronouns: null, organization: '', bot: u.bot, work_information: null,
      followers: 0, following: 0, is_followed: false, local_time: null, last_sign_in_at: null, confirmed_at: '2024-01-01T00:00:00.000Z',
      last_activity_on: iso().slice(0, 10), email: `${u.username}@standin.test`, theme_id: 1, color_scheme_id: 1, projects_limit: 100000,
      current_sign_in_at: null, identities: [], can_create_group: !u.bot, can_create_project: !u.bot, two_factor_enabled: false,
      external: false, private_profile: false, commit_email: `${u.username}@standin.test`, preferred_language: 'en', shared_runners_minutes_limit: null,
      extra_shared_runners_minutes_limit: null, scim_identities: [],
    };
  }

  projectJson(p: ProjectRec) {
    const ns = p.path.includes('/') ? p.path.slice(0, p.path.lastIndexOf('/')) : p.path;
    const web = `${this.url}/${p.path}`;
    return {
      id: p.id, description: null, name: p.name, name_with_namespace: `${ns} / ${p.name}`, path: p.path.split('/').pop(),
      path_with_namespace: p.path, created_at: p.createdAt, default_branch: p.defaultBranch, tag_list: [], topics: [],
      ssh_url_to_repo: `git@127.0.0.1:${p.path}.git`, http_url_to_repo: `${web}.git`, web_url: web,
      readme_url: null, forks_count: 0, avatar_url: null, star_count: 0, last_activity_at: p.createdAt,
      namespace: { id: p.id + 1000, name: ns, path: ns.split('/').pop(), kind: 'group', full_path: ns, parent_id: null, avatar_url: null, web_url: `${this.url}/groups/${ns}` },
      container_registry_image_prefix: '', _links: { self: `${this.url}/api/v4/projects/${p.id}` },
      empty_repo: false, archived: false, visibility: 'private', resolve_outdated_diff_discussions: false,
      issues_enabled: true, merge_requests_enabled: true, wiki_enabled: false, jobs_enabled: true, snippets_enabled: false,
      merge_method: 'merge', squash_option: 'default_off', only_allow_merge_if_all_discussions_are_resolved: false,
      permissions: { project_access: { access_level: 30, notification_level: 3 }, group_access: null },
    };
  }

  mrWebUrl(mr: MrRec): string { return `${this.url}/${mr.project.path}/-/merge_requests/${mr.iid}`; }

  mrJson(mr: MrRec) {
    const v = this.latest(mr);
    const draft = this.isDraft(mr.title);
    const discussionsResolved = mr.discussions.every((d) => !this.discussionResolvable(d) || this.discussionResolved(d));
    return {
      id: mr.id, iid: mr.iid, project_id: mr.project.id, title: mr.title, description: mr.description, state: mr.state,
      created_at: mr.createdAt, updated_at: mr.updatedAt,
      merged_by: mr.mergedById ? this.userBasic(mr.mergedById) : null, merge_user: mr.mergedById ? this.userBasic(mr.mergedById) : null,
      merged_at: mr.mergedAt, closed_by: mr.closedById ? this.userBasic(mr.closedById) : null, closed_at: mr.closedAt,
      target_branch: mr.targetBranch, source_branch: mr.sourceBranch,
      user_notes_count: this.allNotes(mr).filter((n) => !n.system).length, upvotes: 0, downvotes: 0,
      author: this.userBasic(mr.authorId), assignees: mr.assignees.map((u) => this.userBasic(u)),
      assignee: mr.assignees.length ? this.userBasic(mr.assignees[0]) : null, reviewers: mr.reviewers.map((u) => this.userBasic(u)),
      source_project_id: (mr.sourceProject ?? mr.project).id, target_project_id: mr.project.id, labels: [...mr.labels], draft, imported: false, imported_from: 'none',
      work_in_progress: draft, milestone: null, merge_when_pipeline_succeeds: false,
      merge_status: mr.state === 'opened' ? 'can_be_merged' : 'unchecked',
      detailed_merge_status: mr.state !== 'opened' ? 'not_open' : draft ? 'draft_status' : discussionsResolved ? 'mergeable' : 'discussions_not_resolved',
      merge_after: null, sha: v.headSha, merge_commit_sha: null, squash_commit_sha: null, discussion_locked: mr.discussionLocked || null,
      should_remove_source_branch: null, force_remove_source_branch: true, prepared_at: mr.createdAt, allow_collaboration: mr.sourceProject ? !!mr.allowCollaboration : false,
      allow_maintainer_to_push: mr.sourceProject ? !!mr.allowCollaboration : false, reference: `!${mr.iid}`,
      references: { short: `!${mr.iid}`, relative: `!${mr.iid}`, full: `${mr.project.path}!${mr.iid}` },
      web_url: this.mrWebUrl(mr),
      time_stats: { time_estimate: 0, total_time_spent: 0, human_time_estimate: null, human_total_time_spent: null },
      squash: false, squash_on_merge: false, task_completion_status: { count: 0, completed_count: 0 }, has_conflicts: false,
      blocking_discussions_resolved: discussionsResolved, approvals_before_merge: null, subscribed: false,
      changes_count: this.diffPending(mr) ? null : v.overflow ? `${v.overflow.limit}+` : String(v.diffs.length), latest_build_started_at: null, latest_build_finished_at: null,
      first_deployed_to_production_at: null, pipeline: null, head_pipeline: null,
      diff_refs: this.diffPending(mr) ? null : { base_sha: v.baseSha, head_sha: v.headSha, start_sha: v.startSha },
      merge_error: null, first_contribution: false, user: { can_merge: true },
    };
  }

  versionJson(mr: MrRec, v: VersionRec) {
    return {
      id: v.id, head_commit_sha: v.headSha, base_commit_sha: v.baseSha, start_commit_sha: v.startSha, created_at: v.createdAt,
      merge_request_id: mr.id, state: 'collected', real_size: String(v.diffs.length), patch_id_sha: v.headSha,
    };
  }

  noteJson(n: NoteRec): NoteJson {
    const resolvable = this.resolvable(n);
    return {
      id: n.id, type: n.type, body: n.body, attachment: null, author: this.userBasic(n.authorId),
      created_at: n.createdAt, updated_at: n.updatedAt, system: n.system, noteable_id: n.mr.id, noteable_type: 'MergeRequest',
      project_id: n.mr.project.id,
      ...(n.type === 'DiffNote' ? { commit_id: null, position: n.position! } : {}),
      resolvable,
      ...(resolvable ? { resolved: n.resolved, resolved_by: n.resolvedById ? this.userBasic(n.resolvedById) : null, resolved_at: n.resolvedAt } : {}),
      confidential: false, internal: false, imported: false, imported_from: 'none', noteable_iid: n.mr.iid, commands_changes: {},
    };
  }

  discussionJson(d: DiscussionRec): DiscussionJson {
    return { id: d.id, individual_note: d.individualNote, notes: d.notes.map((n) => this.noteJson(n)) };
  }

  awardJson(n: NoteRec, a: AwardRec) {
    return { id: a.id, name: a.name, user: this.userBasic(a.userId), created_at: a.createdAt, updated_at: a.createdAt, awardable_id: n.id, awardable_type: 'Note' };
  }

  hookJson(h: HookRec) {
    const { token: _t, signing_token: _s, projectId, createdAt, recentFailures: _f, disabledUntil: _d, ...rest } = h;
    return { ...rest, project_id: projectId, created_at: createdAt, ...hookHealthJson(h, this.clock()) };
  }

  /** GitLab's line_code of a DiffNote (null for other notes). */
  lineCodeOf(n: NoteRec): string | null {
    const p = n.position;
    if (!p) return null;
    const v = n.mr.versions.find((x) => x.headSha === p.head_sha) ?? this.latest(n.mr);
    const file = v.diffs.find((f) => f.new_path === p.new_path);
    const line = file && diffLines(file.diff).find((l) => l.oldLine === p.old_line && l.newLine === p.new_line);
    return line ? lineCode(p.new_path, line.oldPos, line.newPos) : null;
  }
}

export function defaultHook(): Record<string, unknown> {
  return {
    name: '', description: '', push_events: true, push_events_branch_filter: '', branch_filter_strategy: 'wildcard',
    issues_events: false, confidential_issues_events: false, merge_requests_events: false, tag_push_events: false,
    note_events: false, confidential_note_events: false, job_events: false, pipeline_events: false, wiki_page_events: false,
    deployment_events: false, feature_flag_events: false, releases_events: false, milestone_events: false, emoji_events: false,
    resource_access_token_events: false, vulnerability_events: false, repository_update_events: false,
    enable_ssl_verification: true, alert_status: 'executable', disabled_until: null, url_variables: [],
    custom_webhook_template: '', custom_headers: [],
  };
}
