/**
 * "Load stage paths": asks the server what a run would inject into the current stage notebook
 * (latest upstream products, declared inputs, a scratch product folder) and puts it in a cell
 * tagged `injected-parameters` after the `parameters` cell, so the notebook runs by hand. Runs
 * never execute that cell, and the Stage form's save removes it.
 */
import { Notification } from '@jupyterlab/apputils';
import type { NotebookPanel } from '@jupyterlab/notebook';

import { getStagePaths } from './api';
import { describeError } from './controller';
import { insertInjectedCell } from './notebookCells';

export async function loadStagePaths(panel: NotebookPanel): Promise<void> {
  await panel.context.ready;
  const model = panel.content.model;
  if (!model) {
    return;
  }
  const path = panel.context.path;
  let paths;
  try {
    paths = await getStagePaths(path);
  } catch (error) {
    Notification.error(`Stage paths for ${path}: ${describeError(error)}`, {
      autoClose: false
    });
    return;
  }
  if (panel.isDisposed) {
    return;
  }
  const index = insertInjectedCell(model, paths.source);
  panel.content.activeCellIndex = index;
  if (paths.missing.length) {
    Notification.warning(
      `Not built yet: ${paths.missing.join(', ')}. Run the upstream stages of ` +
        `${paths.pipeline} first.`,
      { autoClose: false }
    );
  } else {
    Notification.success(
      `Stage paths of "${paths.stage}" loaded: runs ignore that cell`,
      { autoClose: 4000 }
    );
  }
}
