/**
 * Webhook payloads in GitLab's shapes (doc/user/project/integrations/webhook_events.md,
 * lib/gitlab/hook_data/*_builder.rb), filled with the stand-in's live values.
 */
import { randomUUID } from 'node:crypto';
import type { MrRec, NoteRec, ProjectRec, World } from './model.js';

/** "2015-05-17 18:21:36 UTC", the format of note hook timestamps */
const utc = (isoTime: string) => isoTime.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
const STATE_ID = { opened: 1, closed: 2, merged: 3, locked: 4 } as const;

export function projectHookAttrs(w: World, p: ProjectRec) {
  const web = `${w.url}/${p.path}`;
  const ns = p.path.includes('/') ? p.path.slice(0, p.path.lastIndexOf('/')) : p.path;
  return {
    id: p.id, name: p.name, description: '', web_url: web, avatar_url: null,
    git_ssh_url: `git@127.0.0.1:${p.path}.git`, git_http_url: `${web}.git`, namespace: ns, visibility_level: 0,
    path_with_namespace: p.path, default_branch: p.defaultBranch, ci_config_path: '', homepage: web,
    url: `${web}.git`, ssh_url: `git@127.0.0.1:${p.path}.git`, http_url: `${web}.git`,
  };
}

export function userHookAttrs(w: World, id: number) {
  const u = w.user(id);
  return { id: u.id, name: u.name, username: u.username, avatar_url: `https://www.gravatar.com/avatar/${u.id}?s=80&d=identicon`, email: '[REDACTED]' };
}

function repositoryAttrs(w: World, p: ProjectRec) {
  const web = `${w.url}/${p.path}`;
  return { name: p.name, url: `${web}.git`, description: '', homepage: web };
}

/** MergeRequest#hook_attrs: object_attributes of a Merge Request Hook, and `merge_request` of a Note Hook. */
export function mrHookAttrs(w: World, mr: MrRec) {
  const v = w.latest(mr);
  const c = mr.project.commits.get(v.headSha);
  const json = w.mrJson(mr);
  return {
    assignee_id: null, author_id: mr.authorId, created_at: utc(mr.createdAt), description: mr.description,
    draft: json.draft, head_pipeline_id: null, id: mr.id, iid: mr.iid, last_edited_at: null, last_edited_by_id: null,
    merge_commit_sha: null, merge_error: null, merge_params: { force_remove_source_branch: '1' }, merge_status: json.merge_status,
    merge_user_id: null, merge_when_pipeline_succeeds: false, milestone_id: null, source_branch: mr.sourceBranch,
    source_project_id: (mr.sourceProject ?? mr.project).id, state_id: STATE_ID[mr.state], target_branch: mr.targetBranch,
    target_project_id: mr.project.id, time_estimate: 0, title: mr.title, updated_at: utc(mr.updatedAt), updated_by_id: null,
    prepared_at: utc(mr.createdAt), assignee_ids: [], blocking_discussions_resolved: json.blocking_discussions_resolved,
    detailed_merge_status: json.detailed_merge_status, first_contribution: false, human_time_change: null,
    human_time_estimate: null, human_total_time_spent: null, labels: [],
    last_commit: {
      id: v.headSha, message: c?.message ?? '', title: c?.title ?? '', timestamp: c?.timestamp ?? '',
      url: `${w.url}/${mr.project.path}/-/commit/${v.headSha}`, author: { name: c?.authorName ?? '', email: c?.authorEmail ?? '' },
    },
    reviewer_ids: [], source: projectHookAttrs(w, mr.sourceProject ?? mr.project), state: mr.state, system: false,
    target: projectHookAttrs(w, mr.project), time_change: 0, total_time_spent: 0, url: w.mrWebUrl(mr),
    work_in_progress: json.draft,
  };
}

export type MrAction = 'open' | 'reopen' | 'update' | 'close' | 'merge' | 'approved' | 'unapproved' | 'approval' | 'unapproval';
export interface UserArg { id: number; username?: string; name?: string }

/** action null: MergeRequest#to_hook_data without an action, what the "Test" button sends */
export function buildMrHook(w: World, mr: MrRec, action: MrAction | null, extra: { oldrev?: string; changes?: object; user?: UserArg } = {}) {
  const userId = extra.user?.id ?? mr.authorId;
  if (extra.user && !w.users.has(userId)) w.users.set(userId, { id: userId, username: extra.user.username ?? `user${userId}`, name: extra.user.name ?? extra.user.username ?? `User ${userId}`, bot: false });
  const attrs: Record<string, unknown> = { ...mrHookAttrs(w, mr), ...(action ? { action } : {}) };
  if (extra.oldrev) attrs.oldrev = extra.oldrev;
  return {
    object_kind: 'merge_request', event_type: 'merge_request', user: userHookAttrs(w, userId),
    project: projectHookAttrs(w, mr.project), object_attributes: attrs, labels: [], changes: extra.changes ?? {},
    repository: repositoryAttrs(w, mr.project), assignees: [], reviewers: [],
  };
}

