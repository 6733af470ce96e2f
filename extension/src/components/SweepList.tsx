import React from 'react';

import type { Sweep, SweepSummary } from '../api';
import {
  countsText,
  finished,
  resultsCommand,
  SEGMENTS,
  segmentWidths,
  sweepKey
} from '../sweeps';
import { SweepPoints } from './SweepPoints';

interface Props {
  sweeps: SweepSummary[] | null;
  /** The sweep whose points are shown, and its points once they came. */
  shown: string | null;
  points: Sweep | null;
  /** Open its summary page, or (none yet) show its points. */
  onOpen: (sweep: SweepSummary) => void;
  onOpenFile: (path: string) => void;
}

/** The Pipeline panel's Sweeps section: each sweep's progress bar and counts. */
export function SweepList(props: Props): JSX.Element {
  const { sweeps, shown, points } = props;
  return (
    <section className="nbmlops-Sweeps" aria-label="Sweeps">
      <div className="nbmlops-PipelinePanel-title">
        <strong>Sweeps</strong>
        {sweeps && sweeps.length > 0 && ` · ${sweeps.length}`}
      </div>
      {sweeps && sweeps.length === 0 && (
        <p className="nbmlops-Sweeps-none">
          No sweeps yet:{' '}
          <code>nbmlops sweep PIPELINE --grid STAGE.PARAM=A,B</code>
        </p>
      )}
      <ul className="nbmlops-SweepList">
        {(sweeps ?? []).map(sweep => (
          <SweepRow
            key={sweepKey(sweep)}
            sweep={sweep}
            open={shown === sweepKey(sweep)}
            points={shown === sweepKey(sweep) ? points : null}
            onOpen={() => props.onOpen(sweep)}
            onOpenFile={props.onOpenFile}
          />
        ))}
      </ul>
    </section>
  );
}

interface RowProps {
  sweep: SweepSummary;
  open: boolean;
  points: Sweep | null;
  onOpen: () => void;
  onOpenFile: (path: string) => void;
}

function SweepRow({
  sweep,
  open,
  points,
  onOpen,
  onOpenFile
}: RowProps): JSX.Element {
  const widths = segmentWidths(sweep);
  const title = sweep.summary
    ? `Open ${sweep.summary}`
    : open
      ? 'Hide the points'
      : 'No summary page yet: show the points';
  return (
    <li
      className="nbmlops-SweepRow"
      data-sweep={sweepKey(sweep)}
      data-running={String(sweep.running)}
      data-summary={String(sweep.summary !== null)}
    >
      <div className="nbmlops-SweepRow-head">
        <button
          className="nbmlops-SweepRow-name"
          data-action="open-sweep"
          title={title}
          aria-expanded={sweep.summary ? undefined : open}
          onClick={onOpen}
        >
          {sweep.sweep}
        </button>
        <span className="nbmlops-SweepRow-pipeline">{sweep.pipeline}</span>
        {sweep.running && (
          <span className="nbmlops-SweepRow-running">running</span>
        )}
      </div>
      <div
        className="nbmlops-SweepBar"
        role="progressbar"
        aria-label={`points of sweep ${sweep.sweep} finished`}
        aria-valuemin={0}
        aria-valuemax={sweep.total}
        aria-valuenow={finished(sweep)}
      >
        {SEGMENTS.map(segment =>
          widths[segment] > 0 ? (
            <span
              key={segment}
              className="nbmlops-SweepBar-segment"
              data-segment={segment}
              style={{ width: `${widths[segment]}%` }}
            />
          ) : null
        )}
      </div>
      <div className="nbmlops-SweepRow-counts">{countsText(sweep)}</div>
      {open && !sweep.summary && (
        <SweepPoints
          command={resultsCommand(sweep)}
          points={points}
          onOpenFile={onOpenFile}
        />
      )}
    </li>
  );
}
