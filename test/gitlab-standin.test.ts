import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Gitlab, GitbeakerRequestError, GitbeakerRetryError, GitbeakerTimeoutError } from '@gitbeaker/rest';
import { startGitlabStandin, type GitlabStandin, type StandinMr, type StandinProject } from '../standins/gitlab.js';
import { gitEnv, run } from '../standins/gitlab/git.js';
import { GitLabClient } from '../src/gitlab/client.js';

const LINE_CODE_MSG = '400 Bad request - Note {:line_code=>["can\'t be blank", "must be a valid line code"]}';
const lines = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i + 1)).join('\n') + '\n';

/** status and headers of a gitbeaker error live on `cause.response` (a fetch Response) */
async function failure(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

let s: GitlabStandin;
let p: StandinProject;
let mr: StandinMr;
let api: InstanceType<typeof Gitlab>;
let tmp: string;

beforeAll(async () => {
  s = await startGitlabStandin();
  s.addUser({ id: 7, username: 'alice', name: 'Alice' });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'standin-test-'));
  const many: Record<string, string> = {};
  for (let i = 0; i < 45; i++) many[`gen/f${String(i).padStart(2, '0')}.txt`] = `file ${i}\n`;
  p = await s.createProject('group/app', {
    'README.md': 'hello\n',
    'src/a.ts': lines(30, (i) => `line ${i}`),
    'old.txt': 'to be deleted\n',
    'link': { symlink: 'README.md' },
  });
  await s.commit(p, 'feature', {
    'src/a.ts': lines(31, (i) => (i === 5 ? 'changed 5' : i === 31 ? 'added 31' : `line ${i}`)).replace('line 20\n', ''),
    'old.txt': null,
    ...many,
  }, 'Feature work');
  mr = await s.createMr(p, { sourceBranch: 'feature', title: 'Add feature', description: 'Adds things', authorId: 7 });
  api = new Gitlab({ host: s.url, token: s.token });
});

