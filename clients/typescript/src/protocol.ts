// The wire frames of Switchboard protocol version 1 (docs/PROTOCOL.md §5–§7), as TypeScript
// types. Each frame is a map whose `type` names it; optional fields are left out when absent.
// Integers are JavaScript numbers: the server keeps ids, epochs and seqs far below 2^53
// (PROTOCOL §4), and attachment ids are at most 2^53 − 1 by design (§3.3).

// ---- Common types (§5) ----------------------------------------------------------------------

export type UserId = number;
export type RoomId = number;
export type AttachmentId = number;

/** A message's place in its room: ordered by `epoch`, then `seq` (§8.1). */
export interface Position {
  epoch: number;
  seq: number;
}

export interface UserInfo {
  id: UserId;
  name: string;
}

/** `display_name` and `status` are always present, empty when unset (§6.15). */
export interface Profile {
  id: UserId;
  name: string;
  display_name: string;
  status: string;
}

export type RoomKind = "public" | "private" | "direct";
export type Visibility = "public" | "private";
export type PresenceStatus = "online" | "away" | "offline";

export interface RoomInfo {
  id: RoomId;
  name: string;
  kind: RoomKind;
}

/**
 * One room of the room list (§6.17), PROTOCOL's `RoomSummary` (named apart from the client's
 * own `RoomSummary` in rooms.ts, which this fills): a direct room's `name` is the other person's display
 * name (or account name) and `peer` their profile; `activity` (ms) orders the list; `last` is
 * the last message as `history` shows it; `unread` stops at 100, `unread_more` saying there
 * are more.
 */
export interface RoomListItem {
  id: RoomId;
  name: string;
  kind: RoomKind;
  peer?: Profile;
  activity: number;
  last?: ChatMessage;
  unread: number;
  unread_more: boolean;
  /** Of the unread messages counted, those that mention the user (§6.17); absent for none. */
  mentions?: number;
  muted: boolean;
}

/** A place in the room list: a `RoomSummary`'s `activity` and `id` (§6.17). */
export interface RoomCursor {
  activity: number;
  room: RoomId;
}

/** A member's watermarks (§6.18): read up to `read`, delivered to a device up to `delivered`. */
export interface MemberReceipt {
  user: UserId;
  read?: Position;
  delivered?: Position;
}

/** A file a message references (§5, §6.8). */
export interface Attachment {
  id: AttachmentId;
  name: string;
  content_type: string;
  size: number;
  thumbnail: boolean;
}

export interface ChatMessage {
  room: RoomId;
  pos: Position;
  sender: UserId;
  cmid: string;
  text: string;
  /** Milliseconds since the Unix epoch, from the room owner's clock. Order by `pos`, never `ts`. */
  ts: number;
  attachments?: Attachment[];
  /** The members the text mentions (`@name`, resolved when sent; §6.8). */
  mentions?: UserId[];
  /** On a reply: the message it answers (§6.16). */
  reply_to?: Quote;
  /** History and search only: when the text was last edited (ms since the Unix epoch). */
  edited?: number;
  /** History and search only: a tombstone (text and attachments gone). */
  deleted?: boolean;
  /** History and search only: pinned to the room (§6.16). */
  pinned?: boolean;
  /** History and search only: the reactions on it, in order of first use. */
  reactions?: ReactionCount[];
}

/** The message a reply answers: the start of its text, or `deleted` (§5, §6.16). */
export interface Quote {
  pos: Position;
  sender: UserId;
  text: string;
  deleted?: boolean;
}

/** One emoji on a message: how many put it there, and whether the reader did (§5). */
export interface ReactionCount {
  emoji: string;
  count: number;
  mine?: boolean;
}

export interface PresenceInfo {
  user: UserId;
  status: PresenceStatus;
}

export interface RoomPosition {
  room: RoomId;
  pos: Position;
}

/** The attachment an upload slot was made for (§6.8b). */
export interface SlotAttachment {
  id: AttachmentId;
  room: RoomId;
  name: string;
  content_type: string;
  size: number;
}

