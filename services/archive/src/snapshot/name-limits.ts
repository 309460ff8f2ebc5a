import { encodeFileName } from './file-name.js';

/** The longest name of one directory entry, in bytes (Linux's NAME_MAX; most filesystems'). */
export const NAME_MAX = 255;
/** The longest path a system call takes, in bytes, its NUL included (Linux's PATH_MAX). */
export const PATH_MAX = 4096;

/**
 * Why no restore anywhere could create an entry at `path` (relative, decoded), or a
 * symlink to `target`; undefined when some target directory could. A path is restored
 * under a target of at least "/", so one byte and the NUL are added to it; how much
 * room a given target leaves is the restore's to say.
 */
export function unrestorableName(path: string, target?: string): string | undefined {
  for (const part of path.split('/')) {
    if (byteLength(part) > NAME_MAX) return `name longer than ${NAME_MAX} bytes`;
  }
  if (byteLength(path) + 2 > PATH_MAX) return `path longer than ${PATH_MAX - 2} bytes`;
  if (target === undefined) return undefined;
  if (target === '') return 'symlink to nothing';
  if (target.includes('\0')) return 'symlink to a target with a NUL byte';
  if (byteLength(target) + 1 > PATH_MAX) return `symlink to a target longer than ${PATH_MAX - 1} bytes`;
  return undefined;
}

/** Bytes of a decoded name; the UTF-8 length bounds it (an escaped byte counts 3 there). */
function byteLength(name: string): number {
  const upper = Buffer.byteLength(name);
  return upper <= NAME_MAX ? upper : encodeFileName(name).length;
}