export function buildNoteHook(w: World, n: NoteRec, action: 'create' | 'update' = 'create') {
  const mr = n.mr;
  const p = mr.project;
  const position = n.position ? { ...n.position } : null;
  return {
    object_kind: 'note', event_type: 'note', user: userHookAttrs(w, n.authorId), project_id: p.id,
    project: projectHookAttrs(w, p), repository: repositoryAttrs(w, p),
    object_attributes: {
      attachment: null, author_id: n.authorId, change_position: null, commit_id: n.type === 'DiffNote' ? null : '',
      created_at: utc(n.createdAt), discussion_id: n.discussion.id, id: n.id, internal: false, line_code: w.lineCodeOf(n),
      note: n.body, noteable_id: mr.id, noteable_type: 'MergeRequest', original_position: position, position,
      project_id: p.id, resolved_at: n.resolvedAt ? utc(n.resolvedAt) : null, resolved_by_id: n.resolvedById,
      resolved_by_push: null, st_diff: null, system: n.system, type: n.type, updated_at: utc(n.updatedAt),
      updated_by_id: action === 'update' ? n.authorId : null, description: n.body, url: `${w.mrWebUrl(mr)}#note_${n.id}`, action,
    },
    merge_request: mrHookAttrs(w, mr),
  };
}

const EVENT_HEADER: Record<string, [string, string]> = {
  merge_request: ['Merge Request Hook', 'merge_requests_events'],
  note: ['Note Hook', 'note_events'],
  push: ['Push Hook', 'push_events'],
};

/**
 * Which hooks get a payload, and its X-Gitlab-Event. Internal (confidential) notes go only to hooks with
 * `confidential_note_events`, as "Confidential Note Hook" (Notes::PostProcessService#execute_note_hooks).
 */
function eventOf(payload: { object_kind?: string; object_attributes?: { internal?: boolean } }): [string, string] | undefined {
  if (payload.object_kind === 'note' && payload.object_attributes?.internal) return ['Confidential Note Hook', 'confidential_note_events'];
  return EVENT_HEADER[payload.object_kind ?? ''];
}

/** The headers GitLab's WebHookService sends. */
export function hookHeaders(w: World, payload: { object_kind?: string }, opts: { token?: string; idempotencyKey?: string } = {}): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitLab/18.0.0-standin',
    'x-gitlab-event': eventOf(payload)?.[0] ?? 'System Hook',
    'x-gitlab-webhook-uuid': randomUUID(),
    'x-gitlab-event-uuid': randomUUID(),
    'x-gitlab-instance': w.url,
    'idempotency-key': opts.idempotencyKey ?? randomUUID(),
  };
  if (opts.token !== undefined) h['x-gitlab-token'] = opts.token;
  return h;
}

export function hookEventFlag(payload: { object_kind?: string }): string | undefined {
  return eventOf(payload)?.[1];
}

export interface PushedCommit { id: string; message: string; title: string; timestamp: string; authorName: string; authorEmail: string; added: string[]; modified: string[]; removed: string[] }

/** Gitlab::DataBuilder::Push: what a Push Hook carries (commits newest first, at most 20 listed). */
export function buildPushHook(w: World, p: ProjectRec, o: { before: string | null; after: string; ref: string; userId: number; protectedRef: boolean; commits: PushedCommit[] }) {
  const u = w.user(o.userId);
  return {
    object_kind: 'push', event_name: 'push', before: o.before ?? '0'.repeat(40), after: o.after, ref: o.ref, ref_protected: o.protectedRef,
    checkout_sha: o.after, message: null, user_id: u.id, user_name: u.name, user_username: u.username, user_email: '',
    user_avatar: `https://www.gravatar.com/avatar/${u.id}?s=80&d=identicon`, project_id: p.id, project: projectHookAttrs(w, p),
    commits: o.commits.slice(0, 20).map((c) => ({
      id: c.id, message: c.message, title: c.title, timestamp: c.timestamp, url: `${w.url}/${p.path}/-/commit/${c.id}`,
      author: { name: c.authorName, email: c.authorEmail }, added: c.added, modified: c.modified, removed: c.removed,
    })),
    total_commits_count: o.commits.length, push_options: {}, repository: { ...repositoryAttrs(w, p), git_http_url: `${w.url}/${p.path}.git`, git_ssh_url: `git@127.0.0.1:${p.path}.git`, visibility_level: 0 },
  };
}
