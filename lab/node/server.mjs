// An MCP server on the official TypeScript SDK, written the way the SDK's own examples are
// (examples/server/simpleStreamableHttp.js and simpleSseServer.js), for the lab to put behind a proxy.
//
//   node server.mjs --kind streamable|sse|strict --port 9201
//
// streamable: Streamable HTTP at /mcp with sessions (404 for an unknown session, 400 without one);
// sse:        the legacy HTTP+SSE transport, GET /sse and POST /messages?sessionId=;
// strict:     streamable, with createMcpExpressApp's default Host check for a 127.0.0.1 bind.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const { values } = parseArgs({ options: { kind: { type: 'string' }, port: { type: 'string' } } });
const kind = values.kind;
const port = Number(values.port);

function mcpServer() {
  const server = new McpServer({ name: 'logscope-lab', version: '1.0.0' });
  server.registerTool('echo', { description: 'Say it back', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  return server;
}

// The proxy in front owns the public name; only `strict` keeps the SDK's localhost-only Host check.
const app = kind === 'strict' ? createMcpExpressApp() : createMcpExpressApp({ host: '0.0.0.0', allowedHosts: undefined });

function streamable() {
  const sessions = new Map();
  app.post('/mcp', async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    const known = sessionId ? sessions.get(sessionId) : undefined;
    if (known) return known.handleRequest(req, res, req.body);
    if (sessionId) {
      return res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
    }
    if (!isInitializeRequest(req.body)) {
      return res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => sessions.set(id, transport),
    });
    transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
    await mcpServer().connect(transport);
    return transport.handleRequest(req, res, req.body);
  });
  const existing = async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    if (!sessionId) return res.status(400).send('Missing session ID');
    const transport = sessions.get(sessionId);
    if (!transport) return res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
    return transport.handleRequest(req, res);
  };
  app.get('/mcp', existing);
  app.delete('/mcp', existing);
}

function sse() {
  const transports = {};
  app.get('/sse', async (req, res) => {
    const transport = new SSEServerTransport('/messages', res);
    transports[transport.sessionId] = transport;
    transport.onclose = () => delete transports[transport.sessionId];
    await mcpServer().connect(transport);
  });
  app.post('/messages', async (req, res) => {
    const sessionId = req.query.sessionId;
    if (!sessionId) return res.status(400).send('Missing sessionId parameter');
    const transport = transports[sessionId];
    if (!transport) return res.status(404).send('Session not found');
    return transport.handlePostMessage(req, res, req.body);
  });
}

if (kind === 'sse') sse();
else if (kind === 'streamable' || kind === 'strict') streamable();
else throw new Error(`unknown --kind ${kind}`);

app.listen(port, '127.0.0.1', (error) => {
  if (error) {
    console.error(error);
    process.exit(1);
  }
});
