// The lab's Node.js clients, one driver process for all of them:
//
//   node clients.mjs PLAN.json RECORD.jsonl
//
// ts-sdk           the official TypeScript SDK's Client over StreamableHTTPClientTransport, as an agent
//                  uses it: connect, list tools, close;
// ts-sdk-sse       the same Client over the SDK's legacy SSEClientTransport;
// ts-sdk-fallback  Streamable HTTP first and, when connecting fails, the legacy SSE transport: the
//                  backwards-compatible client the SDK's README describes;
// node-fetch       a hand-written MCP client on Node's own fetch (redirects followed, its default).
//
// Every client uses Node's built-in fetch. Each attempt gets an undici Agent bound to the assignment's
// source address, wrapped so that every HTTP exchange fetch makes (redirect hops included) is recorded
// with its status: the record is what the client's own network layer saw.
import { appendFileSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';

const PROTOCOL_VERSION = '2025-06-18';
const TOKEN = 'lab-token'; // a dummy bearer token, for the cases that send one

class RecordingAgent extends Agent {
  constructor(options, hops) {
    super(options);
    this.hops = hops;
  }

  dispatch(opts, handler) {
    const hop = { method: opts.method, url: new URL(opts.path, opts.origin).href, status: null };
    this.hops.push(hop);
    const wrapped = {
      onConnect: (...a) => handler.onConnect?.(...a),
      onUpgrade: (...a) => handler.onUpgrade?.(...a),
      onResponseStarted: (...a) => handler.onResponseStarted?.(...a),
      onHeaders: (status, rawHeaders, ...rest) => {
        hop.status = status;
        for (let i = 0; i + 1 < (rawHeaders?.length ?? 0); i += 2) {
          const name = String(rawHeaders[i]).toLowerCase();
          if (name === 'location' || name === 'strict-transport-security') hop[name] = String(rawHeaders[i + 1]);
        }
        return handler.onHeaders?.(status, rawHeaders, ...rest);
      },
      onData: (...a) => handler.onData?.(...a),
      onComplete: (...a) => handler.onComplete?.(...a),
      onBodySent: (...a) => handler.onBodySent?.(...a),
      onRequestSent: (...a) => handler.onRequestSent?.(...a),
      onError: (error) => {
        if (hop.status === null) hop.error = String(error?.cause ?? error);
        return handler.onError?.(error);
      },
    };
    return super.dispatch(opts, wrapped);
  }
}

function recordingFetch(a, hops) {
  const dispatcher = new RecordingAgent({ localAddress: a.source, connect: { ca: readFileSync(a.ca) } }, hops);
  const extra = a.authorization ? { Authorization: `Bearer ${TOKEN}` } : {};
  const doFetch = (url, init = {}) => {
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(extra)) headers.set(k, v);
    return fetch(url, { ...init, headers, dispatcher });
  };
  doFetch.close = () => dispatcher.close();
  return doFetch;
}

async function connect(a, transport) {
  const client = new Client({ name: `lab-${a.client}`, version: '1.0.0' });
  await client.connect(transport);
  return client;
}

async function use(a, client) {
  try {
    await client.listTools();
    await sleep(a.hold * 1000);
  } finally {
    await client.close();
  }
}

// The SDK's OAuth client, as an agent sets it up; the step that needs a person (the browser) fails.
function oauth(a) {
  if (!a.oauth) return undefined;
  let client;
  let tokens;
  let verifier;
  return {
    get redirectUrl() {
      return 'http://127.0.0.1:9999/callback';
    },
    get clientMetadata() {
      return { client_name: 'logscope lab', redirect_uris: ['http://127.0.0.1:9999/callback'] };
    },
    clientInformation: () => client,
    saveClientInformation: (info) => {
      client = info;
    },
    tokens: () => tokens,
    saveTokens: (t) => {
      tokens = t;
    },
    redirectToAuthorization: () => {
      throw new Error('no browser to open the authorization URL');
    },
    saveCodeVerifier: (v) => {
      verifier = v;
    },
    codeVerifier: () => verifier,
  };
}

