import React, { useEffect, useState, useSyncExternalStore } from 'react';

import type { SweepSummary } from '../api';
import type { PipelineController } from '../controller';
import type { SweepsController } from '../sweepsController';
import { DagView } from './DagView';
import { ErrorBox } from './ErrorBox';
import { Legend } from './Legend';
import { RunProgressView } from './RunProgressView';
import { StageRow } from './StageRow';
import { SweepList } from './SweepList';

export interface PanelActions {
  /** Open a file of the server's root in JupyterLab (a notebook, a sweep's summary page). */
  openNotebook: (path: string) => void;
}

interface Props {
  controller: PipelineController;
  sweeps: SweepsController;
  actions: PanelActions;
}

/** The left sidebar's Pipeline panel: folder, run buttons, the DAG, progress, one row per stage. */
export function PipelinePanel({
  controller,
  sweeps,
  actions
}: Props): JSX.Element {
  const state = useSyncExternalStore(
    listener => controller.subscribe(listener),
    () => controller.state
  );
  const swept = useSyncExternalStore(
    listener => sweeps.subscribe(listener),
    () => sweeps.state
  );
  const openSweep = (sweep: SweepSummary): void =>
    void sweeps.open(sweep, actions.openNotebook);
  const [folder, setFolder] = useState(state.folder);
  const [selected, setSelected] = useState<string | null>(null);
  useEffect(() => setFolder(state.folder), [state.folder]);
  const busy = controller.running;
  const pipeline = state.pipeline;
  const submitFolder = (): void => {
    controller.setFolder(folder.trim() || 'notebooks');
    void controller.refresh();
    void sweeps.refresh();
  };
  return (
    <div
      className="nbmlops-PipelinePanel-body"
      data-loading={String(state.loading)}
      data-loads={state.loads}
      data-sweep-loads={swept.loads}
    >
      <form
        className="nbmlops-PipelinePanel-toolbar"
        onSubmit={e => {
          e.preventDefault();
          submitFolder();
        }}
      >
        <label>
          Folder
          <input
            name="folder"
            className="jp-mod-styled"
            value={folder}
            onChange={e => setFolder(e.target.value)}
            title="The folder of tagged notebooks, relative to the JupyterLab root"
          />
        </label>
        <div className="nbmlops-PipelinePanel-run">
          <button
            type="submit"
            className="jp-Button jp-mod-styled jp-mod-reject"
            data-action="refresh"
          >
            Refresh
          </button>
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept"
            data-action="run-pipeline"
            disabled={busy || !pipeline}
            onClick={() => void controller.run()}
          >
            Run pipeline
          </button>
          <label title="Rerun stages even when they are up to date">
            <input
              type="checkbox"
              name="force"
              checked={state.force}
              onChange={e => controller.setForce(e.target.checked)}
            />
            force
          </label>
        </div>
      </form>
      {state.error && <ErrorBox message={state.error} />}
      {state.run && state.progress && (
        <RunProgressView
          run={state.run}
          progress={state.progress}
          total={pipeline?.stages.length ?? 0}
          startedAt={state.runStartedAt}
        />
      )}
      {pipeline && (
        <>
          <div className="nbmlops-PipelinePanel-title">
            <strong>{pipeline.name}</strong> · {pipeline.stages.length} stages
          </div>
          <div className="nbmlops-Dag-scroll">
            <DagView
              stages={pipeline.stages}
              edges={pipeline.edges}
              stateOf={s => controller.stateOf(s)}
              onSelect={setSelected}
            />
          </div>
          <Legend />
          <ul className="nbmlops-StageList">
            {pipeline.stages.map(stage => (
              <StageRow
                key={stage.stage}
                stage={stage}
                state={controller.stateOf(stage.stage)}
                error={state.progress?.errors[stage.stage] ?? null}
                busy={busy}
                selected={selected === stage.stage}
                onRun={() => void controller.run([stage.stage], true)}
                onOpenExecuted={() =>
                  stage.executed_notebook &&
                  actions.openNotebook(stage.executed_notebook)
                }
                onOpenSource={() => actions.openNotebook(stage.notebook)}
              />
            ))}
          </ul>
        </>
      )}
      {swept.error && <ErrorBox message={swept.error} />}
      <SweepList
        sweeps={swept.sweeps}
        shown={swept.shown}
        points={swept.points}
        onOpen={openSweep}
        onOpenFile={actions.openNotebook}
      />
    </div>
  );
}