afterAll(async () => {
  await s?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('REST through gitbeaker', () => {
  it('identifies the bot and its token', async () => {
    const me: any = await api.Users.showCurrentUser();
    expect(me).toMatchObject({ id: s.bot.id, username: s.bot.username, bot: true, state: 'active' });
    const pat: any = await api.PersonalAccessTokens.show();
    expect(pat).toMatchObject({ scopes: ['api'], active: true, revoked: false });
    expect(pat.expires_at).toMatch(/^\d{4}-\d\d-\d\d$/);
  });

  it('rejects a wrong token with 401', async () => {
    const e = await failure(new Gitlab({ host: s.url, token: 'nope' }).Users.showCurrentUser());
    expect(e).toBeInstanceOf(GitbeakerRequestError);
    expect(e.cause.response.status).toBe(401);
    expect(e.message).toBe('401 Unauthorized');
    const bearer = await fetch(`${s.url}/api/v4/user`, { headers: { authorization: `Bearer ${s.token}` } });
    expect(bearer.status).toBe(200);
  });

  it('shows projects by id and by path', async () => {
    const byPath: any = await api.Projects.show('group/app');
    const byId: any = await api.Projects.show(p.id);
    expect(byId).toEqual(byPath);
    expect(byId).toMatchObject({ id: p.id, name: 'app', path: 'app', path_with_namespace: 'group/app', default_branch: 'main', http_url_to_repo: p.httpUrl, web_url: `${s.url}/group/app` });
    expect(s.log.some((l) => l.path === '/api/v4/projects/group%2Fapp')).toBe(true);
    const e = await failure(api.Projects.show('group/none'));
    expect(e.cause.response.status).toBe(404);
  });

  it('shows an MR with diff_refs', async () => {
    const m: any = await api.MergeRequests.show(p.id, 1);
    expect(m).toMatchObject({
      iid: 1, id: mr.id, project_id: p.id, title: 'Add feature', description: 'Adds things', state: 'opened', draft: false,
      work_in_progress: false, source_branch: 'feature', target_branch: 'main', sha: mr.headSha,
      diff_refs: { base_sha: mr.baseSha, start_sha: mr.startSha, head_sha: mr.headSha },
      web_url: `${s.url}/group/app/-/merge_requests/1`, author: { id: 7, username: 'alice', name: 'Alice' }, detailed_merge_status: 'mergeable',
    });
  });

  it('pages through all diffs, computed by git', async () => {
    const before = s.log.length;
    const diffs: any[] = await api.MergeRequests.allDiffs(p.id, 1);
    expect(diffs).toHaveLength(47);
    expect(s.log.slice(before).map((l) => l.query)).toEqual(['', 'page=2&per_page=20', 'page=3&per_page=20']);
    // GitLab's order: directories first
    expect(diffs.map((d) => d.new_path).slice(0, 1)).toEqual(['gen/f00.txt']);
    expect(diffs.map((d) => d.new_path).slice(-2)).toEqual(['src/a.ts', 'old.txt']);
    const a = diffs.find((d) => d.new_path === 'src/a.ts');
    expect(a).toMatchObject({ old_path: 'src/a.ts', a_mode: '100644', b_mode: '100644', new_file: false, renamed_file: false, deleted_file: false, generated_file: false });
    expect(a.diff).toMatch(/^@@ -2,7 \+2,7 @@/);
    expect(a.diff).toContain('-line 5\n+changed 5\n');
    expect(a.diff).toContain('+added 31\n');
    expect(diffs.find((d) => d.old_path === 'old.txt')).toMatchObject({ deleted_file: true, b_mode: '0', diff: '@@ -1 +0,0 @@\n-to be deleted\n' });
    expect(diffs.find((d) => d.new_path === 'gen/f07.txt')).toMatchObject({ new_file: true, a_mode: '0', diff: '@@ -0,0 +1 @@\n+file 7\n' });

    const limited = await api.MergeRequests.allDiffs(p.id, 1, { perPage: 10, maxPages: 2 });
    expect(limited).toHaveLength(20);
    const expanded: any = await api.MergeRequests.allDiffs(p.id, 1, { perPage: 100, showExpanded: true });
    expect(expanded.paginationInfo).toMatchObject({ total: 47, perPage: 100, totalPages: 1, next: null });
  });

  it('lists versions, newest first', async () => {
    const v: any[] = await api.MergeRequests.allDiffVersions(p.id, 1);
    expect(v[0]).toMatchObject({ head_commit_sha: mr.headSha, base_commit_sha: mr.baseSha, start_commit_sha: mr.startSha, state: 'collected' });
    const one: any = await api.MergeRequests.showDiffVersion(p.id, 1, v[0].id);
    expect(one.diffs).toHaveLength(47);
  });
});

describe('discussions and notes', () => {
  const pos = (o: Record<string, unknown>) => ({ baseSha: mr.baseSha, startSha: mr.startSha, headSha: mr.headSha, positionType: 'text', oldPath: 'src/a.ts', newPath: 'src/a.ts', ...o }) as any;
  let diffDiscussion: any;

  it('creates a diff thread on an added line (multipart position)', async () => {
    diffDiscussion = await api.MergeRequestDiscussions.create(p.id, 1, 'Finding on line 5', { position: pos({ newLine: 5 }) });
    expect(diffDiscussion.id).toMatch(/^[0-9a-f]{40}$/);
    expect(diffDiscussion.individual_note).toBe(false);
    expect(diffDiscussion.notes).toHaveLength(1);
    expect(diffDiscussion.notes[0]).toMatchObject({
      type: 'DiffNote', body: 'Finding on line 5', author: { id: s.bot.id, username: s.bot.username }, system: false,
      noteable_id: mr.id, noteable_type: 'MergeRequest', noteable_iid: 1, resolvable: true, resolved: false, resolved_by: null,
      position: { base_sha: mr.baseSha, start_sha: mr.startSha, head_sha: mr.headSha, position_type: 'text', old_path: 'src/a.ts', new_path: 'src/a.ts', old_line: null, new_line: 5 },
    });
    const entry = s.log[s.log.length - 1];
    expect(entry).toMatchObject({ method: 'POST', status: 201 });
    // gitbeaker sends multipart fields position[new_line]=5 (a string)
    expect(entry.body).toMatchObject({ body: 'Finding on line 5', position: { new_line: '5', position_type: 'text' } });
  });

  it('accepts a removed line (old_line only) and a context line (both)', async () => {
    const removed: any = await api.MergeRequestDiscussions.create(p.id, 1, 'removed', { position: pos({ oldLine: 5 }) });
    expect(removed.notes[0].position).toMatchObject({ old_line: 5, new_line: null });
    const ctx: any = await api.MergeRequestDiscussions.create(p.id, 1, 'context', { position: pos({ oldLine: 4, newLine: 4 }) });
    expect(ctx.notes[0].position).toMatchObject({ old_line: 4, new_line: 4 });
  });

  it('rejects positions GitLab cannot map with the line_code 400', async () => {
    const bad = [
      pos({ newLine: 15 }), // unchanged line outside every hunk
      pos({ newLine: 4 }), // context line without old_line
      pos({ oldLine: 4 }), // context line without new_line
      pos({ newLine: 5, headSha: mr.baseSha }), // stale SHAs
      pos({ newLine: 5, oldPath: undefined }), // one path missing
    ];
    for (const position of bad) {
      const e = await failure(api.MergeRequestDiscussions.create(p.id, 1, 'x', { position }));
      expect(e).toBeInstanceOf(GitbeakerRequestError);
      expect(e.message).toBe(LINE_CODE_MSG);
      expect(e.cause.description).toBe(LINE_CODE_MSG);
      expect(e.cause.response.status).toBe(400);
      expect(e.cause.response.headers.get('content-type')).toContain('application/json');
    }
    expect(s.log.filter((l) => l.status === 400)).toHaveLength(bad.length);
  });

  it('parses JSON and urlencoded bodies too; a thread without position is a DiscussionNote', async () => {
    const plain: any = await api.MergeRequestDiscussions.create(p.id, 1, 'General thread');
    expect(plain.notes[0]).toMatchObject({ type: 'DiscussionNote', resolvable: true, resolved: false });
    expect(plain.notes[0]).not.toHaveProperty('position');
    const headers = { 'private-token': s.token };
    const url = `${s.url}/api/v4/projects/${encodeURIComponent('group/app')}/merge_requests/1/discussions`;
    const position = { base_sha: mr.baseSha, start_sha: mr.startSha, head_sha: mr.headSha, position_type: 'text', old_path: 'src/a.ts', new_path: 'src/a.ts' };
    const json = await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ body: 'json', position: { ...position, new_line: 5 } }) });
    expect(json.status).toBe(201);
    const form = new URLSearchParams({ body: 'form', ...Object.fromEntries(Object.entries(position).map(([k, v]) => [`position[${k}]`, v])), 'position[old_line]': '5' });
    const enc = await fetch(url, { method: 'POST', headers, body: form });
    expect(enc.status).toBe(201);
    expect(((await enc.json()) as any).notes[0].position).toMatchObject({ old_line: 5, new_line: null });
    const missing = await fetch(url, { method: 'POST', headers, body: new URLSearchParams({ body: 'x', 'position[position_type]': 'text' }) });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: 'position[base_sha] is missing' });
  });

  it('replies in a diff thread and resolves it', async () => {
    const reply: any = await api.MergeRequestDiscussions.addNote(p.id, 1, diffDiscussion.id, 'More detail');
    expect(reply).toMatchObject({ type: 'DiffNote', body: 'More detail', position: { new_line: 5 }, resolvable: true });
    const resolved: any = await api.MergeRequestDiscussions.resolve(p.id, 1, diffDiscussion.id, true);
    expect(resolved.notes.every((n: any) => n.resolved && n.resolved_by.id === s.bot.id)).toBe(true);
    expect(s.log[s.log.length - 1]).toMatchObject({ method: 'PUT', query: 'resolved=true' });
    const unresolved: any = await api.MergeRequestDiscussions.editNote(p.id, 1, diffDiscussion.id, reply.id, { resolved: false });
    expect(unresolved.resolved).toBe(false);
    const edited: any = await api.MergeRequestDiscussions.editNote(p.id, 1, diffDiscussion.id, reply.id, { body: 'Edited detail' });
    expect(edited.body).toBe('Edited detail');
    const shown: any = await api.MergeRequestDiscussions.show(p.id, 1, diffDiscussion.id);
    expect(shown.notes.map((n: any) => n.body)).toEqual(['Finding on line 5', 'Edited detail']);
  });

  it('creates and edits plain notes; a reply turns one into a thread', async () => {
    const note: any = await api.MergeRequestNotes.create(p.id, 1, 'Summary v1');
    expect(note).toMatchObject({ type: null, body: 'Summary v1', resolvable: false, noteable_iid: 1 });
    expect(note).not.toHaveProperty('resolved');
    const edited: any = await api.MergeRequestNotes.edit(p.id, 1, note.id, { body: 'Summary v2' });
    expect(edited.body).toBe('Summary v2');
    const d = s.discussions(p.id, 1).find((x) => x.notes[0].id === note.id)!;
    expect(d.individual_note).toBe(true);
    // a human answers the summary: the note becomes a DiscussionNote thread
    const { note: human, discussion } = s.addNote(p, 1, 7, '@review-bot why?', { discussionId: d.id });
    expect(human).toMatchObject({ type: 'DiscussionNote', author: { username: 'alice' } });
    expect(discussion.individual_note).toBe(false);
    expect(discussion.notes[0].type).toBe('DiscussionNote');
    // the bot may not edit a human's note
    const e = await failure(api.MergeRequestNotes.edit(p.id, 1, human.id, { body: 'hijack' }));
    expect(e.cause.response.status).toBe(403);
    // GitLab lists notes newest first
    const listed: any[] = await api.MergeRequestNotes.all(p.id, 1);
    expect(listed[0].id).toBe(human.id);
    const all: any[] = await api.MergeRequestDiscussions.all(p.id, 1, { perPage: 100 });
    expect(all.map((x) => x.id)).toEqual(s.discussions(p.id, 1).map((x) => x.id));
    expect(s.notes(p.id, 1).map((n) => n.id)).toEqual([...s.notes(p.id, 1).map((n) => n.id)].sort((a, b) => a - b));
  });

  it('awards an emoji on a note', async () => {
    const { note } = s.addNote(p, 1, 7, 'please look');
    const award: any = await api.MergeRequestNoteAwardEmojis.award(p.id, 1, note.id, 'eyes');
    expect(award).toMatchObject({ name: 'eyes', user: { id: s.bot.id }, awardable_id: note.id, awardable_type: 'Note' });
    const listed: any[] = await api.MergeRequestNoteAwardEmojis.all(p.id, 1, note.id);
    expect(listed.map((a) => a.name)).toEqual(['eyes']);
    const e = await failure(api.MergeRequestNoteAwardEmojis.award(p.id, 1, note.id, 'eyes'));
    expect(e.cause.response.status).toBe(404);
  });

  it('lets humans start diff threads, validated the same way', () => {
    const { note } = s.addNote(p, 1, 7, 'why this?', { position: { new_path: 'src/a.ts', new_line: 30 } });
    expect(note).toMatchObject({ type: 'DiffNote', position: { new_line: 30, old_path: 'src/a.ts' } });
    expect(() => s.addNote(p, 1, 7, 'x', { position: { new_path: 'src/a.ts', new_line: 15 } })).toThrow(/line_code/);
  });

  it('manages project hooks', async () => {
    const h: any = await api.ProjectHooks.add(p.id, 'http://127.0.0.1:9/hook', { token: 'sekret', mergeRequestsEvents: true, noteEvents: true, pushEvents: false });
    expect(h).toMatchObject({ url: 'http://127.0.0.1:9/hook', merge_requests_events: true, note_events: true, push_events: false, project_id: p.id });
    expect(h).not.toHaveProperty('token');
    const all: any[] = await api.ProjectHooks.all(p.id);
    expect(all).toHaveLength(1);
    const edited: any = await api.ProjectHooks.edit(p.id, h.id, 'http://127.0.0.1:9/hook2', { noteEvents: false });
    expect(edited).toMatchObject({ url: 'http://127.0.0.1:9/hook2', note_events: false, merge_requests_events: true });
    expect(s.hooks(p)[0].token).toBe('sekret');
  });
});