/** A request the client makes itself, without a token, with exactly these headers (§3.3). */
export interface SignedUpload {
  method: string;
  url: string;
  headers: [string, string][];
  /** Seconds since the Unix epoch. */
  expires: number;
}

// ---- Client commands (§6) -------------------------------------------------------------------

export interface AuthCommand {
  type: "auth";
  rid: number;
  token: string;
}
export interface CreateRoomCommand {
  type: "create_room";
  rid: number;
  name: string;
  visibility: Visibility;
}
export interface JoinCommand {
  type: "join";
  rid: number;
  room: RoomId;
  resume?: Position;
}
export interface LeaveCommand {
  type: "leave";
  rid: number;
  room: RoomId;
}
export interface InviteCommand {
  type: "invite";
  rid: number;
  room: RoomId;
  user: UserId;
}
export interface KickCommand {
  type: "kick";
  rid: number;
  room: RoomId;
  user: UserId;
}
export interface OpenDirectCommand {
  type: "open_direct";
  rid: number;
  user: UserId;
}
export interface SendCommand {
  type: "send";
  rid: number;
  room: RoomId;
  cmid: string;
  text: string;
  attachments?: AttachmentId[];
  /** True on the first attempt of a `cmid`, never on a resend (§6.8). */
  first?: boolean;
  /** The message of the room it answers (§6.16). */
  reply_to?: Position;
}
/** Replace the text of one's own message (§6.16). */
export interface EditCommand {
  type: "edit";
  rid: number;
  room: RoomId;
  cmid: string;
  target: Position;
  text: string;
}
/** Delete a message: one's own, or any as an owner or admin (§6.16). */
export interface DeleteCommand {
  type: "delete";
  rid: number;
  room: RoomId;
  cmid: string;
  target: Position;
}
/** Add an emoji to a message, or take one's own away (§6.16). */
export interface ReactCommand {
  type: "react";
  rid: number;
  room: RoomId;
  cmid: string;
  target: Position;
  emoji: string;
  remove?: boolean;
}
/** Pin a message to the room, or unpin it: owners and admins (§6.16). */
export interface PinCommand {
  type: "pin";
  rid: number;
  room: RoomId;
  cmid: string;
  target: Position;
  unpin?: boolean;
}
/** The room's pinned messages, newest pin first (§6.16). */
export interface PinsCommand {
  type: "pins";
  rid: number;
  room: RoomId;
  limit: number;
}
export interface AttachmentSlotCommand {
  type: "attachment_slot";
  rid: number;
  room: RoomId;
  name: string;
  content_type: string;
  size: number;
}
export interface HistoryCommand {
  type: "history";
  rid: number;
  room: RoomId;
  before?: Position;
  after?: Position;
  limit: number;
}
export interface SearchCommand {
  type: "search";
  rid: number;
  query: string;
  room?: RoomId;
  limit: number;
}
export interface TypingCommand {
  type: "typing";
  rid: number;
  room: RoomId;
  active: boolean;
}
export interface MarkReadCommand {
  type: "mark_read";
  rid: number;
  room: RoomId;
  pos: Position;
}
export interface MarkDeliveredCommand {
  type: "mark_delivered";
  rid: number;
  room: RoomId;
  pos: Position;
}
export interface ReceiptsCommand {
  type: "receipts";
  rid: number;
  room: RoomId;
  after?: UserId;
  limit: number;
}
export interface PresenceQueryCommand {
  type: "presence_query";
  rid: number;
  users: UserId[];
}
export interface PresenceSubscribeCommand {
  type: "presence_subscribe";
  rid: number;
  users: UserId[];
}
export interface SetPresenceCommand {
  type: "set_presence";
  rid: number;
  status: "online" | "away";
}
export interface PingCommand {
  type: "ping";
  rid: number;
}
export interface ProfilesCommand {
  type: "profiles";
  rid: number;
  users: UserId[];
}
export interface SetProfileCommand {
  type: "set_profile";
  rid: number;
  display_name?: string;
  status?: string;
}
export interface FindUsersCommand {
  type: "find_users";
  rid: number;
  prefix: string;
  limit: number;
}
export interface RoomsCommand {
  type: "rooms";
  rid: number;
  before?: RoomCursor;
  limit: number;
}
export interface MuteCommand {
  type: "mute";
  rid: number;
  room: RoomId;
  muted: boolean;
}

