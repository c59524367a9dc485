// A real small file system for disk-full tests: a tmpfs mounted for the describe block that calls `smallDisk`
// (the tests run as root), filled to ENOSPC on demand and freed again.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export interface SmallDisk {
  /** the mount point */
  dir(): string;
  /** write until the file system says ENOSPC */
  fill(): void;
  /** give the space back */
  free(): void;
}

export function smallDisk(size: string, o: { beforeUnmount?: () => Promise<void> } = {}): SmallDisk {
  let mnt = '';
  let mounted = false;
  const filler = () => path.join(mnt, 'filler');
  beforeAll(() => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]);
    mounted = true;
  });
  afterAll(async () => {
    await o.beforeUnmount?.();
    if (mounted) execFileSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });
  return {
    dir: () => mnt,
    fill() {
      const fd = fs.openSync(filler(), 'a');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(16 * 1024));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      } finally {
        fs.closeSync(fd);
      }
    },
    free: () => fs.rmSync(filler(), { force: true }),
  };
}
