// What a flow test runs against: the GitLab stand-in (real REST shapes, real diffs), an in-memory store, the fake
// session service, and a light checkout: no worktree (the fake sessions read no files), but a real git mirror of the
// stand-in's project, fetched like the bot fetches, so the checks in code read the MR's real files at a commit
// (evidence quotes, fixing lines). Everything a flow posts is in `gitlab`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { classify } from '../../src/events/classify.js';
import type { NoteAdded, ProjectRef } from '../../src/events/types.js';
import type { Deps } from '../../src/flows/deps.js';
import { Access } from '../../src/gitlab/access.js';
import { GitLabClient } from '../../src/gitlab/client.js';
import { Projects } from '../../src/gitlab/projects.js';
import type { JobSpec } from '../../src/jobs/queue.js';
import { createLogger } from '../../src/logger.js';
import { Store } from '../../src/store/store.js';
import { Workspaces } from '../../src/workspace/workspaces.js';
import { startGitlabStandin, type GitlabStandin, type StandinMr, type StandinProject } from '../../standins/gitlab.js';
import { ALICE, BOB, BOT, botEnv, TOKEN } from '../../standins/harness.js';
import { FakeSessions } from './fake-sessions.js';

/** A commit's files never change: what a test file's flows read at a commit, read once (a git process each otherwise). */
const filesAt = new Map<string, Promise<Map<string, string>>>();

/**
 * The MR's checkout as the flows use it: a directory, the target branch's files (set by the test), the commits the
 * mirror has (set by the test: a force-push's lost head), and the MR's files at a commit (the real mirror's).
 */
export class FakeCheckout {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-flow-'));
  /** files on the target branch (repo config, CLAUDE.md) */
  readonly targetFiles = new Map<string, string>();
  /** commits the mirror has */
  readonly commits = new Set<string>();
  /** what `diff` answers (a push's interdiff) */
  interdiff = '';
  /** the stand-in's repository as the bot's mirror: what `readManyAt` of a commit reads */
  private readonly mirror: Workspaces;

  constructor(private readonly gitlab: GitlabStandin) {
    this.mirror = new Workspaces({ root: this.root, token: TOKEN, gitlabUrl: gitlab.url, remote: async (pid) => gitlab.project(pid).httpUrl });
  }

  async prepare(project: { id: number }, iid: number, sha: string, targetBranch: string): Promise<string> {
    await this.fetch(project, iid, targetBranch, sha);
    return this.worktree(project.id, iid, sha);
  }

  /**
   * No git fetch (it would cost most of a flow test): the mirror is the stand-in's own repository, linked in, so
   * `readManyAt` of an MR's commits reads the real files. No worktree is written.
   */
  async fetch(project: { id: number }, _iid: number, _targetBranch: string, sha?: string): Promise<void> {
    const mirror = this.mirror.mirrorPath(project.id);
    if (!fs.existsSync(mirror)) {
      fs.mkdirSync(path.dirname(mirror), { recursive: true });
      fs.symlinkSync(this.gitlab.gitDir(project.id), mirror);
    }
    if (sha) this.commits.add(sha);
  }

  async worktree(projectId: number, iid: number, sha: string): Promise<string> {
    const dir = path.join(this.root, `${projectId}-${iid}`);
    fs.mkdirSync(dir, { recursive: true });
    this.commits.add(sha);
    return dir;
  }

  async has(_pid: number, rev: string): Promise<boolean> {
    return this.commits.has(rev);
  }

  /** The target branch's files from `targetFiles`; a commit's from the mirror, read once per commit and files. */
  async readManyAt(pid: number, ref: string, files: string[]): Promise<Map<string, string>> {
    if (ref.startsWith('refs/heads/')) return new Map(files.filter((f) => this.targetFiles.has(f)).map((f) => [f, this.targetFiles.get(f)!]));
    const key = `${this.gitlab.gitDir(pid)}\0${ref}\0${files.join('\0')}`;
    let read = filesAt.get(key);
    if (!read) filesAt.set(key, (read = this.mirror.readManyAt(pid, ref, files)));
    return new Map(await read);
  }

  async changedPaths(): Promise<string[] | undefined> {
    return undefined; // GitLab's diff is complete in these tests
  }

  async diff(): Promise<string> {
    return this.interdiff;
  }
}

export interface FlowWorld {
  gitlab: GitlabStandin;
  deps: Deps;
  sessions: FakeSessions;
  store: Store;
  checkout: FakeCheckout;
  /** jobs the flows queued */
  enqueued: JobSpec[];
  /** log lines (JSON) */
  logs: string[];
  /**
   * A new MR that adds src/math.js's div and src/list.js (as in the e2e tests), in the file's one project: MRs of one
   * branch are cheap (no git work), and each has its own notes. `branch`: an MR of a branch of its own (for pushes).
   */
  newMr(branch?: string): Promise<{ project: StandinProject; ref: ProjectRef; mr: StandinMr }>;
  /** a user writes a note (see GitlabStandin.addNote); returns the event intake makes of its Note Hook */
  say(project: StandinProject, iid: number, authorId: number, body: string, opts?: Parameters<GitlabStandin['addNote']>[4]): NoteAdded;
}

