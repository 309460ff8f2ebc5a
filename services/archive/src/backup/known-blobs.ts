import { ID_BYTES } from '../crypto/hash.js';

/**
 * The blob ids a backup must not store again, looked up by their `idKey`. The
 * archive's ids stay where the index files hold them (their decrypted bytes): an open
 * addressing table of 32-bit slots points at them, so an archive of a million blobs
 * costs about 16 bytes per id and no object per id, instead of a string and a set
 * entry each (about 100 bytes, every one traced by the garbage collector), and takes
 * milliseconds to build. Ids added by the running backup (`add`) go into a plain set.
 * Ids are keyed hashes: their first four bytes are a good enough hash.
 */
export class KnownBlobs {
  /** The index files' bytes that hold the ids. */
  private readonly sources: Buffer[] = [];
  /** Per id: which source, and the id's offset in it. */
  private sourceOf: Uint32Array;
  private offsetOf: Uint32Array;
  private count = 0;
  /** Slots of id number + 1; 0 is empty. Never more than half full. */
  private table: Uint32Array;
  private readonly added = new Set<string>();

  constructor(expected = 0) {
    const room = Math.max(16, expected);
    this.sourceOf = new Uint32Array(room);
    this.offsetOf = new Uint32Array(room);
    this.table = new Uint32Array(tableSizeFor(room));
  }

  get size(): number {
    return this.count + this.added.size;
  }

  /** Takes the ids at `offsets` of `bytes` (an index file's plaintext) as known. */
  addFrom(bytes: Buffer, offsets: Iterable<number>): void {
    const source = this.sources.push(bytes) - 1;
    // An id listed twice (two index files naming one pack) takes two slots: harmless.
    for (const at of offsets) this.insert(source, at);
  }

  has(key: string): boolean {
    return this.added.has(key) || this.find(key);
  }

  add(key: string): void {
    if (!this.has(key)) this.added.add(key);
  }

  /**
   * Where the index files hold `key`'s id: each copy's file bytes and the id's offset
   * there (an id listed by two index files has two). Ids added by `add` are not listed.
   */
  where(key: string): { readonly bytes: Buffer; readonly at: number }[] {
    const found: { bytes: Buffer; at: number }[] = [];
    this.probe(key, (bytes, at) => {
      found.push({ bytes, at });
      return false;
    });
    return found;
  }

  private find(key: string): boolean {
    return this.probe(key, () => true);
  }

  /** Visits each slot holding `key`'s id until `visit` says stop; whether it did. */
  private probe(key: string, visit: (bytes: Buffer, at: number) => boolean): boolean {
    const mask = this.table.length - 1;
    let slot =
      (key.charCodeAt(0) | (key.charCodeAt(1) << 8) | (key.charCodeAt(2) << 16) | (key.charCodeAt(3) << 24)) &
      mask;
    for (let held = this.table[slot]!; held !== 0; held = this.table[slot]!) {
      const bytes = this.sources[this.sourceOf[held - 1]!]!;
      const at = this.offsetOf[held - 1]!;
      let same = true;
      for (let i = 0; i < ID_BYTES; i++) {
        if (bytes[at + i] !== key.charCodeAt(i)) {
          same = false;
          break;
        }
      }
      if (same && visit(bytes, at)) return true;
      slot = (slot + 1) & mask;
    }
    return false;
  }

  private insert(source: number, at: number): void {
    if (this.count === this.sourceOf.length) {
      this.sourceOf = grown(this.sourceOf);
      this.offsetOf = grown(this.offsetOf);
    }
    if ((this.count + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    const number = this.count++;
    this.sourceOf[number] = source;
    this.offsetOf[number] = at;
    this.place(number);
  }

  private place(number: number): void {
    const mask = this.table.length - 1;
    let slot = this.sources[this.sourceOf[number]!]!.readUInt32LE(this.offsetOf[number]!) & mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    this.table[slot] = number + 1;
  }

  private rehash(size: number): void {
    this.table = new Uint32Array(size);
    for (let number = 0; number < this.count; number++) this.place(number);
  }
}

function tableSizeFor(count: number): number {
  let size = 16;
  while (size < count * 2) size *= 2;
  return size;
}

function grown(array: Uint32Array): Uint32Array {
  const bigger = new Uint32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}
