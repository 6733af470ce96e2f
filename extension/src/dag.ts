/**
 * Layout of the pipeline DAG for the Pipeline panel: layers by longest path from a source (so
 * every edge points to a later layer), top to bottom (the panel is a narrow sidebar), nodes
 * ordered within a layer by the mean position of their upstream nodes (fewer crossings), and
 * positions in pixels. Deterministic: same input, same picture.
 */

export interface NodeBox {
  id: string;
  layer: number;
  x: number;
  y: number;
}

export interface EdgePath {
  from: string;
  to: string;
  /** SVG path data, from the bottom of `from` to the top of `to`. */
  d: string;
}

export interface Layout {
  nodes: NodeBox[];
  edges: EdgePath[];
  width: number;
  height: number;
}

export interface LayoutOptions {
  nodeWidth: number;
  nodeHeight: number;
  /** Between two nodes of one layer. */
  siblingGap: number;
  /** Between layers (room for the edges). */
  layerGap: number;
  margin: number;
}

export const DEFAULT_LAYOUT: LayoutOptions = {
  nodeWidth: 104,
  nodeHeight: 30,
  siblingGap: 12,
  layerGap: 22,
  margin: 8
};

/** Layers by longest path; nodes in a cycle (the server refuses those) keep layer 0. */
export function layers(
  ids: string[],
  edges: [string, string][]
): Map<string, number> {
  const known = new Set(ids);
  const ups = new Map<string, string[]>(ids.map(id => [id, []]));
  for (const [from, to] of edges) {
    if (known.has(from) && known.has(to)) {
      ups.get(to)!.push(from);
    }
  }
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (id: string): number => {
    const done = layer.get(id);
    if (done !== undefined) {
      return done;
    }
    if (visiting.has(id)) {
      return 0;
    }
    visiting.add(id);
    const depth = Math.max(-1, ...ups.get(id)!.map(visit)) + 1;
    visiting.delete(id);
    layer.set(id, depth);
    return depth;
  };
  ids.forEach(visit);
  return layer;
}

export function layout(
  ids: string[],
  edges: [string, string][],
  options: LayoutOptions = DEFAULT_LAYOUT
): Layout {
  const { nodeWidth, nodeHeight, siblingGap, layerGap, margin } = options;
  const layerOf = layers(ids, edges);
  const rows: string[][] = [];
  for (const id of ids) {
    const l = layerOf.get(id)!;
    (rows[l] ??= []).push(id);
  }
  const slot = new Map<string, number>();
  rows.forEach((row, l) => {
    if (l > 0) {
      const weight = (id: string): number => {
        const at = edges
          .filter(([f, t]) => t === id && slot.has(f))
          .map(([f]) => slot.get(f)!);
        return at.length
          ? at.reduce((a, b) => a + b, 0) / at.length
          : Number.MAX_SAFE_INTEGER;
      };
      const order = new Map(row.map((id, i) => [id, i]));
      row.sort(
        (a, b) => weight(a) - weight(b) || order.get(a)! - order.get(b)!
      );
    }
    row.forEach((id, i) => slot.set(id, i));
  });
  const widest = Math.max(1, ...rows.map(r => r.length));
  const width = margin * 2 + widest * nodeWidth + (widest - 1) * siblingGap;
  const nodes: NodeBox[] = [];
  rows.forEach((row, l) => {
    const used = row.length * nodeWidth + (row.length - 1) * siblingGap;
    const left = (width - used) / 2;
    row.forEach((id, i) => {
      nodes.push({
        id,
        layer: l,
        x: left + i * (nodeWidth + siblingGap),
        y: margin + l * (nodeHeight + layerGap)
      });
    });
  });
  const at = new Map(nodes.map(n => [n.id, n]));
  const paths: EdgePath[] = [];
  for (const [from, to] of edges) {
    const a = at.get(from);
    const b = at.get(to);
    if (!a || !b) {
      continue;
    }
    const x1 = a.x + nodeWidth / 2;
    const y1 = a.y + nodeHeight;
    const x2 = b.x + nodeWidth / 2;
    const y2 = b.y;
    const bend = Math.max(8, (y2 - y1) / 2);
    paths.push({
      from,
      to,
      d: `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`
    });
  }
  const height =
    margin * 2 +
    rows.length * nodeHeight +
    Math.max(0, rows.length - 1) * layerGap;
  return { nodes, edges: paths, width, height };
}