/** A note as a reader sees it: GitLabClient breaks the bot's own mentions with a zero-width space (note-safety.ts). */
export const seen = (body: string) => body.replaceAll('\u200b', '');

const MATH = 'export function add(a, b) {\n  return a + b;\n}\n';
const FEATURE = {
  'src/math.js': `${MATH}\nexport function div(a, b) {\n  return a / b;\n}\n`,
  'src/list.js': 'export function first(xs) {\n  return xs[0].value;\n}\n',
};

/** Every commit of a flow test's stand-in has this time: the same files on the same parent are the same commit. */
const COMMIT_TIME = new Date('2026-01-05T10:00:00Z');

/**
 * One stand-in per test file, set up before its tests (its git repository is the slow part); a fresh store and fake
 * per `world()`. Commits have a fixed time, so every branch made of the same files is the same commit and an MR of it
 * is made of lookups: the stand-in computes a diff or a commit list once per SHA.
 */
export function flowWorlds(env: Record<string, string> = {}) {
  let standin: GitlabStandin;
  let project: StandinProject;
  let client: GitLabClient; // holds no state of a test: one per file (making one costs more than most flow tests)
  const branches = new Set<string>();
  const dirs: string[] = [];
  beforeAll(async () => {
    standin = await startGitlabStandin({ token: TOKEN, bot: BOT, commitTime: COMMIT_TIME });
    standin.addUser(ALICE);
    standin.addUser(BOB);
    client = new GitLabClient({ url: standin.url, token: TOKEN, attempts: 1, fetch: standin.fetch }); // REST without a socket
    project = await standin.createProject('flows/app', { 'README.md': '# app\n', 'src/math.js': MATH });
    await standin.commit(project, 'feature', FEATURE, 'add div and first');
    branches.add('feature');
    // A first MR computes the feature's diff and commits once, before the tests (it is closed; theirs come after it).
    const warm = await standin.createMr(project, { sourceBranch: 'feature', title: 'warm-up', authorId: ALICE.id });
    const commits = await fetch(`${standin.url}/api/v4/projects/${project.id}/merge_requests/${warm.iid}/commits`, { headers: { 'PRIVATE-TOKEN': TOKEN } });
    if (!commits.ok) throw new Error(`warm-up: the stand-in answered ${commits.status}`);
    standin.setMrState(project, warm.iid, 'closed');
  });
  afterAll(async () => {
    await standin?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  return async function world(): Promise<FlowWorld> {
    const gitlab = standin;
    const checkout = new FakeCheckout(gitlab);
    dirs.push(checkout.root);
    const config = loadConfig({ ...botEnv(gitlab.url, checkout.root), ...env });
    const store = new Store(new Map());
    const sessions = new FakeSessions(store);
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk, _e, cb) {
        logs.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const enqueued: JobSpec[] = [];
    const deps: Deps = {
      config,
      gitlab: client,
      access: new Access(client, { cacheMs: 0 }),
      store,
      sessions,
      // The flows' part of Workspaces, in memory (see FakeCheckout).
      workspaces: checkout as unknown as Workspaces,
      projects: new Projects({ gitlab: client }),
      bot: BOT,
      log: createLogger({ level: 'debug', redact: (s) => s, destination: sink }),
      enqueue: async (spec) => {
        enqueued.push(spec);
        return { id: `job-${enqueued.length}`, duplicate: false };
      },
    };
    return {
      gitlab, deps, sessions, store, checkout, enqueued, logs,
      async newMr(branch = 'feature') {
        if (!branches.has(branch)) {
          branches.add(branch);
          await gitlab.commit(project, branch, FEATURE, 'add div and first');
        }
        const mr = await gitlab.createMr(project, { sourceBranch: branch, title: 'Add helpers', description: 'Adds div and first.', authorId: ALICE.id });
        return { project, ref: { id: project.id, path: project.path, webUrl: project.webUrl }, mr };
      },
      say(project, iid, authorId, body, opts) {
        const { note, discussion } = gitlab.addNote(project, iid, authorId, body, opts);
        const c = classify('Note Hook', gitlab.noteHook(project, iid, note, discussion), BOT);
        if (!('event' in c) || c.event.kind !== 'note') throw new Error(`intake ignores this note: ${JSON.stringify(c)}`);
        return c.event;
      },
    };
  };
}
