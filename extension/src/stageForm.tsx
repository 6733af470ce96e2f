/**
 * Opens the Stage form for a notebook beside it (split right), and saves what the server
 * validated: the `nbmlops` metadata and the `parameters` cell, then the notebook itself, without
 * the stage paths "Load stage paths" inserted (so they are never committed by accident).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  MainAreaWidget,
  Notification,
  ReactWidget
} from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import type { NotebookPanel } from '@jupyterlab/notebook';
import React from 'react';

import { getStageContext, validateStage, Validated } from './api';
import { StageForm } from './components/StageForm';
import { describeError } from './controller';
import { pipelineIcon } from './icons';
import { JSONValue, StageMetadata, toFormState } from './metadata';
import {
  cellSources,
  parametersSource,
  removeInjectedCells,
  writeParametersSource
} from './notebookCells';

const open = new Map<string, MainAreaWidget>();

function kernelsOf(app: JupyterFrontEnd): { name: string; display: string }[] {
  const specs = app.serviceManager.kernelspecs.specs?.kernelspecs ?? {};
  return Object.values(specs)
    .filter((s): s is NonNullable<typeof s> => Boolean(s))
    .map(s => ({ name: s.name, display: s.display_name || s.name }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function currentKernel(panel: NotebookPanel): string {
  const running = panel.sessionContext.session?.kernel?.name;
  const spec = panel.content.model?.getMetadata('kernelspec') as
    { name?: string } | undefined;
  return running || spec?.name || 'python3';
}

/** Show the form for `panel`'s notebook (or bring back the one already open). */
export async function openStageForm(
  app: JupyterFrontEnd,
  panel: NotebookPanel,
  onSaved: () => void
): Promise<void> {
  const existing = open.get(panel.id);
  if (existing && !existing.isDisposed) {
    app.shell.activateById(existing.id);
    return;
  }
  await panel.context.ready;
  const model = panel.content.model;
  if (!model) {
    return;
  }
  const path = panel.context.path;
  let context;
  try {
    context = await getStageContext(path, parametersSource(model));
  } catch (error) {
    Notification.error(`Stage form for ${path}: ${describeError(error)}`, {
      autoClose: false
    });
    return;
  }
  const initial = toFormState(
    model.getMetadata('nbmlops') as JSONValue | undefined,
    context.cell_params,
    currentKernel(panel),
    context.cell_types
  );
  let main: MainAreaWidget | null = null;
  const close = (): void => main?.dispose();
  const save = async (answer: Validated): Promise<void> => {
    if (panel.isDisposed || !panel.content.model) {
      throw new Error(`${path} was closed`);
    }
    panel.content.model.setMetadata('nbmlops', answer.metadata);
    writeParametersSource(panel.content.model, answer.parameters_source);
    removeInjectedCells(panel.content.model);
    await panel.context.save();
    Notification.success(
      `${PathExt.basename(path)} is stage "${answer.stage}"`,
      { autoClose: 4000 }
    );
    onSaved();
  };
  const content = ReactWidget.create(
    <StageForm
      path={path}
      initial={initial}
      kernels={kernelsOf(app)}
      choices={context.stages}
      problems={context.problems}
      validate={(metadata: StageMetadata) =>
        validateStage(
          path,
          metadata,
          parametersSource(model),
          cellSources(model)
        )
      }
      save={save}
      close={close}
    />
  );
  content.addClass('nbmlops-StageForm-widget');
  main = new MainAreaWidget({ content });
  main.id = `nbmlops-stage-form-${panel.id}`;
  main.title.label = `Stage: ${PathExt.basename(path)}`;
  main.title.icon = pipelineIcon;
  main.title.closable = true;
  open.set(panel.id, main);
  main.disposed.connect(() => open.delete(panel.id));
  panel.disposed.connect(close);
  app.shell.add(main, 'main', { mode: 'split-right', ref: panel.id });
  app.shell.activateById(main.id);
}
