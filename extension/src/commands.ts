/**
 * Every action of the extension as a command (palette category "nbmlops"): the toolbar button,
 * the panel and the palette all go through these.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';

import type { PipelineController } from './controller';
import { pipelineIcon } from './icons';
import { openStageForm } from './stageForm';
import { loadStagePaths } from './stagePaths';

export namespace CommandIDs {
  export const editStage = 'nbmlops:edit-stage';
  export const loadStagePaths = 'nbmlops:load-stage-paths';
  export const openPipeline = 'nbmlops:open-pipeline';
  export const refreshPipeline = 'nbmlops:refresh-pipeline';
  export const runPipeline = 'nbmlops:run-pipeline';
  export const runStage = 'nbmlops:run-stage';
  export const openExecuted = 'nbmlops:open-executed';
  export const openMlflowRun = 'nbmlops:open-mlflow-run';
}

export const PANEL_ID = 'nbmlops-pipeline';

/** What a command without arguments takes (its `describedBy`). */
const NO_ARGS = { args: { type: 'object', properties: {} } };
/** What a command about one stage takes: that stage, else the current notebook's. */
const STAGE_ARG = {
  args: {
    type: 'object',
    properties: {
      stage: {
        type: 'string',
        description: "The stage's name (default: the current notebook's stage)"
      }
    }
  }
};

export function registerCommands(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  controller: PipelineController,
  palette: ICommandPalette | null
): void {
  const { commands } = app;
  /** The stage a command is about: its `stage` argument, or the current notebook's stage. */
  const stageOf = (args: { stage?: unknown }): string | null => {
    if (typeof args.stage === 'string' && args.stage) {
      return args.stage;
    }
    const path = tracker.currentWidget?.context.path;
    return path ? controller.stageForNotebook(path) : null;
  };
  const found = (args: { stage?: unknown }) => {
    const stage = stageOf(args);
    return (
      controller.state.pipeline?.stages.find(s => s.stage === stage) ?? null
    );
  };

  commands.addCommand(CommandIDs.editStage, {
    describedBy: NO_ARGS,
    label: 'Edit Stage Metadata…',
    caption:
      'Tag the current notebook as a pipeline stage: name, upstream, products, parameters, kernel',
    icon: pipelineIcon,
    isEnabled: () => tracker.currentWidget !== null,
    execute: async () => {
      const panel = tracker.currentWidget;
      if (panel) {
        await openStageForm(app, panel, () => void controller.refresh());
      }
    }
  });
  commands.addCommand(CommandIDs.loadStagePaths, {
    describedBy: NO_ARGS,
    label: 'Load Stage Paths',
    caption:
      'Insert the paths a run would inject (upstream products, inputs, a scratch product folder) ' +
      'after the parameters cell, to run this stage notebook by hand',
    icon: pipelineIcon,
    isEnabled: () => tracker.currentWidget !== null,
    execute: async () => {
      const panel = tracker.currentWidget;
      if (panel) {
        await loadStagePaths(panel);
      }
    }
  });
  commands.addCommand(CommandIDs.openPipeline, {
    describedBy: NO_ARGS,
    label: 'Show Pipeline Panel',
    caption: 'The pipeline of tagged notebooks, coloured by state',
    execute: () => app.shell.activateById(PANEL_ID)
  });
  commands.addCommand(CommandIDs.refreshPipeline, {
    describedBy: NO_ARGS,
    label: 'Refresh Pipeline',
    execute: () => controller.refresh()
  });
  commands.addCommand(CommandIDs.runPipeline, {
    describedBy: NO_ARGS,
    label: 'Run Pipeline',
    caption:
      'Run every stage that is not up to date (all of them with "force" ticked in the panel)',
    isEnabled: () => !controller.running && controller.state.pipeline !== null,
    execute: () => controller.run()
  });
  commands.addCommand(CommandIDs.runStage, {
    describedBy: STAGE_ARG,
    label: args =>
      typeof args.stage === 'string'
        ? `Run Stage ${args.stage} and Downstream`
        : 'Run Stage and Downstream',
    caption:
      'Run a stage (default: the current notebook) and the stages that depend on it',
    isEnabled: args => !controller.running && found(args) !== null,
    execute: args => {
      const stage = stageOf(args);
      return stage ? controller.run([stage], true) : undefined;
    }
  });
  commands.addCommand(CommandIDs.openExecuted, {
    describedBy: STAGE_ARG,
    label: 'Open Executed Notebook of Stage',
    caption:
      "The stage's notebook as its last run executed it (default: the current notebook's stage)",
    isEnabled: args => Boolean(found(args)?.executed_notebook),
    execute: args => {
      const path = found(args)?.executed_notebook;
      return path ? commands.execute('docmanager:open', { path }) : undefined;
    }
  });
  commands.addCommand(CommandIDs.openMlflowRun, {
    describedBy: STAGE_ARG,
    label: 'Open MLflow Run of Stage',
    caption:
      "The stage's last MLflow run in the MLflow UI (needs NBMLOPS_MLFLOW_UI or an MLflow server)",
    isEnabled: args => Boolean(found(args)?.mlflow_url),
    execute: args => {
      const url = found(args)?.mlflow_url;
      if (url) {
        window.open(url, '_blank', 'noopener,noreferrer');
      }
    }
  });
  controller.subscribe(() => commands.notifyCommandChanged());

  if (palette) {
    for (const command of Object.values(CommandIDs)) {
      palette.addItem({ command, category: 'nbmlops' });
    }
  }
}
