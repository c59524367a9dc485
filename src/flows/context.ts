// Everything a flow needs to know about one MR: GitLab's view, the checkout, and the target branch's rules.
import type { MrCheckout, MrRef } from '../claude/session-service.js';
import type { ProjectRef } from '../events/types.js';
import { readMarker, shortHash, withMarker } from '../gitlab/markers.js';
import type { DiscussionInfo, FileDiff, MergeRequestInfo } from '../gitlab/types.js';
import { parseRepoConfig, REPO_CONFIG_PATH, type RepoConfig } from '../review/repo-config.js';
import type { MrIntent, RepoGuidance } from '../review/prompts.js';
import type { Learning } from '../review/learnings.js';
import type { GuidanceFile } from '../review/rules.js';
import type { Deps } from './deps.js';
import { learningsFor } from './learnings.js';
import { readyMergeRequest, type ReadyMr } from './ready-mr.js';

export interface MrContext {
  project: ProjectRef;
  mr: ReadyMr;
  diffs: FileDiff[];
  cwd: string;
  repoConfig: RepoConfig;
  guidance: RepoGuidance;
  /** the directories whose guidance was read (guidanceDirs of the touched paths): kept for the MR's threads */
  guidanceDirs: string[];
  /** the project's team learnings whose scope covers a changed file; fenced data in the turn's prompt */
  learnings?: Learning[];
  /** linked issues, commit messages, people's comments: what the author meant (untrusted data) */
  intent?: MrIntent;
}

/** The MR as the session service needs it for a turn in this checkout. */
export function mrCheckout(ctx: MrContext): MrCheckout & MrRef {
  return { project: ctx.project, iid: ctx.mr.iid, cwd: ctx.cwd, sha: ctx.mr.sha, targetBranch: ctx.mr.targetBranch };
}

/** Guidance file names read from the target branch: at the root, and in every directory the MR touches. */
const GUIDANCE_NAMES = ['CLAUDE.md', 'AGENTS.md', 'REVIEW.md'];
const ROOT_ONLY = ['.claude/CLAUDE.md'];
/** A 10,000-file MR must not read 30,000 guidance paths. */
const MAX_GUIDANCE_DIRS = 100;

/**
 * `known`: the MR as the caller already fetched it (saves a GitLab round trip). The API reads (the diff, and the
 * intent: issues, commits, comments) run while git fetches; then the checkout runs beside git's list of changed
 * files and the target branch's rules read with it, which all need the fetched commits.
 */
export async function loadMrContext(d: Deps, project: ProjectRef, iid: number, known?: MergeRequestInfo): Promise<MrContext> {
  const mr = await readyMergeRequest(d.gitlab, project.id, iid, known);
  // A review waits for the slowest of these, not for their sum.
  const intentRead = loadIntent(d, project.id, mr).catch((e) => {
    // Context, not a precondition: a GitLab without these endpoints (or a hiccup) must not stop the review.
    d.log.warn({ iid, err: e instanceof Error ? e.message : String(e) }, 'could not load linked issues, commits or comments; reviewing without them');
    return undefined;
  });
  const [diffs] = await Promise.all([d.gitlab.diffs(project.id, iid), d.workspaces.fetch(project, iid, mr.targetBranch, mr.sha)]);
  const rules = async () => {
    const all = [...diffs, ...(await leftOut(d, project.id, mr, diffs))];
    const touched = touchedOf(all);
    const dirs = guidanceDirs(touched);
    const [{ repoConfig, guidance }, learnings] = await Promise.all([loadGuidance(d, project, iid, mr.targetBranch, dirs), learningsFor(d, project.id, touched)]);
    return { diffs: all, repoConfig, guidance, guidanceDirs: dirs, learnings };
  };
  const [cwd, read, intent] = await Promise.all([d.workspaces.worktree(project.id, iid, mr.sha), rules(), intentRead]);
  return { project, mr, cwd, ...read, intent };
}

