// Settings for a command, read one way by every command: the config, or every problem (one line each).
import { ConfigError, loadConfig, type Config } from '../config.js';
import { DataDirLockedError, DataDirLockUnwritable, lockDataDir } from '../store/data-dir-lock.js';

export function readSettings(env: NodeJS.ProcessEnv = process.env): { config: Config } | { problems: string[] } {
  try {
    return { config: loadConfig(env) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { problems: e.problems };
  }
}

/** The settings, or every problem printed and the process ends with code 2. */
export function configOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  const s = readSettings(env);
  if ('config' in s) return s.config;
  for (const p of s.problems) console.error(p);
  console.error('mr-reviewer: fix the settings above and start again (see docs/configuration.md).');
  process.exit(2);
}

/** One process per DATA_DIR unless state is shared through Redis (data-dir-lock.ts); else a clear refusal, code 1. */
export function lockOrExit(config: Config): void {
  if (config.REDIS_URL) return;
  try {
    lockDataDir(config.dataDir);
  } catch (e) {
    if (e instanceof DataDirLockUnwritable) {
      console.error(`mr-reviewer: warning: ${e.message}`);
      return;
    }
    if (!(e instanceof DataDirLockedError)) throw e;
    console.error(`mr-reviewer: ${e.message}`);
    process.exit(1);
  }
}
