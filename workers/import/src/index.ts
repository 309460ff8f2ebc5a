export { type ImportJobResult, type ImportWorkerOptions, startImportWorker } from './import-worker.js';
