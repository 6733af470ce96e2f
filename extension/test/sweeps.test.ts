/**
 * The Sweeps section against the server's recorded answers (test/fixtures/rest/): the
 * controller (load, poll while a sweep runs, open a summary page or show the points), the
 * bar's arithmetic and what the components show.
 */
import React from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import {
  ErrorBody,
  NbmlopsApiError,
  Sweep,
  SweepList as List
} from '../src/api';
import { SweepList } from '../src/components/SweepList';
import { countsText, resultsCommand, segmentWidths } from '../src/sweeps';
import {
  SWEEP_IDLE_POLL_MS,
  SWEEP_POLL_MS,
  SweepsApi,
  SweepsController
} from '../src/sweepsController';
import { answer } from './restFixtures';
import { byClass, expand, findAll, text } from './staticRender';

class ScriptedServer implements SweepsApi {
  calls: string[] = [];
  lists: (List | Error)[] = [answer<List>('sweeps-none')];
  sweeps: { [key: string]: Sweep } = {
    'analysis/long': answer<Sweep>('sweep-running'),
    'analysis/naps': answer<Sweep>('sweep-finished')
  };

  listSweeps = async (): Promise<List> => {
    this.calls.push('listSweeps');
    const item = this.lists.length > 1 ? this.lists.shift()! : this.lists[0];
    if (item instanceof Error) {
      throw item;
    }
    return structuredClone(item);
  };

  count(call: string): number {
    return this.calls.filter(c => c.startsWith(call)).length;
  }

  getSweep = async (pipeline: string, sweep: string): Promise<Sweep> => {
    this.calls.push(`getSweep ${pipeline}/${sweep}`);
    return structuredClone(this.sweeps[`${pipeline}/${sweep}`]);
  };
}

const running = (): List => answer<List>('sweeps-running');
const finished = (): List => answer<List>('sweeps-finished');

let server: ScriptedServer;
let controller: SweepsController;

beforeEach(() => {
  vi.useFakeTimers();
  server = new ScriptedServer();
  controller = new SweepsController(server);
});

afterEach(() => {
  controller.dispose();
  vi.useRealTimers();
});

describe('the sweeps controller', () => {
  it('lists no sweeps in a project without any, and looks again now and then', async () => {
    server.lists = [
      answer<List>('sweeps-none'),
      answer<List>('sweeps-none'),
      running()
    ];
    await controller.refresh();
    expect(controller.state.sweeps).toEqual([]);
    expect(controller.state.loads).toBe(1);
    expect(controller.polling).toBe(false);
    await vi.advanceTimersByTimeAsync(SWEEP_IDLE_POLL_MS - 1);
    expect(server.calls).toEqual(['listSweeps']);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.calls).toEqual(['listSweeps', 'listSweeps']);
    // a sweep started from a terminal shows within SWEEP_IDLE_POLL_MS, then is followed
    await vi.advanceTimersByTimeAsync(SWEEP_IDLE_POLL_MS);
    expect(controller.state.sweeps?.map(s => s.sweep)).toEqual([
      'long',
      'naps'
    ]);
    expect(controller.polling).toBe(true);
  });

  it('asks again while a sweep runs, and stops once none does', async () => {
    server.lists = [running(), running(), finished()];
    await controller.refresh();
    expect(controller.polling).toBe(true);
    expect(controller.state.sweeps?.map(s => [s.sweep, s.running])).toEqual([
      ['long', true],
      ['naps', false]
    ]);
    await vi.advanceTimersByTimeAsync(SWEEP_POLL_MS);
    expect(server.calls).toEqual(['listSweeps', 'listSweeps']);
    await vi.advanceTimersByTimeAsync(SWEEP_POLL_MS);
    expect(controller.polling).toBe(false);
    expect(controller.watching).toBe(true);
    await vi.advanceTimersByTimeAsync(SWEEP_IDLE_POLL_MS - 1);
    expect(server.calls.length).toBe(3);
    expect(controller.state.loads).toBe(3);
  });

  it('opens a summary page, and shows the points of a sweep without one', async () => {
    server.lists = [running()];
    await controller.refresh();
    const [long, naps] = controller.state.sweeps!;
    const opened: string[] = [];
    await controller.open(naps, path => opened.push(path));
    expect(opened).toEqual(['build/analysis/sweeps/naps/summary.html']);
    expect(controller.state.shown).toBeNull();

    await controller.open(long, path => opened.push(path));
    expect(opened.length).toBe(1);
    expect(controller.state.shown).toBe('analysis/long');
    expect(controller.state.points?.points.map(p => p.status)).toEqual([
      'running',
      'pending'
    ]);
    // while it runs, its points are asked for with the list
    await vi.advanceTimersByTimeAsync(SWEEP_POLL_MS);
    expect(server.calls.slice(-2)).toEqual([
      'listSweeps',
      'getSweep analysis/long'
    ]);
    await controller.open(long, path => opened.push(path)); // again: hidden
    expect(controller.state.shown).toBeNull();
    expect(controller.state.points).toBeNull();
  });

  it('stops showing the points once the sweep has written its summary page', async () => {
    const written = running();
    written.sweeps[0].summary = 'build/analysis/sweeps/long/summary.html';
    server.lists = [running(), written];
    await controller.refresh();
    await controller.open(controller.state.sweeps![0], () => undefined);
    expect(controller.state.shown).toBe('analysis/long');
    await vi.advanceTimersByTimeAsync(SWEEP_POLL_MS);
    expect(controller.state.shown).toBeNull();
    expect(controller.state.points).toBeNull();
    expect(server.count('getSweep')).toBe(1);
  });

  it('shows the error when the server fails, and stops asking', async () => {
    const refused = new NbmlopsApiError(
      404,
      answer<ErrorBody>('error-unknown-sweep')
    );
    server.lists = [running(), refused];
    await controller.refresh();
    await vi.advanceTimersByTimeAsync(SWEEP_POLL_MS);
    expect(controller.state.error).toBe(
      "UnknownSweepError: no sweep 'nosuch' of pipeline 'analysis' in this project; " +
        '`nbmlops sweep` starts one (GET /nbmlops/sweeps lists those there are)'
    );
    expect(controller.polling).toBe(false);
    expect(controller.watching).toBe(false);
  });
});

