// Settings for a command: loaded once, or every problem printed and the process ends with code 2.
import { ConfigError, loadConfig, type Config } from '../config.js';

export function configOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) console.error(p);
    console.error('mr-reviewer: fix the settings above and start again (see README "Configuration").');
    process.exit(2);
  }
}
