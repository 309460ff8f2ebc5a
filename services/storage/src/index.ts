export type { Backend, BackendProperties, ByteRange, ObjectInfo, OperationOptions, SaveBody } from './backend.js';
export { NotFoundError, PermanentError, isNotFound, isPermanent } from './errors.js';
