import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  chooseLogFormat,
  createLogger,
  errorLog,
  knownSecrets,
  type LogFormat,
  lineLog,
} from '../src/log/index.js';
import { reportToStderr } from '../src/queues/error-reporter.js';
import { jobWarnings } from '../src/queues/job-log.js';

/** A logger writing to two in-memory streams, and what each received. */
function capture(format: LogFormat, secrets: readonly string[] = [], level?: string) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const text = { stdout: '', stderr: '' };
  stdout.on('data', (chunk: Buffer) => {
    text.stdout += chunk.toString();
  });
  stderr.on('data', (chunk: Buffer) => {
    text.stderr += chunk.toString();
  });
  const logger = createLogger({ format, secrets, stdout, stderr, ...(level === undefined ? {} : { level }) });
  return { logger, text };
}

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

describe('structured logs', () => {
  it('JSON lines parse and carry the level, time, and the child fields component, instance, jobId and epoch', () => {
    const { logger, text } = capture('json');
    const job = logger
      .child({ component: 'shop', instance: 'shop-b' })
      .child({ jobId: 'import.1', epoch: 3 });
    job.info('import job import.1 started');
    logger.info({ component: 'shop' }, 'registered');
    const [first, second] = lines(text.stdout).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(first).toMatchObject({
      level: 'info',
      component: 'shop',
      instance: 'shop-b',
      jobId: 'import.1',
      epoch: 3,
      msg: 'import job import.1 started',
      pid: process.pid,
    });
    expect(new Date(String(first?.time)).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(second).toMatchObject({ level: 'info', component: 'shop', msg: 'registered' });
    expect(second).not.toHaveProperty('jobId');
    expect(text.stderr).toBe('');
  });

  it('human lines read HH:MM:SS LEVEL component/instance message key=value', () => {
    const { logger, text } = capture('human');
    logger.child({ component: 'shop', instance: 'shop-b' }).info({ jobId: 'import.1', epoch: 3 }, 'started');
    logger.info({ where: 'the election' }, 'leads');
    expect(lines(text.stdout)).toEqual([
      expect.stringMatching(/^\d\d:\d\d:\d\d INFO {2}shop\/shop-b started jobId=import\.1 epoch=3$/),
      expect.stringMatching(/^\d\d:\d\d:\d\d INFO {2}leads where="the election"$/),
    ]);
  });

  it('warnings and errors go to stderr, the rest to stdout; below the level, nothing', () => {
    const { logger, text } = capture('json', [], 'info');
    logger.debug('hidden');
    logger.info('said');
    logger.warn('careful');
    errorLog(logger)(new Error('connect ECONNREFUSED 127.0.0.1:1'), 'queue pull');
    expect(lines(text.stdout).map((line) => JSON.parse(line).msg)).toEqual(['said']);
    const errors = lines(text.stderr).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(errors.map((line) => [line.level, line.msg])).toEqual([
      ['warn', 'careful'],
      ['error', 'queue pull: connect ECONNREFUSED 127.0.0.1:1'],
    ]);
    expect(errors[1]).toMatchObject({
      where: 'queue pull',
      err: { message: 'connect ECONNREFUSED 127.0.0.1:1' },
    });
  });

  it.each(['json', 'human'] as const)(
    'no secret reaches a %s line: message, fields, error message and stack, URLs',
    (format) => {
      const env = { PULLBACK_PASSWORD: 'pass"phrase\\1', AWS_SECRET_ACCESS_KEY: 'S3cr3tKeyValue' };
      const secrets = knownSecrets(
        { redis: 'redis://:RedisPw42@127.0.0.1:6379', agentToken: 'agent-token-0123456789' },
        env,
      );
      const { logger, text } = capture(format, secrets);
      const log = lineLog(logger.child({ component: 'shop' }));
      log(`opening with ${env.PULLBACK_PASSWORD}`, { token: 'agent-token-0123456789' });
      log('redis at redis://user:Other9999@10.0.0.1:6379 refused');
      const error = new Error(`signature mismatch for S3cr3tKeyValue (RedisPw42)`);
      errorLog(logger)(error, 'archive');
      logger.warn({ err: error }, '');
      const output = text.stdout + text.stderr;
      expect(lines(output)).toHaveLength(4);
      for (const secret of [...secrets, 'Other9999', 'pass\\"phrase']) expect(output).not.toContain(secret);
      expect(output).toContain('***');
      expect(output).toContain('redis at redis://user:***@10.0.0.1:6379 refused');
    },
  );

  it("a job's warnings go to its own log and to a warning line with the job's fields", async () => {
    const { logger, text } = capture('json');
    const jobLog: string[] = [];
    const job = {
      id: 'pull.docs.1',
      data: { component: 'docs', epoch: 2 },
      log: async (line: string) => jobLog.push(line),
    };
    jobWarnings(logger, job)('skipped docs/fifo: a fifo');
    expect(jobLog).toEqual(['warning: skipped docs/fifo: a fifo']);
    expect(JSON.parse(text.stderr)).toMatchObject({
      level: 'warn',
      component: 'docs',
      jobId: 'pull.docs.1',
      epoch: 2,
      msg: 'skipped docs/fifo: a fifo',
    });
  });

  it("the default error reporter, where no logger is given, prints no URL's password", () => {
    const written: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stderr.write;
    try {
      reportToStderr(new Error('cannot reach redis://:Pw-123456@127.0.0.1:1'), 'queue pull');
    } finally {
      process.stderr.write = write;
    }
    expect(written).toEqual(['pullback: queue pull: cannot reach redis://:***@127.0.0.1:1\n']);
  });

  it('the format is asked for, else human on a terminal and JSON anywhere else', () => {
    expect(chooseLogFormat(undefined, true)).toBe('human');
    expect(chooseLogFormat(undefined, false)).toBe('json');
    expect(chooseLogFormat('json', true)).toBe('json');
    expect(chooseLogFormat('human', false)).toBe('human');
  });
});
