// Compiled (not run) by scripts/build.mjs: the published declarations type events by name,
// and mistakes are compile errors (each @ts-expect-error must stay an error).
import { LiveClient, type LiveEvent, type Tally } from "../dist/index.js";

const live = new LiveClient({ url: ["ws://a/v1/ws", "ws://b/v1/ws"], token: async () => "t" });
live.on("tally", (e) => {
  const t: Tally = e.tally;
  const v: number = t.version;
  const s: "snapshot" | "live" = e.source;
  void v, s;
});
live.on("stopped", (e) => {
  const r: "client" | "unauthorized" | "policy" | "protocol" = e.reason;
  void r;
});
live.on("close", (e) => {
  if (e.kind === "slow_consumer" && e.willReconnect) void e.code;
});
live.on("poll_closed", (e) => {
  const t: Tally | undefined = e.tally; // compact form: the final tally (data is null)
  void t;
});
void new LiveClient({ url: "ws://a/v1/ws", token: "t", tally: "full" });
// @ts-expect-error: no such tally form
void new LiveClient({ url: "ws://a/v1/ws", token: "t", tally: "tiny" });
// @ts-expect-error: no such event
live.on("tallies", () => {});
// @ts-expect-error: a tally event has no `event` field
live.on("tally", (e) => e.event);

function describe(e: LiveEvent): string {
  switch (e.type) {
    case "error":
      return e.code + (e.channel ?? "");
    case "event":
      return e.event;
    default:
      return e.type;
  }
}
void describe;
