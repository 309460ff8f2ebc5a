export type {
  Backend,
  BackendProperties,
  ByteRange,
  ObjectInfo,
  OperationOptions,
  SaveBody,
} from './backend.js';
export { isNotFound, isPermanent, NotFoundError, PermanentError } from './errors.js';
