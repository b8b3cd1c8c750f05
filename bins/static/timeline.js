// How the web page lays out a conversation in time: a separator between messages of different
// days ("Today", "Yesterday", or the date), each message's time, and which messages continue
// the one before (same sender, a few minutes apart: shown without their sender's name, with
// their time on hover).

const CONTINUE_MS = 5 * 60 * 1000;

const startOfDay = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();

// The separator's text for a message sent at `ts` (ms), seen at `now`.
export function dayLabel(ts, now = new Date()) {
  const d = new Date(ts);
  const days = Math.round((startOfDay(now) - startOfDay(d)) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return d.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric',
    year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
}

// Messages at `a` and `b` (ms) fall on the same local day.
export const sameDay = (a, b) => new Date(a).toDateString() === new Date(b).toDateString();

export const timeOf = (ts) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

// Message `m` continues `prev` (the message shown just before it).
export const continues = (prev, m) => !!prev && prev.sender === m.sender && !prev.deleted
  && sameDay(prev.ts, m.ts) && m.ts - prev.ts < CONTINUE_MS;
