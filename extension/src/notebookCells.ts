/**
 * The few notebook-model operations the Stage form needs: find the `parameters` cell, write its
 * source, or insert one before the first code cell. Nothing else in the notebook is touched.
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
