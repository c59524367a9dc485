// The one CLI call that may write files: an approved apply resumes the thread's own fork with edit tools, in a
// fresh checkout. Kept behind this function so the session service can take it over whole.
import type { ClaudeResult } from './result.js';
import type { Sessions, TurnOptions } from './sessions.js';

export interface ApplyRun {
  /** the cwd the fork's transcript is filed under (the MR's stable worktree) */
  sessionCwd: string;
  forkSessionId: string;
  /** the fresh checkout the edits go to; the CLI runs there and acceptEdits covers only it */
  checkout: string;
  prompt: string;
  turn: Omit<TurnOptions, 'tools' | 'runCwd' | 'purpose'>;
}

/** Resume the same fork (never a new one): it holds the review, the thread and the plan it made. */
export function applyInFork(sessions: Sessions, r: ApplyRun): Promise<ClaudeResult> {
  return sessions.resume(r.sessionCwd, r.forkSessionId, r.prompt, { ...r.turn, tools: 'edit', runCwd: r.checkout, purpose: 'apply' });
}
