// MessagePack for the web client: nil, booleans, integers (exact up to 2^53), floats, strings,
// binaries, arrays and maps; all the protocol uses. Plain ES2020, no dependencies.
const utf8enc = new TextEncoder();
const utf8dec = new TextDecoder();

export function mpEncode(value) {
  const out = [];
  const u8 = (b) => out.push(b & 0xff);
  const be = (n, bytes) => { for (let i = bytes - 1; i >= 0; i--) u8(Math.floor(n / 2 ** (8 * i))); };
  const raw = (bytes) => { for (const b of bytes) out.push(b); };
  const head = (len, fix, fixMax, c8, c16, c32) => {
    if (len <= fixMax) u8(fix | len);
    else if (c8 !== null && len < 0x100) { u8(c8); u8(len); }
    else if (len < 0x10000) { u8(c16); be(len, 2); }
    else { u8(c32); be(len, 4); }
  };
  const enc = (v) => {
    if (v === null || v === undefined) u8(0xc0);
    else if (v === false) u8(0xc2);
    else if (v === true) u8(0xc3);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
        if (v >= 0) {
          if (v < 0x80) u8(v);
          else if (v < 0x100) { u8(0xcc); u8(v); }
          else if (v < 0x10000) { u8(0xcd); be(v, 2); }
          else if (v < 0x100000000) { u8(0xce); be(v, 4); }
          else { u8(0xcf); be(v, 8); }
        } else if (v >= -32) u8(0xe0 | (v + 32));
        else if (v >= -0x80) { u8(0xd0); u8(v); }
        else if (v >= -0x8000) { u8(0xd1); be(v + 0x10000, 2); }
        else if (v >= -0x80000000) { u8(0xd2); be(v + 0x100000000, 4); }
        else {
          u8(0xd3);
          const big = BigInt.asUintN(64, BigInt(v));
          be(Number(big >> 32n), 4); be(Number(big & 0xffffffffn), 4);
        }
      } else {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, v);
        u8(0xcb); raw(b);
      }
    } else if (typeof v === 'string') {
      const b = utf8enc.encode(v);
      head(b.length, 0xa0, 31, 0xd9, 0xda, 0xdb); raw(b);
    } else if (v instanceof Uint8Array) {
      head(v.length, 0, -1, 0xc4, 0xc5, 0xc6); raw(v);
    } else if (Array.isArray(v)) {
      head(v.length, 0x90, 15, null, 0xdc, 0xdd); v.forEach(enc);
    } else if (typeof v === 'object') {
      const keys = Object.keys(v).filter((k) => v[k] !== undefined);
      head(keys.length, 0x80, 15, null, 0xde, 0xdf);
      for (const k of keys) { enc(k); enc(v[k]); }
    } else throw new TypeError('cannot encode ' + typeof v);
  };
  enc(value);
  return new Uint8Array(out);
}

export function mpDecode(buffer) {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const need = (n) => { if (p + n > bytes.length) throw new Error('msgpack: truncated'); };
  const uint = (n) => {
    need(n);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + bytes[p++];
    return v;
  };
  const int = (n) => {
    need(n);
    const v = n === 1 ? dv.getInt8(p) : n === 2 ? dv.getInt16(p) : n === 4 ? dv.getInt32(p)
      : Number(dv.getBigInt64(p));
    p += n;
    return v;
  };
  const str = (n) => { need(n); const s = utf8dec.decode(bytes.subarray(p, p + n)); p += n; return s; };
  const bin = (n) => { need(n); const b = bytes.slice(p, p + n); p += n; return b; };
  const arr = (n) => { const a = new Array(n); for (let i = 0; i < n; i++) a[i] = dec(); return a; };
  const map = (n) => {
    const o = {};
    for (let i = 0; i < n; i++) { const k = dec(); o[String(k)] = dec(); }
    return o;
  };
  const dec = () => {
    need(1);
    const t = bytes[p++];
    if (t < 0x80) return t;
    if (t < 0x90) return map(t & 0x0f);
    if (t < 0xa0) return arr(t & 0x0f);
    if (t < 0xc0) return str(t & 0x1f);
    if (t >= 0xe0) return t - 0x100;
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(uint(1));
      case 0xc5: return bin(uint(2));
      case 0xc6: return bin(uint(4));
      case 0xca: { need(4); const f = dv.getFloat32(p); p += 4; return f; }
      case 0xcb: { need(8); const f = dv.getFloat64(p); p += 8; return f; }
      case 0xcc: return uint(1);
      case 0xcd: return uint(2);
      case 0xce: return uint(4);
      case 0xcf: return uint(8);
      case 0xd0: return int(1);
      case 0xd1: return int(2);
      case 0xd2: return int(4);
      case 0xd3: return int(8);
      case 0xd9: return str(uint(1));
      case 0xda: return str(uint(2));
      case 0xdb: return str(uint(4));
      case 0xdc: return arr(uint(2));
      case 0xdd: return arr(uint(4));
      case 0xde: return map(uint(2));
      case 0xdf: return map(uint(4));
      default: throw new Error('msgpack: unsupported type 0x' + t.toString(16));
    }
  };
  const v = dec();
  if (p !== bytes.length) throw new Error('msgpack: trailing bytes');
  return v;
}
