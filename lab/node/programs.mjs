// One attempt of one third-party MCP client program, run as people run it (defaults, no language model):
//
//   node --import ./preload.mjs programs.mjs PROGRAM
//
// The attempt is described by the environment: LAB_URL (the URL the program is given), LAB_HOLD (seconds to
// keep the connection open), LAB_AUTHORIZATION=1 (configure a bearer token), LAB_CA (the lab CA, also given to
// child programs as NODE_EXTRA_CA_CERTS). preload.mjs binds the source address and records every exchange.
// Exit 0: the program connected and listed the tools; otherwise the error on one line and exit 1.
//
// ai-sdk       Vercel AI SDK, @ai-sdk/mcp createMCPClient over its HTTP transport, then tools(), close()
// langchain    @langchain/mcp-adapters MultiServerMCPClient (HTTP), getTools(), close()
// mastra       @mastra/mcp MCPClient with one URL server, listTools(), disconnect()
// ts-sdk-v2    the TypeScript SDK v2 client (@modelcontextprotocol/client), as mcp-use ships it
// mcp-remote   the mcp-remote proxy (a stdio MCP server in front of the URL), driven over stdio by an SDK client
// inspector    the MCP Inspector CLI: --cli URL --method tools/list
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const url = process.env.LAB_URL;
const hold = Number(process.env.LAB_HOLD || 0) * 1000;
const headers = process.env.LAB_AUTHORIZATION === '1' ? { Authorization: 'Bearer lab-token' } : {};
const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const preload = here('./preload.mjs');

// List the tools, hold the connection, and close it whatever happened: every program's attempt.
async function use(list, close) {
  try {
    await list();
    await sleep(hold);
  } finally {
    await close();
  }
}

async function aiSdk() {
  const { createMCPClient } = await import('@ai-sdk/mcp');
  const client = await createMCPClient({ transport: { type: 'http', url, headers } });
  await use(() => client.tools(), () => client.close());
}

async function langchain() {
  const { MultiServerMCPClient } = await import('@langchain/mcp-adapters');
  const client = new MultiServerMCPClient({ throwOnLoadError: true, mcpServers: { lab: { transport: 'http', url, headers } } });
  await use(() => client.getTools(), () => client.close());
}

async function mastra() {
  const { MCPClient } = await import('@mastra/mcp');
  const client = new MCPClient({ id: `lab-${process.pid}`, servers: { lab: { url: new URL(url), requestInit: { headers } } } });
  // listTools() logs a failed connection and returns no tools, without throwing: no tools is a failure here.
  const list = async () => {
    if (Object.keys(await client.listTools()).length === 0) throw new Error('MCPClient.listTools() listed no tools: it could not connect');
  };
  await use(list, () => client.disconnect());
}

async function tsSdkV2() {
  const { Client, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client');
  const client = new Client({ name: 'lab-ts-sdk-v2', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  await use(() => client.listTools(), () => client.close());
}

// A program that runs as its own process: the same preload goes into it through NODE_OPTIONS.
function childEnv() {
  return { ...process.env, NODE_OPTIONS: `--import ${preload}`, NODE_EXTRA_CA_CERTS: process.env.LAB_CA ?? '', NODE_NO_WARNINGS: '1' };
}

async function mcpRemote() {
  const { Client } = await import('@modelcontextprotocol/client');
  const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
  const args = [here('./node_modules/mcp-remote/dist/proxy.js'), url];
  if (url.startsWith('http://')) args.push('--allow-http'); // mcp-remote refuses http:// URLs without it
  for (const [k, v] of Object.entries(headers)) args.push('--header', `${k}: ${v}`);
  const client = new Client({ name: 'lab-mcp-remote', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args, env: childEnv(), stderr: 'ignore' }));
  await use(() => client.listTools(), () => client.close());
}

async function inspector() {
  const args = [here('./node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js'), '--cli', url, '--method', 'tools/list'];
  for (const [k, v] of Object.entries(headers)) args.push('--header', `${k}: ${v}`);
  const child = spawn(process.execPath, args, { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.stdout.resume();
  const code = await new Promise((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`inspector exited ${code}: ${err.trim().split('\n').slice(-1)[0] ?? ''}`);
  await sleep(hold);
}

const PROGRAMS = { 'ai-sdk': aiSdk, langchain, mastra, 'ts-sdk-v2': tsSdkV2, 'mcp-remote': mcpRemote, inspector };

const program = PROGRAMS[process.argv[2]];
if (!program) {
  console.error(`unknown program ${process.argv[2]}: ${Object.keys(PROGRAMS).join(', ')}`);
  process.exit(2);
}
try {
  await program();
  process.exit(0);
} catch (e) {
  const inner = e?.cause ? ` (${e.cause?.message ?? e.cause})` : '';
  console.error(`${e?.name ?? 'Error'}: ${e?.message ?? e}${inner}`.replace(/\s+/g, ' ').slice(0, 400));
  process.exit(1);
}
