// `mr-reviewer serve`: the bot itself (what `npm start` and the container run).
import { StartupError } from '../gitlab/identity.js';
import { startBot } from '../main.js';
import { configOrExit, lockOrExit } from './config.js';

export async function serveCommand(): Promise<void> {
  const config = configOrExit();
  lockOrExit(config);
  try {
    await startBot(config, { handleSignals: true });
  } catch (e) {
    // A rejected token cannot heal: say so (waitForIdentity logged the fix) and exit, rather than wait forever.
    // Anything else here is a shutdown that began during start-up; the signal handler ends the process.
    if (!(e instanceof StartupError)) return;
    process.exit(1);
  }
}
