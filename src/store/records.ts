import type { Finding, ReviewOutput } from '../review/findings.js';
import type { PreExisting } from '../review/summary.js';

// The typed records the bot keeps (architecture.md "State").

export interface PostedFinding {
  fp: string;
  discussionId: string;
  noteId: number;
  file: string;
  line: number;
  severity: string;
  title: string;
  inline: boolean;
  status: 'open' | 'resolved' | 'fixed' | 'withdrawn';
}

export interface MrRecord {
  projectId: number;
  iid: number;
  projectPath: string;
  title?: string;
  webUrl?: string;
  /** the MR's one line of thought; set (with trunkStatus 'running') before the CLI starts */
  trunkSessionId?: string;
  trunkStatus?: 'running' | 'done' | 'failed';
  /** the model the trunk ran on, passed to every later turn of the MR (forks, resumes, fix checks) */
  trunkModel?: string;
  workspace?: string;
  reviewedSha?: string;
  summaryNoteId?: number;
  paused?: boolean;
  findings: Record<string, PostedFinding>;
  /** fingerprints the author rejected and the model accepted: never raised again */
  withdrawn: string[];
  /** findings a failed verification held back (repo config `hold`): candidates again at the next review */
  held?: Finding[];
  /** problems the MR did not introduce, as the summary lists them (kept across pushes) */
  preExisting?: PreExisting[];
  costUsd: number;
  turns: number;
  reviews: number;
  lastError?: string;
  /** a finished CLI review not yet fully posted (survives a crash or a GitLab outage between the two) */
  pendingPost?: PendingPost;
  /** set when retention removed the closed MR's worktree, transcripts and thread records (store/retention.ts) */
  purgedAt?: string;
  createdAt: string;
  updatedAt: string;
}

export interface PendingPost {
  sha: string;
  sessionId: string;
  output: ReviewOutput;
  costUsd: number;
  omitted: { path: string; reason: string }[];
  reviewedFiles: number;
  /** the verification pass: candidates checked, and how many it did not confirm */
  verification?: Verification;
  /** findings the checks in code dropped before posting, by reason (review/evidence, rules, suppressions) */
  checks?: CheckCounts;
}

export interface Verification {
  checked: number;
  dropped: number;
  /** the pass itself failed: the new findings were held back, or posted labelled unverified (repo config) */
  failed?: 'hold' | 'label';
  /** how many findings were held back */
  held?: number;
  /** fingerprints of findings posted without a second look */
  unverified?: string[];
  /** confirmed findings whose suggestion the verifier rejected (posted without it) */
  suggestionsDropped?: number;
}

export interface CheckCounts {
  /** reason → findings dropped */
  dropped: Record<string, number>;
  /** suggestions removed because they would not apply cleanly (the findings stay) */
  suggestions: number;
}

export interface ThreadRecord {
  projectId: number;
  iid: number;
  discussionId: string;
  forkSessionId: string;
  /** the trunk this fork was made from */
  trunkSessionId: string;
  /** newest note id of the thread the session has seen */
  lastSeenNoteId: number;
  status: 'running' | 'done' | 'failed';
  turns: number;
  costUsd: number;
  rebuilds: number;
  /** note ids this thread has answered (the last 100): a note is answered once */
  answered: number[];
  findingFp?: string;
  url?: string;
  /** a finished answer not yet posted (a GitLab outage between the two): a retry posts it without running the model */
  pendingReply?: PendingReply;
  /** a push's fix check that finished but whose outcome is not yet posted, for that head */
  pendingFix?: { sha: string; addressed: boolean; reply: string; fixed_by?: string };
  createdAt: string;
  updatedAt: string;
}

export interface PendingReply {
  /** the note it answers */
  noteId: number;
  reply: string;
  verdict: 'fix_needed' | 'optional' | 'withdrawn' | 'answered';
  forkSessionId: string;
  forked: boolean;
  rebuilt: boolean;
}

/** One user's questions on one MR in one UTC day (the per-user question budget). */
export interface QuestionTally {
  /** note ids answered (each counts once against the limit) */
  answered: number[];
  /** note ids refused for being over the limit; the first one got the reply */
  refused: number[];
}

export interface FailureRecord {
  at: string;
  jobId: string;
  kind: string;
  projectId?: number;
  iid?: number;
  reason: string;
}

/** A thread's record before its first (or rebuilt) session runs; a rebuild keeps the old record's history. */
export function newThreadRecord(
  ids: Pick<ThreadRecord, 'projectId' | 'iid' | 'discussionId' | 'forkSessionId' | 'trunkSessionId'> & Partial<Pick<ThreadRecord, 'url' | 'findingFp' | 'lastSeenNoteId'>>,
  prior?: ThreadRecord,
): ThreadRecord {
  const now = new Date().toISOString();
  return {
    lastSeenNoteId: prior?.lastSeenNoteId ?? 0,
    turns: prior?.turns ?? 0,
    costUsd: prior?.costUsd ?? 0,
    rebuilds: prior?.rebuilds ?? 0,
    answered: prior?.answered ?? [],
    url: prior?.url,
    findingFp: prior?.findingFp,
    createdAt: prior?.createdAt ?? now,
    ...ids,
    status: 'running',
    updatedAt: now,
  };
}
