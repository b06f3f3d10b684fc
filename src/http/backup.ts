import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { HeraldError, Problems } from '../errors.js';
import type { IdentityProvider } from './identity.js';

/** What the backup route needs: the admin check, and the backend's backup when it has one. */
export interface BackupDeps {
  readonly identity: IdentityProvider;
  /** Writes a consistent copy of the stored log to a file (`Backend.backup`); absent: nothing to copy. */
  readonly backup: ((path: string) => Promise<void>) | undefined;
}

/**
 * `GET /admin/api/backup`: a consistent copy of the SQLite log, made while the node runs (SQLite's
 * online backup API, into a temporary file that is streamed and then deleted), for the admin key. The
 * copy carries no epoch, so a node restored from it tells its clients of the loss with a `gap`.
 */
export function backupRoutes(app: FastifyInstance, deps: BackupDeps): void {
  app.get('/admin/api/backup', async (request, reply) => {
    await deps.identity.admin(request);
    const backup = deps.backup;
    if (backup === undefined)
      throw new HeraldError(
        Problems.notFound,
        'this log keeps no file to back up: the memory log has none, and Redis is backed up by Redis',
      );
    const dir = await mkdtemp(join(tmpdir(), 'herald-backup-'));
    const file = join(dir, 'herald.db');
    try {
      await backup(file);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    request.log.info({ file }, 'backup of the log sent');
    const body = createReadStream(file);
    // Deleted once sent (or the client went away); an open stream keeps the data readable until then.
    body.once('close', () => void rm(dir, { recursive: true, force: true }));
    return reply
      .type('application/vnd.sqlite3')
      .header('cache-control', 'no-store')
      .header('content-disposition', `attachment; filename="herald-${stamp}.db"`)
      .send(body);
  });
}
