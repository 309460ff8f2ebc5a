import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { redisInfo, startPostgres, startRedis, startRedisSentinels, startS3 } from '../src/index.js';
import { ping } from '../src/redis.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function expectGone(pid: number): Promise<void> {
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  expect(isAlive(pid)).toBe(false);
}

describe('test harness', () => {
  it('starts PostgreSQL with data checksums and local replication, and stops it by PID', async () => {
    const pg = await startPostgres();
    try {
      expect(await pg.psql('select 40 + 2')).toBe('42');
      expect(await pg.psql('show data_checksums')).toBe('on');
      expect(await pg.psql('show listen_addresses')).toBe('127.0.0.1');
      expect(await pg.psql('show wal_level')).toBe('replica');
      expect(await pg.psql('select current_user')).toBe('postgres');
    } finally {
      await pg.stop();
    }
    await expectGone(pg.pid);
  });

  it('crashes PostgreSQL like a dead host (postmaster and backends at once) and restarts it with its data', {
    timeout: 60_000,
  }, async () => {
    const pg = await startPostgres();
    try {
      await pg.psql('create table kept (v int); insert into kept values (7)');
      const backends = Number(
        await pg.psql('select count(*) from pg_stat_activity where pid <> pg_backend_pid()'),
      );
      expect(backends).toBeGreaterThan(0);
      const before = pg.currentPid();
      await pg.crash();
      await expectGone(before);
      await expect(pg.psql('select 1')).rejects.toThrow();
      await pg.restart();
      expect(pg.currentPid()).not.toBe(before);
      expect(await pg.psql('select v from kept')).toBe('7');
    } finally {
      await pg.stop();
    }
  });

  it('starts two PostgreSQL clusters side by side on different ports', async () => {
    const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
    try {
      expect(a.port).not.toBe(b.port);
      await a.psql('create table marker(v text)');
      expect(await b.psql("select count(*) from pg_tables where tablename = 'marker'")).toBe('0');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('starts redis-server with noeviction on loopback', async () => {
    const redis = await startRedis();
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      const reply = await redisCommand(redis.port, 'CONFIG GET maxmemory-policy');
      expect(reply).toContain('noeviction');
    } finally {
      await redis.stop();
    }
    await expectGone(redis.pid);
  });

  it('restarts redis-server empty on the same port after killing it', async () => {
    const redis = await startRedis();
    const first = redis.pid;
    try {
      expect(await redisReply(redis.port, 'SET marker 1')).toBe('+OK');
      await redis.restartEmpty();
      expect(redis.pid).not.toBe(first);
      expect(await redisReply(redis.port, 'EXISTS marker')).toBe(':0');
    } finally {
      await redis.stop();
    }
    await expectGone(first);
    await expectGone(redis.pid);
  });

  it('halts redis-server and resumes it on the same port, with its data or empty', async () => {
    const redis = await startRedis();
    const first = redis.pid;
    try {
      expect(await redisReply(redis.port, 'SET marker 1')).toBe('+OK');
      await redis.halt({ keepData: true });
      await expectGone(first);
      expect(await ping(redis.port, undefined)).toBe(false);
      await redis.resume();
      expect(await redisReply(redis.port, 'EXISTS marker')).toBe(':1');
      await redis.halt();
      await redis.resume();
      expect(await redisReply(redis.port, 'EXISTS marker')).toBe(':0');
    } finally {
      await redis.stop();
    }
    await expectGone(redis.pid);
  });

  it('starts Redis Sentinel (a master, a replica, three sentinels) that promotes the replica when the master is killed', {
    timeout: 120_000,
  }, async () => {
    const set = await startRedisSentinels({ password: 'Server1', sentinelPassword: 'Sentinel1' });
    const pids = [set.primary, set.replica, ...set.sentinels].map((node) => node.pid);
    try {
      expect(set.config).toEqual({
        sentinels: set.sentinels.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port })),
        name: 'pullback',
        password: 'Server1',
        sentinelPassword: 'Sentinel1',
      });
      expect(await redisInfo(set.replica.port, 'replication', 'Server1')).toContain('role:slave');
      await set.primary.kill();
      await expectGone(set.primary.pid);
      await set.waitForMaster(set.replica.port);
      expect(await redisInfo(set.replica.port, 'replication', 'Server1')).toContain('role:master');
    } finally {
      await set.stop();
    }
    for (const pid of pids) await expectGone(pid);
  });

  it('replaces an S3 object whole, as S3 does: a read while it is overwritten gets the old body or the new', async () => {
    const s3 = await startS3({ buckets: ['harness'] });
    try {
      const url = `${s3.endpoint}/harness/key`;
      const body = (letter: string) => Buffer.alloc(4 * 1024 * 1024, letter);
      expect((await fetch(url, { method: 'PUT', body: body('a') })).status).toBe(200);
      for (let round = 0; round < 20; round++) {
        const [put, reads] = await Promise.all([
          fetch(url, { method: 'PUT', body: body(round % 2 === 0 ? 'b' : 'a') }),
          Promise.all(
            Array.from({ length: 4 }, async () => Buffer.from(await (await fetch(url)).arrayBuffer())),
          ),
        ]);
        expect(put.status).toBe(200);
        for (const read of reads) expect(read.equals(body('a')) || read.equals(body('b'))).toBe(true);
      }
    } finally {
      await s3.stop();
    }
  });

  it('starts an S3-compatible server with a bucket', async () => {
    const s3 = await startS3({ buckets: ['harness'] });
    try {
      const response = await fetch(`${s3.endpoint}/harness?list-type=2`);
      // Unsigned requests are refused, which still proves the bucket endpoint answers.
      expect([200, 403]).toContain(response.status);
      expect(s3.env.AWS_ENDPOINT_URL).toBe(s3.endpoint);
    } finally {
      await s3.stop();
    }
    await expectGone(s3.pid);
  });
});

async function redisCommand(port: number, command: string): Promise<string> {
  const { createConnection } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(`${command}\r\n`));
    let reply = '';
    socket.on('data', (data) => {
      reply += data.toString();
      if (reply.split('\r\n').length > 4) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.once('error', reject);
  });
}

/** The first line of a one-line reply (`+OK`, `:0`). */
async function redisReply(port: number, command: string): Promise<string> {
  const { createConnection } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(`${command}\r\n`));
    let reply = '';
    socket.on('data', (data) => {
      reply += data.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.slice(0, reply.indexOf('\r\n')));
      }
    });
    socket.once('error', reject);
  });
}
