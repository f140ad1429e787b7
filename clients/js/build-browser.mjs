// Browser bundles of the client: an IIFE exposing `window.DispatchClient` (the module's
// namespace: DispatchClient.DispatchClient, DispatchClient.DispatchError) and one ES module.
import { build } from "esbuild";

const common = { entryPoints: ["src/index.ts"], bundle: true, target: ["es2020"], sourcemap: true, logLevel: "warning" };
await build({ ...common, format: "iife", globalName: "DispatchClient", outfile: "dist/dispatch-client.browser.js" });
await build({ ...common, format: "esm", outfile: "dist/dispatch-client.browser.mjs" });
