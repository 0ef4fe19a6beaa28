// Builds dist/ with tsc and copies the client (one self-contained ES module) to
// web/static/circly-live.js, which the Go binary embeds. With --check it builds into a
// temporary folder instead and fails when the committed files differ (stale or missing).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const staticFile = join(root, "..", "..", "web", "static", "circly-live.js");
const check = process.argv.includes("--check");

const out = check ? mkdtempSync(join(tmpdir(), "circly-live-")) : dist;
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
if (!existsSync(tsc)) fail("typescript is not installed: run npm ci in clients/live");
const run = spawnSync(process.execPath, [tsc, "-p", root, "--outDir", out], { stdio: "inherit" });
if (run.status !== 0) fail("tsc failed");

// The declarations type events by name (test/types.check.ts compiles against them).
const types = spawnSync(process.execPath, [tsc, "--noEmit", "--strict", "--target", "ES2020", "--module", "ES2020",
  "--moduleResolution", "bundler", "--lib", "ES2020,DOM", join(root, "test", "types.check.ts")], { stdio: "inherit" });
if (types.status !== 0) fail("test/types.check.ts does not compile against the declarations");

// The page loads circly-live.js on its own: it must not import anything.
const bundle = readFileSync(join(out, "index.js"), "utf8");
if (/^\s*(import|export)\s.*\sfrom\s/m.test(bundle)) fail("dist/index.js imports other modules; keep runtime code in src/index.ts");

if (!check) {
  copyFileSync(join(out, "index.js"), staticFile);
  console.log("built dist/ and web/static/circly-live.js");
  process.exit(0);
}

const stale = [];
const built = readdirSync(out).sort();
const committed = existsSync(dist) ? readdirSync(dist).sort() : [];
for (const name of new Set([...built, ...committed])) {
  const a = join(out, name);
  const b = join(dist, name);
  if (!existsSync(a) || !existsSync(b) || readFileSync(a, "utf8") !== readFileSync(b, "utf8")) stale.push("dist/" + name);
}
if (!existsSync(staticFile) || readFileSync(staticFile, "utf8") !== bundle) stale.push("web/static/circly-live.js");
rmSync(out, { recursive: true, force: true });
if (stale.length > 0) fail(`stale build output: ${stale.join(", ")} (run: npm run build in clients/live, then commit)`);
console.log("dist/ and web/static/circly-live.js match src/");

function fail(msg) {
  console.error("build: " + msg);
  process.exit(1);
}
