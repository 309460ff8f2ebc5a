import { handleChunks } from './chunks-handler.js';
import { handleOverlay } from './overlay-handler.js';
import { handlePages } from './pages-handler.js';
import { handleCompare, handleWrite } from './restore-handlers.js';
import { handleSmall } from './small-handler.js';
import type { Task } from './tasks.js';
import type { WorkContext } from './work-context.js';

export async function runTask(ctx: WorkContext, task: Task): Promise<unknown> {
  switch (task.kind) {
    case 'pages':
      return handlePages(ctx, task);
    case 'overlay':
      return handleOverlay(ctx, task);
    case 'chunks':
      return handleChunks(ctx, task);
    case 'small':
      return handleSmall(ctx, task);
    case 'write':
      return handleWrite(ctx, task);
    case 'compare':
      return handleCompare(ctx, task);
  }
}
