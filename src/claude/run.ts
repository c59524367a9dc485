// Running one CLI call as a child process (started off the main thread, see spawner.ts). The prompt goes on stdin:
// diffs exceed the 128 KB limit of one argv string.
import { interpret, type ClaudeResult } from './result.js';
import { cliSpawner } from './spawner.js';

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
    const p = await cliSpawner.run(
      { bin: r.bin, args: r.args, env: r.env, cwd: r.cwd, input: r.prompt, timeoutMs: r.timeoutMs, forceKillAfterMs: 5_000, maxBuffer: 64 * 1024 * 1024 },
      r.signal,
    );
    return interpret({ ...p, wantStructured: r.wantStructured });
  } finally {
    running.count--;
  }
}
