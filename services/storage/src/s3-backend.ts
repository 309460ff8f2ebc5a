import { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { destroyOnAbort } from './abort-stream.js';
import type {
  Backend,
  BackendProperties,
  ByteRange,
  ObjectInfo,
  OperationOptions,
  SaveBody,
} from './backend.js';
import { errorKind, s3Fields } from './error-kind.js';
import { NotFoundError, PermanentError } from './errors.js';
import { checkName, checkPrefix, isValidName } from './names.js';
import { checkRange, emptyStream } from './ranges.js';

export interface S3BackendOptions {
  readonly bucket: string;
  /** Key prefix the backend's objects live under; `a/b` stores `x` as `a/b/x`. Default: none. */
  readonly prefix?: string;
  /**
   * An S3-compatible endpoint (`http://127.0.0.1:9000`). Default: `AWS_ENDPOINT_URL_S3`,
   * else `AWS_ENDPOINT_URL`, else AWS itself. Addressing is always path-style.
   */
  readonly endpoint?: string;
  /** Default: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`. */
  readonly region?: string;
  /** Default: the SDK's default chain (environment, profile, SSO, instance role ...). */
  readonly credentials?: S3ClientConfig['credentials'];
  /**
   * When the SDK adds and checks its flexible checksums. `'when-required'` is the
   * default for custom endpoints: with the SDK's default, a streamed PutObject is sent
   * with aws-chunked framing that some S3-compatible stores (s3rver 3.7.1) store
   * verbatim, silently corrupting the object. Default for AWS: the SDK's own.
   */
  readonly checksums?: 'when-supported' | 'when-required';
  /** How many operations the limit wrapper lets run at once by default. Default: 5. */
  readonly connections?: number;
  /**
   * Multipart part size in bytes, at least 5 MiB (S3's minimum). An object can have at
   * most 10,000 parts, so this caps a streamed object's size: 48.8 GiB at the default.
   * Default: 5 MiB.
   */
  readonly partSize?: number;
  /**
   * Parts of one upload in flight at once. A streamed save holds about
   * (queueSize + 1) × partSize in memory, plus garbage the collector has yet to free.
   * Default: 2.
   */
  readonly queueSize?: number;
  /**
   * Attempts the SDK makes for one HTTP request. Whole operations are retried by the
   * retry wrapper; this only re-sends single requests, which matters for the parts of
   * a streamed upload that nothing else could replay. Default: 3.
   */
  readonly maxAttempts?: number;
}

/** Where an `s3://bucket/prefix` URL points. */
export interface S3Url {
  readonly bucket: string;
  /** The key prefix without leading or trailing `/`; empty for the bucket's root. */
  readonly prefix: string;
}

const MIB = 1024 * 1024;
// S3 refuses smaller parts (all but the last).
const MIN_PART_SIZE = 5 * MIB;

export function parseS3Url(url: string): S3Url {
  const match = /^s3:\/\/([^/]+)\/*(.*?)\/*$/.exec(url);
  if (match === null) {
    throw new PermanentError(
      `invalid S3 URL ${JSON.stringify(url)}: expected s3://bucket or s3://bucket/prefix`,
    );
  }
  const prefix = match[2]!;
  if (prefix !== '' && !isValidName(prefix)) {
    throw new PermanentError(
      `invalid S3 URL ${JSON.stringify(url)}: the prefix has an empty, "." or ".." segment`,
    );
  }
  return { bucket: match[1]!, prefix };
}

/**
 * An S3 bucket (or any S3-compatible store) as a backend. Streams go up as multipart
 * uploads with a bounded number of bounded parts and come down as ranged GETs, so
 * memory does not depend on object size. S3 replaces objects atomically; a failed or
 * aborted upload never becomes visible.
 */
interface Sdk {
  readonly s3: typeof import('@aws-sdk/client-s3');
  readonly Upload: typeof import('@aws-sdk/lib-storage').Upload;
  readonly client: S3Client;
}

export class S3Backend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties;
  private readonly clientConfig: S3ClientConfig;
  private sdk: Promise<Sdk> | undefined;
  private readonly bucket: string;
  /** Empty, or ends with `/`. */
  private readonly keyPrefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(options: S3BackendOptions) {
    const env = process.env;
    const endpoint =
      options.endpoint ??
      (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true'
        ? undefined
        : (env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL));
    const checksums = options.checksums ?? (endpoint === undefined ? undefined : 'when-required');
    const checksumMode = checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
    this.clientConfig = {
      region: options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      forcePathStyle: true,
      maxAttempts: options.maxAttempts ?? 3,
      requestHandler: { connectionTimeout: 10_000 },
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      ...(checksums === undefined
        ? {}
        : { requestChecksumCalculation: checksumMode, responseChecksumValidation: checksumMode }),
    };
    this.bucket = options.bucket;
    const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.keyPrefix = prefix === '' ? '' : `${prefix}/`;
    this.partSize = Math.max(options.partSize ?? MIN_PART_SIZE, MIN_PART_SIZE);
    this.queueSize = options.queueSize ?? 2;
    this.properties = { connections: options.connections ?? 5, hasAtomicReplace: true };
    const at = endpoint === undefined ? '' : ` at ${new URL(endpoint).origin}`;
    this.location = `s3://${this.bucket}/${prefix}${at}`;
  }

  async save(name: string, body: SaveBody, options: OperationOptions = {}): Promise<void> {
    const { signal } = options;
    let key: string;
    try {
      key = this.keyOf(name);
      signal?.throwIfAborted();
    } catch (error) {
      if (body instanceof Readable) body.destroy();
      throw error;
    }
    const { client, s3, Upload } = await this.connect();
    if (Buffer.isBuffer(body) && body.length <= this.partSize) {
      await client
        .send(
          new s3.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length }),
          {
            ...(signal === undefined ? {} : { abortSignal: signal }),
          },
        )
        .catch((error: unknown) => {
          throw this.translate(error, name, signal);
        });
      return;
    }

    const source = typeof body === 'function' ? body() : body;
    const upload = new Upload({
      client,
      params: { Bucket: this.bucket, Key: key, Body: source },
      partSize: this.partSize,
      queueSize: this.queueSize,
      // Abort the multipart upload on failure, so no parts linger and nothing is visible.
      leavePartsOnError: false,
    });
    let sourceError: unknown;
    if (source instanceof Readable) {
      source.once('error', (error) => {
        sourceError = error;
      });
    }
    // Ending the source (rather than `upload.abort()`) makes `done()` settle only once
    // the in-flight parts are finished and the multipart upload is aborted.
    const onAbort = (): void => {
      if (source instanceof Readable) source.destroy(signal?.reason);
      else void upload.abort();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (error) {
      if (source instanceof Readable) source.destroy();
      // The cause, not what cleaning up after it reported (s3rver, for one, refuses
      // AbortMultipartUpload).
      if (signal?.aborted) throw signal.reason;
      throw sourceError ?? this.translate(error, name, signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async load(
    name: string,
    range: ByteRange = { offset: 0 },
    options: OperationOptions = {},
  ): Promise<Readable> {
    const key = this.keyOf(name);
    checkRange(name, range);
    const { signal } = options;
    if (range.length === 0) {
      await this.stat(name, options);
      return emptyStream();
    }
    const end = range.length === undefined ? '' : String(range.offset + range.length - 1);
    const header = range.offset === 0 && end === '' ? undefined : `bytes=${range.offset}-${end}`;
    try {
      const { client, s3 } = await this.connect();
      const output = await client.send(
        new s3.GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(header === undefined ? {} : { Range: header }),
        }),
        signal === undefined ? {} : { abortSignal: signal },
      );
      const body = output.Body;
      if (!(body instanceof Readable))
        throw new Error(`s3 get ${key}: the response body is not a Node stream`);
      // A ranged answer names the object's size: a range starting at or past it holds
      // no bytes, whatever the body claims (s3rver sends a phantom byte for any range
      // of an empty object).
      const size = /\/(\d+)$/.exec(output.ContentRange ?? '')?.[1];
      if (size !== undefined && range.offset >= Number(size)) {
        body.destroy();
        return emptyStream();
      }
      return destroyOnAbort(signal, body);
    } catch (error) {
      // Only an existing object answers 416: the range starts at or past its end.
      if (describe(error).status === 416) return emptyStream();
      throw this.translate(error, name, signal);
    }
  }

  async stat(name: string, options: OperationOptions = {}): Promise<ObjectInfo> {
    const key = this.keyOf(name);
    try {
      const { client, s3 } = await this.connect();
      const output = await client.send(
        new s3.HeadObjectCommand({ Bucket: this.bucket, Key: key }),
        options.signal === undefined ? {} : { abortSignal: options.signal },
      );
      return { name, size: output.ContentLength ?? 0 };
    } catch (error) {
      throw this.translate(error, name, options.signal);
    }
  }

  async *list(prefix: string, options: OperationOptions = {}): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    const { client, s3 } = await this.connect();
    const pages = s3.paginateListObjectsV2(
      { client, pageSize: 1000 },
      { Bucket: this.bucket, Prefix: this.keyPrefix + prefix },
      options.signal === undefined ? {} : { abortSignal: options.signal },
    );
    try {
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          const name = object.Key?.slice(this.keyPrefix.length);
          // Keys other tools made (folder markers `dir/`, `a//b`) are not objects of ours.
          if (name !== undefined && isValidName(name)) yield { name, size: object.Size ?? 0 };
        }
      }
    } catch (error) {
      throw this.translate(error, prefix, options.signal);
    }
  }

  async remove(name: string, options: OperationOptions = {}): Promise<void> {
    const key = this.keyOf(name);
    // S3 answers a delete of a missing key with success: idempotent as the contract wants.
    const { client, s3 } = await this.connect();
    await client
      .send(
        new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: key }),
        options.signal === undefined ? {} : { abortSignal: options.signal },
      )
      .catch((error: unknown) => {
        throw this.translate(error, name, options.signal);
      });
  }

  /**
   * The SDK, loaded on first use: it takes a quarter of a second to load, which every
   * command that never touches S3 would otherwise pay at start.
   */
  private connect(): Promise<Sdk> {
    this.sdk ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(
      ([s3, storage]) => ({ s3, Upload: storage.Upload, client: new s3.S3Client(this.clientConfig) }),
    );
    return this.sdk;
  }

  private keyOf(name: string): string {
    checkName(name);
    return this.keyPrefix + name;
  }

  /**
   * NotFoundError and PermanentError as the contract defines them; anything else is
   * transient. An aborted call rejects with the signal's reason, as the fs driver's
   * calls do, not with the SDK's own "Request aborted".
   */
  private translate(error: unknown, name: string, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason;
    const { code, status, message } = describe(error);
    if (code === 'NoSuchBucket') {
      return new PermanentError(`bucket ${this.bucket} does not exist (${this.location})`, { cause: error });
    }
    if (code === 'NoSuchKey' || code === 'NotFound' || status === 404)
      return new NotFoundError(name, { cause: error });
    if (errorKind(error) === 'permanent') {
      return new PermanentError(`${this.location}: ${name}: ${code ?? status}: ${message}`, { cause: error });
    }
    return error;
  }
}

function describe(error: unknown): { code?: string; status?: number; message: string } {
  const { s3Code, status } = s3Fields(error);
  const message = (error as { message?: unknown } | null)?.message;
  return {
    ...(s3Code === undefined ? {} : { code: s3Code }),
    ...(status === undefined ? {} : { status }),
    message: typeof message === 'string' ? message : String(error),
  };
}
