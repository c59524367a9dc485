/**
 * Git plumbing for the GitLab stand-in: bare repositories, commits without a work tree,
 * GitLab-shaped MR diffs, and smart HTTP through `git http-backend` (CGI).
 */
import { spawn } from 'node:child_process';
import { appendFile, chmod, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import path from 'node:path';
import zlib from 'node:zlib';
import type http from 'node:http';

/** A clean environment: no user/system git config, fixed identity, no prompts. */
export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Standin Dev',
    GIT_AUTHOR_EMAIL: 'dev@standin.test',
    GIT_COMMITTER_NAME: 'Standin Dev',
    GIT_COMMITTER_EMAIL: 'dev@standin.test',
    ...extra,
  };
}

export interface RunResult { stdout: Buffer; stderr: string; code: number }

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? gitEnv(), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: err, code: code ?? -1 }));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Run git in a bare repository; throws on a non-zero exit. */
export async function git(gitDir: string, args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<string> {
  const r = await run('git', ['--git-dir', gitDir, ...args], { env: gitEnv(opts.env), input: opts.input });
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.toString('utf8');
}

export async function initBare(gitDir: string, defaultBranch: string): Promise<void> {
  const r = await run('git', ['init', '--bare', '-q', `--initial-branch=${defaultBranch}`, gitDir]);
  if (r.code !== 0) throw new Error(`git init failed: ${r.stderr}`);
  // Like Gitaly: fetch by SHA and partial clones work. Pushes are allowed to git; who may push is decided by the
  // stand-in before http-backend runs and by the pre-receive hook (protected branches). Written as text: a `git config`
  // process per key would cost more than the rest of a test's setup.
  await appendFile(path.join(gitDir, 'config'), '[uploadpack]\n\tallowAnySHA1InWant = true\n\tallowFilter = true\n[http]\n\treceivepack = true\n');
  const hook = path.join(gitDir, 'hooks', 'pre-receive');
  await writeFile(hook, PRE_RECEIVE);
  await chmod(hook, 0o755);
}

/**
 * GitLab's pre-receive check (Gitlab::Checks::BranchCheck) for protected branches: the stand-in works out which refs
 * the pusher may not update and hands them over in STANDIN_DENIED_REFS; git then reports
 * `! [remote rejected] … (pre-receive hook declined)` with GitLab's message on `remote:` lines.
 */
export const PROTECTED_BRANCH_MESSAGE = 'GitLab: You are not allowed to push code to protected branches on this project.';
const PRE_RECEIVE = `#!/bin/sh
while read old new ref; do
  case " $STANDIN_DENIED_REFS " in
    *" $ref "*) echo "${PROTECTED_BRANCH_MESSAGE}" >&2; exit 1 ;;
  esac
done
exit 0
`;

/** One ref update a push asks for (the pkt-lines before the pack in a receive-pack POST). */
export interface RefUpdate { oldSha: string; newSha: string; ref: string }

export function parseRefUpdates(body: Buffer): RefUpdate[] {
  const out: RefUpdate[] = [];
  let at = 0;
  while (at + 4 <= body.length) {
    const len = parseInt(body.subarray(at, at + 4).toString('latin1'), 16);
    if (!Number.isFinite(len) || len === 0) break; // flush: the pack follows
    if (len < 4) break;
    const line = body.subarray(at + 4, at + len).toString('utf8').split('\0')[0]!.trim();
    const m = /^([0-9a-f]{40}) ([0-9a-f]{40}) (\S+)$/.exec(line);
    if (m) out.push({ oldSha: m[1]!, newSha: m[2]!, ref: m[3]! });
    at += len;
  }
  return out;
}

export type FileChange = string | null | { symlink: string };

/**
 * Commit `changes` on top of `parent` (null: root commit) without a work tree; returns the new commit sha. One
 * `git fast-import` (a process per plumbing step cost most of a test's setup), through a scratch ref of its own that is
 * removed afterwards: the commit stays unreferenced until the caller moves a branch to it, as with `commit-tree`.
 */
export async function commitTree(gitDir: string, parent: string | null, changes: Record<string, FileChange>, message: string, at = new Date()): Promise<string> {
  // The same files on the same parent at the same second are the same commit: made once per repository.
  const key = ['commit', gitDir, parent ?? '', JSON.stringify(changes), message, String(Math.floor(at.getTime() / 1000))];
  return computeOnce(key, () => fastImport(gitDir, parent, changes, message, at));
}

async function fastImport(gitDir: string, parent: string | null, changes: Record<string, FileChange>, message: string, at: Date): Promise<string> {
  const scratch = `refs/standin/scratch-${randomUUID()}`;
  const when = `${Math.floor(at.getTime() / 1000)} +0000`;
  const parts: Buffer[] = [];
  const line = (s: string) => parts.push(Buffer.from(s + '\n'));
  const data = (s: string) => {
    const b = Buffer.from(s);
    parts.push(Buffer.from(`data ${b.length}\n`), b, Buffer.from('\n'));
  };
  line(`reset ${scratch}`);
  line(`commit ${scratch}`);
  line('mark :1');
  line(`author Standin Dev <dev@standin.test> ${when}`);
  line(`committer Standin Dev <dev@standin.test> ${when}`);
  data(message + '\n');
  if (parent) line(`from ${parent}`);
  for (const [p, c] of Object.entries(changes)) {
    if (c === null) line(`D ${fastImportPath(p)}`);
    else {
      line(`M ${typeof c === 'string' ? '100644' : '120000'} inline ${fastImportPath(p)}`);
      data(typeof c === 'string' ? c : c.symlink);
    }
  }
  line('');
  line('get-mark :1');
  line('done');
  const r = await run('git', ['--git-dir', gitDir, 'fast-import', '--quiet', '--done', '--force'], { input: Buffer.concat(parts) });
  await unlink(path.join(gitDir, scratch)).catch(() => undefined);
  if (r.code !== 0) throw new Error(`git fast-import failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.toString('utf8').trim();
}

/** A path as fast-import reads it: C-quoted when it starts with a quote or holds a control character or backslash. */
function fastImportPath(p: string): string {
  const needs = p.startsWith('"') || [...p].some((ch) => ch < ' ' || ch === '\\');
  if (!needs) return p;
  const esc = [...p].map((ch) => (ch === '"' || ch === '\\' ? `\\${ch}` : ch < ' ' ? `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}` : ch)).join('');
  return `"${esc}"`;
}

/**
 * A branch or MR ref read the way git stores it (a loose file, else `packed-refs`) without a process: `undefined` when
 * the answer needs git (anything else, a symbolic or unreadable ref).
 */
async function readRef(gitDir: string, ref: string): Promise<string | null | undefined> {
  if (!/^refs\/(heads|merge-requests)\/[^\0]+$/.test(ref) || ref.split('/').includes('..')) return undefined;
  const loose = await readFile(path.join(gitDir, ref), 'utf8').catch(() => undefined);
  if (loose !== undefined) return /^[0-9a-f]{40}\n?$/.test(loose) ? loose.trim() : undefined;
  const packed = await readFile(path.join(gitDir, 'packed-refs'), 'utf8').catch(() => '');
  for (const l of packed.split('\n')) if (l.endsWith(` ${ref}`) && /^[0-9a-f]{40} /.test(l)) return l.slice(0, 40);
  return null;
}

/** `git update-ref ref sha` for a branch or MR ref: the loose file, written whole (a rename), as git writes it. */
export async function writeRef(gitDir: string, ref: string, sha: string): Promise<void> {
  if (!/^refs\/(heads|merge-requests)\//.test(ref) || !/^[0-9a-f]{40}$/.test(sha)) {
    await git(gitDir, ['update-ref', ref, sha]);
    return;
  }
  const file = path.join(gitDir, ref);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomUUID()}.tmp`;
  await writeFile(tmp, `${sha}\n`);
  await rename(tmp, file);
}

/**
 * What git answers about commits named by SHA never changes (a SHA names its content), so it is computed once:
 * an MR's versions, diffs and commit lists are read again and again, a git process each time otherwise.
 */
const computed = new Map<string, Promise<unknown>>();
const isSha = (s: string) => /^[0-9a-f]{40}$/.test(s);
export function computeOnce<T>(key: string[], compute: () => Promise<T>): Promise<T> {
  const k = key.join('\0');
  const hit = computed.get(k) as Promise<T> | undefined;
  if (hit) return hit;
  const p = compute();
  computed.set(k, p);
  p.catch(() => computed.delete(k)); // a failure (say, a commit not there yet) is not remembered
  if (computed.size > 2000) computed.delete(computed.keys().next().value!);
  return p;
}

export async function revParse(gitDir: string, rev: string): Promise<string | null> {
  const fast = await readRef(gitDir, rev);
  if (fast !== undefined) return fast;
  const r = await run('git', ['--git-dir', gitDir, 'rev-parse', '--verify', '-q', `${rev}^{commit}`]);
  return r.code === 0 ? r.stdout.toString().trim() : null;
}

export async function mergeBase(gitDir: string, a: string, b: string): Promise<string> {
  const compute = async () => (await git(gitDir, ['merge-base', a, b])).trim();
  return (isSha(a) && isSha(b) ? computeOnce(['merge-base', gitDir, a, b], compute) : compute()).catch(() => a);
}

export async function commitInfo(gitDir: string, sha: string): Promise<{ id: string; title: string; message: string; timestamp: string; authorName: string; authorEmail: string }> {
  const out = await git(gitDir, ['show', '-s', '--format=%H%x00%aI%x00%an%x00%ae%x00%B', sha]);
  const [id, timestamp, authorName, authorEmail, message] = out.split('\0');
  return { id, timestamp, authorName, authorEmail, message: message.replace(/\n+$/, '\n'), title: message.split('\n')[0] };
}

/** One entry of GET /projects/:id/merge_requests/:iid/diffs, exactly as GitLab shapes it. */
export interface DiffJson {
  old_path: string;
  new_path: string;
  a_mode: string;
  b_mode: string;
  diff: string;
  new_file: boolean;
  renamed_file: boolean;
  deleted_file: boolean;
  generated_file: boolean;
  /** over GitLab's collapse limits (or a generated file): `diff` is '' */
  collapsed: boolean;
  /** over GitLab's single-file limits: `diff` is '' */
  too_large: boolean;
}

/** `git diff base..head` with rename detection, cut into GitLab's per-file entries (the `diff` starts at the first `@@`). */
export async function computeDiffs(gitDir: string, base: string, head: string): Promise<DiffJson[]> {
  const diffs = isSha(base) && isSha(head) ? await computeOnce(['diffs', gitDir, base, head], () => diffsOf(gitDir, base, head)) : await diffsOf(gitDir, base, head);
  return diffs.map((d) => ({ ...d })); // callers keep (and may change) their own copy
}

async function diffsOf(gitDir: string, base: string, head: string): Promise<DiffJson[]> {
  const common = ['-M', '--full-index', '--no-color', '--no-ext-diff', '--no-textconv', '--src-prefix=a/', '--dst-prefix=b/'];
  const raw = await git(gitDir, ['diff', '--raw', '-z', ...common, base, head]);
  const patch = await git(gitDir, ['diff', '-p', ...common, base, head]);
  const fields = raw.split('\0');
  const entries: Omit<DiffJson, 'diff'>[] = [];
  for (let i = 0; i < fields.length - 1; ) {
    const [aMode, bMode, , , status] = fields[i].slice(1).split(' ');
    const s = status[0];
    const oldPath = fields[i + 1];
    const newPath = s === 'R' || s === 'C' ? fields[i + 2] : oldPath;
    i += s === 'R' || s === 'C' ? 3 : 2;
    entries.push({
      old_path: oldPath, new_path: newPath, a_mode: aMode === '000000' ? '0' : aMode, b_mode: bMode === '000000' ? '0' : bMode,
      new_file: s === 'A', renamed_file: s === 'R', deleted_file: s === 'D', generated_file: false,
      collapsed: false, too_large: false,
    });
  }
  const chunks = patch.split(/^(?=diff --git )/m).filter((c) => c.startsWith('diff --git '));
  const diffs = entries.map((e, i) => {
    const chunk = chunks[i] ?? '';
    const at = chunk.search(/^@@ /m);
    let diff = at >= 0 ? chunk.slice(at) : '';
    const bin = /^Binary files .* differ$/m.exec(chunk);
    if (at < 0 && bin) diff = bin[0] + '\n';
    const { old_path, new_path, a_mode, b_mode, ...flags } = e;
    return { old_path, new_path, a_mode, b_mode, diff, ...flags };
  });
  return diffs.sort((a, b) => comparePathParts(a.new_path.split('/'), b.new_path.split('/')));
}

/** Gitlab::Diff::FileCollectionSorter: directories before files at each level, then by name. */
function comparePathParts(a: string[], b: string[]): number {
  const [ah, ...at] = a;
  const [bh, ...bt] = b;
  if (at.length < bt.length && at.length === 0) return 1;
  if (at.length > bt.length && bt.length === 0) return -1;
  if (ah !== bh) return ah < bh ? -1 : 1;
  return at.length || bt.length ? comparePathParts(at, bt) : 0;
}

/** oldPos/newPos are GitLab's counters (an added line keeps the old side's next number): they make the line_code. */
export interface DiffLine { type: 'new' | 'old' | 'context'; oldLine: number | null; newLine: number | null; oldPos: number; newPos: number }

/** Every line shown in a GitLab diff string (hunk bodies only). */
export function diffLines(diff: string): DiffLine[] {
  const lines: DiffLine[] = [];
  let o = 0;
  let n = 0;
  for (const l of diff.split('\n')) {
    const h = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(l);
    if (h) { o = +h[1]; n = +h[2]; continue; }
    if (l.startsWith('+')) lines.push({ type: 'new', oldLine: null, newLine: n, oldPos: o, newPos: n++ });
    else if (l.startsWith('-')) lines.push({ type: 'old', oldLine: o, newLine: null, oldPos: o++, newPos: n });
    else if (l.startsWith(' ')) lines.push({ type: 'context', oldLine: o, newLine: n, oldPos: o++, newPos: n++ });
  }
  return lines;
}

/** GitLab's line_code: sha1(path)_old_new */
export function lineCode(filePath: string, oldLine: number, newLine: number): string {
  return `${createHash('sha1').update(filePath).digest('hex')}_${oldLine}_${newLine}`;
}

export interface GitRequest {
  method: string;
  /** request path, e.g. `/group/app.git/info/refs` */
  path: string;
  /** `git-upload-pack` / `git-receive-pack` */
  service?: string;
  status: number;
  /** body bytes sent back (pack data for a fetch) */
  bytesOut: number;
  /** protocol v2 command of a POST (`ls-refs`, `fetch`) */
  command?: string;
  /** `want` / `have` lines in an upload-pack POST: a clone has haves === 0, an incremental fetch > 0 */
  wants: number;
  haves: number;
}

/** Serve one smart-HTTP request by running `git http-backend`; fills in `rec` as the answer streams. */
export async function serveGit(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, opts: { root: string; pathInfo: string; query: string; user: string; deniedRefs?: string[]; beforeEnd?: () => Promise<void> }, rec: GitRequest): Promise<void> {
  let plain = body;
  if (/gzip/i.test(String(req.headers['content-encoding'] ?? ''))) {
    try { plain = zlib.gunzipSync(body); } catch { /* leave it to git */ }
  }
  const text = plain.toString('latin1');
  rec.wants = (text.match(/want [0-9a-f]{40}/g) ?? []).length;
  rec.haves = (text.match(/have [0-9a-f]{40}/g) ?? []).length;
  const cmd = /command=([a-z-]+)/.exec(text);
  if (cmd) rec.command = cmd[1];

  const env = gitEnv({
    GIT_PROJECT_ROOT: opts.root,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: opts.pathInfo,
    QUERY_STRING: opts.query,
    REQUEST_METHOD: req.method ?? 'GET',
    CONTENT_TYPE: String(req.headers['content-type'] ?? ''),
    CONTENT_LENGTH: String(body.length),
    REMOTE_USER: opts.user,
    REMOTE_ADDR: '127.0.0.1',
    GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
    HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
    STANDIN_DENIED_REFS: (opts.deniedRefs ?? []).join(' '),
  });
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  child.stdin.end(body);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  await new Promise<void>((resolve) => {
    let head = Buffer.alloc(0);
    let headerDone = false;
    child.stdout.on('data', (d: Buffer) => {
      if (headerDone) { rec.bytesOut += d.length; res.write(d); return; }
      head = Buffer.concat([head, d]);
      const m = /\r?\n\r?\n/.exec(head.toString('latin1'));
      if (!m) return;
      headerDone = true;
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.subarray(0, m.index).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = parseInt(v, 10);
        else headers[k] = v;
      }
      rec.status = status;
      res.writeHead(status, headers);
      const rest = head.subarray(m.index + m[0].length);
      rec.bytesOut += rest.length;
      if (rest.length) res.write(rest);
    });
    child.on('close', () => {
      if (!headerDone) {
        rec.status = 500;
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.write(stderr);
      }
      // what GitLab does after a push (post-receive) is done before the client sees the answer end
      void (opts.beforeEnd?.() ?? Promise.resolve()).catch((e) => console.error('[gitlab-standin]', e)).finally(() => {
        res.end();
        resolve();
      });
    });
  });
}
