import { execFile } from 'node:child_process';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  scratchDir,
  startPostgres,
  waitFor,
} from '@pullback/harness';
import type { InstanceConfig } from '@pullback/pipeline';
import { closePools, startStandby, stopServer } from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EpochRecordStore, epochRecordPath, localInstanceView } from '../src/index.js';

const execFileAsync = promisify(execFile);

let primary: PostgresServer;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
let fallback: InstanceConfig;
let store: EpochRecordStore;

beforeAll(async () => {
  primary = await startPostgres();
  scratch = await scratchDir('instance-view');
  const owner = await postgresOwner();
  const socketDir = join(scratch.path, 'socket');
  await mkdir(socketDir);
  if (owner) {
    await chown(scratch.path, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  const dataDir = join(scratch.path, 'data');
  await execFileAsync(
    join(primary.binDir, 'pg_basebackup'),
    ['-D', dataDir, '-d', primary.connectionString(), '-X', 'stream', '--checkpoint=fast'],
    { ...(owner ?? {}), cwd: scratch.path },
  );
  const port = await freePort();
  await startStandby({
    dataDir,
    port,
    listenAddresses: '127.0.0.1',
    socketDir,
    primary: { host: '127.0.0.1', port: primary.port },
    timeoutSeconds: 120,
  });
  fallback = { name: 'shop-b', role: 'fallback', host: '127.0.0.1', port, dataDir, priority: 50 };
  store = new EpochRecordStore(epochRecordPath(join(scratch.path, 'state'), 'shop-b'));
});

afterAll(async () => {
  await closePools();
  if (fallback) await stopServer({ dataDir: fallback.dataDir }).catch(() => {});
  await primary?.stop();
  await scratch?.remove();
});

describe('the local view of an instance', () => {
  it('sees a fallback streaming from the active, and no longer once the active is gone', async () => {
    const view = localInstanceView(fallback, store);
    expect(
      await waitFor('the fallback to stream', async () =>
        (await view()).streaming ? await view() : undefined,
      ),
    ).toEqual({ role: 'fallback', holdsPermission: false, serverRunning: true, streaming: true });

    await primary.crash();
    expect(
      await waitFor('the fallback to stop streaming', async () =>
        (await view()).streaming ? undefined : await view(),
      ),
    ).toEqual({ role: 'fallback', holdsPermission: false, serverRunning: true, streaming: false });
  });

  it('takes the role from the record once there is one, and sees the server stopped', async () => {
    const view = localInstanceView(fallback, store);
    await store.compareAndSet({ epoch: 3, active: 'shop-b' });
    expect(await view()).toMatchObject({
      role: 'active',
      epoch: 3,
      holdsPermission: false,
      serverRunning: true,
    });
    await store.compareAndSet({ epoch: 4, active: 'shop-c' });
    expect(await view()).toMatchObject({ role: 'fallback', serverRunning: true });
    expect((await view()).epoch).toBeUndefined();
    await stopServer({ dataDir: fallback.dataDir });
    expect(await view()).toEqual({
      role: 'fallback',
      holdsPermission: false,
      serverRunning: false,
      streaming: false,
    });
  });
});
