// Which Switchboard node owns a room: a port of engine/src/ring.rs (rendezvous hashing,
// FNV-1a over the node id's bytes, splitmix64 to mix), in 64-bit BigInt arithmetic.
const MASK = (1n << 64n) - 1n;

export function fnv1a(text) {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(text, 'utf8')) h = ((h ^ BigInt(b)) * 0x100000001b3n) & MASK;
  return h;
}

export function splitmix64(x) {
  x = (x + 0x9e3779b97f4a7c15n) & MASK;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return x ^ (x >> 31n);
}

/** The owner of room `room` among `nodeIds`: highest splitmix64(fnv1a(id) ^ splitmix64(room)),
 *  a tie going to the smaller id (Rust: `max_by_key((score, Reverse(id)))`). */
export function owner(nodeIds, room) {
  const key = splitmix64(BigInt(room));
  let best = null;
  for (const id of nodeIds) {
    const score = splitmix64(fnv1a(id) ^ key);
    if (!best || score > best.score || (score === best.score && id < best.id)) best = { id, score };
  }
  return best?.id;
}
