import type { Finding, ReviewOutput } from '../review/findings.js';
import type { PreExisting } from '../review/summary.js';

// The typed records the bot keeps (keys in keys.ts; durability in docs/durability.md).

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
  /** false: posted as a thread the bot resolved at once (repo config `blocking`); absent in records from before */
  blocking?: boolean;
  /** the heads whose review posted it, found it fixed, and edited it ("what changed since the last review") */
  sha?: string;
  fixedSha?: string;
  editedSha?: string;
}

/** A finding only listed in the summary (repo config `minor: summary`, or GitLab refused every thread for it). */
export interface ListedFinding {
  fp: string;
  file: string;
  line: number;
  severity: string;
  title: string;
  /** why it is not a thread */
  reason: 'minor' | 'refused';
  /** the head whose review listed it */
  sha?: string;
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
  /**
   * The directories whose guidance files the last trunk turn read, for the MR at `base`..`head`: a thread at that
   * head builds the same system prompt from them without asking git which paths the MR touches.
   */
  guidanceDirs?: { base: string; head: string; dirs: string[] };
  summaryNoteId?: number;
  paused?: boolean;
  findings: Record<string, PostedFinding>;
  /** findings listed in the summary only, by fingerprint: never posted as threads later */
  listed?: Record<string, ListedFinding>;
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
  /** every `@bot apply` that ended (audit: who approved what; the status page lists them) */
  applies?: ApplyAudit[];
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
  /** how many team learnings the turn's prompt carried (flows/learnings.ts) */
  learnings?: number;
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
  /** the last `@bot fix` plan: what an `@bot apply` may change, and the head it was made on */
  plan?: FixPlan;
  /** the apply under way or last finished in this thread (one at a time) */
  apply?: { noteId: number; status: 'running' | 'done'; startedAt: string };
  /** a push's fix check that finished but whose outcome is not yet posted, for that head */
  pendingFix?: { sha: string; addressed: boolean; reply: string; fixed_by?: string; /** the fixing line, checked against the code (only then is the thread resolved) */ fixedBy?: string };
  createdAt: string;
  updatedAt: string;
}

export interface FixPlan {
  /** the `@bot fix` note it answers */
  noteId: number;
  /** the MR head the plan was made on: an apply on another head re-plans */
  sha: string;
  files: { path: string; lines: string; change: string }[];
  summary: string;
  preview: string;
  at: string;
}

export interface ApplyAudit {
  discussionId: string;
  /** the `@bot apply` note */
  noteId: number;
  approver: string;
  outcome: 'committed' | 'refused' | 'rejected' | 'replanned';
  /** the pushed commit */
  commit?: string;
  detail?: string;
  at: string;
}

export interface PendingReply {
  /** the note it answers */
  noteId: number;
  reply: string;
  verdict: 'fix_needed' | 'optional' | 'withdrawn' | 'answered';
  forkSessionId: string;
  forked: boolean;
  rebuilt: boolean;
  /** a team convention the answer proposed, cleaned; kept (flows/learnings.ts) only if the note's author is Developer+ */
  learning?: { instruction: string; path?: string; language?: string; url: string };
  /** a code change the answer offers for the thread's line, checked (flows/reply-suggestion.ts) when posted */
  suggestion?: { sha: string; text: string };
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
