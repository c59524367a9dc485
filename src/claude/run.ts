// Running one CLI call as a child process. The prompt goes on stdin: diffs exceed the 128 KB limit of one argv string.
import { execa } from 'execa';
import { interpret, type ClaudeResult } from './result.js';

export interface RunRequest {
  bin: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  prompt: string;
  timeoutMs: number;
  wantStructured: boolean;
  signal?: AbortSignal;
}

/** Counts running CLI children (the `cli_processes_running` gauge). */
export const running = { count: 0 };

export async function runClaude(r: RunRequest): Promise<ClaudeResult> {
  running.count++;
  try {
    const p = await execa(r.bin, r.args, {
      cwd: r.cwd,
      env: r.env,
      extendEnv: false,
      input: r.prompt,
      timeout: r.timeoutMs,
      killSignal: 'SIGTERM',
      forceKillAfterDelay: 5_000,
      cancelSignal: r.signal,
      reject: false,
      stripFinalNewline: false,
      maxBuffer: 64 * 1024 * 1024,
    });
    return interpret({
      stdout: String(p.stdout ?? ''),
      stderr: String(p.stderr ?? ''),
      exitCode: p.exitCode,
      signal: p.signal ?? undefined,
      timedOut: p.timedOut,
      wantStructured: r.wantStructured,
    });
  } finally {
    running.count--;
  }
}
