// The onceflow load through BullMQ on the same Redis: N jobs (same payload)
// added in bulk batches, a no-op worker, time until all are completed.
// Reports jobs/s and Redis CPU and commands per job (INFO before/after).
//   node bench.mjs --port 6379 --jobs 100000 --batch 1000 --concurrency 50 [--dedup]
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) =>
    a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]?.startsWith("--") || all[i + 1] === undefined ? "1" : all[i + 1]]] : acc, []));
const port = Number(args.port ?? 6379);
const jobs = Number(args.jobs ?? 100000);
const batch = Number(args.batch ?? 1000);
const concurrency = Number(args.concurrency ?? 50);
const dedup = args.dedup === "1";
const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };
const admin = new IORedis(connection);

async function redisCpu() {
  const info = await admin.info("cpu");
  const get = (k) => Number(info.match(new RegExp(`${k}:([0-9.]+)`))[1]);
  return get("used_cpu_user") + get("used_cpu_sys");
}
async function redisCommands() {
  const info = await admin.info("commandstats");
  let calls = 0, evals = 0;
  for (const m of info.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) {
    calls += Number(m[2]);
    if (m[1].startsWith("eval")) evals += Number(m[2]);
  }
  return { calls, evals };
}

const name = `bench-${process.pid}`;
const queue = new Queue(name, { connection });
await admin.config("RESETSTAT");
const cpu0 = await redisCpu();
const payload = { order: 12345, customer: "c-42", amount: 99.5 };
const t0 = performance.now();
let done = 0;
const finished = new Promise((resolve) => {
  const worker = new Worker(name, async () => {}, {
    connection, concurrency, removeOnComplete: { count: 0 }, removeOnFail: { count: 0 },
  });
  worker.on("completed", () => { if (++done === jobs) resolve(worker); });
});
for (let i = 0; i < jobs; i += batch) {
  const items = [];
  for (let j = i; j < Math.min(jobs, i + batch); ++j)
    items.push({ name: "bench.event", data: payload,
                 opts: dedup ? { jobId: `b-${j}` } : {} });
  await queue.addBulk(items);
}
const worker = await finished;
const secs = (performance.now() - t0) / 1000;
const cpu1 = await redisCpu();
const cmds = await redisCommands();
console.log(`bullmq jobs=${jobs} concurrency=${concurrency} dedup=${dedup} ` +
  `jobs/s=${Math.round(jobs / secs)} redis_cpu_us_per_job=${((cpu1 - cpu0) * 1e6 / jobs).toFixed(1)} ` +
  `redis_commands_per_job=${(cmds.calls / jobs).toFixed(2)} scripts_per_job=${(cmds.evals / jobs).toFixed(3)}`);
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
await admin.quit();
