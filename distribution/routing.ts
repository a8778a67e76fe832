/**
 * Who wants which event, indexed for the hot path. Sessions with the same subscriptions and the
 * same mode per product form one group; the index maps each channel to the groups subscribed to
 * it, so an event costs one lookup and one mode check per group — not per socket — and a group's
 * frame is encoded once for all its sessions (1 000 clients watching the same symbols with the
 * same entitlements are one group).
 */
import { CHANNEL_TYPES, type ChannelSpec, WILDCARD } from './channels.js';
import type { ModeCode } from './products.js';

/** What the index keeps of a session: the group it is in. */
export interface GroupMember {
  group: Group | undefined;
}

export class Group<M extends GroupMember = GroupMember> {
  readonly key: string;
  /** Mode per product index. */
  readonly modes: readonly ModeCode[];
  readonly specs: readonly ChannelSpec[];
  readonly members = new Set<M>();
  /** Per-turn scratch, owned by the fan-out: the turn it was last touched in… */
  turn = 0;
  /** …the events (indices into the turn's table) it takes… */
  readonly events: number[] = [];
  /** …how many of them per product… */
  readonly counts: number[];
  /** …and the oldest vendor time among them. */
  oldestT = 0;

  constructor(key: string, modes: readonly ModeCode[], specs: readonly ChannelSpec[]) {
    this.key = key;
    this.modes = modes;
    this.specs = specs;
    this.counts = new Array<number>(modes.length).fill(0);
  }
}

export class Router<M extends GroupMember = GroupMember> {
  /** Per type index: symbol → groups subscribed to that symbol. */
  readonly bySymbol: ReadonlyArray<Map<string, Array<Group<M>>>> = CHANNEL_TYPES.map(() => new Map());
  /** Per type index: groups subscribed to every symbol. */
  readonly wildcard: ReadonlyArray<Array<Group<M>>> = CHANNEL_TYPES.map(() => []);
  readonly #groups = new Map<string, Group<M>>();

  get groups(): number {
    return this.#groups.size;
  }

  /** Moves `member` to the group of these subscriptions and modes (none when it subscribes to nothing). */
  place(member: M, specs: ReadonlyMap<string, ChannelSpec>, modes: readonly ModeCode[]): void {
    const key = specs.size === 0 ? '' : `${modes.join('')}|${[...specs.keys()].sort().join(',')}`;
    if (member.group?.key === key) return;
    this.leave(member);
    if (key === '') return;
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = new Group<M>(key, [...modes], [...specs.values()]);
      this.#groups.set(key, group);
      this.#index(group);
    }
    group.members.add(member);
    member.group = group;
  }

  leave(member: M): void {
    const group = member.group as Group<M> | undefined;
    if (group === undefined) return;
    member.group = undefined;
    group.members.delete(member);
    if (group.members.size > 0) return;
    this.#groups.delete(group.key);
    this.#unindex(group);
  }

  #index(group: Group<M>): void {
    const wild = wildcardTypes(group.specs);
    for (const spec of group.specs) {
      if (spec.sym === WILDCARD) (this.wildcard[spec.type] as Array<Group<M>>).push(group);
      // A group with `T.*` gets every trade through the wildcard; `T.AAPL` would send AAPL's twice.
      else if (!wild[spec.type]) {
        const map = this.bySymbol[spec.type] as Map<string, Array<Group<M>>>;
        const list = map.get(spec.sym);
        if (list === undefined) map.set(spec.sym, [group]);
        else list.push(group);
      }
    }
  }

  #unindex(group: Group<M>): void {
    const wild = wildcardTypes(group.specs);
    for (const spec of group.specs) {
      if (spec.sym === WILDCARD) remove(this.wildcard[spec.type] as Array<Group<M>>, group);
      else if (!wild[spec.type]) {
        const map = this.bySymbol[spec.type] as Map<string, Array<Group<M>>>;
        const list = map.get(spec.sym);
        if (list === undefined) continue;
        remove(list, group);
        if (list.length === 0) map.delete(spec.sym);
      }
    }
  }
}

function wildcardTypes(specs: readonly ChannelSpec[]): boolean[] {
  const wild = CHANNEL_TYPES.map(() => false);
  for (const spec of specs) if (spec.sym === WILDCARD) wild[spec.type] = true;
  return wild;
}

function remove<T>(list: T[], item: T): void {
  const index = list.indexOf(item);
  if (index >= 0) list.splice(index, 1);
}
