// The bot as a child process (`node bin/mr-reviewer.js serve`), wired by environment to the stand-ins running in
// the test process, so a test can kill -9 it, SIGTERM it and start it again on the same DATA_DIR.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { GitlabStandin } from './gitlab.js';
import { botEnv, sendHook } from './harness.js';
import type { ModelStandin } from './model.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN_REL = 'bin/mr-reviewer.js';

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A bot process that may not be ready (or may refuse to start). */
export interface SpawnedBot {
  /** the spawned process: the bot, or npm for `npm start` */
  pid: number;
  /** parsed JSON log lines, in order */
  logs: LogLine[];
  /** stdout lines that were not JSON, and stderr */
  noise: string[];
  exited: Promise<Exit>;
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** SIGKILL to the bot and its CLI children (its process group), as when a container is killed */
  kill9(): Promise<Exit>;
  /** SIGTERM to the bot alone, as an orchestrator does; resolves on exit */
  term(): Promise<Exit>;
}

export interface BotProcess extends SpawnedBot {
  url: string;
  send(payload: object, opts?: { token?: string; idempotencyKey?: string; headers?: Record<string, string> }): Promise<Response>;
}

export interface BotProcessOptions {
  gitlab: GitlabStandin;
  model: ModelStandin;
  dataDir: string;
  env?: Record<string, string>;
  /** the directory holding bin/ and src/ (default: this checkout), e.g. a copy of exactly what the image ships */
  root?: string;
  /** `npm start` in root instead of `node bin/mr-reviewer.js serve` */
  npmStart?: boolean;
}

/** Starts the bot and returns at once; see startBotProcess for one that is ready. */
export function spawnBotProcess(o: BotProcessOptions): SpawnedBot {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: o.dataDir,
    ...botEnv(o.gitlab.url, o.dataDir),
    ANTHROPIC_BASE_URL: o.model.url,
    CLAUDE_MAX_RETRIES: '0',
    RETRY_BASE_MS: '100',
    MAX_CONCURRENT_SESSIONS: '2',
    LOG_LEVEL: 'debug',
    ...o.env,
  };
  // detached: its own process group, so kill9() takes the CLI children down with it.
  const root = o.root ?? ROOT;
  const [cmd, args] = o.npmStart ? ['npm', ['start']] : [process.execPath, [path.join(root, BIN_REL), 'serve']];
  const child: ChildProcess = spawn(cmd, args, { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const noise: string[] = [];
  const waiters = new Set<() => void>();
  const lines = (push: (line: string) => void) => {
    let buf = '';
    return (chunk: Buffer) => {
      buf += chunk.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) if (p.trim()) push(p);
      for (const w of [...waiters]) w();
    };
  };
  child.stdout!.on(
    'data',
    lines((l) => {
      try {
        logs.push(JSON.parse(l) as LogLine);
      } catch {
        noise.push(l);
      }
    }),
  );
  child.stderr!.on('data', lines((l) => noise.push(l)));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let dead: Exit | undefined;
  void exited.then((e) => {
    dead = e;
    for (const w of [...waiters]) w();
  });

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 120_000, what = 'log line') =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const hit = logs.find(pred);
        if (hit) done(() => resolve(hit));
        else if (dead) done(() => reject(new Error(`bot exited (${JSON.stringify(dead)}) before ${what}\n${tail()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what}\n${tail()}`))), timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });
  const tail = () => [...noise.slice(-10), ...logs.slice(-15).map((l) => JSON.stringify(l))].join('\n');

  const pid = child.pid!;
  return {
    pid,
    logs,
    noise,
    exited,
    waitForLog,
    async kill9() {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      return exited;
    },
    async term() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** The bot, listening and knowing itself. */
export async function startBotProcess(o: BotProcessOptions): Promise<BotProcess> {
  const bot = spawnBotProcess(o);
  const listening = await bot.waitForLog((l) => l.msg === 'listening', 120_000, 'the bot to listen');
  await bot.waitForLog((l) => l.msg === 'bot identity known', 120_000, 'the bot to know itself');
  const url = `http://127.0.0.1:${listening.port as number}`;
  return { ...bot, url, send: (payload, so) => sendHook(url, o.gitlab, payload, so) };
}

export interface QueueRow {
  id: string;
  state: string;
  attempts: number;
  last_error: string | null;
}

/** The queue table as the bot left it (read from the test process; WAL lets us read while the bot writes). */
export function queueRows(dataDir: string): QueueRow[] {
  const db = new Database(path.join(dataDir, 'queue.sqlite'), { fileMustExist: true });
  try {
    return db.prepare<[], QueueRow>('SELECT id, state, attempts, last_error FROM jobs ORDER BY seq').all();
  } finally {
    db.close();
  }
}

/** Nothing pending or running. */
export function queueIdle(dataDir: string): boolean {
  return queueRows(dataDir).every((r) => r.state === 'failed');
}
