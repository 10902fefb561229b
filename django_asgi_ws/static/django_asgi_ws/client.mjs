// The client as an ES module: client.js defines the global DjangoAsgiWs, and
// this module exports what it holds (the same classes as a classic script's).
import "./client.js";

export const { Connection, RequestError } = globalThis.DjangoAsgiWs;