describe('a sweep as the section shows it', () => {
  it('draws the bar from the counts, in percent of the points', () => {
    const [long, naps] = running().sweeps;
    expect(segmentWidths(long)).toEqual({
      succeeded: 0,
      failed: 0,
      running: 50,
      pending: 50
    });
    expect(segmentWidths(naps)).toEqual({
      succeeded: 50,
      failed: 50,
      running: 0,
      pending: 0
    });
    expect(countsText(long)).toBe('0 of 2 done · 1 running · 1 pending');
    expect(countsText(naps)).toBe('2 of 2 done · 1 failed');
  });

  it('names the command that writes a summary page, quoted for a shell', () => {
    const [long] = running().sweeps;
    expect(resultsCommand(long)).toBe(
      'nbmlops sweep results long --pipeline analysis --html'
    );
    expect(resultsCommand({ ...long, sweep: "Bob's grid" })).toBe(
      `nbmlops sweep results 'Bob'"'"'s grid' --pipeline analysis --html`
    );
  });
});

describe('the Sweeps section', () => {
  const render = (
    list: List,
    shown: string | null = null,
    points: Sweep | null = null
  ) => {
    const opened: string[] = [];
    const files: string[] = [];
    const tree = expand(
      React.createElement(SweepList, {
        sweeps: list.sweeps,
        shown,
        points,
        onOpen: sweep => opened.push(sweep.sweep),
        onOpenFile: path => files.push(path)
      })
    );
    return { tree, opened, files };
  };

  it('says how to start a sweep when there is none', () => {
    const { tree } = render(answer<List>('sweeps-none'));
    expect(text(byClass(tree, 'nbmlops-Sweeps-none'))).toContain(
      'nbmlops sweep PIPELINE --grid'
    );
    expect(byClass(tree, 'nbmlops-SweepRow')).toEqual([]);
  });

  it('shows each sweep with its bar and counts; its name opens it', () => {
    const { tree, opened } = render(running());
    const rows = byClass(tree, 'nbmlops-SweepRow');
    expect(
      rows.map(r => [r.props['data-sweep'], r.props['data-running']])
    ).toEqual([
      ['analysis/long', 'true'],
      ['analysis/naps', 'false']
    ]);
    expect(text(byClass(rows[0], 'nbmlops-SweepRow-running'))).toBe('running');
    const segments = byClass(rows[1], 'nbmlops-SweepBar-segment');
    expect(segments.map(s => [s.props['data-segment'], s.props.style])).toEqual(
      [
        ['succeeded', { width: '50%' }],
        ['failed', { width: '50%' }]
      ]
    );
    const [bar] = byClass(rows[1], 'nbmlops-SweepBar');
    expect([bar.props['aria-valuenow'], bar.props['aria-valuemax']]).toEqual([
      2, 2
    ]);
    expect(text(byClass(rows[1], 'nbmlops-SweepRow-counts'))).toBe(
      '2 of 2 done · 1 failed'
    );
    const [name] = byClass(rows[1], 'nbmlops-SweepRow-name');
    (name.props.onClick as () => void)();
    expect(opened).toEqual(['naps']);
    expect(byClass(tree, 'nbmlops-SweepPoints')).toEqual([]);
  });

  it('shows the points of a sweep without a summary page, and the command', () => {
    const { tree, files } = render(
      running(),
      'analysis/long',
      answer<Sweep>('sweep-running')
    );
    const [shown] = byClass(tree, 'nbmlops-SweepPoints');
    expect(text(shown)).toContain(
      'nbmlops sweep results long --pipeline analysis --html'
    );
    const rows = findAll(
      [shown],
      t => t.tag === 'tr' && 'data-point' in t.props
    );
    expect(
      rows.map(r => [r.props['data-status'], text(r.children[1])])
    ).toEqual([
      ['running', '4'],
      ['pending', '5']
    ]);
    expect(files).toEqual([]);
  });

  it("lists a finished sweep's points with their metrics; a point opens its log", () => {
    const list = { sweeps: [{ ...finished().sweeps[0], summary: null }] };
    const { tree, files } = render(
      list,
      'analysis/naps',
      answer<Sweep>('sweep-finished')
    );
    const heads = findAll(tree, t => t.tag === 'th').map(text);
    expect(heads).toEqual([
      'point',
      'report.nap',
      'status',
      'time',
      'report.rows'
    ]);
    const rows = findAll(tree, t => t.tag === 'tr' && 'data-point' in t.props);
    expect(rows.map(r => r.children.map(text))).toEqual([
      ['7a112f080978', '-1', 'failed', '0.0 s', ''],
      ['d22bca471caa', '0', 'succeeded', '0.0 s', '5.000']
    ]);
    expect(rows[0].children[2]).toMatchObject({
      props: { title: 'CellExecutionError in report' }
    });
    const [log] = byClass(rows[1], 'nbmlops-SweepPoints-log');
    (log.props.onClick as () => void)();
    expect(files).toEqual([
      'build/analysis/sweeps/naps/d22bca471caa/point.log'
    ]);
  });
});
