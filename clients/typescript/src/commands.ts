// The commands that need nothing of the connection's state: each one frame, its typed reply,
// and what the room list and the profile cache learn from it. `SwitchboardClient` (client.ts)
// supplies `request` and the stateful commands (`join`, `leave`, `send`).

import { Emitter } from "./emitter.js";
import type { ClientEvents, Token } from "./events.js";
import type { People } from "./people.js";
import type {
  AttachmentSlotReply,
  ChatMessage,
  Command,
  HistoryReply,
  MemberReceipt,
  Position,
  PresenceInfo,
  Profile,
  ReplyOf,
  RoomCursor,
  RoomId,
  RoomInfo,
  RoomListItem,
  SentReply,
  UserId,
  Visibility,
} from "./protocol.js";
import { newCmid } from "./outbox.js";
import type { RoomList } from "./rooms.js";

export abstract class Commands extends Emitter<ClientEvents> {
  /** The rooms the user is in, with last message and unread count. */
  abstract readonly rooms: RoomList;
  /** Profiles by user id, cached. */
  abstract readonly people: People;

  /** Sends any command and resolves with its reply (see `SwitchboardClient.request`). */
  abstract request<C extends Command>(cmd: C): Promise<ReplyOf[C["type"]]>;

  protected abstract readonly url: string;
  protected abstract readonly token: Token;

  protected async currentToken(): Promise<string> {
    return typeof this.token === "function" ? await this.token() : this.token;
  }

  /** Creates a group room (the caller is its owner); `join` it to receive its events. */
  async createRoom(name: string, visibility: Visibility = "public"): Promise<RoomInfo> {
    const { room } = await this.request({ type: "create_room", name, visibility });
    this.rooms.noteRoom(room);
    return room;
  }

  async invite(room: RoomId, user: UserId): Promise<void> {
    await this.request({ type: "invite", room, user });
  }

  async kick(room: RoomId, user: UserId): Promise<void> {
    await this.request({ type: "kick", room, user });
  }

  /** Finds or creates the direct conversation with `user`; `join` it to receive its events. */
  async openDirect(user: UserId): Promise<RoomInfo> {
    const { room } = await this.request({ type: "open_direct", user });
    this.rooms.noteRoom(room);
    return room;
  }

  /** A page of history (§6.9): `before` or `after` a position (exclusive), or the newest. */
  async history(room: RoomId, page: { before?: Position; after?: Position; limit?: number } = {}): Promise<HistoryReply> {
    const cmd: Command = { type: "history", room, limit: page.limit ?? 50 };
    if (page.before !== undefined) cmd.before = page.before;
    if (page.after !== undefined) cmd.after = page.after;
    const reply = await this.request(cmd);
    this.rooms.noteHistory(room, reply.messages);
    return reply;
  }

  /** Messages containing every word of `query`, newest first (§6.9a). */
  async search(query: string, options: { room?: RoomId; limit?: number } = {}): Promise<ChatMessage[]> {
    const cmd: Command = { type: "search", query, limit: options.limit ?? 50 };
    if (options.room !== undefined) cmd.room = options.room;
    return (await this.request(cmd)).messages;
  }

  /** Asks for an upload slot (§6.8b); the upload URL is made absolute on this node. */
  async attachmentSlot(room: RoomId, name: string, contentType: string, size: number): Promise<AttachmentSlotReply> {
    const reply = await this.request({ type: "attachment_slot", room, name, content_type: contentType, size });
    if (reply.upload.url.startsWith("/")) reply.upload.url = httpBase(this.url) + reply.upload.url;
    return reply;
  }

  /**
   * Replaces the text of one's own message at `target` (§6.16). Like every entry of a room it
   * is idempotent by `cmid`: to retry after a dropped connection, pass the same `cmid` again.
   */
  async edit(room: RoomId, target: Position, text: string, cmid: string = newCmid()): Promise<SentReply> {
    return this.request({ type: "edit", room, cmid, target, text });
  }

  /** Deletes the message at `target`: one's own, or any as an owner or admin (§6.16). */
  async delete(room: RoomId, target: Position, cmid: string = newCmid()): Promise<SentReply> {
    return this.request({ type: "delete", room, cmid, target });
  }

  /** Adds `emoji` to the message at `target`, or with `remove` takes one's own away (§6.16). */
  async react(room: RoomId, target: Position, emoji: string, remove = false, cmid: string = newCmid()): Promise<SentReply> {
    const cmd: Command = { type: "react", room, cmid, target, emoji };
    if (remove) cmd.remove = true;
    return this.request(cmd);
  }

  /** Pins the message at `target` to the room, or with `unpin` unpins it: owners and admins (§6.16). */
  async pin(room: RoomId, target: Position, unpin = false, cmid: string = newCmid()): Promise<SentReply> {
    const cmd: Command = { type: "pin", room, cmid, target };
    if (unpin) cmd.unpin = true;
    return this.request(cmd);
  }

