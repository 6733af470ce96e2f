import React from 'react';

import { DEFAULT_LAYOUT, layout } from '../dag';
import type { PipelineStage } from '../api';
import type { StageState } from '../progress';
import { STATE_LABELS } from './labels';

interface Props {
  stages: PipelineStage[];
  edges: [string, string][];
  stateOf: (stage: string) => StageState;
  onSelect: (stage: string) => void;
}

/** The pipeline as a graph: one box per stage, coloured by its state; reasons in the tooltip. */
export function DagView({
  stages,
  edges,
  stateOf,
  onSelect
}: Props): JSX.Element {
  const ids = stages.map(s => s.stage);
  const { nodes, edges: paths, width, height } = layout(ids, edges);
  const byId = new Map(stages.map(s => [s.stage, s]));
  const { nodeWidth, nodeHeight } = DEFAULT_LAYOUT;
  return (
    <svg
      className="nbmlops-Dag"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={`Pipeline graph: ${ids.map(id => `${id} ${STATE_LABELS[stateOf(id)]}`).join(', ')}`}
    >
      <defs>
        <marker
          id="nbmlops-arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto"
        >
          <path d="M0,0 L10,5 L0,10 z" className="nbmlops-Dag-arrow" />
        </marker>
      </defs>
      {paths.map(p => (
        <path
          key={`${p.from}->${p.to}`}
          className="nbmlops-Dag-edge"
          d={p.d}
          markerEnd="url(#nbmlops-arrow)"
        />
      ))}
      {nodes.map(n => {
        const stage = byId.get(n.id)!;
        const state = stateOf(n.id);
        const why =
          state === 'stale' && stage.reasons.length
            ? `\n${stage.reasons.map(r => r.text).join('\n')}`
            : '';
        return (
          <g
            key={n.id}
            className="nbmlops-Dag-node"
            data-stage={n.id}
            data-state={state}
            transform={`translate(${n.x},${n.y})`}
            tabIndex={0}
            role="button"
            aria-label={`${n.id}: ${STATE_LABELS[state]}`}
            onClick={() => onSelect(n.id)}
            onKeyDown={e =>
              (e.key === 'Enter' || e.key === ' ') && onSelect(n.id)
            }
          >
            <title>{`${n.id}: ${STATE_LABELS[state]}${why}`}</title>
            <rect width={nodeWidth} height={nodeHeight} rx={6} />
            <text
              x={nodeWidth / 2}
              y={nodeHeight / 2}
              dominantBaseline="central"
              textAnchor="middle"
            >
              {n.id.length > 14 ? `${n.id.slice(0, 13)}…` : n.id}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
