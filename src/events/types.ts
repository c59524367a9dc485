// Domain events: what the bot cares about, decoupled from GitLab's payload shapes.

/**
 * A project as a payload names it. Only `id` is trusted, as a key to look it up in the API; the job handler swaps
 * in the API's id and path before a flow runs. There is deliberately no clone URL here: git gets it from the API.
 */
export interface ProjectRef {
  id: number;
  /** path_with_namespace, e.g. "group/app" */
  path: string;
  webUrl?: string;
}

export interface UserRef {
  id: number;
  username: string;
  name?: string;
}

export type MrState = 'opened' | 'closed' | 'merged' | 'locked';

/** A diff position as GitLab sends it in Note Hook payloads (snake_case kept). */
export interface NotePosition {
  base_sha?: string | null;
  start_sha?: string | null;
  head_sha?: string | null;
  old_path?: string | null;
  new_path?: string | null;
  position_type?: string | null;
  old_line?: number | null;
  new_line?: number | null;
}

interface MrEventBase {
  project: ProjectRef;
  iid: number;
  title: string;
  headSha: string;
  sourceBranch: string;
  targetBranch: string;
  draft: boolean;
  state: MrState;
  /** the user who caused the event */
  actor: UserRef;
}

/** Opened, reopened or marked ready: review from scratch (or as a command). */
export interface ReviewRequested extends MrEventBase {
  kind: 'review';
  reason: 'open' | 'reopen' | 'ready' | 'command' | 'missing_trunk';
  /**
   * Queued for a thread that needs the MR's trunk (jobs/specs.ts trunkJobFor), with the trunk session it could not
   * use (absent: it saw none, or one being made). A trunk done since, other than that one, makes the review unnecessary.
   */
  forThread?: { staleTrunk?: string };
}

/** New commits on an MR (Merge Request Hook with oldrev). */
export interface CodePushed extends MrEventBase {
  kind: 'push';
  oldrev: string;
}

/** A note on a merge request, not written by the bot. Whether to answer is decided by the reply flow. */
export interface NoteAdded {
  kind: 'note';
  project: ProjectRef;
  iid: number;
  mrState: MrState;
  mrTitle: string;
  headSha?: string;
  noteId: number;
  discussionId: string;
  body: string;
  author: UserRef;
  noteType: null | 'DiscussionNote' | 'DiffNote';
  position?: NotePosition | null;
  action: 'create' | 'update';
  /** the note mentions the bot (@username, word-bounded) */
  mentionsBot: boolean;
  /** other users mentioned in the note (lower-case usernames, bot excluded) */
  mentionsOthers: string[];
}

export type BotEvent = ReviewRequested | CodePushed | NoteAdded;

export type Classified = { event: BotEvent } | { ignore: string };
