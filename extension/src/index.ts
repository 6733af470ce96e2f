/**
 * nbmlops for JupyterLab: a **Stage** button on every notebook's toolbar (the stage form) and a
 * **Load stage paths** button (a run by hand), the **Pipeline** panel in the left sidebar, and
 * commands for all of them. All decisions are the server
 * extension's (nbmlops/server); this code edits notebook metadata and calls its REST API.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, ToolbarButton } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import {
  INotebookModel,
  INotebookTracker,
  NotebookPanel
} from '@jupyterlab/notebook';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { CommandIDs, registerCommands } from './commands';
import { PipelineController } from './controller';
import { pipelineIcon } from './icons';
import { createPipelinePanel } from './panel';
import { openStageForm } from './stageForm';
import { SweepsController } from './sweepsController';

class StageButton implements DocumentRegistry.IWidgetExtension<
  NotebookPanel,
  INotebookModel
> {
  constructor(
    private readonly app: JupyterFrontEnd,
    private readonly controller: PipelineController
  ) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      label: 'Stage',
      icon: pipelineIcon,
      tooltip: 'Tag this notebook as a pipeline stage (nbmlops)',
      onClick: () =>
        void openStageForm(
          this.app,
          panel,
          () => void this.controller.refresh()
        )
    });
    if (!panel.toolbar.insertAfter('cellType', 'nbmlops-stage', button)) {
      panel.toolbar.addItem('nbmlops-stage', button);
    }
    const paths = new ToolbarButton({
      label: 'Load stage paths',
      tooltip:
        'Insert the paths a run would inject, to run this stage by hand (runs ignore that cell)',
      onClick: () => void this.app.commands.execute(CommandIDs.loadStagePaths)
    });
    if (
      !panel.toolbar.insertAfter('nbmlops-stage', 'nbmlops-stage-paths', paths)
    ) {
      panel.toolbar.addItem('nbmlops-stage-paths', paths);
    }
    return new DisposableDelegate(() => {
      button.dispose();
      paths.dispose();
    });
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbmlops:plugin',
  description: 'Tag notebooks as pipeline stages, see the pipeline, run it.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null
  ) => {
    const controller = new PipelineController(window.localStorage);
    const sweeps = new SweepsController();
    registerCommands(app, tracker, controller, palette);
    app.docRegistry.addWidgetExtension(
      'Notebook',
      new StageButton(app, controller)
    );
    app.shell.add(createPipelinePanel(app, controller, sweeps), 'left', {
      rank: 150
    });
    void app.restored.then(async () => {
      await controller.refresh();
      await controller.attach();
      await sweeps.refresh();
    });
  }
};

export default plugin;
