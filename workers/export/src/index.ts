export { type ExportJobResult, type ExportWorkerOptions, startExportWorker } from './export-worker.js';
