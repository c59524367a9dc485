/** GitLab REST v4 routes (the subset the bot calls through @gitbeaker/rest 43.8.0). */
import { HttpError, toBool, toInt, type Params } from './body.js';
import { defaultHook, type MrRec, type UserRec, type World } from './model.js';
import { protectedBranchJson, showMember, showProtectedBranch } from './access.js';
import { draftNoteRoutes } from './draft-notes.js';
import { closesIssues, issue, issueJson, mrCommitsJson } from './issues.js';
import { git, computeOnce, revParse } from './git.js';

/** API::Commits GET …/repository/commits: newest first from `ref_name` (default branch if absent); [] for an unknown ref. */
async function listCommits(c: Ctx): Promise<Reply> {
  const p = c.world.project(c.p.id);
  const ref = c.params.ref_name === undefined ? p.defaultBranch : String(c.params.ref_name);
  const head = ref.startsWith('-') ? null : await revParse(p.gitDir, ref);
  if (!head) return paginate(c, []);
  const out = await computeOnce(['log', p.gitDir, head], () => git(p.gitDir, ['log', '--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x01', head, '--']));
  const withTrailers = toBool(c.params.trailers, 'trailers') === true;
  const commits = out.split('\x01').map((x) => x.replace(/^\n/, '')).filter(Boolean).map((x) => {
    const [id, parents, an, ae, ad, cn, ce, cd, message] = x.split('\0') as string[];
    const trailers: Record<string, string> = {};
    for (const m of (message ?? '').matchAll(/^([A-Za-z][\w-]*): (.+)$/gm)) trailers[m[1]!] = m[2]!;
    return {
      id, short_id: id!.slice(0, 8), created_at: cd, parent_ids: parents ? parents.split(' ') : [], title: (message ?? '').split('\n')[0],
      message, author_name: an, author_email: ae, authored_date: ad, committer_name: cn, committer_email: ce, committed_date: cd,
      trailers: withTrailers ? trailers : {}, extended_trailers: {}, web_url: `${c.world.url}/${p.path}/-/commit/${id}`,
    };
  });
  return paginate(c, commits);
}

export interface Ctx {
  world: World;
  user: UserRec;
  /** decoded path parameters (`:id`, `:iid`, …) */
  p: Record<string, string>;
  /** query and body merged, `a[b]` keys nested */
  params: Params;
  /** the request URL, for pagination links */
  url: URL;
}
export interface Reply { status?: number; json: unknown; headers?: Record<string, string> }
type Handler = (c: Ctx) => Reply | Promise<Reply>;

const ok = (json: unknown, status = 200): Reply => ({ status, json });

/** GitLab's offset pagination: x-* headers and a Link header that gitbeaker follows. */
function paginate(c: Ctx, items: unknown[]): Reply {
  const perPage = Math.min(Math.max(toInt(c.params.per_page, 'per_page') ?? 20, 1), 100);
  const page = Math.max(toInt(c.params.page, 'page') ?? 1, 1);
  const totalPages = Math.max(Math.ceil(items.length / perPage), 1);
  const link = (n: number) => {
    const u = new URL(c.url.href);
    u.searchParams.set('page', String(n));
    u.searchParams.set('per_page', String(perPage));
    return u.href;
  };
  const links: string[] = [];
  if (page > 1) links.push(`<${link(page - 1)}>; rel="prev"`);
  if (page < totalPages) links.push(`<${link(page + 1)}>; rel="next"`);
  links.push(`<${link(1)}>; rel="first"`, `<${link(totalPages)}>; rel="last"`);
  return {
    json: items.slice((page - 1) * perPage, page * perPage),
    headers: {
      'x-page': String(page), 'x-per-page': String(perPage), 'x-total': String(items.length), 'x-total-pages': String(totalPages),
      'x-next-page': page < totalPages ? String(page + 1) : '', 'x-prev-page': page > 1 ? String(page - 1) : '', link: links.join(', '),
    },
  };
}

function required(c: Ctx, ...names: string[]): void {
  const missing = names.filter((n) => c.params[n] === undefined || c.params[n] === null);
  if (missing.length) throw new HttpError(400, { error: `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing` });
}