export type ClientFrame =
  | AuthCommand
  | CreateRoomCommand
  | JoinCommand
  | LeaveCommand
  | InviteCommand
  | KickCommand
  | OpenDirectCommand
  | SendCommand
  | EditCommand
  | DeleteCommand
  | ReactCommand
  | PinCommand
  | PinsCommand
  | AttachmentSlotCommand
  | HistoryCommand
  | SearchCommand
  | TypingCommand
  | MarkReadCommand
  | MarkDeliveredCommand
  | ReceiptsCommand
  | PresenceQueryCommand
  | PresenceSubscribeCommand
  | SetPresenceCommand
  | PingCommand
  | ProfilesCommand
  | SetProfileCommand
  | FindUsersCommand
  | RoomsCommand
  | MuteCommand;

// ---- Server frames (§7) ---------------------------------------------------------------------

/** The first frame of every connection (§7.1). */
export interface HelloFrame {
  type: "hello";
  protocol: number;
  conn: number;
  user?: UserInfo;
  max_frame_bytes: number;
  max_text_bytes: number;
  commands_per_sec: number;
}

// Replies (§7.2): each carries its command's `rid`.
export interface AuthedReply {
  type: "authed";
  rid: number;
  user: UserInfo;
}
export interface RoomCreatedReply {
  type: "room_created";
  rid: number;
  room: RoomInfo;
}
export interface JoinedReply {
  type: "joined";
  rid: number;
  room: RoomInfo;
  /** The room's newest position; absent when it has no message. */
  head?: Position;
  /** The caller's role in the room: owners and admins pin, delete others' messages, kick. */
  role?: "owner" | "admin" | "member";
}
export interface LeftReply {
  type: "left";
  rid: number;
  room: RoomId;
}
export interface InvitedReply {
  type: "invited";
  rid: number;
  room: RoomId;
}
export interface DirectOpenedReply {
  type: "direct_opened";
  rid: number;
  room: RoomInfo;
}
export interface SentReply {
  type: "sent";
  rid: number;
  room: RoomId;
  cmid: string;
  pos: Position;
  /** True when `cmid` had been stored before; `pos` is then the original's. */
  duplicate: boolean;
}
export interface HistoryReply {
  type: "history";
  rid: number;
  room: RoomId;
  /** Oldest first, whatever the direction. */
  messages: ChatMessage[];
  more: boolean;
}
export interface SearchResultsReply {
  type: "search_results";
  rid: number;
  /** Newest first. */
  messages: ChatMessage[];
}
export interface AttachmentSlotReply {
  type: "attachment_slot";
  rid: number;
  attachment: SlotAttachment;
  upload: SignedUpload;
}
export interface PresenceReply {
  type: "presence";
  rid: number;
  users: PresenceInfo[];
}
export interface ProfilesReply {
  type: "profiles";
  rid: number;
  users: Profile[];
}
export interface RoomsReply {
  type: "rooms";
  rid: number;
  rooms: RoomListItem[];
  more: boolean;
}
export interface PinsReply {
  type: "pins";
  rid: number;
  room: RoomId;
  /** Newest pin first, as history shows them. */
  messages: ChatMessage[];
  more: boolean;
}
export interface ReceiptsReply {
  type: "receipts";
  rid: number;
  room: RoomId;
  members: MemberReceipt[];
  more: boolean;
}
export interface DoneReply {
  type: "done";
  rid: number;
}
export interface PongReply {
  type: "pong";
  rid: number;
}
/** A coded error (§9); `rid` is absent only when the command could not be read. */
export interface ErrorReply {
  type: "error";
  rid?: number;
  code: number;
  message: string;
}

