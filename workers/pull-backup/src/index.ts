export { type PullJobResult, type PullWorkerOptions, startPullWorker } from './pull-worker.js';