/** Paths an MR touches, both sides of renames. */
export function touchedOf(diffs: FileDiff[]): string[] {
  return [...new Set(diffs.flatMap((f) => [f.old_path, f.new_path]))];
}

/** Guidance paths for the touched files: `dir/CLAUDE.md` etc. for each ancestor directory, root first. */
export function guidancePaths(touched: string[]): string[] {
  return guidanceFiles(guidanceDirs(touched));
}

/** The directories whose guidance files apply to the touched files: every ancestor directory, shallowest first. */
export function guidanceDirs(touched: string[]): string[] {
  const dirs = new Set<string>();
  for (const p of touched) {
    const parts = p.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b)).slice(0, MAX_GUIDANCE_DIRS);
}

/** The root's guidance files, then each directory's (`dirs` from guidanceDirs). */
function guidanceFiles(dirs: string[]): string[] {
  return [...GUIDANCE_NAMES, ...ROOT_ONLY, ...dirs.flatMap((dir) => GUIDANCE_NAMES.map((n) => `${dir}/${n}`))];
}

const MAX_ISSUES = 5;
const MAX_COMMITS = 30;
const MAX_COMMENTS = 30;

/**
 * What the author meant: issues the MR closes (GitLab's closing patterns) and issues its description mentions,
 * the MR's commit messages, and what people (not bots' markers) already said on it. All untrusted, all fenced.
 */
