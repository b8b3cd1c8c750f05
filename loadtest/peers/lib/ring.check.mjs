// A check of lib/ring.mjs against engine/src/ring.rs: the expected values below were printed by
// a Rust program made of ring.rs's own `fnv1a` and `splitmix64` (copied verbatim) and its
// `owner_of` over the ids "node-a", "node-b" for rooms 1..=64. Run: node lib/ring.check.mjs
import assert from 'node:assert/strict';
import { fnv1a, owner } from './ring.mjs';

assert.equal(fnv1a('node-a'), 16615780970300754771n);
const owners = Array.from({ length: 64 }, (_, i) => owner(['node-a', 'node-b'], i + 1).at(-1)).join('');
assert.equal(owners, 'abaabababbbbaaaaaaabababbabaabbbabbabbaaaabbbbabbaabbbbaaababbbb');
assert.equal(owner(['node-b', 'node-a'], 7), owner(['node-a', 'node-b'], 7)); // order-free
console.log('ring.mjs agrees with engine/src/ring.rs on rooms 1..64');