describe('members and protected branches', () => {
  it('shows a member with the highest of its project and inherited group levels; 404 for others', async () => {
    const show = (uid: number) => api.ProjectMembers.show(p.id, uid, { includeInherited: true }) as Promise<any>;
    expect(await show(s.bot.id)).toMatchObject({ id: s.bot.id, username: s.bot.username, access_level: 40, state: 'active', membership_state: 'active' });
    expect(await show(2)).toMatchObject({ id: 2, access_level: 30 });
    const e = await failure(show(7));
    expect(e.cause.response.status).toBe(404);
    expect(e.message).toBe('404 Not found');
    expect(s.log.at(-1)).toMatchObject({ method: 'GET', path: `/api/v4/projects/${p.id}/members/all/7`, status: 404 });

    s.setAccessLevel({ group: 'group' }, 7, 20); // inherited from the group
    expect(await show(7)).toMatchObject({ access_level: 20 });
    s.setAccessLevel(p, 7, 10); // a lower direct role does not hide the group's
    expect(await show(7)).toMatchObject({ access_level: 20 });
    s.setAccessLevel(p, 7, 40);
    expect(await show(7)).toMatchObject({ access_level: 40 });
    s.setAccessLevel({ group: 'other' }, 7, 50); // another group's role does not reach this project
    s.setAccessLevel(p, 7, null);
    s.setAccessLevel({ group: 'group' }, 7, null);
    expect((await failure(show(7))).cause.response.status).toBe(404);
    expect((await failure(show(4242))).cause.response.status).toBe(404); // no such user
  });

  it('shows a protected branch by its exact name, with its push access levels', async () => {
    expect((await failure(api.ProtectedBranches.show(p.id, 'main'))).cause.response.status).toBe(404);
    s.protectBranch(p, 'main');
    s.protectBranch(p, 'release/*', [{ accessLevel: 30 }, { userId: 7 }]);
    expect(await api.ProtectedBranches.show(p.id, 'main')).toMatchObject({
      name: 'main', allow_force_push: false,
      push_access_levels: [{ access_level: 40, access_level_description: 'Maintainers', user_id: null, group_id: null }],
    });
    const wild: any = await api.ProtectedBranches.show(p.id, 'release/*');
    expect(wild.push_access_levels).toMatchObject([{ access_level: 30, access_level_description: 'Developers + Maintainers' }, { user_id: 7, access_level_description: 'Alice' }]);
    expect(s.log.at(-1)!.path).toBe(`/api/v4/projects/${p.id}/protected_branches/release%2F*`);
    // find_by!(name:): a wildcard protection is not found under a branch it covers
    expect((await failure(api.ProtectedBranches.show(p.id, 'release/1.0'))).cause.response.status).toBe(404);
    expect(((await api.ProtectedBranches.all(p.id)) as any[]).map((b) => b.name)).toEqual(['main', 'release/*']);
    s.protectBranch(p, 'main', [{ accessLevel: 0 }]); // protecting again replaces the rules
    expect(((await api.ProtectedBranches.show(p.id, 'main')) as any).push_access_levels).toMatchObject([{ access_level: 0, access_level_description: 'No one' }]);
  });
});

