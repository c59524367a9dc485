#!/usr/bin/env node
// `mr-reviewer <command>`: one binary, one file per command in this folder.
import { parseArgs } from 'node:util';

const USAGE = `usage: mr-reviewer <command>

  serve                                     run the bot (default; what npm start runs)
  doctor [--webhook-url <url>]              check GitLab, the token, the claude CLI, the model key, DATA_DIR
  setup-webhook --project <path|id> --url <public url>
                                            create or update the project's webhook (MR + comment events, secret)
  review <project path|id> <iid>            review one merge request now and print the summary
  learnings export|import --project <id> [--file <f.yml>] [--replace]
                                            a project's team learnings as YAML (stdout/stdin without --file)

Settings come from the environment (see docs/configuration.md).`;

const [cmd = 'serve', ...rest] = process.argv.slice(2);

function args<T extends Record<string, { type: 'string' | 'boolean' }>>(options: T, positionals = 0) {
  try {
    const r = parseArgs({ args: rest, options, allowPositionals: positionals > 0 });
    if (r.positionals.length !== positionals) throw new Error(`expected ${positionals} argument(s)`);
    return r;
  } catch (e) {
    console.error(`mr-reviewer ${cmd}: ${(e as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

switch (cmd) {
  case 'serve': {
    const { serveCommand } = await import('./serve.js');
    await serveCommand();
    break;
  }
  case 'doctor': {
    const { values } = args({ 'webhook-url': { type: 'string' } });
    const { doctorCommand } = await import('./doctor.js');
    process.exitCode = await doctorCommand({ webhookUrl: values['webhook-url'] });
    break;
  }
  case 'setup-webhook': {
    const { values } = args({ project: { type: 'string' }, url: { type: 'string' } });
    if (!values.project || !values.url) {
      console.error(`mr-reviewer setup-webhook: --project and --url are required\n\n${USAGE}`);
      process.exit(2);
    }
    const { setupWebhookCommand } = await import('./setup-webhook.js');
    process.exitCode = await setupWebhookCommand({ project: values.project, url: values.url });
    break;
  }
  case 'review': {
    const { positionals } = args({}, 2);
    const { reviewCommand } = await import('./review.js');
    // exit, not exitCode: a GitLab call still waiting for its timeout must not hold a failed run open
    process.exit(await reviewCommand({ project: positionals[0]!, iid: Number(positionals[1]) }));
    break;
  }
  case 'learnings': {
    const { values, positionals } = args({ project: { type: 'string' }, file: { type: 'string' }, replace: { type: 'boolean' } }, 1);
    const { learningsCommand } = await import('./learnings.js');
    process.exit(await learningsCommand({ action: positionals[0]!, project: values.project, file: values.file, replace: values.replace }));
    break;
  }
  case 'help':
  case '--help':
  case '-h':
    console.log(USAGE);
    break;
  default:
    console.error(`unknown command: ${cmd}\n\n${USAGE}`);
    process.exit(2);
}
