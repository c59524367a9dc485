// With MAX_CONCURRENT_SESSIONS unset, the number of CLI processes follows the memory the process may use:
// the cgroup's limit (a container's, a systemd unit's MemoryMax), read from a fake cgroup tree here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConcurrency, memoryLimit } from '../src/claude/concurrency.js';
import { loadConfig } from '../src/config.js';

const GiB = 2 ** 30;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A fake /sys/fs/cgroup (files relative to it) and /proc/self/cgroup; returns memoryLimit() read from them. */
function limitWith(procSelfCgroup: string, files: Record<string, string>): number {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgroup-'));
  dirs.push(dir);
  const root = path.join(dir, 'sys-fs-cgroup');
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), `${content}\n`);
  }
  fs.writeFileSync(path.join(dir, 'self-cgroup'), procSelfCgroup);
  return memoryLimit(root, path.join(dir, 'self-cgroup'));
}

describe('memoryLimit', () => {
  it('cgroup v2 in a container (its own namespace): memory.max at the root', () => {
    expect(limitWith('0::/\n', { 'memory.max': String(3 * GiB) })).toBe(3 * GiB);
  });

  it('cgroup v2 under systemd: the unit\'s MemoryMax, or a tighter parent slice', () => {
    const self = '0::/system.slice/mr-reviewer.service\n';
    expect(limitWith(self, { 'memory.max': 'max', 'system.slice/memory.max': 'max', 'system.slice/mr-reviewer.service/memory.max': String(4 * GiB) })).toBe(4 * GiB);
    expect(limitWith(self, { 'system.slice/memory.max': String(2 * GiB), 'system.slice/mr-reviewer.service/memory.max': String(4 * GiB) })).toBe(2 * GiB);
  });

  it('cgroup v1: memory.limit_in_bytes of the memory controller; its "unlimited" is the host memory', () => {
    const self = '12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n';
    expect(limitWith(self, { 'memory/docker/abc/memory.limit_in_bytes': String(6 * GiB) })).toBe(6 * GiB);
    // Docker on v1 without a cgroup namespace mounts the container's own group at the controller's root
    expect(limitWith(self, { 'memory/memory.limit_in_bytes': String(5 * GiB) })).toBe(5 * GiB);
    expect(limitWith(self, { 'memory/memory.limit_in_bytes': '9223372036854771712' })).toBe(os.totalmem());
  });

  it('no limit set, or no cgroup files at all: the host memory', () => {
    expect(limitWith('0::/\n', { 'memory.max': 'max' })).toBe(os.totalmem());
    expect(limitWith('', {})).toBe(os.totalmem());
  });
});

describe('defaultConcurrency', () => {
  it('~1 GiB per CLI session, at most two per core and 8, at least 1', () => {
    expect(defaultConcurrency(3 * GiB, 16)).toBe(3);
    expect(defaultConcurrency(3.9 * GiB, 16)).toBe(3);
    expect(defaultConcurrency(512 * 2 ** 20, 16)).toBe(1);
    expect(defaultConcurrency(64 * GiB, 2)).toBe(4);
    expect(defaultConcurrency(64 * GiB, 64)).toBe(8);
  });

  it('is what MAX_CONCURRENT_SESSIONS defaults to; an explicit value wins', () => {
    const env = { GITLAB_URL: 'https://gitlab.example.com', GITLAB_TOKEN: 't', GITLAB_WEBHOOK_SECRET: 'secret-123' };
    expect(loadConfig(env).MAX_CONCURRENT_SESSIONS).toBe(defaultConcurrency());
    expect(loadConfig({ ...env, MAX_CONCURRENT_SESSIONS: '2' }).MAX_CONCURRENT_SESSIONS).toBe(2);
  });
});
