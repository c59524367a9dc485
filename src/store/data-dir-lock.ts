// One bot per DATA_DIR: its SQLite queue, workspaces and CLI sessions are not shared between processes. A lock file
// holds the owner's pid; a lock whose pid is gone (a crash, kill -9) is taken over. Redis mode shares state through
// Redis and takes no lock.
import fs from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = 'mr-reviewer.pid';

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  constructor(readonly file: string, readonly pid: number) {
    super(
      `another mr-reviewer (pid ${pid}) is using DATA_DIR ${path.dirname(file)}: stop it first, use another DATA_DIR, ` +
        `or set REDIS_URL to run several replicas on shared state (lock file: ${file})`,
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

const FULL = new Set(['ENOSPC', 'EDQUOT']);

/** The lock file cannot be written (disk full): the caller starts without the one-process guard and says so. */
export class DataDirLockUnwritable extends Error {
  override name = 'DataDirLockUnwritable';
  constructor(readonly file: string, cause: Error) {
    super(`cannot write ${file} (${(cause as NodeJS.ErrnoException).code}): starting without the one-process-per-DATA_DIR guard`);
  }
}

function owner(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock for this process or throws DataDirLockedError. Returns the release function (also run on exit). */
export function lockDataDir(dataDir: string, pid = process.pid): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  // Written aside, then hard-linked into place: link fails when the name exists, and a reader never sees half a pid.
  const tmp = `${file}.${pid}`;
  try {
    fs.writeFileSync(tmp, `${pid}\n`);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const held = owner(file);
    if (held !== undefined && held !== pid && alive(held)) throw new DataDirLockedError(file, held);
    // A full disk must not stop the bot (it starts degraded and catches up when space returns); say so instead.
    if (FULL.has((e as NodeJS.ErrnoException).code ?? '')) throw new DataDirLockUnwritable(file, e as Error);
    throw e;
  }
  try {
    for (;;) {
      try {
        fs.linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const held = owner(file);
        if (held === pid) break;
        if (held !== undefined && alive(held)) throw new DataDirLockedError(file, held);
        fs.rmSync(file, { force: true }); // its pid is gone: a crash or kill -9 left it
      }
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const release = () => {
    if (owner(file) === pid) fs.rmSync(file, { force: true });
    process.off('exit', release);
  };
  process.on('exit', release);
  return release;
}
