import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TransitionTimer } from '../../entitlements/transition-timer.js';

describe('TransitionTimer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => vi.useRealTimers());

  function timer() {
    const fired: Array<[string, number]> = [];
    const t = new TransitionTimer((userId) => fired.push([userId, Date.now()]), Date.now);
    return { t, fired };
  }

  it('fires each user at its instant, earliest first, with one armed timer', () => {
    const { t, fired } = timer();
    t.set('b', 1_000_300);
    t.set('a', 1_000_100);
    t.set('c', 1_000_200);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([['a', 1_000_100]]);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual([
      ['a', 1_000_100],
      ['c', 1_000_200],
      ['b', 1_000_300],
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('replaces a user’s schedule instead of adding to it', () => {
    const { t, fired } = timer();
    t.set('a', 1_000_100);
    t.set('a', 1_000_500);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([['a', 1_000_500]]);
  });

  it('clears a schedule', () => {
    const { t, fired } = timer();
    t.set('a', 1_000_100);
    t.set('a', undefined);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([]);
  });

  it('fires users due at the same instant together', () => {
    const { t, fired } = timer();
    t.set('a', 1_000_100);
    t.set('b', 1_000_100);
    vi.advanceTimersByTime(100);
    expect(fired.map(([user]) => user).sort()).toEqual(['a', 'b']);
  });

  it('reaches instants beyond setTimeout’s 24.8-day ceiling', () => {
    const { t, fired } = timer();
    const far = 1_000_000 + 40 * 86_400_000;
    t.set('a', far);
    vi.advanceTimersByTime(30 * 86_400_000);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(10 * 86_400_000);
    expect(fired).toEqual([['a', far]]);
  });

  it('fires nothing after stop', () => {
    const { t, fired } = timer();
    t.set('a', 1_000_100);
    t.stop();
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([]);
  });
});
