// OpenAI Agents SDK for JavaScript (@openai/agents) agent for the H7 eval corpus.
//
// Runs on Node 20 with its own node_modules (eval/stacks/node).  Talks to the
// scripted model API through the SDK's OpenAI client (Responses API),
// alternating streamed and plain runs.  Tools: fetch (global fetch), file
// read/write, directory listing, programs without a shell (execFile), and
// run_js, a code tool evaluating JavaScript in the agent's own process
// (node:vm), as JS coding agents do.  It also serves a docs site from inside
// its own process.  Tracing is off: nothing may leave the host.
import { Agent, run, tool, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } from '@openai/agents';
import OpenAI from 'openai';
import { z } from 'zod';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import vm from 'node:vm';

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const API = opt('api'); const WORK = path.resolve(opt('workdir'));
const SEED = Number(opt('seed', '1')); const DURATION = Number(opt('duration', '7200')) * 1000;
const READY = opt('ready-file');
process.chdir(WORK);
const MAX_OUT = 4000;

function inside(p) {
  const full = path.resolve(WORK, p);
  if (!full.startsWith(WORK)) throw new Error(`${p}: outside the work directory`);
  return full;
}

// a small seeded PRNG for the pacing (mulberry32)
let s = SEED >>> 0;
const rand = () => { s = (s + 0x6D2B79F5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };

const fetchUrl = tool({
  name: 'fetch_url', description: 'Fetch a web page or API resource and return its text.',
  parameters: z.object({ url: z.string() }),
  execute: async ({ url }) => {
    try { const r = await fetch(url, { signal: AbortSignal.timeout(10000) }); return (await r.text()).slice(0, MAX_OUT); }
    catch (e) { return `error: ${e.message}`; }
  },
});
const readFile = tool({
  name: 'read_file', description: 'Read a text file from the work directory.',
  parameters: z.object({ path: z.string() }),
  execute: async ({ path: p }) => { try { return fs.readFileSync(inside(p), 'utf8').slice(0, MAX_OUT); } catch (e) { return `error: ${e.message}`; } },
});
const writeFile = tool({
  name: 'write_file', description: 'Write a text file in the work directory.',
  parameters: z.object({ path: z.string(), content: z.string() }),
  execute: async ({ path: p, content }) => {
    try { const f = inside(p); fs.mkdirSync(path.dirname(f), { recursive: true }); fs.writeFileSync(f, content); return `wrote ${content.length} bytes to ${p}`; }
    catch (e) { return `error: ${e.message}`; }
  },
});
const listDir = tool({
  name: 'list_dir', description: 'List a directory of the work directory.',
  parameters: z.object({ path: z.string() }),
  execute: async ({ path: p }) => {
    try { return fs.readdirSync(inside(p), { withFileTypes: true }).map(d => d.name + (d.isDirectory() ? '/' : '')).sort().join('\n'); }
    catch (e) { return `error: ${e.message}`; }
  },
});
const runCommand = tool({
  name: 'run_command', description: 'Run a program such as git, ls or grep (no shell) and return its output.',
  parameters: z.object({ argv: z.array(z.string()) }),
  execute: ({ argv: a }) => new Promise(resolve => {
    execFile(a[0], a.slice(1), { cwd: WORK, timeout: 60000 }, (err, out, errOut) =>
      resolve(`${out}${errOut}`.slice(0, MAX_OUT) + `\n[exit ${err ? (err.code ?? 1) : 0}]`));
  }),
});
const replContext = vm.createContext({ require: createRequire(path.join(WORK, 'repl.js')), process, console, Buffer, setTimeout, setImmediate });
const runJs = tool({
  name: 'run_js', description: "Evaluate JavaScript in the agent's process and return the result.",
  parameters: z.object({ code: z.string() }),
  execute: async ({ code }) => { try { return String(vm.runInContext(code, replContext, { timeout: 10000 })).slice(0, MAX_OUT); } catch (e) { return `${e.name}: ${e.message}`; } },
});

// the in-process docs site
const site = http.createServer((req, res) => {
  const n = 1 + (req.url.length * 7) % 12;
  const body = JSON.stringify({ source: 'in-process docs', path: req.url, sections: Array.from({ length: n }, (_, i) => `section ${i}: ` + 'lorem '.repeat(5 + i * 6)) });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});
await new Promise(r => site.listen(0, '127.0.0.1', r));
const root = API.replace(/\/v1\/?$/, '');
await fetch(`${root}/register-site`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ url: `http://127.0.0.1:${site.address().port}` }) });

setTracingDisabled(true);
setDefaultOpenAIClient(new OpenAI({ baseURL: API, apiKey: 'sk-local', maxRetries: 1, timeout: 60000 }));
setOpenAIAPI('responses');
const agent = new Agent({
  name: 'workspace-assistant', model: 'scripted-1',
  instructions: "You keep the project's notes up to date using your tools.",
  tools: [fetchUrl, readFile, writeFile, listDir, runCommand, runJs],
});
if (READY) fs.writeFileSync(READY, String(process.pid));

const prompts = ['Update the notes from the docs site', 'Summarise the API changes', 'Check the repo state',
  'Draft a short report', 'Look up the status page and record it', 'Tidy the todo list'];
const end = Date.now() + DURATION;
for (let task = 1; Date.now() < end; task++) {
  const prompt = `[task ${task}] ${prompts[Math.floor(rand() * prompts.length)]}.`;
  try {
    if (task % 2 === 0) {
      const r = await run(agent, prompt, { stream: true, maxTurns: 30 });
      for await (const _ of r) { /* drain the stream */ }
      await r.completed;
    } else {
      await run(agent, prompt, { maxTurns: 30 });
    }
  } catch (e) { console.log(`task ${task}: ${e.name}: ${e.message}`); }
  const gap = rand() < 0.85 ? -Math.log(1 - rand()) * 2500 : 8000 + rand() * 12000;
  await new Promise(r => setTimeout(r, Math.max(0, Math.min(gap, 25000, end - Date.now()))));
}
site.close();
process.exit(0);
