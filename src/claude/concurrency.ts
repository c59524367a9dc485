// How many claude CLI processes run at once when MAX_CONCURRENT_SESSIONS is unset. A review's CLI can grow to about
// 1 GiB with a large context, so it is ~1 GiB each out of the memory this process may use: inside a container or a
// systemd unit with MemoryMax that is the cgroup's limit, not the host's (sizing by the host's memory gets the pod
// OOM-killed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PER_SESSION_BYTES = 2 ** 30;
const MAX_SESSIONS = 8;

/** ~1 GiB per CLI process, at most two per core and at most 8, at least 1. */
export function defaultConcurrency(memoryBytes = memoryLimit(), cpus = os.availableParallelism()): number {
  return Math.max(1, Math.min(Math.floor(memoryBytes / PER_SESSION_BYTES), cpus * 2, MAX_SESSIONS));
}

/**
 * The tightest memory limit on this process: its cgroup's and every ancestor's (v2 `memory.max`, v1
 * `memory.limit_in_bytes`), else the host's memory. `root` and `selfCgroup` are parameters for tests.
 */
export function memoryLimit(root = '/sys/fs/cgroup', selfCgroup = '/proc/self/cgroup'): number {
  let limit = os.totalmem();
  for (const file of limitFiles(root, read(selfCgroup))) {
    const v = Number(read(file).trim()); // "max" (v2, no limit) is NaN
    if (Number.isFinite(v) && v > 0) limit = Math.min(limit, v);
  }
  return limit;
}

/** The limit files of the process's cgroup and its ancestors, from /proc/self/cgroup lines `id:controllers:path`. */
function limitFiles(root: string, procSelfCgroup: string): string[] {
  const files: string[] = [];
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line.trim());
    if (!m) continue;
    const [, controllers, rel] = m as unknown as [string, string, string];
    const v2 = controllers === '';
    if (!v2 && !controllers.split(',').includes('memory')) continue;
    const mount = v2 ? root : path.join(root, 'memory');
    const name = v2 ? 'memory.max' : 'memory.limit_in_bytes';
    // path.join keeps the walk under the mount even for a path with "..": a parent's limit binds its children too
    const parts = path.join('/', rel).split('/').filter(Boolean);
    for (let i = parts.length; i >= 0; i--) files.push(path.join(mount, ...parts.slice(0, i), name));
  }
  return files;
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
