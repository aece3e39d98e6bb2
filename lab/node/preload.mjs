// Loaded into each process that runs a third-party MCP client (node --import ./preload.mjs ...), so that
// the program runs unchanged, on its own HTTP stack, and the lab still knows what it did:
//
// - every connection leaves from LAB_SOURCE and trusts the lab CA in LAB_CA: one undici 7 Agent is made
//   the process's global dispatcher, which Node's own fetch and every undici copy (6, 7, 8) use unless a
//   program brings its own dispatcher (undici 7 and 8 accept the older handler API too);
// - every HTTP exchange, redirect hops included, is appended to LAB_HOPS as one JSON line (method, URL,
//   status, Location and Strict-Transport-Security), from undici's diagnostics channels, which every copy
//   of undici in the process (Node's built-in one included) publishes to.
import { appendFileSync, readFileSync } from 'node:fs';
import diagnostics from 'node:diagnostics_channel';
import { Agent, setGlobalDispatcher } from 'undici7';

const { LAB_SOURCE, LAB_CA, LAB_HOPS } = process.env;
const SENT = ['user-agent', 'mcp-method', 'mcp-protocol-version', 'mcp-session-id'];

if (LAB_SOURCE || LAB_CA) {
  setGlobalDispatcher(new Agent({ localAddress: LAB_SOURCE || undefined, connect: LAB_CA ? { ca: readFileSync(LAB_CA) } : {} }));
}

if (LAB_HOPS) {
  const url = (request) => new URL(request.path, request.origin).href;
  const write = (hop) => appendFileSync(LAB_HOPS, JSON.stringify(hop) + '\n');
  const sent = new WeakMap(); // request -> the headers it was sent with, written with its answer
  const answered = new WeakSet();
  diagnostics.channel('undici:request:headers').subscribe(({ request, response }) => {
    const hop = { method: request.method, url: url(request), ...sent.get(request), status: response.statusCode };
    const raw = response.headers ?? [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = String(raw[i]).toLowerCase();
      if (name === 'location' || name === 'strict-transport-security') hop[name] = String(raw[i + 1]);
    }
    answered.add(request);
    write(hop);
  });
  // An error after the answer began (a stream closed by the client) is no exchange of its own.
  diagnostics.channel('undici:request:error').subscribe(({ request, error }) => {
    if (answered.has(request)) return;
    write({ method: request.method, url: url(request), ...sent.get(request), status: null, error: String(error?.cause ?? error).slice(0, 300) });
  });
  // The headers that say who sent it and how it speaks MCP (stateless or in a session, which revision).
  diagnostics.channel('undici:client:sendHeaders').subscribe(({ request, headers }) => {
    const fields = {};
    for (const line of String(headers ?? '').split('\r\n')) {
      const [name, ...value] = line.split(':');
      const key = name.trim().toLowerCase();
      if (SENT.includes(key)) fields[key] = value.join(':').trim();
    }
    sent.set(request, fields);
  });
}
