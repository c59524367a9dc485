// Shapes the bot uses from GitLab's REST API (snake_case where GitLab's JSON is kept as is).

export interface DiffRefs {
  base_sha: string;
  start_sha: string;
  head_sha: string;
}

/** One entry of GET /projects/:id/merge_requests/:iid/diffs */
export interface FileDiff {
  old_path: string;
  new_path: string;
  diff: string;
  new_file: boolean;
  renamed_file: boolean;
  deleted_file: boolean;
  /** GitLab sets these for diffs it would not render (`diff` is then '') */
  too_large?: boolean;
  collapsed?: boolean;
  /** GitLab's own verdict (gitattributes `gitlab-generated`, known patterns) */
  generated_file?: boolean;
  /** not from GitLab: the file changed in git but GitLab left it out of the MR's diff (over its limits) */
  overflow?: boolean;
}

/** The position object for POST .../discussions (camelCase: gitbeaker decamelises it). */
export interface DiffPosition {
  baseSha: string;
  startSha: string;
  headSha: string;
  positionType: 'text';
  oldPath: string;
  newPath: string;
  newLine?: number;
  oldLine?: number;
}

export interface MergeRequestInfo {
  iid: number;
  projectId: number;
  title: string;
  description: string;
  state: 'opened' | 'closed' | 'merged' | 'locked';
  /** merged_at or closed_at (retention counts from it) */
  closedAt?: string;
  draft: boolean;
  sourceBranch: string;
  targetBranch: string;
  sha: string;
  /** null right after the MR is created or pushed to, while GitLab computes the new version */
  diffRefs: DiffRefs | null;
  webUrl: string;
  author: { id: number; username: string };
  /** a fork MR has its source branch in another project */
  sourceProjectId?: number;
  targetProjectId?: number;
  /** a fork MR lets members who can merge to the target push to its source branch */
  allowCollaboration?: boolean;
}

/** One entry of GET /projects/:id/repository/commits */
export interface CommitInfo {
  id: string;
  title: string;
  message: string;
  webUrl: string;
}

export interface NoteInfo {
  id: number;
  body: string;
  author: { id: number; username: string };
  system: boolean;
  createdAt: string;
  resolvable?: boolean;
  resolved?: boolean;
  type?: string | null;
  position?: { new_path?: string; old_path?: string; new_line?: number | null; old_line?: number | null } | null;
}

export interface DiscussionInfo {
  id: string;
  individualNote: boolean;
  notes: NoteInfo[];
}

/** One protection from GET /projects/:id/protected_branches; a push rule names a role, a user or a group. */
export interface ProtectedBranchInfo {
  name: string;
  push: { accessLevel: number | null; userId: number | null; groupId: number | null }[];
}

/** A pending review comment of the bot (GET …/draft_notes shows the token's own drafts only). */
export interface DraftInfo {
  id: number;
  body: string;
  /** the thread a reply draft answers */
  discussionId: string | null;
  /** GitLab's line for the draft's position; null for a position it cannot place (that draft would be dropped at publish) */
  lineCode: string | null;
  hasPosition: boolean;
}

/** Where a draft goes: a diff line, a reply in a thread (optionally resolving it), or a new thread. */
export interface DraftTarget {
  position?: DiffPosition;
  inReplyTo?: string;
  resolve?: boolean;
}

/** The parts of an issue a review uses (GET /projects/:id/issues/:iid, …/closes_issues). */
export interface IssueInfo {
  iid: number;
  title: string;
  description: string;
}
