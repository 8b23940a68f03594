/**
 * One export download for bench/export-api.ts, in a process of its own so that its peak RSS is
 * the client's alone (the bench runner holds a database pool and the seeding's garbage): reads
 * the response body chunk by chunk, counting bytes and dropping them (/dev/null), then prints
 * one JSON line.
 *   node --import tsx bench/export-fetch.ts <url>
 */
const [url] = process.argv.slice(2);
if (!url) throw new Error('usage: export-fetch.ts <url>');

let peakRss = process.memoryUsage.rss();
const sample = () => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
};

async function main(): Promise<void> {
  const timer = setInterval(sample, 20);
  const t0 = performance.now();
  const res = await fetch(url!);
  if (!res.ok || !res.body) throw new Error(`export: HTTP ${res.status} ${await res.text()}`);
  let firstByteMs: number | null = null;
  let bytes = 0;
  for await (const chunk of res.body) {
    firstByteMs ??= performance.now() - t0;
    bytes += (chunk as Uint8Array).byteLength;
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  sample();
  console.log(
    JSON.stringify({
      bytes,
      seconds,
      first_byte_ms: firstByteMs,
      total: Number(res.headers.get('x-export-total')),
      peak_rss: peakRss,
    }),
  );
}

await main();