describe('git over smart HTTP', () => {
  const auth = () => `Authorization: Basic ${Buffer.from(`oauth2:${s.token}`).toString('base64')}`;
  const g = (args: string[], cwd?: string) => run('git', args, { cwd, env: gitEnv() });

  it('clones with credentials, then fetches the MR head incrementally', async () => {
    const dir = path.join(tmp, 'clone');
    const clone = await g(['-c', `http.extraHeader=${auth()}`, 'clone', '-q', '--single-branch', p.httpUrl, dir]);
    expect(clone.stderr).toBe('');
    expect(clone.code).toBe(0);
    const head = await g(['rev-parse', 'HEAD'], dir);
    expect(head.stdout.toString().trim()).toBe(mr.startSha);
    const cloneReq = s.gitRequests.find((r) => r.method === 'POST' && r.command === 'fetch')!;
    expect(cloneReq).toMatchObject({ service: 'git-upload-pack', status: 200, haves: 0 });
    expect(cloneReq.bytesOut).toBeGreaterThan(0);

    const n = s.gitRequests.length;
    const fetch = await g(['-c', `http.extraHeader=${auth()}`, 'fetch', '-q', 'origin', `+refs/merge-requests/1/head:refs/mr/1`], dir);
    expect(fetch.code).toBe(0);
    expect((await g(['rev-parse', 'refs/mr/1'], dir)).stdout.toString().trim()).toBe(mr.headSha);
    const fetchReq = s.gitRequests.slice(n).find((r) => r.command === 'fetch')!;
    expect(fetchReq.haves).toBeGreaterThan(0);
  });

  it('clones with credentials in the URL; refuses a wrong password', async () => {
    const u = new URL(p.httpUrl);
    u.username = 'oauth2';
    u.password = s.token;
    expect((await g(['clone', '-q', '--bare', u.href, path.join(tmp, 'url-clone')])).code).toBe(0);
    u.password = 'wrong';
    const bad = await g(['clone', '-q', u.href, path.join(tmp, 'bad-clone')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Authentication failed|401/);
    const anon = await fetch(`${p.httpUrl}/info/refs?service=git-upload-pack`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic/);
  });

  it('moves the MR head ref and adds a version on a new commit', async () => {
    const sha = await s.commit(p, 'feature', { 'src/a.ts': lines(31, (i) => (i === 5 ? 'changed 5' : `line ${i}`)) }, 'Second pass');
    const cur = s.mr(p, 1);
    expect(cur.headSha).toBe(sha);
    const versions: any[] = await api.MergeRequests.allDiffVersions(p.id, 1);
    expect(versions).toHaveLength(2);
    expect(versions[0].head_commit_sha).toBe(sha);
    const refs = await run('git', ['ls-remote', p.httpUrl, 'refs/merge-requests/*'], { env: gitEnv({ GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: auth() }) });
    expect(refs.stdout.toString()).toContain(`${sha}\trefs/merge-requests/1/head`);
    // the old position is stale now
    const e = await failure(api.MergeRequestDiscussions.create(p.id, 1, 'stale', { position: { baseSha: mr.baseSha, startSha: mr.startSha, headSha: mr.headSha, positionType: 'text', oldPath: 'src/a.ts', newPath: 'src/a.ts', newLine: 5 } as any }));
    expect(e.cause.response.status).toBe(400);
    // a system note says so, hidden from notes()
    expect(s.discussions(p, 1).some((d) => d.notes[0].system && d.notes[0].body.startsWith('added 1 commit'))).toBe(true);
    expect(s.notes(p, 1).every((x) => !x.system)).toBe(true);
    mr = cur;
  });
});

describe('failures on demand (and what gitbeaker does with them)', () => {
  it('500 is not retried by gitbeaker: two failures, then success', async () => {
    s.fail({ method: 'GET', path: /\/merge_requests\/1$/ }, { status: 500, times: 2 });
    const n = s.log.length;
    const e1 = await failure(api.MergeRequests.show(p.id, 1));
    expect(e1).toBeInstanceOf(GitbeakerRequestError);
    expect(e1.cause.response.status).toBe(500);
    expect(e1.message).toBe('500 Internal Server Error');
    expect((await failure(api.MergeRequests.show(p.id, 1))).cause.response.status).toBe(500);
    expect(((await api.MergeRequests.show(p.id, 1)) as any).iid).toBe(1);
    expect(s.log.slice(n).map((l) => l.status)).toEqual([500, 500, 200]);
  });

  it('429 and 502 are retried inside gitbeaker, quickly, ignoring Retry-After', async () => {
    s.fail({ path: /\/merge_requests\/1$/ }, { status: 429, times: 2, retryAfter: 30 });
    const n = s.log.length;
    const t0 = Date.now();
    expect(((await api.MergeRequests.show(p.id, 1)) as any).iid).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(s.log.slice(n).map((l) => l.status)).toEqual([429, 429, 200]);

    s.fail({ path: /\/merge_requests\/1$/ }, { status: 502, times: 1 });
    expect(((await api.MergeRequests.show(p.id, 1)) as any).iid).toBe(1);

    // raw: the 429 carries Retry-After and GitLab's plain-text body
    s.fail({ path: /\/user$/ }, { status: 429, retryAfter: 7 });
    const raw = await fetch(`${s.url}/api/v4/user`, { headers: { 'private-token': s.token } });
    expect(raw.status).toBe(429);
    expect(raw.headers.get('retry-after')).toBe('7');
  });

  it('gives up after 10 attempts with GitbeakerRetryError', async () => {
    s.fail({ path: /\/merge_requests\/1$/ }, { status: 429, times: 10 });
    const e = await failure(api.MergeRequests.show(p.id, 1));
    expect(e).toBeInstanceOf(GitbeakerRetryError);
    expect(e.message).toMatch(/last status code: 429/);
    expect(e.cause).toBeUndefined();
  });

  it('slow answers and dropped connections', async () => {
    s.fail({ path: /\/merge_requests\/1$/ }, { delayMs: 1500 });
    const quick = new Gitlab({ host: s.url, token: s.token, queryTimeout: 300 });
    const t = await failure(quick.MergeRequests.show(p.id, 1));
    expect(t).toBeInstanceOf(GitbeakerTimeoutError);

    s.fail({ path: /\/merge_requests\/1$/ }, { status: 0 });
    const d = await failure(api.MergeRequests.show(p.id, 1));
    expect(d).toBeInstanceOf(TypeError); // undici's "fetch failed", not a Gitbeaker error
  });
});

describe('webhook payloads', () => {
  it('builds a Merge Request Hook with live values', () => {
    const h = s.mrHook(p, 1, 'update', { oldrev: mr.baseSha, user: { id: 7 } });
    expect(h).toMatchObject({
      object_kind: 'merge_request', event_type: 'merge_request', user: { id: 7, username: 'alice' },
      project: { id: p.id, path_with_namespace: 'group/app', git_http_url: p.httpUrl, default_branch: 'main' },
      object_attributes: {
        id: mr.id, iid: 1, action: 'update', oldrev: mr.baseSha, state: 'opened', draft: false, source_branch: 'feature',
        target_branch: 'main', last_commit: { id: mr.headSha, title: 'Second pass' }, url: `${s.url}/group/app/-/merge_requests/1`,
      },
      changes: {},
    });
    expect(s.mrHook(p, 1, 'open').object_attributes).not.toHaveProperty('oldrev');
  });

  it('builds a Note Hook for a reply in a diff thread', () => {
    const d = s.discussions(p, 1).find((x) => x.notes[0].type === 'DiffNote')!;
    const { note } = s.addNote(p, 1, 7, 'I disagree', { discussionId: d.id });
    const h = s.noteHook(p, 1, note);
    expect(h).toMatchObject({
      object_kind: 'note', event_type: 'note', user: { id: 7, username: 'alice' }, project_id: p.id,
      object_attributes: {
        id: note.id, note: 'I disagree', noteable_type: 'MergeRequest', discussion_id: d.id, type: 'DiffNote', action: 'create',
        author_id: 7, url: `${s.url}/group/app/-/merge_requests/1#note_${note.id}`, position: { new_path: 'src/a.ts', new_line: 5 },
      },
      merge_request: { iid: 1, source_branch: 'feature', last_commit: { id: mr.headSha } },
    });
    expect(h.object_attributes.line_code).toMatch(/^[0-9a-f]{40}_6_5$/); // GitLab numbers an added line with the old side's next line;
  });

  it('delivers hooks with GitLab headers', async () => {
    const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
    const rx = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => { got.push({ headers: req.headers, body }); res.end(); });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/webhooks/gitlab`;
    const hook = (await api.ProjectHooks.all(p.id))[0] as any;
    await api.ProjectHooks.edit(p.id, hook.id, hookUrl, { noteEvents: true });
    const out = await s.deliverHook(p, s.mrHook(p, 1, 'open'), { idempotencyKey: 'k1' });
    rx.close();
    expect(out).toEqual([{ url: hookUrl, status: 200, body: '' }]);
    expect(got[0].headers).toMatchObject({ 'x-gitlab-event': 'Merge Request Hook', 'x-gitlab-token': 'sekret', 'idempotency-key': 'k1', 'content-type': 'application/json' });
    expect(JSON.parse(got[0].body).object_kind).toBe('merge_request');
  });
});

describe('webhook delivery like WebHookService (no redelivery, auto-disabling)', () => {
  let g: GitlabStandin;
  let gp: StandinProject;
  let gapi: InstanceType<typeof Gitlab>;
  let now = Date.parse('2026-01-01T00:00:00Z');
  /** what the receiver answers next: a status, 'slow' (past the hook timeout) */
  let answer: number | 'slow' = 200;
  let received = 0;
  let rx: http.Server;
  let rxUrl: string;

  beforeAll(async () => {
    g = await startGitlabStandin({ now: () => now, hookTimeoutMs: 300 });
    gp = await g.createProject('hooks/app', { 'README.md': 'x\n' });
    await g.commit(gp, 'feature', { 'a.txt': 'a\n' });
    await g.createMr(gp, { sourceBranch: 'feature', title: 'A' });
    gapi = new Gitlab({ host: g.url, token: g.token });
    rx = http.createServer((req, res) => {
      received++;
      req.resume();
      req.on('end', () => {
        if (answer === 'slow') setTimeout(() => res.end(), 2_000).unref();
        else { res.statusCode = answer; res.end(); }
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    rxUrl = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/webhooks/gitlab`;
  });
  afterAll(async () => {
    rx?.closeAllConnections();
    rx?.close();
    await g?.close();
  });

  const addHook = async (url = rxUrl) => (await gapi.ProjectHooks.add(gp.id, url, { mergeRequestsEvents: true, token: 'sekret' })) as any as { id: number };
  const show = async (id: number) => (await gapi.ProjectHooks.show(gp.id, id)) as any as { alert_status: string; disabled_until: string | null };
  const deliver = () => g.deliverHook(gp, g.mrHook(gp, 1, 'open'));
  const removeHooks = async () => { for (const h of g.hooks(gp)) await gapi.ProjectHooks.remove(gp.id, h.id); };

  it('delivers once per event, never retrying a failure; 4 failures in a row (any 4xx/5xx, timeout, refused) disable the hook for 1 min', async () => {
    const hook = await addHook();
    const statuses: number[] = [];
    for (const a of [500, 404, 'slow'] as const) {
      answer = a;
      const before = received;
      const out = await deliver();
      expect(received - before, `one request for ${a}`).toBe(1);
      statuses.push(out[0].status);
    }
    expect(statuses).toEqual([500, 404, 0]);
    expect(g.hookLog.at(-1)).toMatchObject({ hookId: hook.id, status: 0, error: 'timeout' });
    expect(await show(hook.id)).toMatchObject({ alert_status: 'executable', disabled_until: null });
    answer = 429;
    expect((await deliver())[0].status).toBe(429);
    expect(await show(hook.id)).toEqual(expect.objectContaining({ alert_status: 'temporarily_disabled', disabled_until: new Date(now + 60_000).toISOString() }));
    // disabled: nothing is sent
    answer = 200;
    const before = received;
    expect(await deliver()).toEqual([]);
    expect(received).toBe(before);
    // after the backoff it is tried again; one more failure doubles the backoff
    now += 61_000;
    expect(await show(hook.id)).toMatchObject({ alert_status: 'executable' });
    answer = 503;
    await deliver();
    expect(await show(hook.id)).toMatchObject({ alert_status: 'temporarily_disabled', disabled_until: new Date(now + 120_000).toISOString() });
    // the "Test" button goes out anyway; its 2xx re-enables the hook and resets the count
    answer = 200;
    const test = await g.testHook(gp, hook.id, 'merge_requests_events');
    expect(test.status).toBe(200);
    expect(g.hooks(gp).find((h) => h.id === hook.id)).toMatchObject({ alert_status: 'executable', disabled_until: null, recent_failures: 0 });
    await removeHooks();
  });

  it('a refused connection counts; a 2xx resets the count; the 40th failure disables the hook for good', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/hook`;
    await new Promise<void>((r) => closed.close(() => r()));
    const hook = await addHook(deadUrl);
    for (let i = 0; i < 3; i++) expect((await deliver())[0]).toMatchObject({ status: 0, error: 'ECONNREFUSED' });
    await gapi.ProjectHooks.edit(gp.id, hook.id, rxUrl, {});
    answer = 201;
    await deliver();
    expect(g.hooks(gp)[0]).toMatchObject({ recent_failures: 0, alert_status: 'executable' });
    answer = 500;
    let failures = 0;
    while (failures < 40) {
      now += 25 * 3600_000; // past any backoff (at most a day)
      expect(await deliver(), `failure ${failures + 1}`).toHaveLength(1);
      failures++;
    }
    expect(await show(hook.id)).toMatchObject({ alert_status: 'disabled' });
    now += 30 * 24 * 3600_000;
    const before = received;
    expect(await deliver()).toEqual([]);
    expect(received).toBe(before);
    await removeHooks();
  });

  it('signs deliveries of a hook with a signing token (Standard Webhooks)', async () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const got: http.IncomingHttpHeaders[] = [];
    const bodies: string[] = [];
    const srv = http.createServer((req, res) => {
      let b = '';
      req.on('data', (c) => (b += c));
      req.on('end', () => { got.push(req.headers); bodies.push(b); res.end(); });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    await gapi.ProjectHooks.add(gp.id, `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`, { mergeRequestsEvents: true, signingToken: `whsec_${key.toString('base64')}` } as any);
    await g.deliverHook(gp, g.mrHook(gp, 1, 'open'), { idempotencyKey: 'idem-1' });
    srv.close();
    const h = got[0];
    expect(h['x-gitlab-token']).toBeUndefined();
    expect(h['webhook-id']).toBe('idem-1');
    expect(h['webhook-timestamp']).toBe(String(Math.floor(now / 1000)));
    const sig = createHmac('sha256', key).update(`idem-1.${h['webhook-timestamp']}.${bodies[0]}`).digest('base64');
    expect(h['webhook-signature']).toBe(`v1,${sig}`);
    await removeHooks();
  });
});

describe('real GitLab shapes: odd paths, diff_refs null at first, files left out of the diff, lost access', () => {
  const ODD = 'src/a&b #1 100% é.js';
  let q: StandinProject;
  let m: StandinMr;
  const bot = (method: string, route: string) => fetch(`${s.url}/api/v4/${route}`, { method, headers: { 'private-token': s.token } });
  beforeAll(async () => {
    q = await s.createProject('shapes/app', { 'README.md': '# app\n', 'big.txt': 'x\n' });
    await s.commit(q, 'odd', {
      [ODD]: 'export const x = 1;\nexport const y = 2;\n',
      'big.txt': lines(50, (i) => `big ${i}`),
      'wide.txt': 'wide\n',
      'gen/api.pb.js': 'generated\n',
      'z-last.txt': 'last\n',
    }, 'odd paths');
    m = await s.createMr(q, { sourceBranch: 'odd', title: 'Odd paths' });
  });

  it('lists paths with &, #, %, spaces and non-ASCII raw, and places a position on them (raw path in the form)', async () => {
    const diffs: any[] = await api.MergeRequests.allDiffs(q.id, m.iid);
    const odd = diffs.find((d) => d.new_path === ODD);
    expect(odd).toMatchObject({ old_path: ODD, new_file: true, collapsed: false, too_large: false, generated_file: false });
    expect(odd.diff).toContain('+export const y = 2;');
    const v = s.mr(q, m.iid);
    const position = { baseSha: v.baseSha, startSha: v.startSha, headSha: v.headSha, positionType: 'text' as const, oldPath: ODD, newPath: ODD, newLine: 2 };
    // gitbeaker's own `position` option flattens through a query string split on `&`: GitLab gets `src/a` and refuses.
    const cut = await failure(api.MergeRequestDiscussions.create(q.id, m.iid, 'cut', { position: position as any }));
    expect(cut.message).toBe(LINE_CODE_MSG);
    expect(s.log.at(-1)!.body!.position.new_path).toBe('src/a');
    // The bot's client sends the same form fields with raw values.
    const bot = new GitLabClient({ url: s.url, token: s.token, attempts: 1 });
    const made = await bot.createDiffDiscussion(q.id, m.iid, 'on an odd path', position);
    const d = s.discussions(q, m.iid).find((x) => x.id === made.discussionId)!;
    expect(d.notes[0]!.position).toMatchObject({ new_path: ODD, old_path: ODD, new_line: 2 });
  });

  it('answers diff_refs null (and no diff files) for the first fetches after a version, then the version', async () => {
    s.delayDiffRefs(q, m.iid, 2);
    const first: any = await api.MergeRequests.show(q.id, m.iid);
    expect(first.diff_refs).toBeNull();
    expect(first.sha).toBe(s.mr(q, m.iid).headSha);
    expect(await api.MergeRequests.allDiffs(q.id, m.iid)).toEqual([]);
    expect(((await api.MergeRequests.show(q.id, m.iid)) as any).diff_refs).toBeNull();
    const third: any = await api.MergeRequests.show(q.id, m.iid);
    expect(third.diff_refs).toEqual({ base_sha: s.mr(q, m.iid).baseSha, head_sha: s.mr(q, m.iid).headSha, start_sha: s.mr(q, m.iid).startSha });
    expect((await api.MergeRequests.allDiffs(q.id, m.iid)).length).toBeGreaterThan(0);
  });

  it('marks files it leaves out: too_large, collapsed and generated with an empty diff; overflow cuts the list', async () => {
    s.markDiff(q, m.iid, 'big.txt', 'too_large');
    s.markDiff(q, m.iid, 'wide.txt', 'collapsed');
    s.markDiff(q, m.iid, 'gen/api.pb.js', 'generated');
    const diffs: any[] = await api.MergeRequests.allDiffs(q.id, m.iid);
    const by = (p: string) => diffs.find((d) => d.new_path === p);
    expect(by('big.txt')).toMatchObject({ diff: '', too_large: true, collapsed: false, generated_file: false });
    expect(by('wide.txt')).toMatchObject({ diff: '', too_large: false, collapsed: true });
    expect(by('gen/api.pb.js')).toMatchObject({ diff: '', collapsed: true, generated_file: true });
    const all = diffs.length;
    s.overflowDiff(q, m.iid, all - 1);
    const cut: any[] = await api.MergeRequests.allDiffs(q.id, m.iid);
    expect(cut).toHaveLength(all - 1);
    const changes: any = await (await bot('GET', `projects/${q.id}/merge_requests/${m.iid}/changes`)).json();
    expect(changes.overflow).toBe(true);
    expect(changes.changes_count).toBe(`${all - 1}+`);
  });

  it('hides a project from a user who lost access: 404 in the API and over git', async () => {
    const hidden = await s.createProject('shapes/private', { 'README.md': 'x\n' });
    expect((await bot('GET', `projects/${hidden.id}`)).status).toBe(200);
    s.revokeAccess(hidden, s.bot.id);
    const r = await bot('GET', `projects/${hidden.id}`);
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ message: '404 Project Not Found' });
    expect((await bot('GET', `projects/${hidden.id}/hooks`)).status).toBe(404);
    const basic = Buffer.from(`oauth2:${s.token}`).toString('base64');
    const g = await fetch(`${hidden.httpUrl}/info/refs?service=git-upload-pack`, { headers: { authorization: `Basic ${basic}` } });
    expect(g.status).toBe(404);
    // others keep their access
    expect((await bot('GET', `projects/${q.id}`)).status).toBe(200);
  });
});

describe('pushes over smart HTTP', () => {
  const authFor = (token: string) => `Authorization: Basic ${Buffer.from(`oauth2:${token}`).toString('base64')}`;
  const g = (args: string[], cwd?: string) => run('git', args, { cwd, env: gitEnv() });
  let pp: StandinProject;
  let pmr: StandinMr;
  let hookBodies: any[];
  let hookServer: http.Server;

  beforeAll(async () => {
    s.addUser({ id: 21, username: 'gina', name: 'Gina Guest', token: 'glpat-guest-21' });
    s.addUser({ id: 22, username: 'dave', name: 'Dave Dev', token: 'glpat-dev-22' });
    pp = await s.createProject('group/pushy', { 'a.txt': 'one\n' });
    s.setAccessLevel(pp, 21, 10);
    s.setAccessLevel(pp, 22, 30);
    await s.commit(pp, 'topic', { 'a.txt': 'two\n' }, 'topic work');
    pmr = await s.createMr(pp, { sourceBranch: 'topic', title: 'Topic' });
    hookBodies = [];
    hookServer = http.createServer((req, res) => {
      let b = '';
      req.on('data', (d) => (b += d));
      req.on('end', () => { hookBodies.push(JSON.parse(b)); res.end(); });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    await api.ProjectHooks.add(pp.id, `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`, { mergeRequestsEvents: true, token: 'tok' } as any);
  });
  afterAll(() => new Promise<void>((r) => hookServer.close(() => r())));

  /** a clone of `topic` with one new commit; returns the clone dir and the commit */
  async function cloneWithCommit(name: string, token: string, text: string) {
    const dir = path.join(tmp, name);
    expect((await g(['-c', `http.extraHeader=${authFor(token)}`, 'clone', '-q', '--branch', 'topic', pp.httpUrl, dir])).code).toBe(0);
    await import('node:fs/promises').then((f) => f.writeFile(path.join(dir, 'a.txt'), text));
    expect((await g(['commit', '-q', '-am', `${text.trim()}\n\nApply-Id: ${name}`], dir)).code).toBe(0);
    return { dir, sha: (await g(['rev-parse', 'HEAD'], dir)).stdout.toString().trim() };
  }
  const push = (dir: string, token: string, ref = 'topic') => g(['-c', `http.extraHeader=${authFor(token)}`, 'push', '-q', 'origin', '--', `HEAD:refs/heads/${ref}`], dir);

  it('takes a Developer\'s push: the MR gets a new version, a system note and an update hook with oldrev', async () => {
    const old = s.mr(pp, pmr.iid).headSha;
    const { dir, sha } = await cloneWithCommit('dev-push', 'glpat-dev-22', 'three\n');
    const r = await push(dir, 'glpat-dev-22');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const now = s.mr(pp, pmr.iid);
    expect(now.headSha).toBe(sha);
    const shown: any = await api.MergeRequests.show(pp.id, pmr.iid);
    expect(shown.sha).toBe(sha);
    expect(shown.diff_refs.head_sha).toBe(sha);
    expect(s.discussions(pp, pmr.iid).some((d) => d.notes[0]!.system && d.notes[0]!.body.startsWith('added 1 commit'))).toBe(true);
    const kinds = async (n: number) => { for (let i = 0; i < 200 && hookBodies.length < n; i++) await new Promise((x) => setTimeout(x, 25)); };
    await kinds(2);
    const hook = hookBodies.find((b) => b.object_kind === 'merge_request');
    expect(hook.object_attributes).toMatchObject({ action: 'update', oldrev: old, iid: pmr.iid });
    expect(hook.object_attributes.last_commit.id).toBe(sha);
    const pushHook = hookBodies.find((b) => b.object_kind === 'push');
    expect(pushHook).toMatchObject({ before: old, after: sha, ref: 'refs/heads/topic', user_username: 'dave', total_commits_count: 1, ref_protected: false });
    expect(pushHook.commits[0]).toMatchObject({ id: sha, modified: ['a.txt'], added: [], removed: [] });
    // the commit is listed on its branch, newest first, with its trailers when asked
    const commits: any[] = await api.Commits.all(pp.id, { refName: 'topic', trailers: true } as any);
    expect(commits[0]).toMatchObject({ id: sha, title: 'three', trailers: { 'Apply-Id': 'dev-push' } });
    expect(commits.map((c) => c.title)).toContain('topic work');
    expect(await api.Commits.all(pp.id, { refName: 'no-such-branch' } as any)).toEqual([]);
  });

  it('refuses a Guest\'s push with GitLab\'s 403 and changes nothing', async () => {
    const before = s.mr(pp, pmr.iid).headSha;
    const { dir } = await cloneWithCommit('guest-push', 'glpat-guest-21', 'guest\n');
    const r = await push(dir, 'glpat-guest-21');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('You are not allowed to push code to this project.');
    expect(s.mr(pp, pmr.iid).headSha).toBe(before);
  });

  it('rejects a push to a protected branch below its push level, in pre-receive like GitLab', async () => {
    s.protectBranch(pp, 'topic', [{ accessLevel: 40 }]);
    const before = s.mr(pp, pmr.iid).headSha;
    const { dir, sha } = await cloneWithCommit('protected-push', 'glpat-dev-22', 'protected\n');
    const r = await push(dir, 'glpat-dev-22');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('GitLab: You are not allowed to push code to protected branches on this project.');
    expect(r.stderr).toContain('[remote rejected]');
    expect(s.mr(pp, pmr.iid).headSha).toBe(before);
    const listed: any[] = await api.ProtectedBranches.all(pp.id);
    expect(listed[0].push_access_levels[0].access_level).toBe(40);
    // the bot (Maintainer) may push there; an unprotected branch takes the Developer's push
    expect((await push(dir, s.token)).code).toBe(0);
    expect(s.mr(pp, pmr.iid).headSha).toBe(sha);
    expect((await push(dir, 'glpat-dev-22', 'other')).code).toBe(0);
    s.protectBranch(pp, 'topic', [{ accessLevel: 30 }]);
  });

  it('shows fork MRs with both project ids; collaboration lets target members push to the fork branch', async () => {
    const fork = await s.forkProject(pp, 'dave/pushy', { ownerId: 22 });
    await s.commit(fork, 'fix', { 'a.txt': 'from fork\n' }, 'fork work');
    const closed = await s.createMr(pp, { sourceBranch: 'fix', sourceProject: fork, title: 'From a fork' });
    const shown: any = await api.MergeRequests.show(pp.id, closed.iid);
    expect(shown).toMatchObject({ source_project_id: fork.id, target_project_id: pp.id, allow_collaboration: false });
    expect(shown.diff_refs.head_sha).toBe(s.mr(pp, closed.iid).headSha);
    const dir = path.join(tmp, 'fork-clone');
    expect((await g(['-c', `http.extraHeader=${authFor('glpat-dev-22')}`, 'clone', '-q', '--branch', 'fix', fork.httpUrl, dir])).code).toBe(0);
    await g(['commit', '-q', '--allow-empty', '-m', 'by the bot'], dir);
    const denied = await g(['-c', `http.extraHeader=${authFor(s.token)}`, 'push', '-q', 'origin', '--', 'HEAD:refs/heads/fix'], dir);
    expect(denied.code).not.toBe(0); // the bot is no member of the fork
    const open = await s.createMr(pp, { sourceBranch: 'fix', sourceProject: fork, title: 'Collab', allowCollaboration: true });
    expect(((await api.MergeRequests.show(pp.id, open.iid)) as any).allow_collaboration).toBe(true);
    const ok = await g(['-c', `http.extraHeader=${authFor(s.token)}`, 'push', '-q', 'origin', '--', 'HEAD:refs/heads/fix'], dir);
    expect(ok.code).toBe(0);
    expect(s.mr(pp, open.iid).headSha).toBe((await g(['rev-parse', 'HEAD'], dir)).stdout.toString().trim());
  });
});

describe('draft notes (API::DraftNotes, DraftNotes::PublishService)', () => {
  let dp: StandinProject;
  let dmr: StandinMr;
  let alice: InstanceType<typeof Gitlab>;
  const base = () => `projects/${dp.id}/merge_requests/${dmr.iid}/draft_notes`;
  const at = (o: Record<string, unknown>) => ({ base_sha: dmr.baseSha, start_sha: dmr.startSha, head_sha: dmr.headSha, position_type: 'text', old_path: 'src/b.ts', new_path: 'src/b.ts', ...o });
  /** raw REST as the bot (gitbeaker's `edit` sends POST, so the stand-in is called directly) */
  const call = async (method: string, p: string, body?: object, token = s.token) => {
    const r = await fetch(`${s.url}/api/v4/${p}`, { method, headers: { 'private-token': token, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    s.addUser({ id: 8, username: 'dora', name: 'Dora', token: 'glpat-dora-000000000000' });
    dp = await s.createProject('group/drafts', { 'src/b.ts': lines(10, (i) => `b ${i}`) });
    await s.commit(dp, 'topic', { 'src/b.ts': lines(11, (i) => (i === 11 ? 'added 11' : `b ${i}`)) });
    dmr = await s.createMr(dp, { sourceBranch: 'topic', title: 'Drafts', authorId: 7 });
    alice = new Gitlab({ host: s.url, token: 'glpat-dora-000000000000' });
  });

  it('keeps a draft visible only to its author, checking its position only by line_code', async () => {
    const good: any = await api.MergeRequestDraftNotes.create(dp.id, dmr.iid, 'on line 11', { position: { baseSha: dmr.baseSha, startSha: dmr.startSha, headSha: dmr.headSha, positionType: 'text', oldPath: 'src/b.ts', newPath: 'src/b.ts', newLine: '11' } as any });
    expect(good).toMatchObject({ author_id: s.bot.id, merge_request_id: dmr.id, resolve_discussion: false, discussion_id: null, note: 'on line 11', commit_id: null });
    expect(good.line_code).toMatch(/^[0-9a-f]{40}_\d+_11$/);
    expect(good.position).toMatchObject({ new_path: 'src/b.ts', new_line: 11, old_line: null, position_type: 'text' });
    // created (201) although GitLab cannot place it: line_code null is the only sign
    const bad = await call('POST', base(), { note: 'nowhere', position: at({ new_line: 3 }) });
    expect(bad.status).toBe(201);
    expect(bad.json.line_code).toBeNull();
    expect((await api.MergeRequestDraftNotes.all(dp.id, dmr.iid)).map((d: any) => d.note)).toEqual(['on line 11', 'nowhere']);
    expect(await alice.MergeRequestDraftNotes.all(dp.id, dmr.iid)).toEqual([]);
    expect((await failure(alice.MergeRequestDraftNotes.show(dp.id, dmr.iid, good.id))).cause.response.status).toBe(404);
    expect(s.discussions(dp, dmr.iid)).toEqual([]);
    expect(s.drafts(dp, dmr.iid, s.bot.id)).toHaveLength(2);
  });

  it('refuses a missing note, a thread that does not exist, resolving a new thread, and a second reply draft in one thread', async () => {
    expect(await call('POST', base(), {})).toMatchObject({ status: 400, json: { error: 'note is missing' } });
    expect(await call('POST', base(), { note: 'x', in_reply_to_discussion_id: 'f'.repeat(40) })).toMatchObject({ status: 400, json: { message: { base: ['Thread to reply to cannot be found'] } } });
    expect(await call('POST', base(), { note: 'x', resolve_discussion: true })).toMatchObject({ status: 400, json: { message: { base: ['User is not allowed to resolve thread'] } } });
    const { discussion } = s.addNote(dp, dmr.iid, 7, 'a human thread', { thread: true });
    expect((await call('POST', base(), { note: 'first reply', in_reply_to_discussion_id: discussion.id })).status).toBe(201);
    expect((await call('POST', base(), { note: 'second reply', in_reply_to_discussion_id: discussion.id })).status).toBe(400);
  });

  it('edits (PUT) and deletes drafts; POST on a draft is no route', async () => {
    const d = (await call('POST', base(), { note: 'typo' })).json;
    expect((await call('PUT', `${base()}/${d.id}`, {})).status).toBe(400); // Missing params to modify
    expect((await call('PUT', `${base()}/${d.id}`, { note: 'fixed' })).json).toMatchObject({ id: d.id, note: 'fixed' });
    expect((await call('POST', `${base()}/${d.id}`, { note: 'x' })).status).toBe(404);
    expect((await call('DELETE', `${base()}/${d.id}`)).status).toBe(204);
    expect((await call('GET', `${base()}/${d.id}`)).status).toBe(404);
  });

  it('bulk publish makes every draft a note in one go, drops what cannot be placed, and sends one email', async () => {
    const thread = s.discussions(dp, dmr.iid).find((x) => x.notes[0].body === 'a human thread')!;
    const before = s.mrActivity(dp, dmr.iid).emails.length;
    await call('POST', base(), { note: 'general finding' });
    await call('POST', base(), { note: 'summary' });
    expect((await call('POST', `${base()}/bulk_publish`)).status).toBe(204);
    expect(await api.MergeRequestDraftNotes.all(dp.id, dmr.iid)).toEqual([]);
    const notes = s.notes(dp, dmr.iid).filter((n) => n.author.id === s.bot.id);
    expect(notes.map((n) => [n.body, n.type])).toEqual([
      ['on line 11', 'DiffNote'], ['first reply', 'DiscussionNote'], ['general finding', 'DiscussionNote'], ['summary', 'DiscussionNote'],
    ]); // 'nowhere' failed validation and is gone
    expect(notes.every((n) => n.resolvable)).toBe(true); // a draft without a position is a resolvable thread
    // a reply draft without resolve_discussion unresolves its thread (set_discussion_resolve_status)
    expect(s.discussions(dp, dmr.iid).find((x) => x.id === thread.id)!.notes.every((n) => n.resolved === false)).toBe(true);
    const emails = s.mrActivity(dp, dmr.iid).emails.slice(before);
    expect(emails).toEqual([{ kind: 'review', user: s.bot.username, noteIds: notes.map((n) => n.id) }]);
    await call('POST', `${base()}/bulk_publish`);
    expect(s.mrActivity(dp, dmr.iid).emails.slice(before)).toHaveLength(1); // nothing to publish: no review, no email
  });

  it('a reply draft with resolve_discussion resolves its thread; a single publish is an ordinary note', async () => {
    const { discussion } = s.addNote(dp, dmr.iid, 7, 'please check', { thread: true });
    await api.MergeRequestDraftNotes.create(dp.id, dmr.iid, 'done', { inReplyToDiscussionId: discussion.id as any, resolveDiscussion: true });
    await api.MergeRequestDraftNotes.publishBulk(dp.id, dmr.iid);
    expect(s.discussions(dp, dmr.iid).find((x) => x.id === discussion.id)!.notes.map((n) => n.resolved)).toEqual([true, true]);
    const before = s.mrActivity(dp, dmr.iid).emails.length;
    const d: any = await api.MergeRequestDraftNotes.create(dp.id, dmr.iid, 'alone');
    expect((await call('PUT', `${base()}/${d.id}/publish`)).status).toBe(204);
    expect(s.mrActivity(dp, dmr.iid).emails.slice(before)).toMatchObject([{ kind: 'note' }]);
  });

  it('answers 404 where the API does not exist and 403 without the rights', async () => {
    s.setDraftNotes(dp, 404);
    expect((await call('GET', base())).status).toBe(404);
    expect((await call('POST', `${base()}/bulk_publish`)).status).toBe(404);
    s.setDraftNotes(dp, 403);
    expect((await call('POST', base(), { note: 'x' })).status).toBe(403);
    s.setDraftNotes(dp, 'on');
    expect((await call('GET', base())).status).toBe(200);
  });
});

describe('issues an MR closes, and its commits', () => {
  it('lists closing references that exist, shows issues, and lists the commits newest first', async () => {
    const q = await s.createProject('group/issues', { 'a.txt': 'a\n' });
    const one = s.createIssue(q, { title: 'Crash on empty list', description: 'first() throws' });
    const two = s.createIssue(q, { title: 'Unrelated' });
    await s.commit(q, 'fix', { 'a.txt': 'b\n' }, 'Guard the list\n\nFixes #2');
    await s.commit(q, 'fix', { 'a.txt': 'c\n' }, 'Second step');
    const m = await s.createMr(q, { sourceBranch: 'fix', title: 'Fix first()', description: 'Closes #1, and see #99. Closes #77' });
    const client = new GitLabClient({ url: s.url, token: s.token });
    const closing = await client.closesIssues(q.id, m.iid);
    expect(closing.map((i) => i.iid).sort()).toEqual([one.iid, two.iid]); // #77 does not exist; #99 is not a closing reference
    expect(closing.find((i) => i.iid === 1)).toEqual({ iid: 1, title: 'Crash on empty list', description: 'first() throws' });
    const raw: any = await api.Issues.show(1, { projectId: q.id });
    expect(raw).toMatchObject({ iid: 1, project_id: q.id, state: 'opened', references: { short: '#1' }, web_url: `${s.url}/group/issues/-/issues/1` });
    expect((await failure(client.issue(q.id, 77))).status).toBe(404);
    const commits: any[] = await api.MergeRequests.allCommits(q.id, m.iid);
    expect(commits.map((c) => c.title)).toEqual(['Second step', 'Guard the list']);
    expect(commits[1]).toMatchObject({ message: 'Guard the list\n\nFixes #2\n', parent_ids: [expect.any(String)], short_id: commits[1].id.slice(0, 8) });
    expect(await client.mrCommits(q.id, m.iid)).toEqual([
      { title: 'Guard the list', message: 'Guard the list\n\nFixes #2\n' },
      { title: 'Second step', message: 'Second step\n' },
    ]);
  });
});

describe('git plumbing without a process per step', () => {
  const lsTree = async (gitDir: string, sha: string) => (await run('git', ['--git-dir', gitDir, 'ls-tree', '-r', '-z', sha], { env: gitEnv() })).stdout.toString().split('\0').filter(Boolean);
  const show = async (gitDir: string, spec: string) => (await run('git', ['--git-dir', gitDir, 'show', spec], { env: gitEnv() })).stdout.toString();

  it('commits paths fast-import must quote (a newline, a leading quote, a backslash), symlinks and deletions', async () => {
    const q = await s.createProject('plumbing/odd', { 'gone.txt': 'bye\n', 'keep.txt': 'kept\n' });
    const sha = await s.commit(q, 'odd', { 'a\nb.txt': 'newline\n', '"quoted.txt': 'quote\n', 'back\\slash.txt': 'back\n', 'ln': { symlink: 'keep.txt' }, 'gone.txt': null });
    const entries = await lsTree(s.gitDir(q), sha);
    expect(entries.map((e) => e.split('\t')[1]).sort()).toEqual(['"quoted.txt', 'a\nb.txt', 'back\\slash.txt', 'keep.txt', 'ln'].sort());
    expect(entries.find((e) => e.endsWith('\tln'))).toMatch(/^120000 blob /);
    expect(await show(s.gitDir(q), `${sha}:a\nb.txt`)).toBe('newline\n');
    // no scratch ref is left behind
    expect((await run('git', ['--git-dir', s.gitDir(q), 'for-each-ref', '--format=%(refname)'], { env: gitEnv() })).stdout.toString().trim().split('\n').sort()).toEqual(['refs/heads/main', 'refs/heads/odd']);
  });

  it('with a fixed commit time, the same files on the same parent are the same commit, as git makes them', async () => {
    const fixed = await startGitlabStandin({ commitTime: new Date('2026-01-05T10:00:00Z') });
    try {
      const q = await fixed.createProject('plumbing/fixed', { 'a.txt': 'a\n' });
      const one = await fixed.commit(q, 'one', { 'b.txt': 'b\n' }, 'add b');
      const two = await fixed.commit(q, 'two', { 'b.txt': 'b\n' }, 'add b');
      const other = await fixed.commit(q, 'three', { 'b.txt': 'B\n' }, 'add b');
      expect(two).toBe(one);
      expect(other).not.toBe(one);
      expect(await show(fixed.gitDir(q), `${one}:b.txt`)).toBe('b\n');
    } finally {
      await fixed.close();
    }
  });

  it('reads branch heads packed by git as well as loose ones', async () => {
    const q = await s.createProject('plumbing/packed', { 'a.txt': 'a\n' });
    const head = await s.commit(q, 'topic', { 'b.txt': 'b\n' });
    await run('git', ['--git-dir', s.gitDir(q), 'pack-refs', '--all', '--prune'], { env: gitEnv() });
    const m = await s.createMr(q, { sourceBranch: 'topic', title: 'packed' });
    expect(m.headSha).toBe(head);
    await expect(s.createMr(q, { sourceBranch: 'nope', title: 'missing' })).rejects.toThrow(/no branch nope/);
  });
});

describe('the REST API in process', () => {
  it('answers a client like the HTTP server does, failures on demand included', async () => {
    const local = new GitLabClient({ url: s.url, token: s.token, attempts: 1, fetch: s.fetch });
    const remote = new GitLabClient({ url: s.url, token: s.token, attempts: 1 });
    expect(await local.mergeRequest(p.id, mr.iid)).toEqual(await remote.mergeRequest(p.id, mr.iid));
    expect(await local.diffs(p.id, mr.iid)).toEqual(await remote.diffs(p.id, mr.iid));
    const note = await local.createNote(p.id, mr.iid, 'in process');
    expect(s.notes(p, mr.iid).find((n) => n.id === note.noteId)?.body).toBe('in process');

    s.fail({ method: 'GET', path: /\/merge_requests\/\d+$/ }, { status: 503, retryAfter: 2 });
    await expect(local.mergeRequest(p.id, mr.iid)).rejects.toMatchObject({ status: 503, retryAfterMs: 2000 });
    s.fail({ method: 'GET', path: /\/merge_requests\/\d+$/ }, { status: 0 });
    await expect(local.mergeRequest(p.id, mr.iid)).rejects.toMatchObject({ status: 0, message: expect.stringContaining('other side closed') });
    await expect(s.fetch(`${s.url}/${p.path}.git/info/refs`)).rejects.toThrow(/REST API only/);
  });
});
