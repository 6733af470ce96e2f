import React from 'react';

import type { JSONValue } from '../metadata';
import type { Sweep } from '../api';

interface Props {
  /** The command that writes the sweep's summary page. */
  command: string;
  points: Sweep | null;
  onOpenFile: (path: string) => void;
}

function value(given: JSONValue): string {
  return typeof given === 'string' ? given : JSON.stringify(given);
}

function seconds(duration: number | null): string {
  return duration === null ? '' : `${duration.toFixed(1)} s`;
}

/** A sweep without a summary page yet: its points as a table, and the command that writes it. */
export function SweepPoints({
  command,
  points,
  onOpenFile
}: Props): JSX.Element {
  const metrics = [
    ...new Set(points?.points.flatMap(p => Object.keys(p.metrics)) ?? [])
  ].sort();
  return (
    <div className="nbmlops-SweepPoints">
      <p>
        No summary page yet; <code>{command}</code> writes it.
      </p>
      {points === null ? (
        <p>Loading the points…</p>
      ) : (
        <table className="nbmlops-SweepPoints-table">
          <thead>
            <tr>
              <th>point</th>
              {points.swept.map(name => (
                <th key={name}>{name}</th>
              ))}
              <th>status</th>
              <th>time</th>
              {metrics.map(name => (
                <th key={name}>{name}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {points.points.map(point => (
              <tr
                key={point.id}
                data-point={point.id}
                data-status={point.status}
              >
                <td>
                  {point.log ? (
                    <button
                      className="nbmlops-SweepPoints-log"
                      title={`Open ${point.log}`}
                      onClick={() => point.log && onOpenFile(point.log)}
                    >
                      {point.id}
                    </button>
                  ) : (
                    point.id
                  )}
                </td>
                {points.swept.map(name => {
                  const [stage, ...param] = name.split('.');
                  const given = point.parameters[stage]?.[param.join('.')];
                  return (
                    <td key={name}>
                      {given === undefined ? '' : value(given)}
                    </td>
                  );
                })}
                <td
                  title={
                    point.error_type
                      ? `${point.error_type} in ${point.failed_stage}`
                      : undefined
                  }
                >
                  {point.status}
                </td>
                <td>{seconds(point.duration_s)}</td>
                {metrics.map(name => (
                  <td key={name}>
                    {point.metrics[name]?.toPrecision(4) ?? ''}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
