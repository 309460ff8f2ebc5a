import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PostgresServer } from '@pullback/harness';
import { directoryBytes } from '../archive/system.js';
import { type Cost, timed } from '../archive/timed.js';

const cli = fileURLToPath(new URL('../../../../bin/pullback.js', import.meta.url));

/**
 * Pullback as a user of the pipeline backs up a database: a config with one postgres
 * component (`bench`) whose active is the bench's server, and `pullback backup bench`
 * (the recipe's export into the outbox, then the pull into the archive), one process
 * per command under GNU time.
 */
export class PullbackComponent {
  private readonly archive: string;
  private readonly keyFile: string;
  private readonly configPath: string;
  readonly snapshots: string[] = [];
  peakRssMB = 0;

  constructor(private readonly root: string) {
    this.archive = join(root, 'archive');
    this.keyFile = join(root, 'archive.key');
    this.configPath = join(root, 'pullback.yaml');
  }

  async init(server: PostgresServer): Promise<void> {
    await writeFile(
      this.configPath,
      [
        // `backup` needs no Redis; the config's contract still names one.
        'redis: redis://127.0.0.1:1',
        `archive: { url: ${this.archive}, keyFile: ${this.keyFile} }`,
        `stateDir: ${join(this.root, 'state')}`,
        'components:',
        '  bench:',
        '    recipe: postgres',
        `    outbox: ${join(this.root, 'outbox')}`,
        '    instances:',
        `      - { name: bench-a, role: active, host: 127.0.0.1, port: ${server.port}, dataDir: ${server.dataDir}, priority: 100 }`,
        '',
      ].join('\n'),
    );
    await this.run(['archive', 'init', '--archive', this.archive, '--key-file', this.keyFile]);
  }

  /** `pullback backup bench`; the cost and the bytes the archive grew by. */
  async backup(): Promise<Cost & { storedBytes: number }> {
    const before = await directoryBytes(this.archive);
    const cost = await this.run(['backup', 'bench', '--config', this.configPath]);
    const id = /snapshot ([0-9a-f]+) of bench/.exec(cost.stdout)?.[1];
    if (id === undefined) throw new Error(`pullback backup printed no snapshot id: ${cost.stdout}`);
    this.snapshots.push(id);
    return { ...cost, storedBytes: (await directoryBytes(this.archive)) - before };
  }

  /** Restores snapshot `index` (default: the newest) into `target`. */
  async restore(target: string, options: { index?: number; delta?: boolean } = {}): Promise<Cost> {
    const id = this.snapshots.at(options.index ?? -1);
    if (id === undefined) throw new Error('no snapshot to restore yet');
    return this.run([
      'restore',
      id,
      '--config',
      this.configPath,
      '--target',
      target,
      ...(options.delta ? ['--delta'] : []),
    ]);
  }

  private async run(args: readonly string[]): Promise<Cost & { stdout: string }> {
    const cost = await timed(cli, args, { ...process.env, CI: 'true' });
    this.peakRssMB = Math.max(this.peakRssMB, cost.peakRssMB);
    return cost;
  }
}
