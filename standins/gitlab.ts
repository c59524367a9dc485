/**
 * A local stand-in for GitLab, for tests and the demo. One real HTTP server on 127.0.0.1 (random port):
 *
 * - REST v4 under `/api/v4` (routes in ./gitlab/rest.ts), GitLab's JSON shapes, auth by `PRIVATE-TOKEN`
 *   or `Authorization: Bearer`; list endpoints paginate like GitLab (x-* and Link headers).
 * - Real git repositories over smart HTTP (`git http-backend`) at `/<path_with_namespace>.git/…`, HTTP Basic auth
 *   with the token as password (`oauth2:<token>`); each MR has `refs/merge-requests/<iid>/head`. Pushes as GitLab
 *   takes them: Developer+ (or a target member on a fork MR that allows collaboration), protected branches refused in
 *   pre-receive; a push gives the branch's MRs a new version and fires their MR `update` hook with `oldrev`.
 * - Issues (`createIssue`), the issues an MR closes (GitLab's default closing pattern over its description and
 *   commits) and an MR's commits (./gitlab/issues.ts).
 * - Quick actions in note bodies (create and edit) run as the note's author and are removed from the stored body, and
 *   mentions are recorded as notifications, like GitLab (./gitlab/quick-actions.ts); `mrActivity` shows them.
 * - Draft notes (./gitlab/draft-notes.ts): review comments only their author sees until a publish; GitLab's emails
 *   about new notes are recorded (one per direct note, one per published review): `mrActivity(…).emails`.
 * - A test-side API: build projects, commits and MRs, let humans write notes, inject failures (also after the request
 *   took effect), read what happened,
 *   and build/deliver webhook payloads.
 *
 * State is in memory; repositories live in a temp dir removed by `close()`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HttpError, fromEntries, parseBody, type Params } from './gitlab/body.js';
import zlib from 'node:zlib';
import { commitInfo, commitTree, computeDiffs, git, initBare, mergeBase, parseRefUpdates, revParse, serveGit, writeRef, type FileChange, type GitRequest } from './gitlab/git.js';
import { buildMrHook, buildNoteHook, buildPushHook, hookEventFlag, hookHeaders, type MrAction, type PushedCommit, type UserArg } from './gitlab/hooks.js';
import { executeHook, signingHeaders, type HookLogEntry } from './gitlab/hook-delivery.js';
import { World, type DiscussionJson, type DraftNotesMode, type HookRec, type MrRec, type MrState, type NoteJson, type ProjectRec } from './gitlab/model.js';
import { draftJson } from './gitlab/draft-notes.js';
import { matchRoute } from './gitlab/rest.js';
import { mayPushAtAll, protects, pushDenial, type MemberRec } from './gitlab/access.js';
import { createIssue } from './gitlab/issues.js';

export type { NoteJson, DiscussionJson, GitRequest, MrAction, HookLogEntry, DraftNotesMode };
export { LINE_CODE_ERROR } from './gitlab/model.js';
export { lineCode } from './gitlab/git.js';

export interface StandinProject { id: number; path: string; httpUrl: string; defaultBranch: string; webUrl: string }
export interface StandinMr {
  id: number; iid: number; projectId: number; sourceBranch: string; targetBranch: string; headSha: string; baseSha: string;
  startSha: string; title: string; description: string; state: string; draft: boolean; webUrl: string;
}
export type ProjectArg = StandinProject | number | string;
/** where a membership lives: a project, or a group (by full path) whose projects inherit it */
export type MembershipArg = ProjectArg | { group: string };
export interface RestLogEntry { method: string; path: string; query: string; status: number; body?: Params; /** Date.now() on arrival */ at: number }
/**
 * `after: true`: GitLab does the work (the note is saved) and only then the answer fails: `status` > 0 answers it
 * instead of the real reply, 0 drops the connection (what a client sees on a timeout or a proxy reset).
 */
export interface FailReply { status?: number; times?: number; retryAfter?: number; delayMs?: number; body?: unknown; after?: boolean }
/** What quick actions and mentions in notes did to an MR (usernames where GitLab shows users). */
export interface MrActivity {
  state: string; draft: boolean; approvedBy: string[]; labels: string[]; assignees: string[]; reviewers: string[]; discussionLocked: boolean;
  executed: { noteId: number; user: string; command: string; arg?: string }[];
  notifications: { noteId: number; user: string; mention: string; kind: string }[];
  /** the emails GitLab would send about new notes: one per direct note, one per published review (with its notes) */
  emails: { kind: 'note' | 'review'; user: string; noteIds: number[] }[];
}
export interface NotePositionArg {
  new_path: string; old_path?: string; new_line?: number | null; old_line?: number | null;
  base_sha?: string; start_sha?: string; head_sha?: string; line_range?: unknown;
}

