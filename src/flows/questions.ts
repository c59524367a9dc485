// Who the bot answers in threads, and how often. The repo config says who may ask (`questions`: everyone | members |
// developers; the MR's author always may, on their own MR) and how many answers each person gets per MR per UTC day
// (`questions_per_user_per_day`). The tally is in the store, so every replica counts the same.
import type { NoteAdded, ProjectRef, UserRef } from '../events/types.js';
import type { Requirement } from '../gitlab/access.js';
import { withMarker } from '../gitlab/markers.js';
import type { MergeRequestInfo } from '../gitlab/types.js';
import type { RepoGuidance } from '../review/prompts.js';
import { REPO_CONFIG_PATH, type QuestionAudience, type RepoConfig } from '../review/repo-config.js';
import type { MrRecord } from '../store/records.js';
import { guidanceDirs, loadGuidance } from './context.js';
import type { Deps } from './deps.js';

const NEED: Record<QuestionAudience, Requirement> = { everyone: 'anyone', members: 'member', developers: 'developer' };
const WHO: Record<QuestionAudience, string> = {
  everyone: 'everyone',
  members: 'members of this project (Guest or higher)',
  developers: 'people with the Developer role or higher in this project',
};

export function audienceRefusal(audience: QuestionAudience): string {
  return `Sorry, in this project I only answer questions from ${WHO[audience]}, and from the MR's author. ` +
    `Maintainers set this with \`questions\` in \`${REPO_CONFIG_PATH}\`.`;
}

export function budgetRefusal(limit: number): string {
  return `You have reached today's limit of ${limit} answered question${limit === 1 ? '' : 's'} on this MR, so I will not answer more ` +
    `until 00:00 UTC (and will not say so again today). Maintainers set this with \`questions_per_user_per_day\` in \`${REPO_CONFIG_PATH}\`.`;
}

export interface QuestionGate {
  /** why the question is not answered (a polite reply was posted when one was due) */
  refused?: string;
  repoConfig: RepoConfig;
  guidance: RepoGuidance;
}

/** `asker` and `mr` come from the API, never from the payload; `rec`: the MR's record, if it has one. */
export async function gateQuestion(d: Deps, ev: NoteAdded, asker: UserRef, mr: MergeRequestInfo, rec?: MrRecord): Promise<QuestionGate> {
  const { project, iid } = ev;
  const [, dirs] = await Promise.all([ensureTargetBranch(d, project, iid, mr.targetBranch), guidanceDirsOf(d, project.id, mr, rec)]);
  const { repoConfig, guidance } = await loadGuidance(d, project, iid, mr.targetBranch, dirs);
  const say = (text: string, refused: string) => d.gitlab.reply(project.id, iid, ev.discussionId, withMarker(text, { kind: 'reply', refused, re: ev.noteId }));

  const audience = repoConfig.questions;
  const mayAsk = asker.id === mr.author.id || (await d.access.meets(project.id, asker.id, NEED[audience]));
  if (!mayAsk) {
    await say(audienceRefusal(audience), 'audience');
    return { refused: `questions are open to ${audience} only`, repoConfig, guidance };
  }
  const limit = repoConfig.questionsPerUserPerDay;
  if (limit > 0) {
    const t = await d.store.takeQuestion(project.id, iid, asker.id, ev.noteId, limit);
    if (!t.allowed) {
      if (t.firstRefusal) await say(budgetRefusal(limit), 'budget');
      return { refused: `over the limit of ${limit} questions per user per day`, repoConfig, guidance };
    }
  }
  return { repoConfig, guidance };
}

/**
 * The directories of nested guidance as the review saw them, so the thread's system prompt is the trunk's: kept in
 * the MR's record by the review at this head, else from git's list of the paths the MR touches.
 */
async function guidanceDirsOf(d: Deps, pid: number, mr: MergeRequestInfo, rec: MrRecord | undefined): Promise<string[]> {
  if (!mr.diffRefs) return [];
  const kept = rec?.guidanceDirs;
  if (kept && kept.base === mr.diffRefs.base_sha && kept.head === mr.diffRefs.head_sha) return kept.dirs;
  return guidanceDirs((await d.workspaces.changedPaths(pid, mr.diffRefs.base_sha, mr.diffRefs.head_sha)) ?? []);
}

/** Who may ask is read from the target branch: fetch it when this replica has never seen it (an MR older than the bot). */
async function ensureTargetBranch(d: Deps, project: ProjectRef, iid: number, targetBranch: string): Promise<void> {
  if (!(await d.workspaces.has(project.id, `refs/heads/${targetBranch}`))) await d.workspaces.fetch(project, iid, targetBranch);
}
