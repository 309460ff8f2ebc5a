import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PostgresServer } from '@pullback/harness';
import { $ } from 'zx';
import { asPostgres, chownToPostgres, directoryBytes } from './system.js';
import { type Cost, timed } from './timed.js';

/**
 * pgBackRest set up as the issue compares against: lz4, process-max 2, bundling and
 * block incremental, a local repository, WAL archived by archive-push.
 */
export class PgBackRest {
  private readonly config: string;
  private readonly repo: string;
  private readonly labels: string[] = [];

  constructor(private readonly root: string) {
    this.config = join(root, 'pgbackrest.conf');
    this.repo = join(root, 'repo');
  }

  /** The archive_command that PostgreSQL must run for pgBackRest's backups to complete. */
  archiveCommand(): string {
    return `pgbackrest --config=${this.config} --stanza=bench archive-push %p`;
  }

  async configure(server: PostgresServer): Promise<void> {
    await mkdir(join(this.root, 'log'), { recursive: true });
    await mkdir(this.repo, { recursive: true });
    await writeFile(
      this.config,
      [
        '[global]',
        `repo1-path=${this.repo}`,
        'repo1-bundle=y',
        'repo1-block=y',
        // Block incremental is a beta feature in 2.45, Debian 12's version.
        'beta=y',
        'compress-type=lz4',
        'process-max=2',
        'start-fast=y',
        `log-path=${join(this.root, 'log')}`,
        `lock-path=${join(this.root, 'lock')}`,
        'log-level-console=warn',
        '',
        '[bench]',
        `pg1-path=${server.dataDir}`,
        `pg1-port=${server.port}`,
        'pg1-user=postgres',
        `pg1-socket-path=${server.socketDir}`,
        '',
      ].join('\n'),
    );
    await chownToPostgres(this.root);
    await $`${asPostgres(['pgbackrest', `--config=${this.config}`, '--stanza=bench', 'stanza-create'])}`.quiet();
  }

  /**
   * Runs a backup and returns its cost and the bytes it added to the repository's
   * backup sets (archived WAL is left out: the Pullback side of the bench stores none).
   */
  async backup(type: 'full' | 'incr'): Promise<Cost & { storedBytes: number }> {
    const sets = join(this.repo, 'backup');
    const before = await directoryBytes(sets);
    const cost = await timed('runuser', [
      '-u',
      'postgres',
      '--',
      'pgbackrest',
      `--config=${this.config}`,
      '--stanza=bench',
      `--type=${type}`,
      'backup',
    ]);
    const info = JSON.parse(
      (
        await $`${asPostgres(['pgbackrest', `--config=${this.config}`, '--stanza=bench', '--output=json', 'info'])}`.quiet()
      ).stdout,
    ) as Array<{ backup: Array<{ label: string }> }>;
    const label = info[0]?.backup.at(-1)?.label;
    if (label === undefined) throw new Error('pgbackrest info lists no backup');
    this.labels.push(label);
    return { ...cost, storedBytes: (await directoryBytes(sets)) - before };
  }

  /** Restores backup `index` (default: the latest) into `target`, with --delta over an existing one. */
  async restore(target: string, options: { index?: number; delta?: boolean } = {}): Promise<Cost> {
    const set = options.index === undefined ? [] : [`--set=${this.labels[options.index]}`];
    await mkdir(target, { recursive: true, mode: 0o700 });
    await chownToPostgres(target);
    return timed('runuser', [
      '-u',
      'postgres',
      '--',
      'pgbackrest',
      `--config=${this.config}`,
      '--stanza=bench',
      `--pg1-path=${target}`,
      ...set,
      ...(options.delta ? ['--delta'] : []),
      '--type=immediate',
      '--target-action=promote',
      'restore',
    ]);
  }
}