export async function loadIntent(d: Deps, pid: number, mr: ReadyMr): Promise<MrIntent> {
  const [closing, commits, discussions] = await Promise.all([
    d.gitlab.closesIssues(pid, mr.iid),
    d.gitlab.mrCommits(pid, mr.iid),
    d.gitlab.discussions(pid, mr.iid),
  ]);
  const closes = new Set(closing.map((i) => i.iid));
  const mentioned = [...`${mr.title}\n${mr.description}`.matchAll(/(?<![\w/!&])#(\d{1,9})\b/g)].map((m) => Number(m[1])).filter((n) => !closes.has(n));
  const extra = await Promise.all([...new Set(mentioned)].slice(0, Math.max(0, MAX_ISSUES - closing.length)).map((n) => d.gitlab.issue(pid, n).catch(() => undefined)));
  const issues = [
    ...closing.slice(0, MAX_ISSUES).map((i) => ({ ...i, closes: true })),
    ...extra.filter((i) => i !== undefined).map((i) => ({ ...i, closes: false })),
  ];
  const comments = discussions
    .flatMap((disc) => disc.notes)
    .filter((n) => !n.system && n.author.id !== d.bot.id && n.body.trim())
    .slice(-MAX_COMMENTS)
    .map((n) => ({ author: n.author.username, body: n.body, file: n.position?.new_path ?? n.position?.old_path ?? undefined }));
  return { issues, commits: commits.slice(-MAX_COMMITS), discussions: comments };
}

/**
 * Files git says the MR changes but GitLab's diff does not list (an MR over GitLab's file or line limits is cut
 * short, `overflow`): added as empty entries marked `overflow`, so they are reported as not reviewed, never dropped.
 */
async function leftOut(d: Deps, pid: number, mr: ReadyMr, diffs: FileDiff[]): Promise<FileDiff[]> {
  const changed = await d.workspaces.changedPaths(pid, mr.diffRefs.base_sha, mr.diffRefs.head_sha);
  if (!changed) return [];
  const listed = new Set(diffs.flatMap((f) => [f.old_path, f.new_path]));
  const missing = changed.filter((p) => !listed.has(p));
  if (missing.length) d.log.warn({ iid: mr.iid, files: missing.length }, 'GitLab left files out of the MR diff; they are listed as not reviewed');
  return missing.map((p) => ({ old_path: p, new_path: p, diff: '', new_file: false, renamed_file: false, deleted_file: false, overflow: true }));
}

/**
 * The target branch's rules: repo config and CLAUDE.md-style guidance, read from the mirror (trusted). `dirs`: the
 * guidanceDirs of the MR's paths, for nested guidance files (without them, only the root's are read).
 */
export async function loadGuidance(d: Deps, project: ProjectRef, iid: number, targetBranch: string, dirs: string[] = []): Promise<{ repoConfig: RepoConfig; guidance: RepoGuidance }> {
  const target = `refs/heads/${targetBranch}`;
  const wanted = guidanceFiles(dirs);
  const files = await d.workspaces.readManyAt(project.id, target, [REPO_CONFIG_PATH, ...wanted]);
  const { config, error } = parseRepoConfig(files.get(REPO_CONFIG_PATH), instanceDefaults(d));
  if (error) await reportConfigError(d, project, iid, error);
  const sources: GuidanceFile[] = wanted.filter((f) => files.get(f)?.trim()).map((path) => ({ path, text: files.get(path)! }));
  const md = sources.map((f) => `# ${f.path}${f.path.includes('/') ? ` (applies to ${f.path.slice(0, f.path.lastIndexOf('/'))}/)` : ''}\n${f.text}`);
  if (config.instructions?.trim()) sources.push({ path: REPO_CONFIG_PATH, text: config.instructions });
  return {
    repoConfig: config,
    guidance: { claudeMd: md.join('\n\n') || undefined, sources, instructions: config.instructions, language: config.language, targetBranch },
  };
}

export function instanceDefaults(d: Deps) {
  return {
    reviewDrafts: d.config.REVIEW_DRAFTS,
    minSeverity: d.config.MIN_SEVERITY,
    reviewBudgetUsd: d.config.REVIEW_BUDGET_USD,
    threadBudgetUsd: d.config.THREAD_BUDGET_USD,
    language: d.config.REPLY_LANGUAGE,
    questionsPerUserPerDay: d.config.QUESTIONS_PER_USER_PER_DAY,
    applyMaxDiffLines: d.config.APPLY_MAX_DIFF_LINES,
  };
}

/** The bot's own marked notes on an MR: what is already posted, so re-runs update instead of duplicating. */
export interface PostedIndex {
  summary?: { noteId: number; discussionId: string };
  findings: Map<string, { discussionId: string; noteId: number; resolved: boolean }>;
  kinds: Map<string, { noteId: number; discussionId: string }[]>;
  discussions: DiscussionInfo[];
}

export async function postedIndex(d: Deps, pid: number, iid: number): Promise<PostedIndex> {
  const discussions = await d.gitlab.discussions(pid, iid);
  const idx: PostedIndex = { findings: new Map(), kinds: new Map(), discussions };
  for (const disc of discussions) {
    for (const n of disc.notes) {
      if (n.author.id !== d.bot.id) continue; // a marker proves nothing unless the bot wrote the note
      const m = readMarker(n.body);
      if (!m) continue;
      const key = m.fp ? `${m.kind}:${m.fp}` : m.kind;
      const list = idx.kinds.get(key) ?? [];
      list.push({ noteId: n.id, discussionId: disc.id });
      idx.kinds.set(key, list);
      if (m.kind === 'summary' && !idx.summary) idx.summary = { noteId: n.id, discussionId: disc.id };
      if (m.kind === 'finding' && m.fp) idx.findings.set(m.fp, { discussionId: disc.id, noteId: n.id, resolved: !!n.resolved });
    }
  }
  return idx;
}

async function reportConfigError(d: Deps, project: ProjectRef, iid: number, error: string): Promise<void> {
  const fp = shortHash(error);
  const idx = await postedIndex(d, project.id, iid);
  d.log.warn({ project: project.path, iid, error }, 'invalid repository config; defaults apply');
  if (idx.kinds.has(`config-error:${fp}`)) return;
  const body = `⚠️ **mr-reviewer:** \`${REPO_CONFIG_PATH}\` on the target branch is invalid, so defaults apply until it is fixed.\n\n> ${error}`;
  await d.gitlab.createNote(project.id, iid, withMarker(body, { kind: 'config-error', fp }));
}