/** API::Notes: a body that was only quick actions saves no note; GitLab answers 202 with what changed. */
const commandsOnly = (): Reply => ({ status: 202, json: { commands_changes: {}, summary: ['Commands applied'] } });

const mrOf = (c: Ctx): MrRec => c.world.mr(c.world.project(c.p.id), c.p.iid);

function editableNote(c: Ctx, mr: MrRec, noteId: string) {
  const n = c.world.note(mr, noteId);
  if (n.authorId !== c.user.id) throw new HttpError(403, { message: '403 Forbidden' });
  return n;
}

function awardTarget(c: Ctx) {
  return c.world.note(mrOf(c), c.p.nid);
}

const HOOK_FIELDS = Object.keys(defaultHook()).filter((k) => typeof defaultHook()[k] === 'boolean' || k === 'name' || k === 'description' || k === 'push_events_branch_filter');

function applyHookParams(c: Ctx, h: Record<string, unknown>) {
  for (const k of HOOK_FIELDS) {
    if (c.params[k] === undefined) continue;
    h[k] = typeof defaultHook()[k] === 'boolean' ? toBool(c.params[k], k) : String(c.params[k]);
  }
  if (c.params.url !== undefined) h.url = String(c.params.url);
  if (c.params.token !== undefined) h.token = String(c.params.token);
  if (c.params.signing_token !== undefined) h.signing_token = String(c.params.signing_token);
}

