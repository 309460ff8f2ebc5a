export type {
  Backend,
  BackendOperation,
  BackendProperties,
  ByteRange,
  ObjectInfo,
  OperationOptions,
  SaveBody,
} from './backend.js';
export { type ErrorKind, errorKind, isAccessDenied, isPermanent } from './error-kind.js';
export { isNotFound, NotFoundError, PermanentError } from './errors.js';
export { FsBackend, type FsBackendOptions } from './fs-backend.js';
export { LimitBackend, type LimitOptions } from './limit-backend.js';
export { checkName, checkPrefix, isValidName } from './names.js';
export { type OpenBackendOptions, openBackend, openDriver } from './open-backend.js';
export { redactUrl } from './redact-url.js';
export { RetryBackend, type RetryEvent, type RetryOptions } from './retry-backend.js';
export { retryLine } from './retry-line.js';
export { parseS3Url, S3Backend, type S3BackendOptions, type S3Url } from './s3-backend.js';
export {
  removeTemporaries,
  type Temporary,
  type TemporaryOwner,
  temporaryName,
  temporaryOwner,
  thisHostForTemporaries,
} from './temporaries.js';
