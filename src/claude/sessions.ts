// New, resume and fork: the three CLI calls on a session, each under its session locks, within the CLI slots, with
// the portable-session hooks around it. Which call an MR's turn needs is session-service.ts's decision.
import fs from 'node:fs';
import path from 'node:path';
import { ClaudeError, type ClaudeResult } from './result.js';
import { buildArgs, type SessionMode, type ToolSet } from './options.js';
import { transcriptPath } from './paths.js';
import { runClaude } from './run.js';
import type { SessionLocks } from './locks.js';
import { setLogSession } from '../log-context.js';

export interface SessionsDeps {
  bin: string;
  configDir: string;
  env: Record<string, string>;
  model?: string;
  timeoutMs: number;
  locks: SessionLocks;
  /** caps concurrent CLI processes across all sessions */
  slots: { run<T>(fn: () => Promise<T>): Promise<T> };
  /** called before a portable-session store restores or after it saves transcripts (scale-out) */
  hooks?: {
    beforeRun?(cwd: string, sessionIds: string[]): Promise<void>;
    afterRun?(cwd: string, sessionId: string): Promise<void>;
  };
  /** told about every CLI call (metrics): what it was for, how long it took, what it returned or threw */
  observe?(o: { kind: string; totalMs: number; wallMs: number; result?: ClaudeResult; error?: unknown }): void;
}

export interface TurnOptions {
  systemPrompt: string;
  jsonSchema?: object;
  maxBudgetUsd?: number;
  signal?: AbortSignal;
  /** what the call is for, in metrics; defaults to the mode: trunk_review (new), fork, resume. E.g. 'fix_check'. */
  purpose?: string;
  /**
   * The model the session started with (ClaudeResult.model), used when CLAUDE_MODEL is not set. A resume without
   * --model falls back to the plain default: "claude-opus-4-8[1m]" became "claude-opus-4-8", which changes the
   * system prompt (no prompt-cache hit on the trunk's conversation) and shrinks the context window.
   */
  model?: string;
  /** the tool set (default read-only review tools); 'edit' is for an approved apply only */
  tools?: ToolSet;
  /** where the CLI runs when not in the session's own cwd (an apply's fresh checkout); the transcript stays put */
  runCwd?: string;
}

export class Sessions {
  constructor(private readonly d: SessionsDeps) {}

  transcript(cwd: string, sessionId: string): string {
    return transcriptPath(this.d.configDir, cwd, sessionId);
  }

  exists(cwd: string, sessionId: string): boolean {
    return fs.existsSync(this.transcript(cwd, sessionId));
  }

  /** Bring transcripts this replica lacks (or holds an older copy of) from the portable store; a no-op without one. */
  async restore(cwd: string, sessionIds: string[]): Promise<void> {
    await this.d.hooks?.beforeRun?.(cwd, sessionIds);
  }

  /** A new session under a chosen id (a trunk). */
  start(cwd: string, sessionId: string, prompt: string, o: TurnOptions): Promise<ClaudeResult> {
    return this.d.locks.exclusive(sessionId, () => this.call(cwd, { kind: 'new', sessionId }, prompt, o));
  }

  /** Continue a session (a trunk on push, a fork on a thread's later replies). */
  resume(cwd: string, sessionId: string, prompt: string, o: TurnOptions): Promise<ClaudeResult> {
    return this.d.locks.exclusive(sessionId, async () => {
      await this.d.hooks?.beforeRun?.(cwd, [sessionId]);
      this.assertExists(cwd, sessionId);
      return this.call(cwd, { kind: 'resume', transcript: this.transcript(cwd, sessionId) }, prompt, o);
    });
  }

  /** A new session that starts with all of `fromId`'s conversation; `fromId` is left untouched. */
  fork(cwd: string, fromId: string, forkId: string, prompt: string, o: TurnOptions): Promise<ClaudeResult> {
    // Shared on the trunk (forks only copy it; a trunk mid-turn must not be copied), exclusive on the new fork.
    return this.d.locks.shared(fromId, () =>
      this.d.locks.exclusive(forkId, async () => {
        await this.d.hooks?.beforeRun?.(cwd, [fromId]);
        this.assertExists(cwd, fromId);
        const mode: SessionMode = { kind: 'fork', transcript: this.transcript(cwd, fromId), sessionId: forkId };
        return this.call(cwd, mode, prompt, o);
      }),
    );
  }

  private assertExists(cwd: string, sessionId: string): void {
    if (!this.exists(cwd, sessionId)) {
      throw new ClaudeError('session_missing', `No conversation found with session ID: ${sessionId}`, { sessionId });
    }
  }

  private async call(cwd: string, mode: SessionMode, prompt: string, o: TurnOptions): Promise<ClaudeResult> {
    const args = buildArgs({
      mode,
      systemPrompt: o.systemPrompt,
      jsonSchema: o.jsonSchema,
      model: this.d.model ?? o.model,
      maxBudgetUsd: o.maxBudgetUsd,
      tools: o.tools,
    });
    const sessionId = mode.kind === 'resume' ? path.basename(mode.transcript, '.jsonl') : mode.sessionId;
    setLogSession(sessionId);
    const purpose = o.purpose ?? (mode.kind === 'new' ? 'trunk_review' : mode.kind);
    const t0 = performance.now();
    let wallMs = 0;
    const observed = this.d.slots.run(async () => {
      const w0 = performance.now();
      try {
        return await runClaude({
          bin: this.d.bin,
          args,
          env: this.d.env,
          cwd: o.runCwd ?? cwd,
          prompt,
          timeoutMs: this.d.timeoutMs,
          wantStructured: !!o.jsonSchema,
          signal: o.signal,
        });
      } finally {
        wallMs = performance.now() - w0;
      }
    });
    const report = (x: { result?: ClaudeResult; error?: unknown }) => this.d.observe?.({ kind: purpose, totalMs: performance.now() - t0, wallMs, ...x });
    const result = await observed.then(
      (r) => (report({ result: r }), r),
      (e: unknown) => {
        report({ error: e });
        throw e;
      },
    );
    const id = mode.kind === 'resume' ? result.sessionId : mode.sessionId;
    await this.d.hooks?.afterRun?.(cwd, id);
    return result;
  }
}
