/** How many file names a missing pack's message lists before it counts the rest. */
const FILES_NAMED = 10;

/**
 * The packs a restore batch found missing, with the files that needed them: a lost
 * pack is reported as lost (not as damage), once, with what it costs.
 */
export class MissingPacks {
  private readonly files = new Map<string, Set<string>>();

  add(pack: string, writes: readonly { readonly file: string }[]): void {
    let files = this.files.get(pack);
    if (!files) {
      files = new Set();
      this.files.set(pack, files);
    }
    for (const write of writes) files.add(write.file);
  }

  /** What the lost packs cost, in one line (without the snapshot); undefined when none is lost. */
  summary(): { message: string; hint: string } | undefined {
    if (this.files.size === 0) return undefined;
    const [pack, files] = this.files.entries().next().value!;
    const names = [...files];
    const listed = names.slice(0, FILES_NAMED).join(', ');
    const more = names.length > FILES_NAMED ? ` and ${names.length - FILES_NAMED} more` : '';
    const others = this.files.size > 1 ? ` (and ${this.files.size - 1} more missing packs)` : '';
    return {
      message: `pack ${pack.slice(0, 16)} is missing, needed by file ${listed}${more}${others}`,
      hint: 'run `pullback verify` to list what is lost; a backup of the same files stores them again',
    };
  }
}
