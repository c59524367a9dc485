#!/usr/bin/env node
// `mr-reviewer <command>`: serve (what `npm start` runs). More commands live in src/commands/.
import { ConfigError, loadConfig } from './config.js';
import { startBot } from './main.js';

async function serveCommand(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) console.error(p);
      console.error('mr-reviewer: fix the settings above and start again (see README "Configuration").');
      process.exit(2);
    }
    throw e;
  }
  const bot = await startBot(config, { handleSignals: true });
  await bot.ready;
}

const [cmd = 'serve'] = process.argv.slice(2);
switch (cmd) {
  case 'serve':
    await serveCommand();
    break;
  default:
    console.error(`unknown command: ${cmd}\nusage: mr-reviewer serve`);
    process.exit(2);
}
