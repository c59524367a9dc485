// Everything a flow needs to know about one MR: GitLab's view, the checkout, and the target branch's rules.
import type { ProjectRef } from '../events/types.js';
import { readMarker, shortHash, withMarker } from '../gitlab/markers.js';
import type { DiscussionInfo, FileDiff, MergeRequestInfo } from '../gitlab/types.js';
import { parseRepoConfig, REPO_CONFIG_PATH, type RepoConfig } from '../review/repo-config.js';
import type { RepoGuidance } from '../review/prompts.js';
import type { Deps } from './deps.js';
import { readyMergeRequest, type ReadyMr } from './ready-mr.js';

export interface MrContext {
  project: ProjectRef;
  mr: ReadyMr;
  diffs: FileDiff[];
  cwd: string;
  repoConfig: RepoConfig;
  guidance: RepoGuidance;
}

const GUIDANCE_FILES = ['CLAUDE.md', 'REVIEW.md', '.claude/CLAUDE.md'];

/**
 * `known`: the MR as the caller already fetched it (saves a GitLab round trip). The API read of the diff runs while
 * git fetches; then the checkout, the target branch's rules and git's list of changed files, which all need the
 * fetched commits, run together.
 */
export async function loadMrContext(d: Deps, project: ProjectRef, iid: number, known?: MergeRequestInfo): Promise<MrContext> {
  const mr = await readyMergeRequest(d.gitlab, project.id, iid, known);
  const [diffs] = await Promise.all([d.gitlab.diffs(project.id, iid), d.workspaces.fetch(project, iid, mr.targetBranch, mr.sha)]);
  const [cwd, { repoConfig, guidance }, missing] = await Promise.all([
    d.workspaces.worktree(project.id, iid, mr.sha),
    loadGuidance(d, project, iid, mr.targetBranch),
    leftOut(d, project.id, mr, diffs),
  ]);
  return { project, mr, diffs: [...diffs, ...missing], cwd, repoConfig, guidance };
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

/** The target branch's rules: repo config and CLAUDE.md-style guidance, read from the mirror (trusted). */
export async function loadGuidance(d: Deps, project: ProjectRef, iid: number, targetBranch: string): Promise<{ repoConfig: RepoConfig; guidance: RepoGuidance }> {
  const target = `refs/heads/${targetBranch}`;
  const files = await d.workspaces.readManyAt(project.id, target, [REPO_CONFIG_PATH, ...GUIDANCE_FILES]);
  const { config, error } = parseRepoConfig(files.get(REPO_CONFIG_PATH), instanceDefaults(d));
  if (error) await reportConfigError(d, project, iid, error);
  const md = GUIDANCE_FILES.filter((f) => files.get(f)?.trim()).map((f) => `# ${f}\n${files.get(f)}`);
  return {
    repoConfig: config,
    guidance: { claudeMd: md.join('\n\n') || undefined, instructions: config.instructions, language: config.language, targetBranch },
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
