// Starts @modelcontextprotocol/server-postgres on the database named by POSTGRES_URL, so that the
// URL (it holds the password) reaches the server through its environment, never its command line.
const server = new URL("./node_modules/@modelcontextprotocol/server-postgres/dist/index.js", import.meta.url);
const url = process.env.POSTGRES_URL;
if (!url) {
  console.error("postgres.mjs: POSTGRES_URL is not set");
  process.exit(2);
}
process.argv = [process.argv[0], server.pathname, url]; // what the server reads; the kernel's argv is unchanged
await import(server.href);
