// One bot per DATA_DIR; a lock left by a dead process is taken over.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, LOCK_FILE, lockDataDir } from '../src/store/data-dir-lock.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('lockDataDir', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-lock-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes its pid, refuses a second owner while the first is alive, and frees the lock on release', () => {
    const release = lockDataDir(dir);
    const file = path.join(dir, LOCK_FILE);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(String(process.pid));
    let err: unknown;
    try {
      lockDataDir(dir, deadPid()); // another process (its own pid) asks while we hold it
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as Error).message).toContain(`another mr-reviewer (pid ${process.pid}) is using DATA_DIR ${dir}`);
    expect((err as Error).message).toContain('REDIS_URL');
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(String(process.pid));
    release();
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('takes over a lock whose process is gone', () => {
    const file = path.join(dir, LOCK_FILE);
    const dead = deadPid();
    fs.writeFileSync(file, `${dead}\n`);
    const release = lockDataDir(dir);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(String(process.pid));
    release();
  });

  it('release leaves a lock that another process took over alone', () => {
    const release = lockDataDir(dir);
    const file = path.join(dir, LOCK_FILE);
    fs.writeFileSync(file, '1\n');
    release();
    expect(fs.readFileSync(file, 'utf8')).toBe('1\n');
  });
});
