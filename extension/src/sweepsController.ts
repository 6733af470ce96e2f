/**
 * The Sweeps section's state, apart from React: the project's sweeps, asked again every
 * SWEEP_POLL_MS while any of them runs (as the panel follows a run) and every
 * SWEEP_IDLE_POLL_MS while none does (so a sweep started from a terminal shows up without a
 * click), and the points of the one sweep whose summary page is not written yet.
 */
import { getSweep, listSweeps, Sweep, SweepSummary } from './api';
import { describeError } from './controller';
import { sweepKey } from './sweeps';

/** How often the sweeps are asked again while one runs. */
export const SWEEP_POLL_MS = 2000;

/** How often they are asked again while none runs: a new sweep shows within this. */
export const SWEEP_IDLE_POLL_MS = 10000;

/** The REST calls the section makes: api.ts's functions (a test passes its own server). */
export interface SweepsApi {
  listSweeps: typeof listSweeps;
  getSweep: typeof getSweep;
}

const SERVER: SweepsApi = { listSweeps, getSweep };

export interface SweepsState {
  /** Null until the server first answered. */
  sweeps: SweepSummary[] | null;
  /** How many answers have come (views can tell a fresh answer from an old one). */
  loads: number;
  error: string | null;
  /** The sweep whose points are shown (`pipeline/sweep`), and its points once they came. */
  shown: string | null;
  points: Sweep | null;
}

export class SweepsController {
  private listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private fast = false;
  private asking = false;
  private _state: SweepsState = {
    sweeps: null,
    loads: 0,
    error: null,
    shown: null,
    points: null
  };

  constructor(private readonly api: SweepsApi = SERVER) {}

  get state(): SweepsState {
    return this._state;
  }

  /** Whether it follows a running sweep (asks every SWEEP_POLL_MS). */
  get polling(): boolean {
    return this.fast && this.timer !== null;
  }

  /** Whether it asks again at all (not after an error or once disposed). */
  get watching(): boolean {
    return this.timer !== null;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Ask for the sweeps (and the shown one's points); keep asking while one runs. */
  async refresh(): Promise<void> {
    this.asking = true;
    try {
      const { sweeps } = await this.api.listSweeps();
      this.update({ sweeps, loads: this._state.loads + 1, error: null });
      // the points are shown until the sweep has a summary page (or is gone)
      const shown = sweeps.find(s => sweepKey(s) === this._state.shown);
      if (shown && !shown.summary) {
        await this.loadPoints(shown);
      } else if (this._state.shown !== null) {
        this.update({ shown: null, points: null });
      }
      this.schedule(
        sweeps.some(s => s.running) ? SWEEP_POLL_MS : SWEEP_IDLE_POLL_MS
      );
    } catch (error) {
      this.stopPolling();
      this.update({
        loads: this._state.loads + 1,
        error: describeError(error)
      });
    } finally {
      this.asking = false;
    }
  }

  /** Open a sweep's summary page with `openFile`; without one, show (or hide) its points. */
  async open(
    sweep: SweepSummary,
    openFile: (path: string) => void
  ): Promise<void> {
    if (sweep.summary) {
      openFile(sweep.summary);
    } else {
      await this.togglePoints(sweep);
    }
  }

  /** Show a sweep's points (its summary page is not written yet); again: hide them. */
  async togglePoints(sweep: SweepSummary): Promise<void> {
    if (this._state.shown === sweepKey(sweep)) {
      this.update({ shown: null, points: null });
      return;
    }
    this.update({ shown: sweepKey(sweep), points: null });
    try {
      await this.loadPoints(sweep);
    } catch (error) {
      this.update({ error: describeError(error) });
    }
  }

  dispose(): void {
    this.stopPolling();
    this.listeners.clear();
  }

  private async loadPoints(sweep: SweepSummary): Promise<void> {
    const points = await this.api.getSweep(sweep.pipeline, sweep.sweep);
    if (this._state.shown === sweepKey(sweep)) {
      this.update({ points });
    }
  }

  /** The next question, `ms` after this answer (one timer: a slow answer is never asked
   * for again before it came). */
  private schedule(ms: number): void {
    this.stopPolling();
    this.fast = ms === SWEEP_POLL_MS;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.asking) {
        void this.refresh();
      }
    }, ms);
  }

  private stopPolling(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.fast = false;
  }

  private update(change: Partial<SweepsState>): void {
    this._state = { ...this._state, ...change };
    this.listeners.forEach(listener => listener());
  }
}