export type ReplyFrame =
  | AuthedReply
  | RoomCreatedReply
  | JoinedReply
  | LeftReply
  | InvitedReply
  | DirectOpenedReply
  | SentReply
  | HistoryReply
  | SearchResultsReply
  | AttachmentSlotReply
  | PresenceReply
  | ProfilesReply
  | RoomsReply
  | ReceiptsReply
  | PinsReply
  | DoneReply
  | PongReply
  | ErrorReply;

// Events (§7.3): no `rid`.
export interface MessageEvent extends ChatMessage {
  type: "message";
}
/** The message at `target` now reads `text` (§6.16). An entry of the room: it has a `pos`. */
export interface EditedEvent {
  type: "edited";
  room: RoomId;
  pos: Position;
  sender: UserId;
  cmid: string;
  ts: number;
  target: Position;
  text: string;
}
/** The message at `target` was deleted, by `sender` (§6.16). */
export interface DeletedEvent {
  type: "deleted";
  room: RoomId;
  pos: Position;
  sender: UserId;
  cmid: string;
  ts: number;
  target: Position;
}
/** `sender` added `emoji` to the message at `target`, or took it away (§6.16). */
export interface ReactionEvent {
  type: "reaction";
  room: RoomId;
  pos: Position;
  sender: UserId;
  cmid: string;
  ts: number;
  target: Position;
  emoji: string;
  removed?: boolean;
}
/** `sender` pinned the message at `target` to the room, or unpinned it (§6.16). */
export interface PinnedEvent {
  type: "pinned";
  room: RoomId;
  pos: Position;
  sender: UserId;
  cmid: string;
  ts: number;
  target: Position;
  removed?: boolean;
}
/** Every entry of a room's sequence: what a resume replays, in order. */
export type EntryEvent = MessageEvent | EditedEvent | DeletedEvent | ReactionEvent | PinnedEvent;
export interface MemberJoinedEvent {
  type: "member_joined";
  room: RoomId;
  user: UserId;
}
export interface MemberLeftEvent {
  type: "member_left";
  room: RoomId;
  user: UserId;
}
export interface TypingEvent {
  type: "typing";
  room: RoomId;
  user: UserId;
  active: boolean;
}
export interface ReadReceiptEvent {
  type: "read_receipt";
  room: RoomId;
  user: UserId;
  pos: Position;
}
export interface DeliveryReceiptEvent {
  type: "delivery_receipt";
  room: RoomId;
  user: UserId;
  pos: Position;
}
export interface PresenceChangedEvent {
  type: "presence_changed";
  user: UserId;
  status: PresenceStatus;
}
export interface ResumeEvent {
  type: "resume";
  room: RoomId;
  outcome: "recovered" | "reload";
  /** The replayed entries that follow (`message`, `edited`, `deleted`, `reaction`; 0 with `reload`). */
  missed: number;
  head?: Position;
}
export interface RoomResetEvent {
  type: "room_reset";
  room: RoomId;
}
export interface RoomAddedEvent {
  type: "room_added";
  room: RoomInfo;
  by: UserId;
}
export interface ProfileChangedEvent {
  type: "profile_changed";
  user: Profile;
}
/** The last frame before the server closes the connection with `code` (§7.4). */
export interface DisconnectEvent {
  type: "disconnect";
  code: number;
  reason: string;
  reconnect: boolean;
  resume: RoomPosition[];
}

export type EventFrame =
  | MessageEvent
  | EditedEvent
  | DeletedEvent
  | ReactionEvent
  | PinnedEvent
  | MemberJoinedEvent
  | MemberLeftEvent
  | TypingEvent
  | ReadReceiptEvent
  | DeliveryReceiptEvent
  | PresenceChangedEvent
  | ResumeEvent
  | RoomResetEvent
  | RoomAddedEvent
  | ProfileChangedEvent
  | DisconnectEvent;

export type ServerFrame = HelloFrame | ReplyFrame | EventFrame;

