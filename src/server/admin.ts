// The admin listener (ADMIN_PORT): status page, /metrics and /readyz, apart from the public webhook port.
import { Hono } from 'hono';
import type { Logger } from '../logger.js';

export function createAdminApp(log: Logger): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    log.error({ err: err.message }, 'admin request failed');
    return c.text('internal error', 500);
  });
  app.notFound((c) => c.text('not found', 404));
  return app;
}
