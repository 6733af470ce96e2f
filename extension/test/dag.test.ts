import { describe, expect, it } from 'vitest';

import { DEFAULT_LAYOUT, layers, layout } from '../src/dag';

const overlap = (
  a: { x: number; y: number },
  b: { x: number; y: number }
): boolean =>
  Math.abs(a.x - b.x) < DEFAULT_LAYOUT.nodeWidth &&
  Math.abs(a.y - b.y) < DEFAULT_LAYOUT.nodeHeight;

describe('DAG layout', () => {
  it('puts every edge from an earlier layer to a later one', () => {
    const ids = ['review', 'ingest', 'train', 'features', 'evaluate'];
    const edges: [string, string][] = [
      ['ingest', 'features'],
      ['features', 'train'],
      ['train', 'evaluate'],
      ['train', 'review'],
      ['features', 'review']
    ];
    const layer = layers(ids, edges);
    for (const [from, to] of edges) {
      expect(layer.get(from)!).toBeLessThan(layer.get(to)!);
    }
    expect(layer.get('review')).toBe(3); // longest path, not the shortest
  });

  it('lays out a diamond without overlapping nodes, top to bottom', () => {
    const edges: [string, string][] = [
      ['a', 'b'],
      ['a', 'c'],
      ['b', 'd'],
      ['c', 'd']
    ];
    const {
      nodes,
      edges: paths,
      width,
      height
    } = layout(['a', 'b', 'c', 'd'], edges);
    expect(nodes.map(n => [n.id, n.layer])).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 1],
      ['d', 2]
    ]);
    for (const n of nodes) {
      for (const m of nodes) {
        expect(n === m || !overlap(n, m)).toBe(true);
      }
      expect(n.x).toBeGreaterThanOrEqual(0);
      expect(n.x + DEFAULT_LAYOUT.nodeWidth).toBeLessThanOrEqual(width);
      expect(n.y + DEFAULT_LAYOUT.nodeHeight).toBeLessThanOrEqual(height);
    }
    const top = nodes.find(n => n.id === 'a')!;
    const bottom = nodes.find(n => n.id === 'd')!;
    expect(top.y).toBeLessThan(bottom.y);
    expect(paths).toHaveLength(4);
    expect(
      paths[0].d.startsWith(
        `M${top.x + DEFAULT_LAYOUT.nodeWidth / 2},${top.y + DEFAULT_LAYOUT.nodeHeight}`
      )
    ).toBe(true);
  });

  it('handles a single stage and is deterministic', () => {
    const one = layout(['only'], []);
    expect(one.nodes).toEqual([
      {
        id: 'only',
        layer: 0,
        x: DEFAULT_LAYOUT.margin,
        y: DEFAULT_LAYOUT.margin
      }
    ]);
    expect(one.edges).toEqual([]);
    const edges: [string, string][] = [
      ['x', 'z'],
      ['y', 'z']
    ];
    expect(layout(['x', 'y', 'z'], edges)).toEqual(
      layout(['x', 'y', 'z'], edges)
    );
  });

  it('orders a layer by its upstream positions to avoid crossings', () => {
    // b2 hangs off a2 (right), b1 off a1 (left): listed the other way round, laid out in order
    const edges: [string, string][] = [
      ['a1', 'b1'],
      ['a2', 'b2']
    ];
    const { nodes } = layout(['a1', 'a2', 'b2', 'b1'], edges);
    const x = (id: string): number => nodes.find(n => n.id === id)!.x;
    expect(x('b1')).toBeLessThan(x('b2'));
  });
});
