// Figures: Redis's own counters (PUBLISH calls, CPU), percentiles, and the printed table.

/** `cmdstat_publish` calls and used CPU seconds so far, from Redis's INFO. */
export async function redisCounters(redis) {
  const info = await redis.sendCommand(['INFO', 'all']);
  const num = (re) => Number(info.match(re)?.[1] ?? 0);
  return {
    publish: num(/^cmdstat_publish:calls=(\d+)/m),
    cpu: num(/^used_cpu_sys:([\d.]+)/m) + num(/^used_cpu_user:([\d.]+)/m),
  };
}

/** Deletes every key under `prefix` (SCAN, never KEYS). The number deleted. */
export async function deleteKeys(redis, prefix) {
  let n = 0;
  for await (const key of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    n += await redis.del(key);
  }
  return n;
}

/** The q-quantile (0..1) of `values`, nearest rank; NaN when empty. Sorts in place. */
export function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summarize(values) {
  const s = Float64Array.from(values).sort();
  return {
    count: s.length,
    p50_ms: round(quantile(s, 0.5)),
    p99_ms: round(quantile(s, 0.99)),
    max_ms: round(s.length ? s[s.length - 1] : NaN),
  };
}

export const round = (x, d = 2) => (Number.isFinite(x) ? Number(x.toFixed(d)) : null);

/** A plain-text table: `rows` are arrays of cells, the first row the header. */
export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r) => r.map((c, i) => String(c).padStart(widths[i])).join('  '))
    .join('\n');
}