export interface GitlabStandin {
  /** base URL; REST at url + '/api/v4', git at url + '/<path>.git' */
  url: string;
  token: string;
  bot: { id: number; username: string };
  /** a human; with `token` it can also call the REST API and git as itself */
  addUser(u: { id: number; username: string; name?: string; token?: string }): void;
  createProject(path: string, files: Record<string, string | { symlink: string }>, opts?: { id?: number; defaultBranch?: string }): Promise<StandinProject>;
  project(ref: ProjectArg): StandinProject;
  /** the project's bare repository on disk (tests that read its objects without a fetch) */
  gitDir(ref: ProjectArg): string;
  /** the REST API in process, as a `fetch` for a client (GitLabClientOptions.fetch): no socket, the same answers */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** commit on `branch` (created from `opts.from`, default the default branch); `null` deletes; open MRs from that branch get a new version */
  commit(project: ProjectArg, branch: string, changes: Record<string, FileChange>, message?: string, opts?: { from?: string }): Promise<string>;
  /** a fork of `project` (all its branches) under `path`; `ownerId` gets Maintainer in it */
  forkProject(project: ProjectArg, path: string, opts?: { ownerId?: number }): Promise<StandinProject>;
  /** `sourceProject`: a fork MR from that project's `sourceBranch` into `project` */
  createMr(project: ProjectArg, mr: { sourceBranch: string; targetBranch?: string; title: string; description?: string; draft?: boolean; authorId?: number; sourceProject?: ProjectArg; allowCollaboration?: boolean }): Promise<StandinMr>;
  mr(project: ProjectArg, iid: number): StandinMr;
  /** an issue in the project (iids count from 1); MRs reference it as `#iid` */
  createIssue(project: ProjectArg, issue: { title: string; description?: string; authorId?: number }): { iid: number; title: string };
  setMrState(project: ProjectArg, iid: number, state: MrState, byUserId?: number): void;
  updateMr(project: ProjectArg, iid: number, patch: { title?: string; description?: string; draft?: boolean }): void;
  /** every non-system note in creation order (REST shape plus `discussion_id`) */
  notes(project: ProjectArg, iid: number): NoteJson[];
  /** every discussion (system ones included), REST shape */
  discussions(project: ProjectArg, iid: number): DiscussionJson[];
  /** registered project hooks as the hooks API shows them (alert_status, disabled_until), with their secret token and failure count */
  hooks(project: ProjectArg): (Record<string, unknown> & { id: number; url: string; token?: string; alert_status: string; disabled_until: string | null; recent_failures: number })[];
  /** every hook execution, in order (GitLab's "Recent events" of all hooks); skipped deliveries to disabled hooks are absent */
  hookLog: HookLogEntry[];
  log: RestLogEntry[];
  gitRequests: GitRequest[];
  /** a human writes a note: a reply (discussionId), a diff thread (position), a non-diff thread (thread), or a plain comment */
  addNote(project: ProjectArg, iid: number, authorId: number, body: string, opts?: { discussionId?: string; position?: NotePositionArg; thread?: boolean }): { note: NoteJson; discussion: DiscussionJson };
  /** a human edits a note; quick actions in the new body run like on GitLab (a note left with only commands is deleted: undefined) */
  editNote(project: ProjectArg, iid: number, noteId: number, body: string): NoteJson | undefined;
  /** what quick actions and mentions in notes did to the MR */
  mrActivity(project: ProjectArg, iid: number): MrActivity;
  resolveDiscussion(project: ProjectArg, iid: number, discussionId: string, resolved: boolean, byUserId: number): DiscussionJson;
  /** the draft notes API of one project: 'on', or answered 404 (an older GitLab) or 403 (a token without the rights) */
  setDraftNotes(project: ProjectArg, mode: DraftNotesMode): void;
  /** unpublished drafts on an MR (every author's, or one user's), REST shape */
  drafts(project: ProjectArg, iid: number, userId?: number): ReturnType<typeof draftJson>[];
  /** a user's role (10 Guest … 50 Owner) in a project or group; null removes the membership. New projects have the bot as Maintainer, user 2 as Developer. */
  setAccessLevel(where: MembershipArg, userId: number, level: number | null): void;
  /** protect a branch (name or wildcard); push: roles (0 No one, 30 Developers + Maintainers, 40 Maintainers) and/or user ids */
  protectBranch(project: ProjectArg, name: string, push?: { accessLevel?: number; userId?: number }[]): void;
  /** the next `fetches` GETs of the MR answer `diff_refs: null` (and /diffs `[]`): GitLab still computing the new version */
  delayDiffRefs(project: ProjectArg, iid: number, fetches: number): void;
  /** GitLab leaves this file's diff out of the latest version: `diff: ''` with too_large, collapsed, or generated_file (+collapsed) */
  markDiff(project: ProjectArg, iid: number, path: string, mark: 'too_large' | 'collapsed' | 'generated'): void;
  /** the latest version is over GitLab's file limits: only the first `keep` files are stored (`overflow` on /changes) */
  overflowDiff(project: ProjectArg, iid: number, keep: number): void;
  /** the user loses access to a private project: 404 in the API and over git, as GitLab answers non-members */
  revokeAccess(project: ProjectArg, userId: number): void;
  /** the next `times` (default 1) matching requests fail: status>0 answers it, 0 destroys the socket; delayMs alone = slow answer; `after`: only once the request took effect */
  fail(match: { method?: string; path: RegExp }, reply: FailReply): void;
  /** action null: the payload of the hook settings' "Test" button (MergeRequest#to_hook_data has no action) */
  mrHook(project: ProjectArg, iid: number, action: MrAction | null, extra?: { oldrev?: string; changes?: object; user?: UserArg }): any;
  noteHook(project: ProjectArg, iid: number, note: NoteJson | number, discussion?: DiscussionJson, opts?: { action?: 'create' | 'update' }): any;
  /** headers GitLab would send with `payload` (signingToken: the Standard Webhooks headers over `body`) */
  hookHeaders(payload: object, opts?: { token?: string; idempotencyKey?: string; signingToken?: string; body?: string }): Record<string, string>;
  /**
   * POST `payload` like GitLab's WebHookService: to `opts.url` (no hook record, nothing counted), or once to every
   * executable project hook subscribed to its event. Never retried; non-2xx, timeouts and network errors count
   * toward disabling the hook. A hook that is disabled gets nothing (and is absent from the result).
   * status 0 = no answer (`error` says why). `event` replaces X-Gitlab-Event (an event name a newer GitLab may send).
   */
  deliverHook(project: ProjectArg, payload: any, opts?: { url?: string; token?: string; idempotencyKey?: string; event?: string }): Promise<{ url: string; status: number; body: string; error?: string }[]>;
  /** the hook settings' "Test" button (TestHooks::ProjectService): sent even when the hook is disabled; a 2xx re-enables it */
  testHook(project: ProjectArg, hookId: number, trigger: 'merge_requests_events'): Promise<HookLogEntry>;
  close(): Promise<void>;
}