// Every frame type, listed once per direction. Each table must name exactly the types of its
// union (the compiler checks both ways), and a test checks them against docs/PROTOCOL.md, so a
// frame added to the protocol and not here fails the build's tests.
const COMMANDS: Record<ClientFrame["type"], true> = {
  auth: true,
  create_room: true,
  join: true,
  leave: true,
  invite: true,
  kick: true,
  open_direct: true,
  send: true,
  edit: true,
  delete: true,
  react: true,
  pin: true,
  pins: true,
  attachment_slot: true,
  history: true,
  search: true,
  typing: true,
  mark_read: true,
  mark_delivered: true,
  receipts: true,
  presence_query: true,
  presence_subscribe: true,
  set_presence: true,
  ping: true,
  profiles: true,
  set_profile: true,
  find_users: true,
  rooms: true,
  mute: true,
};
const REPLIES: Record<ReplyFrame["type"], true> = {
  authed: true,
  room_created: true,
  joined: true,
  left: true,
  invited: true,
  direct_opened: true,
  sent: true,
  history: true,
  search_results: true,
  attachment_slot: true,
  presence: true,
  profiles: true,
  rooms: true,
  receipts: true,
  pins: true,
  done: true,
  pong: true,
  error: true,
};
const EVENTS: Record<EventFrame["type"], true> = {
  message: true,
  edited: true,
  deleted: true,
  reaction: true,
  pinned: true,
  member_joined: true,
  member_left: true,
  typing: true,
  read_receipt: true,
  delivery_receipt: true,
  presence_changed: true,
  resume: true,
  room_reset: true,
  room_added: true,
  profile_changed: true,
  disconnect: true,
};

/** The `type` of every client command (§6). */
export const COMMAND_TYPES: ReadonlySet<string> = new Set(Object.keys(COMMANDS));
/** The `type` of every reply (§7.2). */
export const REPLY_TYPES: ReadonlySet<string> = new Set(Object.keys(REPLIES));
/** The `type` of every event (§7.3); `typing` is both a command and an event (direction tells). */
export const EVENT_TYPES: ReadonlySet<string> = new Set(Object.keys(EVENTS));

/** What each command is answered with on success (§6.1). */
export interface ReplyOf {
  auth: AuthedReply;
  create_room: RoomCreatedReply;
  join: JoinedReply;
  leave: LeftReply;
  invite: InvitedReply;
  kick: DoneReply;
  open_direct: DirectOpenedReply;
  send: SentReply;
  edit: SentReply;
  delete: SentReply;
  react: SentReply;
  pin: SentReply;
  pins: PinsReply;
  attachment_slot: AttachmentSlotReply;
  history: HistoryReply;
  search: SearchResultsReply;
  typing: DoneReply;
  mark_read: DoneReply;
  mark_delivered: DoneReply;
  receipts: ReceiptsReply;
  presence_query: PresenceReply;
  presence_subscribe: PresenceReply;
  set_presence: DoneReply;
  ping: PongReply;
  profiles: ProfilesReply;
  set_profile: DoneReply;
  find_users: ProfilesReply;
  rooms: RoomsReply;
  mute: DoneReply;
}

/** A command as the caller writes it: the client adds `rid`. */
export type Command = WithoutRid<ClientFrame>;
type WithoutRid<F> = F extends unknown ? Omit<F, "rid"> : never;

// ---- Positions -----------------------------------------------------------------------------

/** Before every message (§5): resuming from it replays the whole room (within the limit). */
export const POSITION_ZERO: Position = Object.freeze({ epoch: 0, seq: 0 });

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePositions(a: Position, b: Position): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.seq - b.seq;
}

/** The later of two positions; `undefined` counts as before every position. */
export function maxPosition(a: Position | undefined, b: Position | undefined): Position | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return comparePositions(a, b) >= 0 ? a : b;
}

/** `EPOCH:SEQ`, as the HTTP API writes positions (§3). */
export function formatPosition(p: Position): string {
  return `${p.epoch}:${p.seq}`;
}