export const routes: [method: string, pattern: string, handler: Handler][] = [
  ['GET', 'user', (c) => ok(c.world.userFull(c.user.id))],
  ['GET', 'personal_access_tokens/self', (c) => ok({
    id: 1, name: 'standin', revoked: false, created_at: '2024-01-01T00:00:00.000Z', description: null, scopes: ['api'],
    user_id: c.user.id, last_used_at: new Date().toISOString(), active: true, expires_at: '2099-12-31',
  })],
  ['GET', 'projects/:id', (c) => ok(c.world.projectJson(c.world.project(c.p.id)))],

  // members and protected branches (./access.ts)
  ['GET', 'projects/:id/members/all/:uid', (c) => ok(showMember(c.world, c.world.project(c.p.id), Number(c.p.uid)))],
  ['GET', 'projects/:id/protected_branches', (c) => paginate(c, c.world.project(c.p.id).protectedBranches.map((b) => protectedBranchJson(c.world, b)))],
  ['GET', 'projects/:id/protected_branches/:name', (c) => ok(showProtectedBranch(c.world, c.world.project(c.p.id), c.p.name))],

  ['GET', 'projects/:id/repository/commits', listCommits],

  // merge requests
  ['GET', 'projects/:id/merge_requests/:iid', (c) => {
    const mr = mrOf(c);
    const json = c.world.mrJson(mr);
    if (c.world.diffPending(mr)) mr.diffPendingFetches!--;
    return ok(json);
  }],
  ['GET', 'projects/:id/merge_requests/:iid/diffs', (c) => {
    const mr = mrOf(c);
    return paginate(c, c.world.diffPending(mr) ? [] : c.world.latest(mr).diffs);
  }],
  ['GET', 'projects/:id/merge_requests/:iid/changes', (c) => {
    const mr = mrOf(c);
    const v = c.world.latest(mr);
    return ok({ ...c.world.mrJson(mr), changes: c.world.diffPending(mr) ? [] : v.diffs, overflow: !!v.overflow });
  }],
  ['GET', 'projects/:id/merge_requests/:iid/versions', (c) => {
    const mr = mrOf(c);
    return paginate(c, [...mr.versions].reverse().map((v) => c.world.versionJson(mr, v)));
  }],
  ['GET', 'projects/:id/merge_requests/:iid/versions/:vid', (c) => {
    const mr = mrOf(c);
    const v = mr.versions.find((x) => x.id === Number(c.p.vid));
    if (!v) throw new HttpError(404, { message: '404 Not found' });
    const commits = [...mr.project.commits.values()].filter((x) => x.id === v.headSha).map((x) => ({
      id: x.id, short_id: x.id.slice(0, 8), title: x.title, message: x.message, author_name: x.authorName, author_email: x.authorEmail,
      created_at: x.timestamp, authored_date: x.timestamp, committed_date: x.timestamp,
    }));
    return ok({ ...c.world.versionJson(mr, v), commits, diffs: v.diffs });
  }],

  ['GET', 'projects/:id/merge_requests/:iid/commits', async (c) => paginate(c, await mrCommitsJson(c.world, mrOf(c)))],
  ['GET', 'projects/:id/merge_requests/:iid/closes_issues', async (c) => paginate(c, await closesIssues(c.world, mrOf(c)))],

  // issues
  ['GET', 'projects/:id/issues/:iid', (c) => {
    const p = c.world.project(c.p.id);
    return ok(issueJson(c.world, p, issue(p, c.p.iid)));
  }],

  // discussions
  ['GET', 'projects/:id/merge_requests/:iid/discussions', (c) => paginate(c, mrOf(c).discussions.map((d) => c.world.discussionJson(d)))],
  ['POST', 'projects/:id/merge_requests/:iid/discussions', (c) => {
    required(c, 'body');
    const mr = mrOf(c);
    const position = c.params.position ? c.world.position(mr, c.params.position) : null;
    const note = c.world.createNote(mr, c.user.id, String(c.params.body), { kind: 'discussion', position });
    if (note.commandsOnly) return commandsOnly();
    return ok(c.world.discussionJson(note.discussion), 201);
  }],
  ['GET', 'projects/:id/merge_requests/:iid/discussions/:did', (c) => ok(c.world.discussionJson(c.world.discussion(mrOf(c), c.p.did)))],
  ['PUT', 'projects/:id/merge_requests/:iid/discussions/:did', (c) => {
    required(c, 'resolved');
    const d = c.world.discussion(mrOf(c), c.p.did);
    if (!c.world.discussionResolvable(d)) throw new HttpError(403, { message: '403 Forbidden' });
    c.world.setResolved(d.notes, toBool(c.params.resolved, 'resolved')!, c.user.id);
    return ok(c.world.discussionJson(d));
  }],
  ['GET', 'projects/:id/merge_requests/:iid/discussions/:did/notes', (c) => ok(c.world.discussion(mrOf(c), c.p.did).notes.map((n) => c.world.noteJson(n)))],
  ['POST', 'projects/:id/merge_requests/:iid/discussions/:did/notes', (c) => {
    required(c, 'body');
    const mr = mrOf(c);
    const note = c.world.createNote(mr, c.user.id, String(c.params.body), { kind: 'discussion', replyTo: c.world.discussion(mr, c.p.did) });
    if (note.commandsOnly) return commandsOnly();
    return ok(c.world.noteJson(note), 201);
  }],
  ['GET', 'projects/:id/merge_requests/:iid/discussions/:did/notes/:nid', (c) => ok(c.world.noteJson(c.world.note(mrOf(c), c.p.nid)))],
  ['PUT', 'projects/:id/merge_requests/:iid/discussions/:did/notes/:nid', (c) => {
    const given = ['body', 'resolved'].filter((k) => c.params[k] !== undefined);
    if (given.length !== 1) throw new HttpError(400, { error: 'body, resolved are missing, exactly one parameter must be provided' });
    const mr = mrOf(c);
    const d = c.world.discussion(mr, c.p.did);
    const n = c.world.note(mr, c.p.nid);
    if (n.discussion !== d) throw new HttpError(404, { message: '404 Note Not Found' });
    if (c.params.body !== undefined) {
      editableNote(c, mr, c.p.nid);
      if (!c.world.updateNoteBody(n, String(c.params.body))) return commandsOnly();
    } else {
      if (!c.world.resolvable(n)) throw new HttpError(400, { message: '400 Bad request - Note is not resolvable' });
      c.world.setResolved([n], toBool(c.params.resolved, 'resolved')!, c.user.id);
    }
    return ok(c.world.noteJson(n));
  }],

  // notes
  ['GET', 'projects/:id/merge_requests/:iid/notes', (c) => {
    const key = c.params.order_by === 'updated_at' ? 'updatedAt' : 'createdAt';
    const asc = c.params.sort === 'asc';
    const notes = c.world.allNotes(mrOf(c)).sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.id - b.id) * (asc ? 1 : -1));
    return paginate(c, notes.map((n) => c.world.noteJson(n)));
  }],
  ['POST', 'projects/:id/merge_requests/:iid/notes', (c) => {
    required(c, 'body');
    const note = c.world.createNote(mrOf(c), c.user.id, String(c.params.body), { kind: 'note' });
    if (note.commandsOnly) return commandsOnly();
    return ok(c.world.noteJson(note), 201);
  }],
  ['GET', 'projects/:id/merge_requests/:iid/notes/:nid', (c) => ok(c.world.noteJson(c.world.note(mrOf(c), c.p.nid)))],
  ['PUT', 'projects/:id/merge_requests/:iid/notes/:nid', (c) => {
    const mr = mrOf(c);
    const n = editableNote(c, mr, c.p.nid);
    if (c.params.body !== undefined && !c.world.updateNoteBody(n, String(c.params.body))) return commandsOnly();
    return ok(c.world.noteJson(n));
  }],

  // draft notes (./draft-notes.ts)
  ...draftNoteRoutes,

  // award emoji on notes
  ['GET', 'projects/:id/merge_requests/:iid/notes/:nid/award_emoji', (c) => {
    const n = awardTarget(c);
    return paginate(c, n.awards.map((a) => c.world.awardJson(n, a)));
  }],
  ['GET', 'projects/:id/merge_requests/:iid/notes/:nid/award_emoji/:aid', (c) => {
    const n = awardTarget(c);
    const a = n.awards.find((x) => x.id === Number(c.p.aid));
    if (!a) throw new HttpError(404, { message: '404 Award Emoji Not Found' });
    return ok(c.world.awardJson(n, a));
  }],
  ['POST', 'projects/:id/merge_requests/:iid/notes/:nid/award_emoji', (c) => {
    required(c, 'name');
    const n = awardTarget(c);
    const name = String(c.params.name);
    if (n.awards.some((a) => a.name === name && a.userId === c.user.id)) {
      throw new HttpError(404, { message: '404 Award Emoji {:name=>["has already been taken"]}' });
    }
    const a = { id: c.world.nextId('award'), name, userId: c.user.id, createdAt: new Date().toISOString() };
    n.awards.push(a);
    return ok(c.world.awardJson(n, a), 201);
  }],

  // project hooks
  ['GET', 'projects/:id/hooks', (c) => paginate(c, c.world.project(c.p.id).hooks.map((h) => c.world.hookJson(h)))],
  ['GET', 'projects/:id/hooks/:hid', (c) => {
    const h = c.world.project(c.p.id).hooks.find((x) => x.id === Number(c.p.hid));
    if (!h) throw new HttpError(404, { message: '404 Not found' });
    return ok(c.world.hookJson(h));
  }],
  ['POST', 'projects/:id/hooks', (c) => {
    required(c, 'url');
    const p = c.world.project(c.p.id);
    const h: any = { id: c.world.nextId('hook'), projectId: p.id, createdAt: new Date().toISOString(), url: '', ...defaultHook() };
    applyHookParams(c, h);
    p.hooks.push(h);
    return ok(c.world.hookJson(h), 201);
  }],
  ['PUT', 'projects/:id/hooks/:hid', (c) => {
    const h = c.world.project(c.p.id).hooks.find((x) => x.id === Number(c.p.hid));
    if (!h) throw new HttpError(404, { message: '404 Not found' });
    applyHookParams(c, h);
    return ok(c.world.hookJson(h));
  }],
  ['DELETE', 'projects/:id/hooks/:hid', (c) => {
    const p = c.world.project(c.p.id);
    const i = p.hooks.findIndex((x) => x.id === Number(c.p.hid));
    if (i < 0) throw new HttpError(404, { message: '404 Not found' });
    p.hooks.splice(i, 1);
    return ok('', 204);
  }],
];

/** Match `segments` (already split, each decoded) against the route table. */
export function matchRoute(method: string, segments: string[]): { handler: Handler; p: Record<string, string> } | undefined {
  for (const [m, pattern, handler] of routes) {
    if (m !== method) continue;
    const parts = pattern.split('/');
    if (parts.length !== segments.length) continue;
    const p: Record<string, string> = {};
    if (parts.every((part, i) => (part.startsWith(':') ? ((p[part.slice(1)] = segments[i]), true) : part === segments[i]))) return { handler, p };
  }
  return undefined;
}
