// Names for ids (PROTOCOL §6.15): profiles looked up in batches of at most 100, cached, and
// replaced when a `profile_changed` or a `find_users` answer brings a newer one.

import type { Profile, UserId } from "./protocol.js";

/** The most ids one `profiles` command may name (§6.15). */
export const PROFILES_PER_COMMAND = 100;

/** Profiles kept; the least recently stored are forgotten first. */
export const PROFILES_CACHED = 10_000;

export class People {
  private readonly cache = new Map<UserId, Profile>();

  /** `lookup` asks the server for at most 100 ids (the client's `profiles` command). */
  constructor(
    private readonly lookup: (ids: UserId[]) => Promise<Profile[]>,
    private readonly capacity = PROFILES_CACHED,
  ) {}

  /** The cached profile of `id`, if any. */
  get(id: UserId): Profile | undefined {
    return this.cache.get(id);
  }

  /** What to show for `id`: the display name, else the account name, else `user <id>`. */
  displayName(id: UserId): string {
    const p = this.cache.get(id);
    if (p === undefined) return `user ${id}`;
    return p.display_name !== "" ? p.display_name : p.name;
  }

  /**
   * The profiles of `ids`, from the cache where it has them, the rest asked for in batches.
   * Ids that name no user are left out of the answer.
   */
  async resolve(ids: Iterable<UserId>): Promise<Map<UserId, Profile>> {
    const wanted = [...new Set(ids)];
    const missing = wanted.filter((id) => !this.cache.has(id));
    for (let at = 0; at < missing.length; at += PROFILES_PER_COMMAND) {
      for (const p of await this.lookup(missing.slice(at, at + PROFILES_PER_COMMAND))) this.store(p);
    }
    const out = new Map<UserId, Profile>();
    for (const id of wanted) {
      const p = this.cache.get(id);
      if (p !== undefined) out.set(id, p);
    }
    return out;
  }

  /** Keeps `p` as the newest profile of its user. */
  store(p: Profile): void {
    this.cache.delete(p.id);
    this.cache.set(p.id, p);
    if (this.cache.size > this.capacity) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}
