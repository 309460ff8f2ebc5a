import type { Readable } from 'node:stream';
import type { Backend, ByteRange, ObjectInfo, OperationOptions, SaveBody } from '@pullback/storage';
import { PermanentError } from '@pullback/storage';

/** The error each driver gives for a write it has no right to make. */
export const REFUSALS = {
  fs: (name: string) =>
    new PermanentError(`${name}: EACCES: permission denied`, {
      cause: Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }),
    }),
  s3: (name: string) =>
    new PermanentError(`s3://archive/pullback: ${name}: AccessDenied: Access Denied`, {
      cause: Object.assign(new Error('Access Denied'), {
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      }),
    }),
} as const;

/**
 * A real backend seen with read rights only (docs/rights.md, the import role): `save`
 * and `remove` are refused as that driver refuses them, reads go through.
 */
export class ReadOnlyBackend implements Backend {
  readonly location: string;
  readonly properties: Backend['properties'];
  readonly localPath?: (name: string) => string;
  refusedWrites = 0;

  constructor(
    private readonly inner: Backend,
    private readonly refusal: (name: string) => Error,
  ) {
    this.location = inner.location;
    this.properties = inner.properties;
    if (inner.localPath !== undefined) this.localPath = inner.localPath;
  }

  async save(name: string, _body: SaveBody, _options?: OperationOptions): Promise<void> {
    this.refusedWrites++;
    throw this.refusal(name);
  }

  async remove(name: string, _options?: OperationOptions): Promise<void> {
    this.refusedWrites++;
    throw this.refusal(name);
  }

  load(name: string, range?: ByteRange, options?: OperationOptions): Promise<Readable> {
    return this.inner.load(name, range, options);
  }

  stat(name: string, options?: OperationOptions): Promise<ObjectInfo> {
    return this.inner.stat(name, options);
  }

  list(prefix: string, options?: OperationOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options);
  }
}
