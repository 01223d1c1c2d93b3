// A Node agent analogue for L1 development (tests/journals/drift/record.py: node*, nodeminer10*).
//
//     node tests/agents/node_agent.js --life-s 300
//
// Written for L1, NOT a copy of any eval stack: what matters is the thread structure of a
// V8 process -- the main event loop, V8's platform threads (GC, JIT), libuv's pool (fs,
// crypto, dns) -- and an agent's rhythm: a model call to a local API every 1-4 s (served
// from inside the process, with a delayed JSON reply), parsing it, a tool call now and
// then (file write + read in a temp dir, a directory listing, hashing a file), and
// garbage.  Prints "ready <api port>" when serving.  stdin commands, one per line:
//
//     mine THREADS BUSY_MS IDLE_MS SECONDS   worker threads hashing BUSY_MS then sleeping
//                                            IDLE_MS (10 90: a 10 % duty cycle), SECONDS long
//     warm SECONDS                           a start-up burst on the main thread for SECONDS: ~30 ms
//                                            of every 50 compiling functions and building and
//                                            re-serialising schema-like objects (what an SDK does
//                                            on its first requests: JIT, validators, imports)
//     quit
//
// Every loop here is bounded by --life-s.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const readline = require('node:readline');
const { Worker } = require('node:worker_threads');

const argv = process.argv.slice(2);
const lifeS = Number(argv[argv.indexOf('--life-s') + 1] || 300);
const seed = Number(argv.includes('--seed') ? argv[argv.indexOf('--seed') + 1] : 7);
// --reply-kb N: model replies of ~N KB, parsed, kept in the transcript and re-serialised each
// step (an SDK validating and re-sending a long conversation): a busier, burstier agent
const replyKb = Number(argv.includes('--reply-kb') ? argv[argv.indexOf('--reply-kb') + 1] : 0);
const started = Date.now();
const deadline = started + lifeS * 1000;

// a small deterministic PRNG (mulberry32): the same rhythm for the same seed
let st = seed >>> 0;
function rand() {
  st = (st + 0x6d2b79f5) >>> 0;
  let t = st;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'h7-node-agent-'));
const words = 'the agent reads a file and calls a tool then answers with a summary of it'.split(' ');

// the "model API", served from inside the agent's process (like an in-process docs/MCP server)
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const n = 200 + Math.floor(rand() * 800) + Math.floor(replyKb * 1024 / 6 * (0.5 + rand()));
    const reply = {
      id: crypto.randomUUID(),
      choices: [{ message: { role: 'assistant', content: Array.from({ length: n }, (_, i) => words[i % words.length]).join(' ') } }],
      tool: ['write_file', 'list_dir', 'hash_file', 'none', 'none'][Math.floor(rand() * 5)],
      usage: { prompt: body.length, completion: n },
    };
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply));
    }, 50 + rand() * 350);
  });
});

function call(port, prompt) {
  return new Promise((resolve) => {
    const data = JSON.stringify({ model: 'scripted', messages: [{ role: 'user', content: prompt }] });
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      let buf = '';
      res.on('data', (d) => { buf += d; });
      res.on('end', () => { try { resolve(JSON.parse(buf)); } catch { resolve(null); } });
    });
    req.on('error', () => resolve(null));
    req.end(data);
  });
}

async function tool(name, text, step) {
  const f = path.join(work, `note-${step % 8}.txt`);
  if (name === 'write_file') {
    await fs.promises.writeFile(f, text);
    return (await fs.promises.readFile(f, 'utf8')).length;
  }
  if (name === 'list_dir') return (await fs.promises.readdir(work)).length;
  if (name === 'hash_file') {
    try {
      const h = crypto.createHash('sha256').update(await fs.promises.readFile(f)).digest('hex');
      return h.length;
    } catch { return 0; }
  }
  return 0;
}

async function agentLoop(port) {
  let history = [];
  for (let step = 0; Date.now() < deadline; step++) {
    const reply = await call(port, `step ${step}: ` + history.slice(-3).join(' | '));
    if (reply) {
      const text = reply.choices[0].message.content;
      await tool(reply.tool, text, step);
      // an agent keeps its transcript (garbage for V8's GC) and trims it
      history.push(replyKb ? text : text.slice(0, 2000));
      if (history.length > (replyKb ? 8 : 50)) history = history.slice(replyKb ? -4 : -10);
      if (replyKb) JSON.parse(JSON.stringify({ messages: history }));
    }
    await new Promise((r) => setTimeout(r, 1000 + rand() * 3000));
  }
}

function mine(threads, busy, idle, seconds) {
  const src = `
    const c = require('node:crypto');
    const { workerData: w } = require('node:worker_threads');
    const end = Date.now() + w.ms; const sab = new Int32Array(new SharedArrayBuffer(4));
    let h = Buffer.from('h7');
    while (Date.now() < end) {
      const t = Date.now();
      while (Date.now() - t < w.busy) for (let j = 0; j < 50; j++) h = c.createHash('sha256').update(h).digest();
      if (w.idle > 0) Atomics.wait(sab, 0, 0, w.idle);
    }`;
  for (let i = 0; i < threads; i++) {
    new Worker(src, { eval: true, workerData: { busy, idle, ms: seconds * 1000 } }).unref();
  }
}

function warm(seconds) {
  const end = Date.now() + seconds * 1000;
  let k = 0;
  const step = () => {
    if (Date.now() >= end) return;
    const t = Date.now();
    while (Date.now() - t < 30) {
      // a new function per round: V8 parses and compiles it (what loading an SDK's modules costs)
      const f = new Function('o', `return JSON.stringify([o, ${k++}]);`);
      const o = { type: 'object', properties: Object.fromEntries(words.map((w, i) => [w + i, { type: 'string', n: k }])) };
      JSON.parse(f(o));
    }
    setTimeout(step, 20);
  };
  step();
}

server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  process.stdout.write(`ready ${port}\n`);
  agentLoop(port).finally(() => { server.close(); fs.rmSync(work, { recursive: true, force: true }); process.exit(0); });
});
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, ...a] = line.trim().split(/\s+/);
  if (cmd === 'mine') mine(Number(a[0]), Number(a[1]), Number(a[2]), Number(a[3]));
  if (cmd === 'warm') warm(Number(a[0]));
  if (cmd === 'quit') { fs.rmSync(work, { recursive: true, force: true }); process.exit(0); }
});
setTimeout(() => { fs.rmSync(work, { recursive: true, force: true }); process.exit(0); }, lifeS * 1000 + 5000).unref();
