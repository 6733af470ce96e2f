/** The Pipeline panel as a Lumino widget for the left sidebar. */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ReactWidget } from '@jupyterlab/apputils';
import React from 'react';

import { PANEL_ID } from './commands';
import { PipelinePanel } from './components/PipelinePanel';
import type { PipelineController } from './controller';
import { pipelineIcon } from './icons';
import type { SweepsController } from './sweepsController';

export function createPipelinePanel(
  app: JupyterFrontEnd,
  controller: PipelineController,
  sweeps: SweepsController
): ReactWidget {
  const widget = ReactWidget.create(
    <PipelinePanel
      controller={controller}
      sweeps={sweeps}
      actions={{
        openNotebook: path =>
          void app.commands.execute('docmanager:open', { path })
      }}
    />
  );
  widget.id = PANEL_ID;
  widget.addClass('nbmlops-PipelinePanel');
  widget.title.icon = pipelineIcon;
  widget.title.caption = 'nbmlops Pipeline';
  widget.disposed.connect(() => {
    controller.dispose();
    sweeps.dispose();
  });
  return widget;
}
