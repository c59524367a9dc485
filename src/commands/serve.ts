// `mr-reviewer serve`: the bot itself (what `npm start` and the container run).
import { startBot } from '../main.js';
import { configOrExit } from './config.js';

export async function serveCommand(): Promise<void> {
  const bot = await startBot(configOrExit(), { handleSignals: true });
  await bot.ready;
}