const streamable = (a, f) => new StreamableHTTPClientTransport(new URL(a.url), { fetch: f, authProvider: oauth(a) });
const legacy = (a, f) => new SSEClientTransport(new URL(a.url), { fetch: f, authProvider: oauth(a) });

const CLIENTS = {
  'ts-sdk': async (a, f) => use(a, await connect(a, streamable(a, f))),
  'ts-sdk-sse': async (a, f) => use(a, await connect(a, legacy(a, f))),
  'ts-sdk-fallback': async (a, f) => {
    let client;
    try {
      client = await connect(a, streamable(a, f));
    } catch {
      client = await connect(a, legacy(a, f));
    }
    await use(a, client);
  },
  'node-fetch': async (a, f) => handwritten(a, f),
};

// The hand-written exchange, the same as lab/clients/common.py's handwritten_session.
async function handwritten(a, f) {
  let headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
  const post = (body) => f(a.url, { method: 'POST', headers, body: JSON.stringify(body) });
  let reply = await post({
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: a.client, version: '1.0' } },
  });
  await rpcResult(reply, 1, 'initialize');
  const session = reply.headers.get('mcp-session-id');
  headers = { ...headers, 'MCP-Protocol-Version': PROTOCOL_VERSION, ...(session ? { 'Mcp-Session-Id': session } : {}) };
  reply = await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  await reply.text();
  if (!reply.ok) throw new Error(`notifications/initialized: HTTP ${reply.status}`);
  await rpcResult(await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), 2, 'tools/list');
  await sleep(a.hold * 1000);
}

async function rpcResult(reply, id, step) {
  const text = await reply.text();
  if (!reply.ok) throw new Error(`${step}: HTTP ${reply.status}`);
  const messages = (reply.headers.get('content-type') ?? '').startsWith('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data:') && l.slice(5).trim()).map((l) => JSON.parse(l.slice(5)))
    : [JSON.parse(text)];
  const m = messages.find((x) => x?.id === id);
  if (!m) throw new Error(`${step}: HTTP ${reply.status} without a response to request ${id}`);
  if (!('result' in m)) throw new Error(`${step}: JSON-RPC error ${JSON.stringify(m.error)}`);
  return m.result;
}

function describe(error) {
  const inner = error?.cause && !(error.message ?? '').includes(String(error.cause?.message ?? '')) ? ` (${error.cause?.message ?? error.cause})` : '';
  return `${error?.name ?? 'Error'}: ${error?.message ?? error}${inner}`.replace(/\s+/g, ' ').slice(0, 400);
}

async function run(a, recordPath) {
  for (let attempt = 1; attempt <= a.attempts; attempt++) {
    const hops = [];
    const start = new Date().toISOString();
    const f = recordingFetch(a, hops);
    let ok = true;
    let error = null;
    const limit = (a.timeout + a.hold) * 1000;
    try {
      await Promise.race([
        CLIENTS[a.client](a, f),
        sleep(limit, null, { ref: false }).then(() => {
          throw new Error(`no answer within ${Math.round(limit / 1000)} s`);
        }),
      ]);
    } catch (e) {
      ok = false;
      error = describe(e);
    }
    await f.close().catch(() => {});
    const row = { client: a.client, server: a.server, case: a.case, source: a.source, url: a.url, attempt, start, end: new Date().toISOString(), ok, error, hops };
    appendFileSync(recordPath, JSON.stringify(row) + '\n');
    if (attempt < a.attempts) await sleep(a.pause * 1000);
  }
}

const [plan, record] = process.argv.slice(2);
const assignments = JSON.parse(readFileSync(plan, 'utf8')).filter((a) => a.client in CLIENTS);
await Promise.all(assignments.map((a) => run(a, record)));
process.exit(0);
