/**
 * The few notebook-model operations the extension needs: find the `parameters` cell, write its
 * source, or insert one before the first code cell (the Stage form); put the stage paths for a
 * run by hand in a cell tagged `injected-parameters` after it, and remove such cells (the form's
 * save). Nothing else in the notebook is touched.
 */
import type { ICellModel } from '@jupyterlab/cells';
import type { INotebookModel } from '@jupyterlab/notebook';

import type { CellSource } from './api';

function tagsOf(cell: ICellModel): string[] {
  const tags = cell.getMetadata('tags');
  return Array.isArray(tags)
    ? tags.filter((t): t is string => typeof t === 'string')
    : [];
}

export function parametersCell(model: INotebookModel): ICellModel | null {
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    if (cell.type === 'code' && tagsOf(cell).includes('parameters')) {
      return cell;
    }
  }
  return null;
}

/** Every cell's type, source and tags: what the server checks for parameters assigned again. */
export function cellSources(model: INotebookModel): CellSource[] {
  const cells: CellSource[] = [];
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    cells.push({
      cell_type: cell.type,
      source: cell.sharedModel.getSource(),
      metadata: { tags: tagsOf(cell) }
    });
  }
  return cells;
}

export function parametersSource(model: INotebookModel): string | null {
  return parametersCell(model)?.sharedModel.getSource() ?? null;
}

export function writeParametersSource(
  model: INotebookModel,
  source: string
): void {
  const cell = parametersCell(model);
  if (cell) {
    if (cell.sharedModel.getSource() !== source) {
      cell.sharedModel.setSource(source);
    }
    return;
  }
  let index = model.cells.length;
  for (let i = 0; i < model.cells.length; i++) {
    if (model.cells.get(i).type === 'code') {
      index = i;
      break;
    }
  }
  model.sharedModel.insertCell(index, {
    cell_type: 'code',
    source,
    metadata: { tags: ['parameters'] }
  });
}

/** papermill's tag of the cell that holds injected values: no run executes such a cell. */
export const INJECTED_TAG = 'injected-parameters';

/** Remove every cell tagged `injected-parameters`; how many were removed. */
export function removeInjectedCells(model: INotebookModel): number {
  let removed = 0;
  for (let i = model.cells.length - 1; i >= 0; i--) {
    if (tagsOf(model.cells.get(i)).includes(INJECTED_TAG)) {
      model.sharedModel.deleteCell(i);
      removed++;
    }
  }
  return removed;
}

/**
 * Put `source` in one cell tagged `injected-parameters` right after the `parameters` cell (at
 * the top without one), replacing any such cell already there; its index.
 */
export function insertInjectedCell(
  model: INotebookModel,
  source: string
): number {
  removeInjectedCells(model);
  let index = 0;
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    if (cell.type === 'code' && tagsOf(cell).includes('parameters')) {
      index = i + 1;
      break;
    }
  }
  model.sharedModel.insertCell(index, {
    cell_type: 'code',
    source,
    metadata: { tags: [INJECTED_TAG] }
  });
  return index;
}