  /** The room's pinned messages, newest pin first (at most `limit`, 1 to 100). */
  async pins(room: RoomId, limit = 100): Promise<{ messages: ChatMessage[]; more: boolean }> {
    const reply = await this.request({ type: "pins", room, limit });
    return { messages: reply.messages, more: reply.more };
  }

  async typing(room: RoomId, active: boolean): Promise<void> {
    await this.request({ type: "typing", room, active });
  }

  /** Raises the read watermark to `pos`; the room list's unread count follows. */
  async markRead(room: RoomId, pos: Position): Promise<void> {
    await this.request({ type: "mark_read", room, pos });
    this.rooms.noteRead(room, pos);
  }

  /**
   * Everything up to `pos` reached this device (§6.18). The client sends these on its own as
   * messages arrive (`delivery` option); call it only with that turned off.
   */
  async markDelivered(room: RoomId, pos: Position): Promise<void> {
    await this.request({ type: "mark_delivered", room, pos });
  }

  /**
   * A page of the room's members with their read and delivered watermarks, by user id after
   * `after` (at most `limit`, 1 to 500), and whether more follow (§6.18).
   */
  async receipts(room: RoomId, after?: UserId, limit = 500): Promise<{ members: MemberReceipt[]; more: boolean }> {
    const cmd: Command = after === undefined ? { type: "receipts", room, limit } : { type: "receipts", room, after, limit };
    const reply = await this.request(cmd);
    return { members: reply.members, more: reply.more };
  }

  async presenceQuery(users: UserId[]): Promise<PresenceInfo[]> {
    return (await this.request({ type: "presence_query", users })).users;
  }

  /** Presence now, and `presence_changed` (and `profile_changed`) events from then on. */
  async presenceSubscribe(users: UserId[]): Promise<PresenceInfo[]> {
    return (await this.request({ type: "presence_subscribe", users })).users;
  }

  async setPresence(status: "online" | "away"): Promise<void> {
    await this.request({ type: "set_presence", status });
  }

  async ping(): Promise<void> {
    await this.request({ type: "ping" });
  }

  /** Profiles of up to 100 ids (§6.15); unknown ids are left out. `people` caches them. */
  async profiles(users: UserId[]): Promise<Profile[]> {
    const reply = await this.request({ type: "profiles", users });
    for (const p of reply.users) this.people.store(p);
    return reply.users;
  }

  /** Changes the caller's profile: a given field replaces the stored one (empty clears it). */
  async setProfile(profile: { display_name?: string; status?: string }): Promise<void> {
    const cmd: Command = { type: "set_profile" };
    if (profile.display_name !== undefined) cmd.display_name = profile.display_name;
    if (profile.status !== undefined) cmd.status = profile.status;
    await this.request(cmd);
  }

  /** Users whose account or display name starts with `prefix` (§6.15; rate limited). */
  async findUsers(prefix: string, limit = 20): Promise<Profile[]> {
    const reply = await this.request({ type: "find_users", prefix, limit });
    for (const p of reply.users) this.people.store(p);
    return reply.users;
  }

  /**
   * A page of the user's rooms, most recently active first (§6.17): at most `limit` (1–100)
   * after `before` (the last room's `{activity, room: id}` of the page before).
   */
  async roomsPage(options: { before?: RoomCursor; limit?: number } = {}): Promise<{ rooms: RoomListItem[]; more: boolean }> {
    const cmd: Command = { type: "rooms", limit: options.limit ?? 50 };
    if (options.before !== undefined) cmd.before = options.before;
    const reply = await this.request(cmd);
    for (const r of reply.rooms) if (r.peer !== undefined) this.people.store(r.peer);
    return { rooms: reply.rooms, more: reply.more };
  }

  /** Every room of the user, by pages of 100 (§6.17), newest activity first. */
  async listRooms(): Promise<RoomListItem[]> {
    const all: RoomListItem[] = [];
    let before: RoomCursor | undefined;
    for (;;) {
      const page = await this.roomsPage({ before, limit: 100 });
      all.push(...page.rooms);
      const last = page.rooms[page.rooms.length - 1];
      if (!page.more || last === undefined) return all;
      before = { activity: last.activity, room: last.id };
    }
  }

  /** Mutes (`true`) or unmutes a room for the user (§6.17): unread still counts, no notice. */
  async mute(room: RoomId, muted: boolean): Promise<void> {
    await this.request({ type: "mute", room, muted });
    const known = this.rooms.get(room);
    if (known !== undefined) this.rooms.fill([{ room: known.room, muted }]);
  }

  /**
   * Fills the room list from the server's (`rooms`, every page): each room with its last
   * message, unread count, activity and muted flag; rooms no longer listed are removed.
   */
  async loadRooms(): Promise<void> {
    const rooms = await this.listRooms();
    this.rooms.fill(
      rooms.map((r) => ({
        room: { id: r.id, name: r.name, kind: r.kind },
        last: r.last,
        unread: r.unread,
        mentions: r.mentions ?? 0,
        activity: r.activity,
        muted: r.muted,
        peer: r.peer,
      })),
      true,
    );
  }

}

/** `ws://host:port/ws` → `http://host:port` (and `wss` → `https`). */
export function httpBase(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  return url.origin;
}
