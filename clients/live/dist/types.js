// Types of the live protocol (docs/api.md, "Live updates") and of this client's events.
// Only types live here, so the compiled client stays one self-contained ES module.
export {};