interface Failure { method?: string; path: RegExp; reply: FailReply; left: number }

export interface StandinOptions {
  token?: string;
  bot?: { id: number; username: string };
  /** GitLab's clock for hook backoff (default Date.now) */
  now?: () => number;
  /** webhook timeout (gitlab_rails['webhook_timeout']; 10 s on GitLab.com) */
  hookTimeoutMs?: number;
  /** the draft notes API of new projects (default 'on') */
  draftNotes?: DraftNotesMode;
  /**
   * The time of every commit the stand-in makes (default: now). Fixed, the same files on the same parent are the same
   * commit, as git makes them: branches of equal content share their SHA, and what is computed per SHA is computed once.
   */
  commitTime?: Date;
}

export async function startGitlabStandin(opts: StandinOptions = {}): Promise<GitlabStandin> {
  const token = opts.token ?? 'glpat-standin-0123456789';
  const bot = opts.bot ?? { id: 99, username: 'review-bot' };
  const root = await mkdtemp(path.join(os.tmpdir(), 'gitlab-standin-'));
  const reposDir = path.join(root, 'repos');
  await mkdir(reposDir);

  const world = new World('');
  if (opts.now) world.clock = opts.now;
  const hookLog: HookLogEntry[] = [];
  world.users.set(bot.id, { id: bot.id, username: bot.username, name: bot.username, bot: true, token });
  world.users.set(2, { id: 2, username: 'developer', name: 'Dev Eloper', bot: false });
  const log: RestLogEntry[] = [];
  const gitRequests: GitRequest[] = [];
  const failures: Failure[] = [];

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const readBody = (req: http.IncomingMessage) => new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
  /** the log entries of each response, so their status is set before the client can see the answer */
  const entriesOf = new WeakMap<http.ServerResponse, { status: number }[]>();
  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    for (const e of entriesOf.get(res) ?? []) e.status = status;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache', ...headers });
    res.end(text);
  };

  function takeFailure(method: string, rawPath: string, decodedPath: string): Failure | undefined {
    const f = failures.find((x) => x.left > 0 && (!x.method || x.method.toUpperCase() === method) && (x.path.test(rawPath) || x.path.test(decodedPath)));
    if (f) f.left--;
    return f;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer): Promise<void> {
    const method = req.method ?? 'GET';
    const u = new URL(req.url ?? '/', world.url);
    const rawPath = u.pathname;
    let decodedPath = rawPath;
    try { decodedPath = decodeURIComponent(rawPath); } catch { /* keep raw */ }
    const isRest = rawPath.startsWith('/api/v4/');
    const gitMatch = /^\/(.+?)\.git(\/.*)$/.exec(decodedPath);
    const buf = body ?? (await readBody(req));
    const restEntry: RestLogEntry = { method, path: rawPath, query: u.search.slice(1), status: 0, at: Date.now() };
    const gitEntry: GitRequest = { method, path: decodedPath, status: 0, bytesOut: 0, wants: 0, haves: 0 };
    if (gitMatch) gitEntry.service = u.searchParams.get('service') ?? (/\/(git-[a-z-]+)$/.exec(decodedPath)?.[1] ?? undefined);
    if (isRest) log.push(restEntry);
    else if (gitMatch) gitRequests.push(gitEntry);
    entriesOf.set(res, [restEntry, gitEntry]);

    const f = takeFailure(method, rawPath, decodedPath);
    if (f?.reply.after) {
      // Let GitLab do the work, then lose the answer: the client cannot tell a saved note from a lost one.
      const sink = Object.assign(Object.create(res) as http.ServerResponse, { writeHead: () => sink, end: () => sink });
      if (isRest) await rest(req, sink, u, rawPath, buf, restEntry);
      if (f.reply.delayMs) await sleep(f.reply.delayMs);
      if (!f.reply.status) { restEntry.status = 0; req.socket.destroy(); return; }
      return send(res, f.reply.status, f.reply.body ?? { message: `${f.reply.status} ${http.STATUS_CODES[f.reply.status] ?? 'Error'}` });
    }
    if (f) {
      if (f.reply.delayMs) await sleep(f.reply.delayMs);
      if (f.reply.status === 0) { restEntry.status = gitEntry.status = 0; req.socket.destroy(); return; }
      if (f.reply.status && f.reply.status > 0) {
        const s = f.reply.status;
        const headers: Record<string, string> = f.reply.retryAfter !== undefined ? { 'retry-after': String(f.reply.retryAfter) } : {};
        const body = f.reply.body ?? (s === 429 ? 'Retry later\n' : { message: `${s} ${http.STATUS_CODES[s] ?? 'Error'}` });
        return send(res, s, body, headers);
      }
    }

    if (isRest) return rest(req, res, u, rawPath, buf, restEntry);
    if (gitMatch) return gitHttp(req, res, u, gitMatch[1], gitMatch[2], buf, gitEntry);
    send(res, 404, { error: '404 Not Found' });
  }

  async function rest(req: http.IncomingMessage, res: http.ServerResponse, u: URL, rawPath: string, buf: Buffer, entry: RestLogEntry) {
    const bearer = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const user = world.userByToken(String(req.headers['private-token'] ?? '') || bearer || u.searchParams.get('private_token') || undefined);
    if (!user) return send(res, 401, { message: '401 Unauthorized' });
    const segments = rawPath.slice('/api/v4/'.length).split('/').map((s) => { try { return decodeURIComponent(s); } catch { return s; } });
    const route = matchRoute(req.method ?? 'GET', segments);
    if (!route) return send(res, 404, { error: '404 Not Found' });
    if (route.p.id !== undefined && world.findProject(route.p.id)?.hiddenFrom?.has(user.id)) return send(res, 404, { message: '404 Project Not Found' });
    try {
      const body = await parseBody(String(req.headers['content-type'] ?? ''), buf).catch(() => { throw new HttpError(400, { message: '400 Bad request - invalid body' }); });
      const query: Params = {};
      for (const [k, v] of u.searchParams) query[k] = v;
      const params = { ...fromEntries(Object.entries(query)), ...body };
      if (Object.keys(body).length) entry.body = body;
      const r = await route.handler({ world, user, p: route.p, params, url: u });
      send(res, r.status ?? 200, r.json, r.headers);
    } catch (e) {
      if (e instanceof HttpError) return send(res, e.status, e.body);
      console.error('[gitlab-standin]', e);
      send(res, 500, { message: '500 Internal Server Error' });
    }
  }

  async function gitHttp(req: http.IncomingMessage, res: http.ServerResponse, u: URL, repoPath: string, rest: string, buf: Buffer, entry: GitRequest) {
    const basic = /^Basic\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const [user, ...pw] = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':') : [];
    const gitUser = world.userByToken(pw.join(':'));
    if (!basic || !gitUser) {
      return send(res, 401, 'HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you\'re required to use a token instead of a password.\n', { 'www-authenticate': 'Basic realm="GitLab"' });
    }
    if (!world.findProject(repoPath) || world.findProject(repoPath)!.hiddenFrom?.has(gitUser.id)) return send(res, 404, 'The project you were looking for could not be found or you don\'t have permission to view it.\n');
    const p = world.findProject(repoPath)!;
    const serve = (deniedRefs?: string[], beforeEnd?: () => Promise<void>) =>
      serveGit(req, res, buf, { root: reposDir, pathInfo: `/${repoPath}.git${rest}`, query: u.search.slice(1), user: user || 'oauth2', deniedRefs, beforeEnd }, entry);
    if (!/git-receive-pack/.test(rest + u.search)) return serve();
    // A push: Developer+ (or fork-MR collaboration) may push at all; protected branches are checked per ref by the
    // pre-receive hook, like GitLab's, so git reports them as `[remote rejected]`.
    if (!mayPushAtAll(world, p, gitUser.id)) return send(res, 403, 'You are not allowed to push code to this project.\n');
    if (req.method !== 'POST') return serve();
    let plain = buf;
    if (/gzip/i.test(String(req.headers['content-encoding'] ?? ''))) plain = zlib.gunzipSync(buf);
    const updates = parseRefUpdates(plain);
    const denied = updates.filter((x) => !x.ref.startsWith('refs/heads/') || pushDenial(world, p, gitUser.id, x.ref.slice('refs/heads/'.length))).map((x) => x.ref);
    const before = new Map<string, string | null>();
    for (const x of updates) before.set(x.ref, await revParse(p.gitDir, x.ref));
    await serve(denied, async () => {
      for (const x of updates) {
        const now = await revParse(p.gitDir, x.ref);
        if (now && now !== before.get(x.ref) && x.ref.startsWith('refs/heads/')) await branchMoved(p, x.ref.slice('refs/heads/'.length), before.get(x.ref) ?? null, gitUser.id);
      }
    });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      console.error('[gitlab-standin]', e);
      if (!res.headersSent) send(res, 500, { message: '500 Internal Server Error' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  /**
   * The REST API without a socket: the same handler, given a request and answering a Response, as a client's
   * `fetch`. A dropped connection rejects like undici's fetch does. Git is served over HTTP only.
   */
  async function inProcessFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const request = input instanceof Request ? input : { url: String(input), method: init?.method ?? 'GET', headers: new Headers(init?.headers) };
    const u = new URL(request.url);
    if (!u.pathname.startsWith('/api/v4/')) throw new TypeError(`gitlab-standin: in-process fetch serves the REST API only, not ${u.pathname}`);
    // The body as it would go on the wire (a form gets its multipart boundary); no Request: it would copy the signal.
    const wire = input instanceof Request ? input : new Response(init?.body ?? null);
    const type = wire.headers.get('content-type');
    if (type && !request.headers.has('content-type')) request.headers.set('content-type', type);
    const body = Buffer.from(await wire.arrayBuffer());
    return new Promise<Response>((resolve, reject) => {
      let status = 200;
      let headers: Record<string, string> = {};
      const dropped = () => reject(new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }));
      const req = { method: request.method, url: u.pathname + u.search, headers: Object.fromEntries(request.headers), socket: { destroy: dropped } };
      const res = {
        headersSent: false,
        writeHead(s: number, h: Record<string, string>) { status = s; headers = h; this.headersSent = true; return this; },
        end(text: string) { resolve(new Response(status === 204 || status === 304 ? null : text, { status, headers })); return this; },
        destroy: dropped,
      };
      handle(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse, body).catch((e) => {
        console.error('[gitlab-standin]', e);
        if (!res.headersSent) send(res as unknown as http.ServerResponse, 500, { message: '500 Internal Server Error' });
        else dropped();
      });
    });
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  world.url = url;

  // ---- test-side helpers ----------------------------------------------------

  const hookTimeoutMs = opts.hookTimeoutMs ?? 10_000;
  /** one execution of a registered hook, logged like web_hook_logs */
  async function runHook(h: HookRec, payload: { object_kind?: string }, body: string, trigger: string, o: { idempotencyKey?: string; force?: boolean; event?: string }) {
    const headers = hookHeaders(world, payload, { token: h.token, idempotencyKey: o.idempotencyKey });
    if (o.event) headers['x-gitlab-event'] = o.event;
    if (typeof h.signing_token === 'string' && h.signing_token) Object.assign(headers, signingHeaders(h.signing_token, headers['idempotency-key']!, body, world.clock()));
    const e = await executeHook(h, { headers, body, trigger, now: world.clock(), timeoutMs: hookTimeoutMs, force: o.force });
    if (e) hookLog.push(e);
    return e;
  }

  const proj = (ref: ProjectArg): ProjectRec => {
    const p = world.findProject(typeof ref === 'object' ? ref.id : ref);
    if (!p) throw new Error(`gitlab-standin: no project ${JSON.stringify(ref)}`);
    return p;
  };
  const mrRec = (ref: ProjectArg, iid: number): MrRec => {
    const m = proj(ref).mrs.get(iid);
    if (!m) throw new Error(`gitlab-standin: no MR !${iid}`);
    return m;
  };
  const projectView = (p: ProjectRec): StandinProject => ({ id: p.id, path: p.path, httpUrl: `${url}/${p.path}.git`, defaultBranch: p.defaultBranch, webUrl: `${url}/${p.path}` });
  const mrView = (m: MrRec): StandinMr => {
    const v = world.latest(m);
    return {
      id: m.id, iid: m.iid, projectId: m.project.id, sourceBranch: m.sourceBranch, targetBranch: m.targetBranch, headSha: v.headSha,
      baseSha: v.baseSha, startSha: v.startSha, title: m.title, description: m.description, state: m.state, draft: world.isDraft(m.title), webUrl: world.mrWebUrl(m),
    };
  };
  /** unwrap HttpErrors for test-side callers */
  const member = (level: number): MemberRec => ({ level, createdAt: new Date().toISOString() });
  const unwrap = <T>(fn: () => T): T => {
    try { return fn(); } catch (e) {
      if (e instanceof HttpError) throw new Error(`gitlab-standin: ${e.status} ${JSON.stringify(e.body)}`);
      throw e;
    }
  };

  async function makeCommit(p: ProjectRec, parent: string | null, changes: Record<string, FileChange>, message: string): Promise<string> {
    const at = opts.commitTime ?? new Date();
    const sha = await commitTree(p.gitDir, parent, changes, message, at);
    const now = at.toISOString().replace(/\.\d+Z$/, 'Z');
    p.commits.set(sha, { id: sha, message: message + '\n', title: message.split('\n')[0], timestamp: now, authorName: 'Standin Dev', authorEmail: 'dev@standin.test' });
    return sha;
  }

  async function addVersion(m: MrRec): Promise<void> {
    const gd = m.project.gitDir;
    // A fork MR's commits are fetched into the target project (GitLab keeps them under refs/merge-requests/:iid/head).
    if (m.sourceProject) await git(gd, ['fetch', '-q', m.sourceProject.gitDir, `+refs/heads/${m.sourceBranch}:refs/merge-requests/${m.iid}/head`]);
    const head = (await revParse(gd, m.sourceProject ? `refs/merge-requests/${m.iid}/head` : `refs/heads/${m.sourceBranch}`))!;
    const start = (await revParse(gd, `refs/heads/${m.targetBranch}`))!;
    const base = await mergeBase(gd, start, head);
    const diffs = await computeDiffs(gd, base, head);
    m.versions.push({ id: world.nextId('version'), headSha: head, baseSha: base, startSha: start, createdAt: new Date().toISOString(), diffs });
    await writeRef(gd, `refs/merge-requests/${m.iid}/head`, head);
  }

  /**
   * A branch got new commits (a push, or a test-side commit): remember them, give every open MR from that branch a new
   * version with GitLab's "added N commits" system note, and deliver an MR `update` hook with `oldrev` to the
   * target project's hooks (GitLab's MergeRequests::RefreshService), without waiting for the answers.
   */
  async function branchMoved(p: ProjectRec, branch: string, oldSha: string | null, byUserId?: number, o: { hooks: boolean; added?: string[] } = { hooks: true }): Promise<void> {
    const head = (await revParse(p.gitDir, `refs/heads/${branch}`))!;
    // `added`: the caller made the one new commit itself, so git need not be asked
    const added = o.added ?? (oldSha ? (await git(p.gitDir, ['rev-list', `${oldSha}..${head}`])).trim().split('\n').filter(Boolean) : [head]);
    for (const sha of added) if (!p.commits.has(sha)) p.commits.set(sha, await commitInfo(p.gitDir, sha));
    if (o.hooks && byUserId !== undefined) {
      const commits: PushedCommit[] = [];
      for (const sha of added) {
        const files = { added: [] as string[], modified: [] as string[], removed: [] as string[] };
        const out = await git(p.gitDir, ['diff-tree', '--root', '--no-commit-id', '--name-status', '--no-renames', '-r', '-z', sha]);
        const f = out.split('\0').filter(Boolean);
        for (let i = 0; i + 1 < f.length; i += 2) (f[i] === 'A' ? files.added : f[i] === 'D' ? files.removed : files.modified).push(f[i + 1]!);
        commits.push({ ...p.commits.get(sha)!, ...files });
      }
      const protectedRef = p.protectedBranches.some((b) => protects(b.name, branch));
      const payload = buildPushHook(world, p, { before: oldSha, after: head, ref: `refs/heads/${branch}`, userId: byUserId, protectedRef, commits });
      const body = JSON.stringify(payload);
      for (const h of p.hooks.filter((x) => x.push_events === true)) void runHook(h, payload, body, 'push_events', {}).catch(() => undefined);
    }
    const mrs = [...world.projects.values()].flatMap((t) => [...t.mrs.values()]).filter((m) => (m.sourceProject ?? m.project) === p && m.sourceBranch === branch && m.state === 'opened');
    for (const m of mrs) {
      const oldrev = world.latest(m).headSha;
      await addVersion(m);
      const list = added.map((sha) => `<li>${sha.slice(0, 8)} - ${p.commits.get(sha)?.title ?? ''}</li>`).join('');
      world.createNote(m, byUserId ?? m.authorId, `added ${added.length} commit${added.length === 1 ? '' : 's'}\n\n<ul>${list}</ul>\n\n[Compare with previous version](${world.mrWebUrl(m)}/diffs?diff_id=${world.latest(m).id})`, { kind: 'note', system: true });
      if (!o.hooks) continue;
      const payload = buildMrHook(world, m, 'update', { oldrev, user: { id: byUserId ?? m.authorId } });
      const body = JSON.stringify(payload);
      for (const h of m.project.hooks.filter((x) => x.merge_requests_events === true)) {
        void runHook(h, payload, body, 'merge_requests_events', {}).catch(() => undefined);
      }
    }
  }

  const api: GitlabStandin = {
    url, token, bot, log, gitRequests, hookLog,
    fetch: inProcessFetch,

    addUser(u) {
      world.users.set(u.id, { id: u.id, username: u.username, name: u.name ?? u.username, bot: false, token: u.token });
    },

    async createProject(p, files, o = {}) {
      if (world.findProject(p)) throw new Error(`gitlab-standin: project ${p} exists`);
      const id = o.id ?? world.nextId('project');
      const defaultBranch = o.defaultBranch ?? 'main';
      const gitDir = path.join(reposDir, `${p}.git`);
      await mkdir(path.dirname(gitDir), { recursive: true });
      await initBare(gitDir, defaultBranch);
      const rec: ProjectRec = {
        id, path: p, name: p.split('/').pop()!, defaultBranch, gitDir, createdAt: new Date().toISOString(),
        nextIid: 1, mrs: new Map(), hooks: [], commits: new Map(), protectedBranches: [],
        members: new Map([[bot.id, member(40)], [2, member(30)]]), draftNotes: opts.draftNotes ?? 'on',
      };
      world.projects.set(id, rec);
      const sha = await makeCommit(rec, null, files, 'Initial commit');
      await writeRef(gitDir, `refs/heads/${defaultBranch}`, sha);
      return projectView(rec);
    },

    project: (ref) => projectView(proj(ref)),
    gitDir: (ref) => proj(ref).gitDir,

    async commit(ref, branch, changes, message = `Update ${Object.keys(changes).join(', ')}`, o = {}) {
      const p = proj(ref);
      const current = await revParse(p.gitDir, `refs/heads/${branch}`);
      const from = o.from ?? p.defaultBranch;
      const parent = current ?? (await revParse(p.gitDir, `refs/heads/${from}`)) ?? (await revParse(p.gitDir, from));
      if (!parent) throw new Error(`gitlab-standin: cannot branch ${branch} from ${from}`);
      const sha = await makeCommit(p, parent, changes, message);
      await writeRef(p.gitDir, `refs/heads/${branch}`, sha);
      await branchMoved(p, branch, current, undefined, { hooks: false, added: [sha] });
      return sha;
    },

    async forkProject(ref, forkPath, o = {}) {
      const src = proj(ref);
      const f = await api.createProject(forkPath, {}, { defaultBranch: src.defaultBranch });
      const rec = proj(f);
      await git(rec.gitDir, ['fetch', '-q', src.gitDir, '+refs/heads/*:refs/heads/*']);
      for (const [sha, c] of src.commits) rec.commits.set(sha, c);
      // a fork belongs to its owner: the bot is not a member (it may push only through "allow collaboration")
      rec.members = new Map(o.ownerId ? [[o.ownerId, member(40)]] : []);
      return projectView(rec);
    },

    async createMr(ref, o) {
      const p = proj(ref);
      const src = o.sourceProject !== undefined ? proj(o.sourceProject) : p;
      if (!(await revParse(src.gitDir, `refs/heads/${o.sourceBranch}`))) throw new Error(`gitlab-standin: no branch ${o.sourceBranch}`);
      const now = new Date().toISOString();
      const title = o.draft && !world.isDraft(o.title) ? `Draft: ${o.title}` : o.title;
      const m: MrRec = {
        id: world.nextId('mr'), iid: p.nextIid++, project: p, title, description: o.description ?? '', state: 'opened',
        sourceBranch: o.sourceBranch, targetBranch: o.targetBranch ?? p.defaultBranch, authorId: o.authorId ?? 2,
        createdAt: now, updatedAt: now, versions: [], discussions: [], mergedAt: null, mergedById: null, closedAt: null, closedById: null,
        approvedBy: [], labels: [], assignees: [], reviewers: [], discussionLocked: false, executed: [], notifications: [], drafts: [], emails: [],
        ...(src !== p ? { sourceProject: src, allowCollaboration: !!o.allowCollaboration } : {}),
      };
      await addVersion(m);
      p.mrs.set(m.iid, m);
      return mrView(m);
    },

    mr: (ref, iid) => mrView(mrRec(ref, iid)),

    createIssue(ref, o) {
      const i = createIssue(proj(ref), o);
      return { iid: i.iid, title: i.title };
    },

    setMrState(ref, iid, state, byUserId) {
      const m = mrRec(ref, iid);
      const now = new Date().toISOString();
      m.state = state;
      m.updatedAt = now;
      if (state === 'merged') Object.assign(m, { mergedAt: now, mergedById: byUserId ?? m.authorId });
      if (state === 'closed') Object.assign(m, { closedAt: now, closedById: byUserId ?? m.authorId });
      if (state === 'opened') Object.assign(m, { closedAt: null, closedById: null });
    },

    updateMr(ref, iid, patch) {
      const m = mrRec(ref, iid);
      if (patch.title !== undefined) m.title = patch.title;
      if (patch.description !== undefined) m.description = patch.description;
      if (patch.draft === true && !world.isDraft(m.title)) m.title = `Draft: ${m.title}`;
      if (patch.draft === false) m.title = m.title.replace(/^\s*(\[draft\]|\(draft\)|draft:|draft\s-\s|\[wip\]|wip:)\s*/i, '');
      m.updatedAt = new Date().toISOString();
    },

    notes: (ref, iid) => world.allNotes(mrRec(ref, iid)).filter((n) => !n.system).map((n) => ({ ...world.noteJson(n), discussion_id: n.discussion.id })),
    discussions: (ref, iid) => mrRec(ref, iid).discussions.map((d) => world.discussionJson(d)),
    hooks: (ref) => proj(ref).hooks.map((h: HookRec) => ({ ...world.hookJson(h), token: h.token, recent_failures: Number(h.recentFailures ?? 0) })) as any,

    addNote(ref, iid, authorId, body, o = {}) {
      const m = mrRec(ref, iid);
      return unwrap(() => {
        let note;
        if (o.discussionId) {
          note = world.createNote(m, authorId, body, { kind: 'discussion', replyTo: world.discussion(m, o.discussionId) });
        } else if (o.position) {
          const v = world.latest(m);
          const pos = world.position(m, {
            base_sha: v.baseSha, start_sha: v.startSha, head_sha: v.headSha, position_type: 'text', old_path: o.position.new_path, ...o.position,
          });
          note = world.createNote(m, authorId, body, { kind: 'discussion', position: pos });
        } else {
          note = world.createNote(m, authorId, body, { kind: o.thread ? 'discussion' : 'note' });
        }
        return { note: { ...world.noteJson(note), discussion_id: note.discussion.id }, discussion: world.discussionJson(note.discussion) };
      });
    },

    editNote(ref, iid, noteId, body) {
      const n = world.updateNoteBody(unwrap(() => world.note(mrRec(ref, iid), noteId)), body);
      return n && { ...world.noteJson(n), discussion_id: n.discussion.id };
    },

    mrActivity(ref, iid) {
      const m = mrRec(ref, iid);
      const name = (id: number) => world.user(id).username;
      return {
        state: m.state, draft: world.isDraft(m.title), approvedBy: m.approvedBy.map(name), labels: [...m.labels],
        assignees: m.assignees.map(name), reviewers: m.reviewers.map(name), discussionLocked: m.discussionLocked,
        executed: m.executed.map((e) => ({ noteId: e.noteId, user: name(e.userId), command: e.command, ...(e.arg ? { arg: e.arg } : {}) })),
        notifications: m.notifications.map((x) => ({ noteId: x.noteId, user: name(x.userId), mention: x.mention, kind: x.kind })),
        emails: m.emails.map((e) => ({ kind: e.kind, user: name(e.userId), noteIds: [...e.noteIds] })),
      };
    },

    resolveDiscussion(ref, iid, discussionId, resolved, byUserId) {
      const d = unwrap(() => world.discussion(mrRec(ref, iid), discussionId));
      world.setResolved(d.notes, resolved, byUserId);
      return world.discussionJson(d);
    },

    setDraftNotes(ref, mode) {
      proj(ref).draftNotes = mode;
    },

    drafts(ref, iid, userId) {
      const m = mrRec(ref, iid);
      return m.drafts.filter((d) => userId === undefined || d.authorId === userId).map((d) => draftJson(world, m, d));
    },

    setAccessLevel(where, userId, level) {
      let members: Map<number, MemberRec>;
      if (typeof where === 'object' && 'group' in where) {
        members = world.groupMembers.get(where.group) ?? new Map();
        world.groupMembers.set(where.group, members);
      } else members = proj(where).members;
      if (level === null) members.delete(userId);
      else members.set(userId, member(level));
    },

    protectBranch(ref, name, push = [{ accessLevel: 40 }]) {
      const p = proj(ref);
      const rule = (r: { accessLevel?: number; userId?: number }) => ({ id: world.nextId('protection'), ...r });
      p.protectedBranches = p.protectedBranches.filter((b) => b.name !== name);
      p.protectedBranches.push({ id: world.nextId('protection'), name, push: push.map(rule), merge: [rule({ accessLevel: 40 })], allowForcePush: false });
    },

    delayDiffRefs(ref, iid, fetches) {
      mrRec(ref, iid).diffPendingFetches = fetches;
    },

    markDiff(ref, iid, filePath, mark) {
      const f = world.latest(mrRec(ref, iid)).diffs.find((x) => x.new_path === filePath || x.old_path === filePath);
      if (!f) throw new Error(`gitlab-standin: ${filePath} is not in the diff`);
      // Gitlab::Git::Diff#too_large! / #collapse! empty the diff; generated files are collapsed the same way.
      Object.assign(f, { diff: '', too_large: mark === 'too_large', collapsed: mark !== 'too_large', generated_file: mark === 'generated' });
    },

    overflowDiff(ref, iid, keep) {
      const v = world.latest(mrRec(ref, iid));
      v.diffs = v.diffs.slice(0, keep);
      v.overflow = { limit: keep };
    },

    revokeAccess(ref, userId) {
      const p = proj(ref);
      (p.hiddenFrom ??= new Set()).add(userId);
    },

    fail(match, reply) {
      failures.push({ method: match.method, path: match.path, reply, left: reply.times ?? 1 });
    },

    mrHook: (ref, iid, action, extra) => buildMrHook(world, mrRec(ref, iid), action, extra),

    noteHook(ref, iid, note, discussion, o = {}) {
      const m = mrRec(ref, iid);
      const n = unwrap(() => world.note(m, typeof note === 'number' ? note : note.id));
      const payload = buildNoteHook(world, n, o.action ?? 'create');
      if (discussion) payload.object_attributes.discussion_id = discussion.id;
      return payload;
    },

    hookHeaders: (payload, o = {}) => {
      const h = hookHeaders(world, payload, o);
      return o.signingToken ? { ...h, ...signingHeaders(o.signingToken, h['idempotency-key']!, o.body ?? JSON.stringify(payload), world.clock()) } : h;
    },

    async deliverHook(ref, payload, o = {}) {
      const p = proj(ref);
      const flag = hookEventFlag(payload ?? {});
      const body = JSON.stringify(payload);
      if (o.url) {
        // an ad-hoc target, not a hook record: delivered once, nothing counted
        const once = await executeHook({ id: 0, projectId: p.id, url: o.url, createdAt: '' }, {
          headers: hookHeaders(world, payload, { token: o.token, idempotencyKey: o.idempotencyKey }), body, trigger: flag ?? 'unknown', now: world.clock(), timeoutMs: hookTimeoutMs, force: true,
        });
        return [{ url: o.url, status: once!.status, body: once!.body, ...(once!.error ? { error: once!.error } : {}) }];
      }
      const out: { url: string; status: number; body: string; error?: string }[] = [];
      for (const h of p.hooks.filter((x) => flag && x[flag] === true)) {
        const e = await runHook(h, payload, body, flag!, { idempotencyKey: o.idempotencyKey, event: o.event });
        if (e) out.push({ url: e.url, status: e.status, body: e.body, ...(e.error ? { error: e.error } : {}) });
      }
      return out;
    },

    async testHook(ref, hookId, trigger) {
      const p = proj(ref);
      const h = p.hooks.find((x) => x.id === hookId);
      if (!h) throw new Error(`gitlab-standin: no hook ${hookId}`);
      const mr = [...p.mrs.values()].at(-1);
      if (!mr) throw new Error('gitlab-standin: Ensure the project has merge requests.');
      const payload = buildMrHook(world, mr, null);
      return (await runHook(h, payload, JSON.stringify(payload), trigger, { force: true }))!;
    },

    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    },
  };
  return api;
}
