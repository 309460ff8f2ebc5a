import { ArchiveError } from '../errors.js';

/** How many file names a missing pack's message lists before it counts the rest. */
const FILES_NAMED = 10;

/**
 * The packs a restore batch found missing, with the files that needed them: a lost
 * pack is reported as lost (not as damage), once, with what it costs.
 */
export class MissingPacks {
  private readonly files = new Map<string, Set<string>>();

  constructor(private readonly snapshot: string) {}

  add(pack: string, writes: readonly { readonly file: string }[]): void {
    let files = this.files.get(pack);
    if (!files) {
      files = new Set();
      this.files.set(pack, files);
    }
    for (const write of writes) files.add(write.file);
  }

  throwIfAny(): void {
    if (this.files.size === 0) return;
    const [pack, files] = this.files.entries().next().value!;
    const names = [...files];
    const listed = names.slice(0, FILES_NAMED).join(', ');
    const more = names.length > FILES_NAMED ? ` and ${names.length - FILES_NAMED} more` : '';
    const others = this.files.size > 1 ? ` (and ${this.files.size - 1} more missing packs)` : '';
    throw new ArchiveError(
      'missing-data',
      `snapshot ${this.snapshot.slice(0, 12)}: pack ${pack.slice(0, 16)} is missing, needed by file ${listed}${more}${others}`,
      { hint: 'run `pullback verify` to list what is lost; a backup of the same files stores them again' },
    );
  }
}
